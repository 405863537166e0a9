"""Monthly gifts: a donor's standing order, kept by the gateway as a subscription.

A ``RecurringGift`` holds no money of its own. Each invoice the gateway collects becomes one
ordinary succeeded ``Donation`` (``Donation.recurring_gift_id``, ``Donation.gateway_invoice_id``
UNIQUE) booked on the same append-only ledger as a one-off gift, so case progress, receipts and
reports count it like any other. The status moves only along ``TRANSITIONS``.
"""

from __future__ import annotations

import calendar
import secrets
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.cases.models import RescueCase
from tracker.core import labels
from tracker.core.errors import IllegalTransition
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.donations.models import Donor
from tracker.extensions import db

#: a monthly gift is taken in one of these currencies only
RECURRING_CURRENCIES: tuple[str, ...] = ("JPY", "USD")
RECURRING_GATEWAYS: tuple[str, ...] = ("stripe", "sandbox")

INCOMPLETE, ACTIVE, PAST_DUE, CANCELED = "incomplete", "active", "past_due", "canceled"
RECURRING_STATUSES: tuple[str, ...] = (INCOMPLETE, ACTIVE, PAST_DUE, CANCELED)

#: where each status may go next; canceled is final
TRANSITIONS: dict[str, frozenset[str]] = {
    INCOMPLETE: frozenset({ACTIVE, CANCELED}),
    ACTIVE: frozenset({PAST_DUE, CANCELED}),
    PAST_DUE: frozenset({ACTIVE, CANCELED}),
    CANCELED: frozenset(),
}

#: how each status is named on pages (lazy: in the reader's language)
STATUS_LABELS = labels.table("monthly_status")


def new_recurring_id() -> str:
    """An opaque id for a monthly gift: safe to show the donor and send to the gateway."""
    return "rg_" + secrets.token_urlsafe(16)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` ``months`` calendar months later, the day clamped to the month's end
    (a gift begun on January 31 renews on February 28, then March 31)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


class RecurringGift(db.Model):
    """A donor's monthly gift to a case (or the general fund when ``case_id`` is NULL)."""

    __tablename__ = "recurring_gifts"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(f"currency IN {sql_in(RECURRING_CURRENCIES)}", name="currency"),
        CheckConstraint(f"gateway IN {sql_in(RECURRING_GATEWAYS)}", name="gateway"),
        CheckConstraint(f"status IN {sql_in(RECURRING_STATUSES)}", name="status"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: opaque id shown to the donor and sent to the gateway as metadata.recurring_gift_id
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_recurring_id)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="RESTRICT"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    #: what the donor gives each month, in minor units of ``currency``
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gateway: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=INCOMPLETE)
    #: the checkout session that set the gift up (links its completion event back here)
    gateway_checkout_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: the gateway's subscription (sub_...), UNIQUE: one subscription is one monthly gift
    gateway_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    gateway_customer_id: Mapped[str | None] = mapped_column(String(255))
    #: the language the donor gave in (en or ja): each month's receipt is written in it
    locale: Mapped[str | None] = mapped_column(String(2))
    #: the name typed for the receipts, copied onto every month's gift (personal)
    receipt_name: Mapped[str | None] = mapped_column(String(200))
    #: the donor asked for a tax receipt (寄附金受領証明書) on this gift; then its receipt's
    #: addressee as typed on it (the name is ``receipt_name``): the reading in katakana, the
    #: postal code and the address. Personal, erased when the donor is anonymized; only a
    #: suggestion for the donor's own page, never the tax receipt's addressee by itself
    tax_receipt_requested: Mapped[bool | None] = mapped_column(default=None)
    receipt_kana: Mapped[str | None] = mapped_column(String(200))
    receipt_postal_code: Mapped[str | None] = mapped_column(String(10))
    receipt_address: Mapped[str | None] = mapped_column(String(300))
    #: the donor's choices for the public wall, applied to every month's gift
    display_name: Mapped[str] = mapped_column(String(80), default="")
    show_on_wall: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: when the first payment arrived
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the next payment falls due (the end of the period paid for)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: payments that failed since the last one that succeeded
    failed_attempts: Mapped[int] = mapped_column(default=0)

    donor: Mapped[Donor] = relationship()
    case: Mapped[RescueCase | None] = relationship()

    @property
    def status_label(self) -> str:
        """The status in the reader's language."""
        return str(STATUS_LABELS[self.status])

    def can_move_to(self, status: str) -> bool:
        """Whether the transition table allows ``status`` next (staying put is no move)."""
        return status in TRANSITIONS[self.status]

    def move_to(self, status: str) -> None:
        """Change the status along the transition table; IllegalTransition otherwise."""
        if status == self.status:
            return
        if not self.can_move_to(status):
            raise IllegalTransition(f"a {self.status} monthly gift cannot become {status}")
        self.status = status
        if status == CANCELED:
            self.canceled_at = utcnow()
