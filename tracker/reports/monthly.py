"""Monthly giving in the directors' funding report: who gives each month, how much a month
comes in that way, how much of the year's money it brought, and how many monthly gifts ended.

Definitions (the report page states them too):

* **Active monthly donors now**: donors with at least one monthly gift whose status is
  ``active`` (paid up) today. Gifts whose last payment failed (``past_due``, still retried) are
  counted apart; gifts waiting for their first payment (``incomplete``) count nowhere.
* **Monthly donors at the year's end** (years already over): donors with a monthly gift that
  had started (first payment) before the year ended and was not cancelled by then. The status
  history is not kept, so a gift that was past due on that day is counted as running.
* **Monthly recurring amount**: the sum of the active gifts' monthly amounts, per currency
  (never added across currencies), as the gifts stand today.
* **Recurring / one-off revenue**: gross gifts booked on the ledger in the year, in the base
  currency; recurring are those whose donation came from a monthly gift
  (``Donation.recurring_gift_id``), one-off the rest. Refunds and disputes are not subtracted
  here (the summary's net does that for all gifts).
* **Churn**: monthly gifts cancelled in the year, divided by the monthly gifts that were
  running at some point in it (started before the year's end and not cancelled before its
  start: active at the year's start, or started in the year). Gifts that never had a first
  payment are left out of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, func, or_, select

from tracker.core.money import Money, divide_half_up
from tracker.core.time import fiscal_year_bounds_utc, local_zone, utcnow
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import GIFT, LedgerEntry
from tracker.monthly.models import ACTIVE, PAST_DUE, RecurringGift


@dataclass
class MonthlyGiving:
    """The monthly-giving figures of one fiscal year (amounts in minor units)."""

    fiscal_year: int
    currency: str
    #: whether the year has ended (only then is there a "year's end" figure)
    year_over: bool
    active_donors: int = 0
    active_gifts: int = 0
    past_due_gifts: int = 0
    #: currency -> the active gifts' monthly amounts summed, currencies kept apart
    monthly_amounts: dict[str, int] = field(default_factory=dict)
    donors_at_year_end: int | None = None
    recurring_gifts: int = 0
    recurring_count: int = 0
    one_off_gifts: int = 0
    one_off_count: int = 0
    canceled_in_year: int = 0
    running_in_year: int = 0

    @property
    def monthly_money(self) -> list[Money]:
        """The monthly recurring amounts as Money, the base currency first."""
        return [Money(minor, code) for code, minor in
                sorted(self.monthly_amounts.items(), key=lambda kv: (kv[0] != self.currency, kv[0]))]

    @property
    def churn_percent(self) -> Decimal | None:
        """Cancelled / running in the year, as a percentage to one decimal (None: no gifts ran)."""
        if not self.running_in_year:
            return None
        return divide_half_up(100 * self.canceled_in_year, self.running_in_year, places=1)


def _started_before(moment: datetime):  # noqa: ANN202
    return and_(RecurringGift.started_at.is_not(None), RecurringGift.started_at < moment)


def _not_canceled_before(moment: datetime):  # noqa: ANN202
    return or_(RecurringGift.canceled_at.is_(None), RecurringGift.canceled_at >= moment)


def monthly_giving(fiscal_year: int, first_month: date, next_first_month: date,
                   total_gifts: int, total_count: int) -> MonthlyGiving:
    """The monthly-giving figures of ``fiscal_year`` (see the module's definitions).

    ``total_gifts`` / ``total_count`` are the year's gross gifts in the base currency and
    their number (the report's totals): one-off is what recurring leaves of them."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    start, end = fiscal_year_bounds_utc(
        fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"], local_zone())
    figures = MonthlyGiving(fiscal_year=fiscal_year, currency=base, year_over=end <= utcnow())

    figures.active_donors = int(db.session.scalar(
        select(func.count(func.distinct(RecurringGift.donor_id)))
        .where(RecurringGift.status == ACTIVE)) or 0)
    for status, currency, gifts, amount in db.session.execute(
        select(RecurringGift.status, RecurringGift.currency, func.count(),
               func.coalesce(func.sum(RecurringGift.amount_minor), 0))
        .where(RecurringGift.status.in_((ACTIVE, PAST_DUE)))
        .group_by(RecurringGift.status, RecurringGift.currency)
    ):
        if status == ACTIVE:
            figures.active_gifts += int(gifts)
            figures.monthly_amounts[currency] = int(amount)
        else:
            figures.past_due_gifts += int(gifts)
    if figures.year_over:
        figures.donors_at_year_end = int(db.session.scalar(
            select(func.count(func.distinct(RecurringGift.donor_id)))
            .where(_started_before(end), _not_canceled_before(end))) or 0)

    # the year's gross gifts that came from monthly gifts, cut by local month as the rollups are
    amount, count = db.session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0), func.count(LedgerEntry.id))
        .select_from(Donation).join(LedgerEntry, LedgerEntry.donation_id == Donation.id)
        .where(Donation.recurring_gift_id.is_not(None), LedgerEntry.kind == GIFT,
               LedgerEntry.currency == base, LedgerEntry.booked_month >= first_month,
               LedgerEntry.booked_month < next_first_month)
    ).one()
    figures.recurring_gifts, figures.recurring_count = int(amount), int(count)
    figures.one_off_gifts = total_gifts - figures.recurring_gifts
    figures.one_off_count = total_count - figures.recurring_count

    figures.running_in_year = int(db.session.scalar(
        select(func.count(RecurringGift.id))
        .where(_started_before(end), _not_canceled_before(start))) or 0)
    figures.canceled_in_year = int(db.session.scalar(
        select(func.count(RecurringGift.id))
        .where(RecurringGift.started_at.is_not(None), RecurringGift.canceled_at >= start,
               RecurringGift.canceled_at < end)) or 0)
    return figures
