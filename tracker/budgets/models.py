"""Budget lines and disbursements: where a case's money goes.

A case's budget is a set of lines, one per category (guides, transport, safe house...), with
a planned amount in the base currency. A disbursement is money paid out against a line. It
counts (a ``disbursement`` entry on the ledger) once it is approved: at once when it is at or
under the approval threshold, after a second staff member's approval above it (four eyes,
enforced by a CHECK too). A disbursement is never edited: a mistake is reversed by a linked
reversal, itself a disbursement row with negative amounts, and the right one recorded anew.

Safety: the payee, the note and the receipt image can name a guide, a safe house or a town.
They are ``private_*`` (or, for the image, a staff-only table) and never reach a public page.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import User
from tracker.cases.models import RescueCase
from tracker.core import labels
from tracker.core.money import Money
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DISBURSEMENT_STATUSES: tuple[str, ...] = (PENDING, APPROVED, REJECTED)
#: status -> its label in the page's language (lazy: looked up when shown)
STATUS_LABELS = labels.table("disbursement_status")


class BudgetLine(db.Model):
    """What a case plans to spend in one category, in the base currency."""

    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("planned_minor > 0", name="planned_positive"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint("length(category) >= 1", name="category_present"),
        UniqueConstraint("case_id", "category", name="uq_budget_lines_case_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    #: a key of TRACKER_BUDGET_CATEGORIES (checked by the service, not the schema: the list is
    #: a setting, and a key once used stays valid)
    category: Mapped[str] = mapped_column(String(32))
    planned_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: staff-only working note ("two guides for the river crossing")
    private_note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[RescueCase] = relationship()


class Disbursement(db.Model):
    """Money paid out of a case against one of its budget lines, or the reversal of such a
    payment (``reverses_id`` set, amounts negative)."""

    __tablename__ = "disbursements"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_in(DISBURSEMENT_STATUSES)}", name="status"),
        CheckConstraint("length(currency) = 3 AND length(base_currency) = 3", name="currency_codes"),
        CheckConstraint("exchange_rate > 0", name="rate_positive"),
        # A payment is positive, its reversal negative, in both currencies.
        CheckConstraint(
            "(reverses_id IS NULL AND amount_minor > 0 AND base_amount_minor > 0)"
            " OR (reverses_id IS NOT NULL AND amount_minor < 0 AND base_amount_minor < 0)",
            name="amount_sign",
        ),
        CheckConstraint(
            "(status = 'pending' AND decided_by_id IS NULL AND decided_at IS NULL)"
            " OR (status <> 'pending' AND decided_at IS NOT NULL)",
            name="decision_recorded",
        ),
        # Four eyes: a disbursement that needs approval is approved by someone else.
        CheckConstraint(
            "NOT (needs_approval AND status = 'approved')"
            " OR (decided_by_id IS NOT NULL"
            " AND (created_by_id IS NULL OR decided_by_id <> created_by_id))",
            name="four_eyes",
        ),
        Index("ix_disbursements_case_status", "case_id", "status"),
        Index("ix_disbursements_budget_line_id", "budget_line_id"),
        Index("ix_disbursements_reverses_id", "reverses_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    budget_line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="RESTRICT"))
    #: the local date the money was paid (fiscal years are cut on it)
    spent_on: Mapped[date]
    #: what was paid, in minor units of ``currency``
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: base-currency units per unit of ``currency``, and the result in the base currency
    exchange_rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    base_amount_minor: Mapped[int] = mapped_column(BigInteger)
    base_currency: Mapped[str] = mapped_column(String(3))
    #: staff-only: who was paid, and why (or, for a reversal, why it is reversed)
    private_payee: Mapped[str] = mapped_column(String(200), default="")
    private_note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    #: above the approval threshold when recorded: counts only once someone else approves
    needs_approval: Mapped[bool] = mapped_column(default=False)
    #: the disbursement this row reverses (a correction), if any
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("disbursements.id", ondelete="RESTRICT"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: who approved or rejected it, and when (approval at or under the threshold: the creator)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[RescueCase] = relationship()
    line: Mapped[BudgetLine] = relationship()
    reverses: Mapped[Disbursement | None] = relationship(remote_side="Disbursement.id")
    receipt: Mapped[DisbursementReceipt | None] = relationship(
        back_populates="disbursement", uselist=False)
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def amount(self) -> Money:
        """What was paid, in the currency it was paid in (negative for a reversal)."""
        return Money(self.amount_minor, self.currency)

    @property
    def base_amount(self) -> Money:
        """The same in the base currency, at the recorded rate."""
        return Money(self.base_amount_minor, self.base_currency)

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


class DisbursementReceipt(db.Model):
    """The photo of a paper receipt, re-encoded without EXIF/GPS, shown to staff only."""

    __tablename__ = "disbursement_receipts"
    __table_args__ = (
        CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="content_type"),
        CheckConstraint("byte_size > 0", name="byte_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disbursement_id: Mapped[int] = mapped_column(
        ForeignKey("disbursements.id", ondelete="RESTRICT"), unique=True)
    content_type: Mapped[str] = mapped_column(String(20))
    byte_size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    disbursement: Mapped[Disbursement] = relationship(back_populates="receipt")
