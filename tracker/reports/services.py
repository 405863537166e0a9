"""Figures by fiscal year, summed from the ledger and the people table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func

from tracker.budgets import services as budget_services
from tracker.budgets.models import BudgetLine, Disbursement
from tracker.cases import workflow
from tracker.cases.models import PERSON_RESCUED, Beneficiary, RescueCase
from tracker.core.errors import NotFound
from tracker.core.money import Money
from tracker.core.time import (
    EARLIEST_MONEY_DAY,
    as_utc,
    current_fiscal_year,
    fiscal_year_bounds_utc,
    fiscal_year_dates,
    fiscal_year_of,
    local_month,
    local_today,
    local_zone,
)
from tracker.extensions import db
from tracker.ledger import reads
from tracker.ledger.models import (
    ADJUSTMENT,
    DISBURSEMENT,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE,
    FEE_COVER,
    GIFT,
    HELD_KINDS,
    REFUND,
    LedgerEntry,
)
from tracker.ledger.rollups import LedgerMonthTotal


@dataclass(frozen=True, slots=True)
class YearSummary:
    """Headline figures of one fiscal year."""

    fiscal_year: int
    lives_saved: int
    raised: Money


def lives_saved(fiscal_year: int, *, public_only: bool = True) -> int:
    """People whose rescue date falls in the fiscal year (local dates): in public cases only
    for the public pages; in every case for the directors' report (``public_only=False``),
    whose case table counts every case too."""
    start, end = fiscal_year_dates(fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
    query = (
        db.select(func.count(Beneficiary.id))
        .join(RescueCase, RescueCase.id == Beneficiary.case_id)
        .where(
            Beneficiary.status == PERSON_RESCUED,
            Beneficiary.rescued_on >= start,
            Beneficiary.rescued_on < end,
        )
    )
    if public_only:
        query = query.where(RescueCase.is_public)
    return int(db.session.scalar(query) or 0)


def year_summary(fiscal_year: int) -> YearSummary:
    """Lives saved and money raised (gifts less refunds and disputes) in a fiscal year."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    first, end = fiscal_year_dates(fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
    return YearSummary(
        fiscal_year=fiscal_year,
        lives_saved=lives_saved(fiscal_year),
        # the monthly rollups: the home page shows this and must not sum a year of gifts
        raised=Money(reads.raised_in_months(first, end, base), base),
    )


# --- the public transparency page ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transparency:
    """Where the money came from and went in one fiscal year, for everyone to read.

    All sums are over the ledger, in the base currency. ``held_*`` are balances at the end of
    the year (or now, for the year under way): everything booked before the cut-off.
    """

    fiscal_year: int
    first_day: date
    last_day: date
    #: the day the balances are taken at (the year's last day, or today)
    as_of: date
    gifts: Money
    refunds: Money
    disputes: Money
    corrections: Money
    fees: Money
    out_by_category: list[tuple[str, Money]]
    people_rescued: int
    held_open: Money
    held_closed: Money
    held_general: Money
    #: what donors added to their gifts to pay the card fee, less refunds of it: the
    #: organization's (it pays the fees), never a case's money in
    fee_cover: Money | None = None

    @property
    def money_in(self) -> Money:
        """Gifts net of refunds, lost disputes and corrections."""
        return self.gifts + self.refunds + self.disputes + self.corrections

    @property
    def money_out(self) -> Money:
        total = Money.zero(self.gifts.currency)
        for _label, amount in self.out_by_category:
            total = total + amount
        return total

    @property
    def held_total(self) -> Money:
        return self.held_open + self.held_closed + self.held_general


def transparency_years() -> list[int]:
    """Fiscal years with anything to report, newest first: from the first money booked (or
    the first case opened) to the year under way."""
    start_month = current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
    current = current_fiscal_year()
    first = [v for v in (db.session.scalar(db.select(func.min(LedgerEntry.booked_at))),
                         db.session.scalar(db.select(func.min(RescueCase.created_at))))
             if v is not None]
    if not first:
        return [current]
    earliest = max(min(as_utc(v) for v in first).astimezone(local_zone()).date(), EARLIEST_MONEY_DAY)
    return list(range(current, min(fiscal_year_of(earliest, start_month), current) - 1, -1))


