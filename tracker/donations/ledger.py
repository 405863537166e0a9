"""Reading and writing the ledger. Every total in the app comes from these sums."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func

from tracker.cases.models import RescueCase
from tracker.core.time import as_utc, utcnow
from tracker.donations.models import (
    DISBURSEMENT,
    FEE,
    GIFT,
    HELD_KINDS,
    RAISED_KINDS,
    SUCCEEDED,
    TRANSFER,
    Donation,
    LedgerEntry,
)
from tracker.extensions import db

if TYPE_CHECKING:
    from tracker.budgets.models import Disbursement


def gift_ref(public_id: str) -> str:
    """The ledger reference of a donation's gift and fee entries (one of each, at most)."""
    return f"donation:{public_id}"


def book_gift(donation: Donation, *, booked_at: datetime | None = None) -> list[LedgerEntry]:
    """Book a settled donation: a gift entry for the gross amount and a fee entry if any.

    The donation must already carry its settlement (gross, fee, base currency).
    """
    if donation.gross_minor is None or donation.settled_currency is None:
        raise ValueError("a donation must be settled before it is booked")
    when = booked_at or donation.settled_at or utcnow()
    # UNIQUE (kind, gateway_ref): the database itself refuses a second gift for a donation.
    ref = gift_ref(donation.public_id)
    entries = [
        LedgerEntry(
            kind=GIFT, case_id=donation.case_id, donation_id=donation.id,
            amount_minor=donation.gross_minor, currency=donation.settled_currency,
            original_amount_minor=donation.amount_minor, original_currency=donation.currency,
            gateway_ref=ref, booked_at=when,
        )
    ]
    if donation.fee_minor:
        entries.append(
            LedgerEntry(
                kind=FEE, case_id=donation.case_id, donation_id=donation.id,
                amount_minor=-donation.fee_minor, currency=donation.settled_currency,
                gateway_ref=ref, booked_at=when,
            )
        )
    db.session.add_all(entries)
    db.session.flush()
    return entries


def book_transfer(
    from_case: RescueCase | None, to_case: RescueCase | None, amount_minor: int, currency: str,
    *, memo: str = "", created_by_id: int | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money between cases (None is the general fund) as two linked ledger entries."""
    if amount_minor <= 0:
        raise ValueError("transfer amounts are positive")
    group = uuid.uuid4().hex
    now = utcnow()
    out = LedgerEntry(
        kind=TRANSFER, case_id=from_case.id if from_case else None, amount_minor=-amount_minor,
        currency=currency, transfer_group=group, memo=memo, booked_at=now,
        created_by_id=created_by_id,
    )
    into = LedgerEntry(
        kind=TRANSFER, case_id=to_case.id if to_case else None, amount_minor=amount_minor,
        currency=currency, transfer_group=group, memo=memo, booked_at=now,
        created_by_id=created_by_id,
    )
    db.session.add_all([out, into])
    db.session.flush()
    return out, into


def book_disbursement(disbursement: Disbursement, *, booked_at: datetime) -> LedgerEntry:
    """Book an approved disbursement (money out, negative) or its reversal (money back).

    UNIQUE (disbursement_id): the database refuses to count one approval twice.
    """
    entry = LedgerEntry(
        kind=DISBURSEMENT, case_id=disbursement.case_id, disbursement_id=disbursement.id,
        amount_minor=-disbursement.base_amount_minor, currency=disbursement.base_currency,
        original_amount_minor=-disbursement.amount_minor, original_currency=disbursement.currency,
        booked_at=booked_at, created_by_id=disbursement.decided_by_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


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
    """Raised, donors and last movement for many cases in two grouped queries."""
    ids = list(case_ids)
    if not ids:
        return {}
    raised = LedgerEntry.kind.in_(RAISED_KINDS)
    raised_expr = func.coalesce(func.sum(LedgerEntry.amount_minor).filter(raised), 0)
    spent_expr = func.coalesce(
        func.sum(LedgerEntry.amount_minor).filter(LedgerEntry.kind == DISBURSEMENT), 0
    )
    # When money was paid out is not public (it could hint at when a rescue moves).
    moved_expr = func.max(LedgerEntry.created_at).filter(raised)
    ledger_rows = db.session.execute(
        db.select(LedgerEntry.case_id, raised_expr, moved_expr, spent_expr)
        .where(LedgerEntry.case_id.in_(ids), LedgerEntry.kind.in_(HELD_KINDS))
        .group_by(LedgerEntry.case_id)
    ).all()
    donor_rows = dict(
        db.session.execute(
            db.select(Donation.case_id, func.count(func.distinct(Donation.donor_id)))
            .where(Donation.case_id.in_(ids), Donation.status == SUCCEEDED)
            .group_by(Donation.case_id)
        ).all()
    )
    result = {case_id: CaseMoney(donors=int(donor_rows.get(case_id, 0))) for case_id in ids}
    for case_id, raised_sum, moved, spent in ledger_rows:
        result[case_id] = CaseMoney(
            raised_minor=int(raised_sum), donors=int(donor_rows.get(case_id, 0)),
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
