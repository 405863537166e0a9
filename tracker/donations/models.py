"""Donors, donations and ledger entries.

Totals are never stored: the ledger is append-only and every figure is a SUM over it. A
donation keeps what the donor paid (amount, currency) and what the NGO received in the base
currency (gross, fee, net, rate). Ledger amounts are signed, in the base currency.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.cases.models import RescueCase
from tracker.core import labels
from tracker.core.money import Money
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db
from tracker.ledger.models import LedgerIsAppendOnly
from tracker.payments.models import GATEWAYS

#: how a gift was paid: ``konbini`` (a convenience-store voucher) and ``bank_transfer`` may be
#: paid through the gateway (the checkout's ways to pay later) or, for a transfer or cash,
#: recorded by staff (gateway "offline")
CHANNELS: tuple[str, ...] = ("card", "bank_transfer", "cash", "konbini")
#: channels the gateway can refund (Stripe refunds a card and a bank transfer it received,
#: but not a konbini payment: that money goes back to the donor outside the gateway)
GATEWAY_REFUNDABLE: tuple[str, ...] = ("card", "bank_transfer")
#: how each channel is named on pages (lazy: in the reader's language)
CHANNEL_LABELS = labels.table("channel")

PENDING, SUCCEEDED, FAILED, EXPIRED, FLAGGED = "pending", "succeeded", "failed", "expired", "flagged"
DONATION_STATUSES: tuple[str, ...] = (PENDING, SUCCEEDED, FAILED, EXPIRED, FLAGGED)

#: a gift's wall message: none written, waiting for staff, approved (shown on the public wall)
#: or hidden by staff (never shown; the gift itself is unaffected)
MESSAGE_NONE, MESSAGE_WAITING, MESSAGE_APPROVED, MESSAGE_HIDDEN = "none", "waiting", "approved", "hidden"
MESSAGE_STATUSES: tuple[str, ...] = (MESSAGE_NONE, MESSAGE_WAITING, MESSAGE_APPROVED, MESSAGE_HIDDEN)

def new_public_id() -> str:
    """An opaque donation id: safe to show donors and send to the gateway, reveals nothing."""
    return "don_" + secrets.token_urlsafe(16)


class Donor(db.Model):
    """Someone who gave. Anonymous gifts without an email get a donor row of their own."""

    __tablename__ = "donors"
    __table_args__ = (CheckConstraint("email IS NULL OR email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: lower-case; UNIQUE so one person's gifts gather under one donor
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: first day of the local month of this donor's first gift (kept by the ledger's rollup
    #: triggers, see tracker.ledger.rollups): new, returning and lapsed donors
    first_gift_month: Mapped[date | None] = mapped_column(index=True)
    #: set when staff anonymized this donor at their request: name and email are gone, the
    #: amounts, dates and gateway ids of their gifts stay for the accounts
    anonymized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the language of this donor's latest gift (en or ja): their mail is written in it
    locale: Mapped[str | None] = mapped_column(String(2))
    #: who their tax receipts (寄附金受領証明書) are addressed to, as the signed-in donor set
    #: it: name, its reading in katakana, postal code (123-4567) and address
    tax_name: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    tax_kana: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    tax_postal_code: Mapped[str] = mapped_column(String(8), default="", server_default=text("''"))
    tax_address: Mapped[str] = mapped_column(String(300), default="", server_default=text("''"))


class Donation(db.Model):
    """A donor's gift to a case (or to the general fund when ``case_id`` is NULL)."""

    __tablename__ = "donations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint(f"channel IN {sql_in(CHANNELS)}", name="channel"),
        CheckConstraint(f"gateway IN {sql_in(GATEWAYS)}", name="gateway"),
        CheckConstraint(f"status IN {sql_in(DONATION_STATUSES)}", name="status"),
        CheckConstraint(
            "settled_currency IS NULL OR length(settled_currency) = 3", name="settled_currency_code"
        ),
        # All three or none; IS NOT NULL spelled out because CHECK lets NULL comparisons pass.
        CheckConstraint(
            "(gross_minor IS NULL AND fee_minor IS NULL AND net_minor IS NULL)"
            " OR (gross_minor IS NOT NULL AND fee_minor IS NOT NULL AND net_minor IS NOT NULL"
            " AND gross_minor > 0 AND fee_minor >= 0 AND net_minor = gross_minor - fee_minor)",
            name="settlement_adds_up",
        ),
        CheckConstraint(
            "status <> 'succeeded' OR (gross_minor IS NOT NULL AND settled_currency IS NOT NULL)",
            name="succeeded_is_settled",
        ),
        CheckConstraint("exchange_rate IS NULL OR exchange_rate > 0", name="rate_positive"),
        CheckConstraint(f"message_status IN {sql_in(MESSAGE_STATUSES)}", name="message_status"),
        # a case's succeeded gifts newest first (the donor wall) without sorting them all
        Index("ix_donations_case_status_settled", "case_id", "status", "settled_at"),
        Index("ix_donations_created_at", "created_at"),
        # the messages waiting for staff, oldest first, without reading every gift
        Index("ix_donations_message_status_settled", "message_status", "settled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: opaque id shown to donors and sent to the gateway as metadata.donation_id
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_public_id)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="RESTRICT"))
    #: what the donor paid, in minor units of ``currency`` (with any fee cover)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: the part of ``amount_minor`` the donor added to cover the card fee ("Cover the card
    #: fee"), in ``currency``; 0 when they did not. It is booked apart (ledger kind
    #: ``fee_cover``) and never counts toward the case's goal.
    fee_cover_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    #: how it was paid (CHANNELS): "card" while a checkout is open; a gift paid later by a
    #: konbini voucher or a bank transfer takes that channel when the payment arrives
    channel: Mapped[str] = mapped_column(String(16), default="card")
    #: the language the donor gave in (en or ja): their receipt is written in it
    locale: Mapped[str | None] = mapped_column(String(2))
    gateway: Mapped[str] = mapped_column(String(16), default="sandbox")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    #: why a donation was flagged (amount/currency/livemode mismatch), staff-only
    flag_reason: Mapped[str | None] = mapped_column(String(200))
    #: what the NGO received, in the base currency at settlement
    settled_currency: Mapped[str | None] = mapped_column(String(3))
    gross_minor: Mapped[int | None] = mapped_column(BigInteger)
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    net_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: base-currency units per unit of ``currency`` used for the settlement
    exchange_rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 8))
    #: gateway identifiers, UNIQUE so one payment is never recorded twice
    gateway_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    gateway_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: a checkout finished with a way to pay that completes later (``konbini`` voucher,
    #: ``bank_transfer``): the gift waits for that payment (still pending), not for a card
    awaiting_method: Mapped[str | None] = mapped_column(String(24))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    livemode: Mapped[bool] = mapped_column(default=False)
    #: the monthly gift this is one month's payment of (see ``tracker.monthly.models``)
    recurring_gift_id: Mapped[int | None] = mapped_column(
        ForeignKey("recurring_gifts.id", ondelete="RESTRICT"), index=True)
    #: the paid invoice this gift is, UNIQUE: each invoice becomes exactly one gift
    gateway_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: offline gifts: the day the money arrived and the bank or cash reference
    received_on: Mapped[date | None]
    reference: Mapped[str | None] = mapped_column(String(120))
    #: the name typed on this gift for its receipt (never the stored donor's: anyone may type
    #: anyone's email); personal, erased when the donor is anonymized
    receipt_name: Mapped[str | None] = mapped_column(String(200))
    #: the donor asked for a tax receipt (寄附金受領証明書) on this gift; then its receipt's
    #: addressee as typed on it (the name is ``receipt_name``): the reading in katakana, the
    #: postal code and the address. Personal, erased when the donor is anonymized; only a
    #: suggestion for the donor's own page, never the tax receipt's addressee by itself
    tax_receipt_requested: Mapped[bool | None] = mapped_column(default=None)
    receipt_kana: Mapped[str | None] = mapped_column(String(200))
    receipt_postal_code: Mapped[str | None] = mapped_column(String(10))
    receipt_address: Mapped[str | None] = mapped_column(String(300))
    #: donor's choices for the public wall and for news of the case
    display_name: Mapped[str] = mapped_column(String(80), default="")
    show_on_wall: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(String(500), default="")
    #: the message reaches the public wall only once staff approved it (a relative may write
    #: the real name or village of someone in hiding); the display name is shown at once
    message_status: Mapped[str] = mapped_column(String(8), default=MESSAGE_NONE,
                                                server_default=MESSAGE_NONE)
    wants_updates: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[RescueCase | None] = relationship()
    donor: Mapped[Donor | None] = relationship()

    @property
    def refunded_by_gateway(self) -> bool:
        """Whether the gateway refunds this gift (a card or a bank transfer it received);
        anything else is paid back by staff and recorded as an adjustment."""
        return self.gateway != "offline" and self.channel in GATEWAY_REFUNDABLE


class PresetNote(db.Model):
    """What a preset amount of a case's donation form pays for ("¥30,000 pays a guide for one
    person"), written by staff in English and Japanese. Per case: the general fund has none."""

    __tablename__ = "preset_notes"
    __table_args__ = (
        UniqueConstraint("case_id", "currency", "amount_minor"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: a short public sentence in each language ("" when not written)
    text_en: Mapped[str] = mapped_column(String(120), default="")
    text_ja: Mapped[str] = mapped_column(String(120), default="")

    def text(self, locale: str) -> str:
        """The note in ``locale``, else in the other language."""
        return (self.text_ja or self.text_en) if locale == "ja" else (self.text_en or self.text_ja)


class Receipt(db.Model):
    """A donation receipt: numbered once, never changed, never reused.

    The number comes from a transactional counter (see ``tracker.core.counters``), so a
    rolled-back gift leaves no gap and two gifts can never share a number; the row is
    append-only like the ledger.
    """

    __tablename__ = "receipts"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: printed on the receipt, e.g. "RT-000123"
    number: Mapped[str] = mapped_column(String(32), unique=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id", ondelete="RESTRICT"),
                                             unique=True)
    #: what the receipt says, frozen at issue: the donor's own amount and currency
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: the case's public title or "General fund", as it was at issue
    purpose: Mapped[str] = mapped_column(String(200))
    donor_name: Mapped[str] = mapped_column(String(200), default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    donation: Mapped[Donation] = relationship()


@event.listens_for(Receipt, "before_update")
@event.listens_for(Receipt, "before_delete")
def _refuse_receipt_change(mapper, connection, target) -> None:  # noqa: ANN001
    raise LedgerIsAppendOnly("receipts are immutable; issue a correction instead")


#: a pledge waits for its transfer, then is confirmed (a gift recorded) or cancelled
PLEDGED, CONFIRMED, CANCELLED = "pledged", "confirmed", "cancelled"
PLEDGE_STATUSES: tuple[str, ...] = (PLEDGED, CONFIRMED, CANCELLED)
#: the reference code's letters: no 0/O, 1/I/L or 2/Z, which read alike in a transfer name
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXY3456789"
REFERENCE_LENGTH = 6


def new_reference() -> str:
    """A short code for the transfer name (振込依頼人名): six unambiguous letters and digits."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_pledge_id() -> str:
    """The opaque id of a pledge's page."""
    return "plg_" + secrets.token_urlsafe(16)


class Pledge(db.Model):
    """A donor's promise to transfer yen to the organization's own account. It is no money:
    nothing counts until staff confirm the transfer arrived, which records an offline gift
    (``donation_id``) through ``services.record_offline_gift``."""

    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_in(PLEDGE_STATUSES)}", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("email IS NULL OR email = lower(email)", name="email_lowercase"),
        Index("ix_pledges_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_pledge_id)
    #: what the donor writes before their name in the transfer (unique; statement matching)
    reference: Mapped[str] = mapped_column(String(12), unique=True, default=new_reference)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: what the donor gave on the form (both optional; personal data)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    locale: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default=PLEDGED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the donor of the confirmed gift (anonymizing them erases the pledge's personal fields)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id", ondelete="RESTRICT"))
    donation_id: Mapped[int | None] = mapped_column(
        ForeignKey("donations.id", ondelete="RESTRICT"), unique=True)
    received_on: Mapped[date | None]
    received_minor: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")

    case: Mapped[RescueCase | None] = relationship()

    @property
    def amount(self) -> Money:
        """What the donor pledged."""
        return Money(self.amount_minor, self.currency)
