"""What the ledger holds: the sums every page and service reads.

Each figure is a SUM over ``ledger_entries`` or over the rollups that its triggers keep in
the same transaction (``tracker.ledger.rollups``): a case's money and donors come from its
all-time rollups (public pages must not grow with history); reports over whole years read the
monthly rollups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func

from tracker.core.time import as_utc
from tracker.extensions import db
from tracker.ledger.models import (
    ADJUSTMENT,
    COVER_DISPUTE_WON,
    COVER_DISPUTED,
    COVER_MOVEMENTS,
    COVER_REFUNDED,
    DISBURSEMENT,
    FEE_COVER,
    GIFT,
    HELD_KINDS,
    RAISED_KINDS,
    REFUND,
    TRANSFER,
    LedgerEntry,
)
from tracker.ledger.rollups import CaseDonorCount, CaseTotal, LedgerMonthTotal


@dataclass(frozen=True, slots=True)
class CaseMoney:
    """A case's money as the ledger has it."""

    #: gifts less refunds and disputes, plus transfers, in base-currency minor units
    raised_minor: int = 0
    #: distinct donors with a succeeded gift
    donors: int = 0
    #: when money was last raised for the case (gifts, refunds, transfers; not spending)
    last_moved: datetime | None = None
    #: paid out against the budget (approved disbursements less reversals), positive
    spent_minor: int = 0

    @property
    def held_minor(self) -> int:
        """What the case still holds: raised less spent."""
        return self.raised_minor - self.spent_minor


def money_by_case(case_ids: Iterable[int]) -> dict[int, CaseMoney]:
    """Raised, donors and last movement for many cases in two grouped queries.

    Read from the all-time rollups per case (``case_totals``, ``case_donor_counts``): a few
    rows per case however many gifts it has, so a viral case's page costs what a quiet one's
    does. The triggers keep them in the ledger's own transaction (``flask reports check``).
    """
    ids = list(case_ids)
    if not ids:
        return {}
    raised = CaseTotal.kind.in_(RAISED_KINDS)
    raised_expr = func.coalesce(func.sum(CaseTotal.amount_minor).filter(raised), 0)
    spent_expr = func.coalesce(
        func.sum(CaseTotal.amount_minor).filter(CaseTotal.kind == DISBURSEMENT), 0
    )
    # When money was paid out is not public (it could hint at when a rescue moves).
    moved_expr = func.max(CaseTotal.last_created_at).filter(raised)
    ledger_rows = db.session.execute(
        db.select(CaseTotal.case_key, raised_expr, moved_expr, spent_expr)
        .where(CaseTotal.case_key.in_(ids), CaseTotal.kind.in_(HELD_KINDS))
        .group_by(CaseTotal.case_key)
    ).all()
    donor_rows = dict(
        db.session.execute(
            db.select(CaseDonorCount.case_key, func.sum(CaseDonorCount.donors))
            .where(CaseDonorCount.case_key.in_(ids))
            .group_by(CaseDonorCount.case_key)
        ).all()
    )
    result = {case_id: CaseMoney(donors=int(donor_rows.get(case_id) or 0)) for case_id in ids}
    for case_id, raised_sum, moved, spent in ledger_rows:
        result[case_id] = CaseMoney(
            raised_minor=int(raised_sum), donors=int(donor_rows.get(case_id) or 0),
            last_moved=as_utc(moved) if moved is not None else None, spent_minor=-int(spent),
        )
    return result


def raised_by_case(case_ids: Iterable[int]) -> dict[int, int]:
    """Money raised per case in base-currency minor units (gifts less refunds and disputes)."""
    return {case_id: money.raised_minor for case_id, money in money_by_case(case_ids).items()}


def raised_between(start: datetime, end: datetime, base_currency: str) -> int:
    """Money raised across all cases and the general fund with booking time in [start, end)."""
    total = db.session.scalar(
        db.select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.kind.in_(RAISED_KINDS),
            LedgerEntry.kind != TRANSFER,  # transfers move money, they do not raise it
            LedgerEntry.currency == base_currency,
            LedgerEntry.booked_at >= start,
            LedgerEntry.booked_at < end,
        )
    )
    return int(total or 0)


def raised_in_months(first: date, end: date, base_currency: str) -> int:
    """``raised_between`` over whole local months [first, end), from the monthly rollups: a
    fiscal year is a union of months, and its figure costs the same at any number of gifts."""
    total = db.session.scalar(
        db.select(func.coalesce(func.sum(LedgerMonthTotal.amount_minor), 0)).where(
            LedgerMonthTotal.kind.in_([k for k in RAISED_KINDS if k != TRANSFER]),
            LedgerMonthTotal.currency == base_currency,
            LedgerMonthTotal.month >= first,
            LedgerMonthTotal.month < end,
        )
    )
    return int(total or 0)


@dataclass(frozen=True, slots=True)
class GiftMoney:
    """What the ledger holds for one gift, in the base currency unless named otherwise."""

    #: the gift entry (gross, positive); 0 while the gift is not recorded
    gift_minor: int = 0
    #: refunds so far (with the fee cover they gave back), as a positive amount
    refunded_minor: int = 0
    #: the same refunds in the donor's currency, as a positive amount
    refunded_original_minor: int = 0
    #: adjustments so far, signed
    adjusted_minor: int = 0
    #: the gift's contribution to its case: gift, refunds, disputes and adjustments
    total_minor: int = 0


