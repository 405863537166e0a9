"""The ledger's entries: append-only money movements, in the base currency.

Every total in the app is a SUM of these rows (or of the rollups the database keeps from them,
``tracker.ledger.rollups``). Only ``tracker.ledger.book`` writes them; a correction is a new
entry, never an edit (the ORM refuses here, the database's triggers in ``guard``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.time import local_month, utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

if TYPE_CHECKING:
    from tracker.donations.models import Donation

#: ledger kinds and the sign their amount must have
GIFT, REFUND, DISPUTE, DISPUTE_REVERSAL, FEE, TRANSFER, ADJUSTMENT, DISBURSEMENT = (
    "gift", "refund", "dispute", "dispute_reversal", "fee", "transfer", "adjustment",
    "disbursement",
)
#: what a donor added to their gift to cover the card fee ("Cover the card fee"): positive on
#: the gift, negative when refunded. It pays the card fee, so it is the organization's, like a
#: fee, and never counts toward a case's goal (not in RAISED_KINDS); reports show it apart.
FEE_COVER = "fee_cover"
#: the memo of a ``fee_cover`` entry says which movement it belongs to: the gift's own cover's is
#: empty; a refund's or a dispute's share of the cover is negative and shares that movement's
#: gateway reference; a won dispute gives its share back (positive, ``<dispute id>:won``)
COVER_REFUNDED, COVER_DISPUTED, COVER_DISPUTE_WON = "refund", "dispute opened", "dispute won"
COVER_MOVEMENTS: tuple[str, ...] = (COVER_REFUNDED, COVER_DISPUTED, COVER_DISPUTE_WON)
LEDGER_KINDS: tuple[str, ...] = (
    GIFT, REFUND, DISPUTE, DISPUTE_REVERSAL, FEE, TRANSFER, ADJUSTMENT, DISBURSEMENT, FEE_COVER,
)
#: kinds that count toward "raised" on a case (fees are reported, not subtracted from progress)
RAISED_KINDS: tuple[str, ...] = (GIFT, REFUND, DISPUTE, DISPUTE_REVERSAL, TRANSFER, ADJUSTMENT)
#: kinds that make up what a case holds: what it raised less what it paid out (spending does
#: not lower a case's progress toward its goal, only what is left of it)
HELD_KINDS: tuple[str, ...] = (*RAISED_KINDS, DISBURSEMENT)



class LedgerEntry(db.Model):
    """An append-only money movement in the base currency; every total is a SUM of these."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(LEDGER_KINDS)}", name="kind"),
        CheckConstraint("amount_minor <> 0", name="amount_nonzero"),
        CheckConstraint(
            "(kind IN ('gift', 'dispute_reversal') AND amount_minor > 0)"
            " OR (kind IN ('refund', 'dispute', 'fee') AND amount_minor < 0)"
            " OR kind IN ('transfer', 'adjustment', 'disbursement', 'fee_cover')",
            name="amount_sign",
        ),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint(
            "original_currency IS NULL OR length(original_currency) = 3", name="original_currency_code"
        ),
        CheckConstraint(
            "kind NOT IN ('gift', 'refund', 'dispute', 'dispute_reversal', 'fee', 'fee_cover')"
            " OR donation_id IS NOT NULL",
            name="donation_money_has_donation",
        ),
        CheckConstraint("kind <> 'transfer' OR transfer_group IS NOT NULL", name="transfer_grouped"),
        # A payment out is always a case's and always one approved disbursement's (or reversal's).
        CheckConstraint(
            "(kind = 'disbursement' AND disbursement_id IS NOT NULL AND case_id IS NOT NULL)"
            " OR (kind <> 'disbursement' AND disbursement_id IS NULL)",
            name="disbursement_linked",
        ),
        # A gateway refund or dispute id is booked once per kind, however often it is reported.
        UniqueConstraint("kind", "gateway_ref", name="uq_ledger_entries_kind_gateway_ref"),
        # a case's progress read from the index alone (SEARCH USING COVERING INDEX): no table
        # row is visited however many gifts the case has
        Index("ix_ledger_entries_case_progress", "case_id", "kind", "amount_minor", "created_at"),
        # max(id) per case in one index probe: the case page's freshness check
        Index("ix_ledger_entries_case_id_id", "case_id", "id"),
        Index("ix_ledger_entries_booked_at", "booked_at"),
        Index("ix_ledger_entries_donation_id", "donation_id"),
        # the few payments out among a million gifts, by date (money out per fiscal year)
        Index("ix_ledger_entries_disbursements_booked", "booked_at",
              postgresql_where=sa_text("kind = 'disbursement'"),
              sqlite_where=sa_text("kind = 'disbursement'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: the case the money belongs to; NULL is the general fund
    case_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_cases.id", ondelete="RESTRICT"))
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id", ondelete="RESTRICT"))
    #: the disbursement this entry pays out (UNIQUE: an approval is booked once)
    disbursement_id: Mapped[int | None] = mapped_column(
        ForeignKey("disbursements.id", ondelete="RESTRICT"), unique=True)
    #: signed amount in the base currency
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: the same movement in the currency the donor used, for per-currency reports
    original_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    original_currency: Mapped[str | None] = mapped_column(String(3))
    #: gateway refund/dispute/charge id, deduplicating repeated reports of one movement
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    #: links the two halves of a transfer between cases
    transfer_group: Mapped[str | None] = mapped_column(String(40))
    memo: Mapped[str] = mapped_column(String(500), default="")
    #: when the money moved (fiscal years are cut on this), and when we wrote it down
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: first day of ``booked_at``'s month in TRACKER_TIMEZONE: the monthly rollups' key
    booked_month: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    donation: Mapped[Donation | None] = relationship()


@event.listens_for(LedgerEntry, "before_insert")
def _set_booked_month(mapper, connection, target) -> None:  # noqa: ANN001
    """Every entry written through the ORM gets its local booking month."""
    if target.booked_at is None:
        target.booked_at = utcnow()
    target.booked_month = local_month(target.booked_at)


class LedgerIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete a ledger entry."""


@event.listens_for(LedgerEntry, "before_update")
def _refuse_update(mapper, connection, target) -> None:  # noqa: ANN001
    raise LedgerIsAppendOnly("ledger entries are append-only; book a correcting entry instead")


@event.listens_for(LedgerEntry, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:  # noqa: ANN001
    raise LedgerIsAppendOnly("ledger entries are append-only; book a correcting entry instead")