def transparency(fiscal_year: int) -> Transparency:
    """The transparency figures of ``fiscal_year``; NotFound outside transparency_years()."""
    if fiscal_year not in transparency_years():
        raise NotFound(_("There are no figures for the fiscal year %(year)s.", year=fiscal_year))
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    start_month = current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
    zone = local_zone()
    start, end = fiscal_year_bounds_utc(fiscal_year, start_month, zone)
    first_day, next_first = fiscal_year_dates(fiscal_year, start_month)
    last_day = next_first - timedelta(days=1)
    today = local_today()
    # Money in and fees: the monthly rollups (a fiscal year is a union of local months).
    by_kind = dict(db.session.execute(
        db.select(LedgerMonthTotal.kind, func.sum(LedgerMonthTotal.amount_minor))
        .where(LedgerMonthTotal.month >= first_day, LedgerMonthTotal.month < next_first,
               LedgerMonthTotal.currency == base)
        .group_by(LedgerMonthTotal.kind)
    ).all())

    def kind_total(*kinds: str) -> Money:
        return Money(sum(int(by_kind.get(k) or 0) for k in kinds), base)

    # Money out by category: from the few payment entries, found through their payments.
    out_rows = db.session.execute(
        db.select(BudgetLine.category, func.sum(LedgerEntry.amount_minor))
        .select_from(Disbursement)
        .join(BudgetLine, BudgetLine.id == Disbursement.budget_line_id)
        .join(LedgerEntry, LedgerEntry.disbursement_id == Disbursement.id)
        .where(LedgerEntry.kind == DISBURSEMENT, LedgerEntry.booked_at >= start,
               LedgerEntry.booked_at < end, LedgerEntry.currency == base)
        .group_by(BudgetLine.category)
    ).all()
    spent = {category: -int(total) for category, total in out_rows if total}
    order = list(current_app.config["TRACKER_BUDGET_CATEGORIES"])
    out_by_category = [
        (budget_services.category_label(c), Money(spent[c], base))
        for c in sorted(spent, key=lambda c: (order.index(c) if c in order else len(order), c))
    ]

    # Balances at the cut-off: what each case holds (raised less paid out) and what the
    # general fund holds after every card fee (fees are the organization's, not a case's).
    # The year under way is cut at the end of today: today's bookings (at local noon) count.
    tomorrow = datetime.combine(today + timedelta(days=1), time.min, zone).astimezone(UTC)
    cutoff = min(end, tomorrow)
    held_by_case, fees = _balances_before(cutoff, base)
    # Open at the cut-off (not today): a past year's page does not change when a case ends.
    ended = {
        case_id for case_id, status, completed in db.session.execute(
            db.select(RescueCase.id, RescueCase.status, RescueCase.completed_at))
        if status in (workflow.RESCUED, workflow.CLOSED)
        and (completed is None or as_utc(completed) < cutoff)
    }
    held = {"open": 0, "closed": 0, "general": fees}
    for case_key, amount in held_by_case.items():
        group = "general" if case_key == 0 else "closed" if case_key in ended else "open"
        held[group] += amount

    return Transparency(
        fiscal_year=fiscal_year, first_day=first_day, last_day=last_day,
        as_of=min(today, last_day),
        gifts=kind_total(GIFT), refunds=kind_total(REFUND),
        disputes=kind_total(DISPUTE, DISPUTE_REVERSAL), corrections=kind_total(ADJUSTMENT),
        fees=kind_total(FEE), out_by_category=out_by_category,
        people_rescued=lives_saved(fiscal_year),
        held_open=Money(int(held.get("open") or 0), base),
        held_closed=Money(int(held.get("closed") or 0), base),
        held_general=Money(held["general"], base),
        fee_cover=kind_total(FEE_COVER),
    )


def _balances_before(cutoff: datetime, base: str) -> tuple[dict[int, int], int]:
    """What each case (key 0: the general fund) holds from everything booked before
    ``cutoff`` (held kinds, plus everything of the general fund), and all card fees.

    From the rollups, up to the end of the cut-off's month; when the cut-off falls inside a
    month (the year under way: the end of today), less what that month has booked from the
    cut-off on (entries dated after today, normally none). So the figure never sums a month of
    gifts, however busy the month."""
    month = local_month(cutoff - timedelta(microseconds=1))
    inside = local_month(cutoff) == month  # the cut-off is not the first of a month
    months_end = _next_month(month) if inside else local_month(cutoff)
    held: dict[int, int] = {}
    fees = 0
    for case_key, kind, amount in db.session.execute(
        db.select(LedgerMonthTotal.case_key, LedgerMonthTotal.kind,
                  func.sum(LedgerMonthTotal.amount_minor))
        .where(LedgerMonthTotal.month < months_end, LedgerMonthTotal.currency == base)
        .group_by(LedgerMonthTotal.case_key, LedgerMonthTotal.kind)
    ):
        fees += _add_balance(held, case_key, kind, int(amount))
    if inside:
        month_end = datetime.combine(months_end, time.min, local_zone())
        for case_id, kind, amount in db.session.execute(
            db.select(LedgerEntry.case_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.booked_at >= cutoff, LedgerEntry.booked_at < month_end,
                   LedgerEntry.currency == base)
            .group_by(LedgerEntry.case_id, LedgerEntry.kind)
        ):
            fees += _add_balance(held, case_id or 0, kind, -int(amount))
    return held, fees


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def _add_balance(held: dict[int, int], case_key: int, kind: str, amount: int) -> int:
    """Add a case's entry to what it holds; return the amount if it is a case's card fee or
    fee cover (both the organization's: the cover pays the fee)."""
    if case_key != 0 and kind in (FEE, FEE_COVER):
        return amount
    if case_key == 0 or kind in HELD_KINDS:
        held[case_key] = held.get(case_key, 0) + amount
    return 0


def transparency_fingerprint() -> tuple:
    """What the transparency pages depend on: the ledger, and cases and people (rescues bump
    a case's updated_at), and the day (the current year's balances are taken today)."""
    return (
        db.session.scalar(db.select(func.max(LedgerEntry.id))),
        db.session.scalar(db.select(func.max(RescueCase.updated_at))),
        local_today().isoformat(),
    )