def gift_money(donation_ids: Iterable[int]) -> dict[int, GiftMoney]:
    """Ledger sums for many gifts in one grouped query; gifts with no entries are left out."""
    ids = list(donation_ids)
    if not ids:
        return {}

    def total(kinds: Iterable[str], column=LedgerEntry.amount_minor):  # noqa: ANN001, ANN202
        return func.coalesce(func.sum(column).filter(LedgerEntry.kind.in_(tuple(kinds))), 0)

    # a refund of a gift with fee cover is booked in two parts: the refund of the gift's
    # part and the negative fee cover; staff see what was refunded as one figure
    cover_back = db.and_(LedgerEntry.kind == FEE_COVER, LedgerEntry.memo == COVER_REFUNDED)

    def refunded(column=LedgerEntry.amount_minor):  # noqa: ANN001, ANN202
        return func.coalesce(func.sum(column).filter(
            db.or_(LedgerEntry.kind == REFUND, cover_back)), 0)

    rows = db.session.execute(
        db.select(
            LedgerEntry.donation_id,
            total([GIFT]),
            refunded(),
            refunded(LedgerEntry.original_amount_minor),
            total([ADJUSTMENT]),
            total(RAISED_KINDS),
        )
        .where(LedgerEntry.donation_id.in_(ids))
        .group_by(LedgerEntry.donation_id)
    ).all()
    return {
        donation_id: GiftMoney(
            gift_minor=int(gift), refunded_minor=-int(refunded),
            refunded_original_minor=-int(refunded_original), adjusted_minor=int(adjusted),
            total_minor=int(raised),
        )
        for donation_id, gift, refunded, refunded_original, adjusted, raised in rows
    }


def booked(donation_id: int, *kinds: str) -> tuple[int, int]:
    """Base and original amounts booked of ``kinds`` for one gift, as positives (what was
    taken back: refunds, disputes)."""
    base, original = db.session.execute(
        db.select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0),
                  func.coalesce(func.sum(LedgerEntry.original_amount_minor), 0))
        .where(LedgerEntry.donation_id == donation_id, LedgerEntry.kind.in_(kinds))
    ).one()
    return -int(base), -int(original)


@dataclass(frozen=True, slots=True)
class CoverBooks:
    """A gift's fee cover on the ledger, all positive: what was booked with the gift, what
    refunds gave back, and what disputes hold back now (less what won disputes returned);
    ``_base`` in the base currency, ``_original`` in the donor's."""

    booked_base: int = 0
    booked_original: int = 0
    refunded_base: int = 0
    refunded_original: int = 0
    disputed_base: int = 0
    disputed_original: int = 0

    @property
    def left_base(self) -> int:
        return self.booked_base - self.refunded_base - self.disputed_base

    @property
    def left_original(self) -> int:
        return self.booked_original - self.refunded_original - self.disputed_original


def fee_cover(donation_id: int) -> CoverBooks:
    """A gift's fee cover on the ledger, by what moved it (one grouped query)."""
    original = func.coalesce(LedgerEntry.original_amount_minor, 0)
    booked = LedgerEntry.memo.not_in(COVER_MOVEMENTS)
    refunded = LedgerEntry.memo == COVER_REFUNDED
    disputed = LedgerEntry.memo.in_((COVER_DISPUTED, COVER_DISPUTE_WON))

    def total(column, condition):  # noqa: ANN001, ANN202
        return func.coalesce(func.sum(column).filter(condition), 0)

    row = db.session.execute(
        db.select(total(LedgerEntry.amount_minor, booked), total(original, booked),
                  total(LedgerEntry.amount_minor, refunded), total(original, refunded),
                  total(LedgerEntry.amount_minor, disputed), total(original, disputed))
        .where(LedgerEntry.donation_id == donation_id, LedgerEntry.kind == FEE_COVER)
    ).one()
    return CoverBooks(int(row[0]), int(row[1]), -int(row[2]), -int(row[3]), -int(row[4]),
                      -int(row[5]))


def entry_by_ref(kind: str, ref: str) -> LedgerEntry | None:
    """The entry of ``kind`` booked under the gateway reference ``ref``, if any (at most one:
    UNIQUE (kind, gateway_ref))."""
    return db.session.scalar(
        db.select(LedgerEntry).where(LedgerEntry.kind == kind, LedgerEntry.gateway_ref == ref))


def is_booked(kind: str, ref: str) -> bool:
    """Whether an entry of ``kind`` is booked under ``ref`` already."""
    return db.session.scalar(
        db.select(LedgerEntry.id).where(LedgerEntry.kind == kind, LedgerEntry.gateway_ref == ref)
    ) is not None


def entries_of(donation_id: int) -> list[LedgerEntry]:
    """A gift's entries, in the order they were written."""
    return list(db.session.scalars(
        db.select(LedgerEntry).where(LedgerEntry.donation_id == donation_id).order_by(LedgerEntry.id)))


def count_kinds(donation_id: int, *kinds: str) -> tuple[int, ...]:
    """How many entries of each of ``kinds`` a gift has (e.g. disputes and their reversals)."""
    row = db.session.execute(
        db.select(*(func.count().filter(LedgerEntry.kind == kind) for kind in kinds))
        .where(LedgerEntry.donation_id == donation_id)
    ).one()
    return tuple(int(n) for n in row)
