"""The directors' funding report for one fiscal year, read from the monthly rollups.

Every figure here equals the same sum over ``ledger_entries`` (the tests compute both): the
rollups are kept by triggers in the same transaction as the ledger, and a fiscal year is an
exact union of local months. Reading a year touches a few thousand rollup rows, however many
gifts there are.

Kinds: gifts are gross and positive; refunds, lost disputes and fees are negative; a won
dispute comes back as ``dispute_reversal`` (counted with disputes); ``adjustment`` corrects an
offline gift. Net = gifts + refunds + disputes + adjustments; fees are shown apart, and so is
``fee_cover`` (what donors added to pay the card fee, less refunds of it); "net after fees"
subtracts the fees and adds the fee cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from tracker.cases.models import PERSON_RESCUED, Beneficiary, RescueCase
from tracker.core.money import Money, divide_half_up
from tracker.core.time import fiscal_year_dates
from tracker.donations.models import CHANNEL_LABELS, CHANNELS, Donor
from tracker.extensions import db
from tracker.ledger.models import (
    ADJUSTMENT,
    DISBURSEMENT,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE,
    FEE_COVER,
    GIFT,
    RAISED_KINDS,
    REFUND,
)
from tracker.ledger.rollups import DonorMonth, DonorYear, GiftAmountMonth, LedgerMonthTotal
from tracker.reports.monthly import MonthlyGiving, monthly_giving
from tracker.reports.services import lives_saved

#: how many lapsed donors a report page lists (the CSV has them all)
LIST_LIMIT = 50


@dataclass
class Flows:
    """Money of one slice (a month, a channel, a currency) in base-currency minor units."""

    gifts: int = 0
    gift_count: int = 0
    refunds: int = 0
    disputes: int = 0
    adjustments: int = 0
    fees: int = 0
    #: what donors added to cover card fees, less what refunds gave back: the
    #: organization's, not the case's (shown apart, never in gifts or net)
    fee_cover: int = 0

    @property
    def net(self) -> int:
        return self.gifts + self.refunds + self.disputes + self.adjustments

    @property
    def net_after_fees(self) -> int:
        return self.net + self.fees + self.fee_cover

    def add(self, kind: str, amount: int, entries: int) -> None:
        if kind == GIFT:
            self.gifts += amount
            self.gift_count += entries
        elif kind == REFUND:
            self.refunds += amount
        elif kind in (DISPUTE, DISPUTE_REVERSAL):
            self.disputes += amount
        elif kind == ADJUSTMENT:
            self.adjustments += amount
        elif kind == FEE:
            self.fees += amount
        elif kind == FEE_COVER:
            self.fee_cover += amount


@dataclass
class CurrencyFlows:
    """What donors paid in one currency: in that currency, and what it became in base."""

    currency: str
    base: Flows = field(default_factory=Flows)
    #: gifts, refunds and disputes in the donor's own currency
    original_gifts: int = 0
    original_refunds: int = 0
    original_disputes: int = 0

    @property
    def original_net(self) -> int:
        return self.original_gifts + self.original_refunds + self.original_disputes

    def in_original(self, minor: int) -> Money:
        """An amount of this currency's column as Money (for display)."""
        return Money(minor, self.currency)


@dataclass
class CaseRow:
    """One case: its goal, what it raised (in the year and to the year's end), people."""

    case_id: int
    slug: str
    title: str
    status: str
    goal: int
    raised_in_year: int = 0
    raised_to_date: int = 0
    spent_in_year: int = 0
    people: int = 0
    rescued_to_date: int = 0
    rescued_in_year: int = 0
    #: the Japanese title, when staff wrote one ("" otherwise; ``title`` is the English one)
    title_ja: str = ""

    def title_in(self, language: str) -> tuple[str, str]:
        """``(title, its language)`` for a page in ``language``: the Japanese title on a
        Japanese page when there is one, else the English title (marked ``lang="en"``)."""
        if language == "ja" and self.title_ja:
            return self.title_ja, "ja"
        return self.title, "en"


@dataclass(frozen=True)
class LapsedDonor:
    donor_id: int
    name: str
    email: str | None
    last_gift_month: date | None


@dataclass
class DonorFigures:
    active: int = 0
    new: int = 0
    returning: int = 0
    lybunt: int = 0
    sybunt: int = 0
    lybunt_list: list[LapsedDonor] = field(default_factory=list)
    sybunt_list: list[LapsedDonor] = field(default_factory=list)


@dataclass
class FundingReport:
    fiscal_year: int
    currency: str
    first_month: date
    next_first_month: date
    totals: Flows
    by_month: list[tuple[date, Flows]]
    by_channel: list[tuple[str, str, Flows]]
    by_currency: list[CurrencyFlows]
    cases: list[CaseRow]
    general_fund_raised: int
    donors: DonorFigures
    average_gift: int | None
    median_gift: int | None
    people_rescued: int
    spent: int
    #: monthly giving apart (active monthly donors, monthly amount, recurring revenue, churn)
    monthly: MonthlyGiving | None = None

    def money(self, minor: int | None) -> Money | None:
        return None if minor is None else Money(minor, self.currency)

    @property
    def spent_per_person(self) -> int | None:
        """Funds paid out in the year per person rescued in it (rounded half up)."""
        if not self.people_rescued:
            return None
        return int(divide_half_up(self.spent, self.people_rescued))


def _months(fiscal_year: int) -> tuple[date, date]:
    return fiscal_year_dates(fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])


def _in(column, start: date, end: date):  # noqa: ANN001, ANN202
    return and_(column >= start, column < end)


def median_of(counts: Iterable[tuple[int, int]]) -> int | None:
    """The median of a distribution given as sorted (value, how many) pairs; for an even
    count the mean of the two middle values, rounded half up to a whole minor unit."""
    pairs = [(int(v), int(n)) for v, n in counts if n]
    total = sum(n for _, n in pairs)
    if not total:
        return None
    lower_rank, upper_rank = (total - 1) // 2, total // 2
    seen, lower, upper = 0, None, None
    for value, n in pairs:
        if lower is None and lower_rank < seen + n:
            lower = value
        if upper_rank < seen + n:
            upper = value
            break
        seen += n
    return int(divide_half_up(lower + upper, 2))


def _lapsed(query, end: date, limit: int | None) -> list[LapsedDonor]:  # noqa: ANN001
    # the last gift up to the year's end: a closed year's report stays as it was
    last = (select(func.max(DonorMonth.month))
            .where(DonorMonth.donor_id == Donor.id, DonorMonth.month < end).scalar_subquery())
    statement = query.with_only_columns(Donor.id, Donor.name, Donor.email, last).order_by(Donor.id)
    if limit is not None:
        statement = statement.limit(limit)
    return [LapsedDonor(*row) for row in db.session.execute(statement)]


def lybunt_query(fiscal_year: int):  # noqa: ANN201
    """Donors who gave Last Year But Unfortunately Not This year."""
    later = aliased(DonorYear)
    this_year = exists().where(later.donor_id == Donor.id, later.fiscal_year == fiscal_year)
    return (select(Donor.id).join(DonorYear, DonorYear.donor_id == Donor.id)
            .where(DonorYear.fiscal_year == fiscal_year - 1, ~this_year))


def sybunt_query(fiscal_year: int):  # noqa: ANN201
    """Donors who gave Some Year (before last) But Unfortunately Not This year or last."""
    prev_start, _ = _months(fiscal_year - 1)
    lately = exists().where(DonorYear.donor_id == Donor.id,
                            DonorYear.fiscal_year.in_((fiscal_year - 1, fiscal_year)))
    return select(Donor.id).where(Donor.first_gift_month < prev_start, ~lately)


def lapsed_donors(kind: str, fiscal_year: int, limit: int | None = None) -> list[LapsedDonor]:
    """LYBUNT or SYBUNT donors of a fiscal year (all of them when ``limit`` is None)."""
    _, end = _months(fiscal_year)
    query = lybunt_query(fiscal_year) if kind == "lybunt" else sybunt_query(fiscal_year)
    return _lapsed(query, end, limit)


def _donor_figures(fiscal_year: int) -> DonorFigures:
    """Counted from index ranges and one probe per donor of last year:

    * active(Y): donors with a gift in Y; new(Y): first gift in Y; both: gave in Y-1 and Y;
    * LYBUNT = active(Y-1) - both;
    * came back = donors of Y-1 or Y whose first gift was earlier
      = active(Y-1) + active(Y) - both - new(Y-1) - new(Y);
    * SYBUNT = (first gift before Y-1) - came back.
    """
    start, end = _months(fiscal_year)
    prev_start, _ = _months(fiscal_year - 1)

    def active(year: int) -> int:
        return int(db.session.scalar(
            select(func.count()).select_from(DonorYear).where(DonorYear.fiscal_year == year)) or 0)

    def first_gifts(since: date | None, before: date) -> int:
        where = [Donor.first_gift_month < before]
        if since is not None:
            where.append(Donor.first_gift_month >= since)
        return int(db.session.scalar(select(func.count(Donor.id)).where(*where)) or 0)

    later = aliased(DonorYear)
    both = int(db.session.scalar(
        select(func.count()).select_from(DonorYear).where(
            DonorYear.fiscal_year == fiscal_year - 1,
            exists().where(later.donor_id == DonorYear.donor_id,
                           later.fiscal_year == fiscal_year))) or 0)
    active_now, active_last = active(fiscal_year), active(fiscal_year - 1)
    new_now, new_last = first_gifts(start, end), first_gifts(prev_start, start)
    came_back = active_last + active_now - both - new_last - new_now
    return DonorFigures(
        active=active_now, new=new_now, returning=active_now - new_now,
        lybunt=active_last - both, sybunt=first_gifts(None, prev_start) - came_back,
        lybunt_list=lapsed_donors("lybunt", fiscal_year, LIST_LIMIT),
        sybunt_list=lapsed_donors("sybunt", fiscal_year, LIST_LIMIT),
    )


def _japanese_title(case: RescueCase) -> str:
    """The case's Japanese title as public pages choose it (``RescueCase.text``), or ""."""
    text = case.text("ja")
    return text.title if text.language == "ja" else ""


def _cases(start: date, end: date, year_rows: list, base: str) -> tuple[list[CaseRow], int]:
    """Every case with goal, raised (in the year and up to its end), spent, people."""
    rows = {
        c.id: CaseRow(c.id, c.slug, c.public_title, c.status, c.goal_amount_minor,
                      title_ja=_japanese_title(c))
        for c in db.session.scalars(select(RescueCase).order_by(RescueCase.id))
    }
    general = 0
    for case_key, total in db.session.execute(
        select(LedgerMonthTotal.case_key, func.sum(LedgerMonthTotal.amount_minor))
        .where(LedgerMonthTotal.month < end, LedgerMonthTotal.currency == base,
               LedgerMonthTotal.kind.in_(RAISED_KINDS))
        .group_by(LedgerMonthTotal.case_key)
    ):
        if case_key == 0:
            general = int(total)
        elif case_key in rows:
            rows[case_key].raised_to_date = int(total)
    for _month, case_key, kind, _channel, _currency, amount, _original, _entries in year_rows:
        row = rows.get(case_key)
        if row is None:
            continue
        if kind in RAISED_KINDS:
            row.raised_in_year += amount
        elif kind == DISBURSEMENT:
            row.spent_in_year -= amount
    for case_id, people, rescued, rescued_in_year in db.session.execute(
        select(Beneficiary.case_id, func.count(Beneficiary.id),
               func.count(Beneficiary.id).filter(Beneficiary.status == PERSON_RESCUED),
               func.count(Beneficiary.id).filter(Beneficiary.status == PERSON_RESCUED,
                                                 _in(Beneficiary.rescued_on, start, end)))
        .group_by(Beneficiary.case_id)
    ):
        if case_id in rows:
            rows[case_id].people, rows[case_id].rescued_to_date = int(people), int(rescued)
            rows[case_id].rescued_in_year = int(rescued_in_year)
    return list(rows.values()), general


def funding_report(fiscal_year: int) -> FundingReport:
    """Everything the directors' page shows for one fiscal year, monthly giving included
    (``tracker.reports.monthly``: its definitions, churn among them)."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    start, end = _months(fiscal_year)
    year_rows = [tuple(r) for r in db.session.execute(
        select(LedgerMonthTotal.month, LedgerMonthTotal.case_key, LedgerMonthTotal.kind,
               LedgerMonthTotal.channel, LedgerMonthTotal.original_currency,
               LedgerMonthTotal.amount_minor, LedgerMonthTotal.original_amount_minor,
               LedgerMonthTotal.entries)
        .where(_in(LedgerMonthTotal.month, start, end), LedgerMonthTotal.currency == base)
    )]
    # shaped like (month, case_key, kind, channel, original_currency, amount, original, entries)
    totals = Flows()
    months: dict[date, Flows] = {}
    month = start
    while month < end:
        months[month] = Flows()
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    channels: dict[str, Flows] = {c: Flows() for c in CHANNELS}
    currencies: dict[str, CurrencyFlows] = {}
    spent = 0
    for month, _case, kind, channel, original_currency, amount, original, entries in year_rows:
        amount, original, entries = int(amount), int(original), int(entries)
        totals.add(kind, amount, entries)
        months[month].add(kind, amount, entries)
        if channel:
            channels.setdefault(channel, Flows()).add(kind, amount, entries)
        if original_currency and kind != DISBURSEMENT:  # donors' currencies only
            flows = currencies.setdefault(original_currency, CurrencyFlows(original_currency))
            flows.base.add(kind, amount, entries)
            if kind == GIFT:
                flows.original_gifts += original
            elif kind == REFUND:
                flows.original_refunds += original
            elif kind in (DISPUTE, DISPUTE_REVERSAL):
                flows.original_disputes += original
        if kind == DISBURSEMENT:
            spent -= amount
    cases, general = _cases(start, end, year_rows, base)
    median = median_of(db.session.execute(
        select(GiftAmountMonth.amount_minor, func.sum(GiftAmountMonth.gifts))
        .where(_in(GiftAmountMonth.month, start, end))
        .group_by(GiftAmountMonth.amount_minor).order_by(GiftAmountMonth.amount_minor)
    ))
    average = (int(divide_half_up(totals.gifts, totals.gift_count))
               if totals.gift_count else None)
    return FundingReport(
        fiscal_year=fiscal_year, currency=base, first_month=start, next_first_month=end,
        totals=totals, by_month=list(months.items()),
        by_channel=[(c, CHANNEL_LABELS.get(c, c), f) for c, f in channels.items()],
        by_currency=sorted(currencies.values(), key=lambda c: (c.currency != base, c.currency)),
        cases=cases, general_fund_raised=general, donors=_donor_figures(fiscal_year),
        average_gift=average, median_gift=median, people_rescued=lives_saved(fiscal_year, public_only=False),
        spent=spent,
        monthly=monthly_giving(fiscal_year, start, end, totals.gifts, totals.gift_count),
    )
