"""The directors' funding report: every figure equals the same figure summed with plain SQL
over the ledger (never the rollup tables) on the same data, for several fiscal years.

The history is built through the services, as the app builds it: offline gifts on the day
received, card gifts settled at a given moment (one at 23:59 on 31 August Tokyo time, the
last minute of FY2024, and one at 00:00 on 1 September, the first of FY2025), a dollar gift
to a yen case, fees, refunds (one through ``refund_donation``, booked today, a later fiscal
year than its gift), disputes lost and won, an adjustment, disbursements on dates (one over
the approval threshold, one reversed), rescues on dates, and cases closed with their money
moved to another case and to the general fund.

Refunds, disputes and transfers are booked by the services at the moment they happen. To
also have such entries on fixed dates of past years (a refund of a FY2024 gift booked in
FY2025, a dispute booked a month after its gift, a transfer between cases in FY2024) they are
written with a Core insert giving kind, amounts, ``booked_at`` and ``booked_month``; the
rollup triggers pick them up like any other entry.

The expected figures come from ``sa.text`` queries over ledger_entries, donations, donors,
rescue_cases and beneficiaries with UTC bounds from ``fiscal_year_bounds_utc``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.dbcheck import card_gift
from tests.factories import make_case
from tracker.accounts.models import User
from tracker.budgets import services as budget_services
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core import labels
from tracker.core.money import Money
from tracker.core.time import current_fiscal_year, fiscal_year_bounds_utc, local_today, utcnow
from tracker.core.types import UTCDateTime
from tracker.donations import recording as payment_services
from tracker.donations import services as donation_services
from tracker.donations.adjustments import adjust_gift
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.payments.gateway import get_gateway
from tracker.reports.funding import Flows, FundingReport, funding_report, lapsed_donors, median_of

TOKYO = ZoneInfo("Asia/Tokyo")
START_MONTH = 9
EXPONENT = {"JPY": 0, "USD": 2, "EUR": 2}
CHANNELS = ("card", "bank_transfer", "cash", "konbini")
#: ledger kinds that make up what a case raised (fees are reported apart, not subtracted)
RAISED = "('gift', 'refund', 'dispute', 'dispute_reversal', 'transfer', 'adjustment')"


# --- building the history through the services -----------------------------------------------


def tokyo(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TOKYO)


def local_month(moment: datetime) -> date:
    local = moment.astimezone(TOKYO)
    return date(local.year, local.month, 1)


def offline(case: RescueCase | None, amount: int, on: date, currency: str = "JPY", *,
            email: str | None = None, name: str = "", channel: str = "bank_transfer") -> Donation:
    """A bank transfer or cash gift received on ``on`` (booked at local noon), committed."""
    donation = donation_services.record_offline_gift(case, donation_services.OfflineGift(
        amount=Money(amount, currency), channel=channel, received_on=on, donor_name=name,
        donor_email=email))
    db.session.commit()
    return donation


def insert_entry(kind: str, amount: int, at: datetime, *, donation: Donation | None = None,
                 case_id: int | None = None, original: int | None = None, ref: str | None = None,
                 group: str | None = None) -> None:
    """A ledger entry booked at ``at`` written with a Core insert (as a bulk load or a
    migration would), with its local booking month; committed."""
    db.session.execute(sa.insert(LedgerEntry.__table__).values(
        kind=kind, amount_minor=amount, currency="JPY",
        case_id=donation.case_id if donation is not None else case_id,
        donation_id=donation.id if donation is not None else None,
        original_amount_minor=original,
        original_currency=donation.currency if donation is not None and original else None,
        gateway_ref=ref, transfer_group=group, memo=f"test {kind}", booked_at=at,
        booked_month=local_month(at), created_at=utcnow()))
    db.session.commit()


def staff(email: str) -> User:
    user = User(email=email, password_hash="$argon2id$not-used-by-these-tests", role="staff")
    db.session.add(user)
    db.session.commit()
    return user


def people(case: RescueCase) -> list[Beneficiary]:
    return list(db.session.scalars(sa.select(Beneficiary).where(Beneficiary.case_id == case.id)
                                   .order_by(Beneficiary.position)))


def pay_out(case: RescueCase, category: str, amount: int, on: date, currency: str = "JPY",
            actor: User | None = None):  # noqa: ANN201
    line = next((line for line in budget_services.lines_for(case.id) if line.category == category), None)
    if line is None:
        line = budget_services.set_line(case, category, Money(5_000_000, "JPY"))
    disbursement = budget_services.record_disbursement(case, budget_services.DisbursementInput(
        line_id=line.id, spent_on=on, amount=Money(amount, currency), payee="Guide K."),
        actor=actor, today=local_today())
    db.session.commit()
    return disbursement


@dataclass
class History:
    alpha: RescueCase
    bravo: RescueCase
    charlie: RescueCase
    echo: RescueCase
    last_minute: Donation  # card, 2025-08-31 23:59 Tokyo (FY2024)
    first_minute: Donation  # card, 2025-09-01 00:00 Tokyo (FY2025)
    dollar_card: Donation  # USD 100.00 to a yen case, refunded in two later years
    dollar_offline: Donation  # USD 25.50 bank transfer to a yen case
    refund_today_id: str
    moved_from_charlie: int
    moved_from_echo: int


def build_history() -> History:
    alpha = make_case("alpha-six", people=3, status=workflow.FUNDRAISING, goal=1_000_000,
                      public_title="Alpha")
    bravo = make_case("bravo-two", people=2, status=workflow.FUNDRAISING, goal=400_000,
                      public_title="Bravo")
    charlie = make_case("charlie-one", people=1, status=workflow.FUNDRAISING, goal=300_000,
                        public_title="Charlie")
    echo = make_case("echo-legal", people=1, status=workflow.LEGAL_ACTION, goal=250_000,
                     public_title="Echo")
    make_case("foxtrot-request", people=1, goal=90_000, public_title="Foxtrot")  # private, no money

    # FY2022
    offline(alpha, 8_000, date(2023, 5, 5), email="eve@example.org", name="Eve", channel="cash")
    # FY2023 (2023-09-01 .. 2024-08-31)
    offline(alpha, 10_000, date(2023, 9, 1), email="ann@example.org", name="Ann")
    offline(bravo, 3_000, date(2024, 1, 15), email="bob@example.org", name="Bob", channel="cash")
    offline(None, 5_000, date(2024, 8, 31))
    lost_early = card_gift(alpha, 7_000, tokyo(2024, 2, 10, 9, 30), fee=252)
    insert_entry("dispute", -7_000, tokyo(2024, 3, 1, 10), donation=lost_early, original=-7_000,
                 ref="dp_core_early")
    # FY2024 (2024-09-01 .. 2025-08-31)
    offline(bravo, 2_000, date(2024, 10, 1), email="cat@example.org", name="Cat")
    dollar_card = card_gift(alpha, 10_000, tokyo(2024, 11, 15, 10), "USD", fee=540,
                       email="fay@example.org", name="Fay")
    dollar_offline = offline(bravo, 2_550, date(2025, 3, 3), "USD", email="gus@example.org",
                             name="Gus")
    offline(charlie, 50_000, date(2025, 4, 4), email="hal@example.org", name="Hal")
    offline(echo, 20_000, date(2025, 5, 5))
    last_minute = card_gift(alpha, 12_345, tokyo(2025, 8, 31, 23, 59), fee=444, email="cat@example.org")
    insert_entry("transfer", -1_000, tokyo(2025, 7, 7), case_id=bravo.id, group="g-core-1")
    insert_entry("transfer", 1_000, tokyo(2025, 7, 7), case_id=alpha.id, group="g-core-1")
    # FY2025 (2025-09-01 .. 2026-08-31)
    first_minute = card_gift(None, 6_000, tokyo(2025, 9, 1, 0, 0), fee=216, email="ivy@example.org",
                        name="Ivy")
    offline(alpha, 10_000, date(2025, 10, 10), email="ann@example.org")
    won = card_gift(bravo, 5_000, tokyo(2026, 1, 20, 18), fee=180, email="cat@example.org")
    lost = card_gift(alpha, 9_000, tokyo(2026, 2, 2, 8), fee=324, email="jay@example.org", name="Jay")
    dan = offline(bravo, 4_000, date(2026, 8, 31), email="dan@example.org", name="Dan",
                  channel="cash")
    offline(None, 1_000, date(2026, 3, 3), "USD", email="kim@example.org", name="Kim")
    # the first part of the dollar gift's refund, in FY2025: a year after the gift
    insert_entry("refund", -4_500, tokyo(2025, 12, 10, 15), donation=dollar_card, original=-3_000,
                 ref="re_core_1")

    # Today: a refund through the payment service (proportional share of the settled yen),
    # disputes lost and won, a correction of an offline gift.
    gateway = get_gateway()
    refund_id = payment_services.refund_donation(dollar_card, 2_000, "Donor asked for part back",
                                                 None, gateway)
    db.session.commit()
    payment_services.book_dispute({"id": "dp_svc_lost", "charge": lost.gateway_charge_id,
                                   "metadata": {"donation_id": lost.public_id}, "amount": 9_000},
                                  gateway, False)
    payment_services.book_dispute({"id": "dp_svc_won", "charge": won.gateway_charge_id,
                                   "metadata": {"donation_id": won.public_id}, "amount": 5_000},
                                  gateway, False)
    payment_services.close_dispute({"id": "dp_svc_won", "charge": won.gateway_charge_id,
                                    "metadata": {"donation_id": won.public_id}, "amount": 5_000,
                                    "status": "won"}, gateway, False)
    adjust_gift(dan, -1_000, "Bank charge found on the statement", None)
    db.session.commit()

    # Money paid out on dates (local noon of the day spent), one in dollars, one reversed, one
    # above the approval threshold approved by a second person.
    first, second = staff("aiko@example.org"), staff("ben@example.org")
    pay_out(alpha, "guides", 20_000, date(2024, 4, 1), "USD")  # $200 in FY2023, no dollar gift then
    pay_out(alpha, "guides", 60_000, date(2024, 4, 2))
    pay_out(alpha, "transport", 30_000, date(2025, 6, 30))
    reversed_one = pay_out(alpha, "transport", 80_000, date(2024, 5, 5))
    budget_services.reverse(reversed_one.id, actor=None, reason="Paid to the wrong guide",
                            today=local_today())
    db.session.commit()
    pay_out(bravo, "transport", 45_000, date(2025, 9, 1))
    big = pay_out(alpha, "safe_house", 150_000, date(2026, 1, 5), actor=first)
    budget_services.approve(big.id, actor=second)
    db.session.commit()

    # Rescues on dates: FY2023, the last and first days of FY2024/FY2025, and FY2025.
    a = people(alpha)
    case_services.mark_rescued(a[0], date(2024, 3, 10))
    case_services.mark_rescued(a[1], date(2025, 8, 31))
    b = people(bravo)
    case_services.mark_rescued(b[0], date(2025, 9, 1))
    case_services.mark_rescued(b[1], date(2026, 2, 14))  # completes bravo
    db.session.commit()

    # Cases closed today: charlie's money to alpha (a transfer between cases), echo's to the
    # general fund.
    moved_from_charlie = case_services.close_case(charlie, "merged", move_funds_to="case",
                                                  target=alpha)
    moved_from_echo = case_services.close_case(echo, "cancelled", move_funds_to="general")
    db.session.commit()
    return History(alpha, bravo, charlie, echo, last_minute, first_minute, dollar_card,
                   dollar_offline, refund_id, moved_from_charlie, moved_from_echo)


# --- the same figures in plain SQL -----------------------------------------------------------


def rows(statement: str, **params: Any) -> list[tuple]:
    """Run plain SQL; datetimes are bound as the UTC column stores them, dates as dates."""
    text = sa.text(statement)
    binds = []
    for name, value in params.items():
        if isinstance(value, datetime):
            binds.append(sa.bindparam(name, type_=UTCDateTime()))
        elif isinstance(value, date):
            binds.append(sa.bindparam(name, type_=sa.Date()))
    if binds:
        text = text.bindparams(*binds)
    return [tuple(r) for r in db.session.execute(text, params)]


def half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def flows_of(kind_rows: list[tuple]) -> dict[str, int]:
    """Flows from (kind, sum, count) rows: refunds, disputes (opened and won back) and fees
    are signed as booked; net is gifts less refunds and disputes plus corrections."""
    by_kind = {kind: (int(total), int(n)) for kind, total, n in kind_rows}
    get = lambda kind: by_kind.get(kind, (0, 0))[0]  # noqa: E731
    f = {"gifts": get("gift"), "gift_count": by_kind.get("gift", (0, 0))[1],
         "refunds": get("refund"), "disputes": get("dispute") + get("dispute_reversal"),
         "adjustments": get("adjustment"), "fees": get("fee"), "fee_cover": get("fee_cover")}
    f["net"] = f["gifts"] + f["refunds"] + f["disputes"] + f["adjustments"]
    f["net_after_fees"] = f["net"] + f["fees"] + f["fee_cover"]
    return f


def flows_dict(f: Flows) -> dict[str, int]:
    return {"gifts": f.gifts, "gift_count": f.gift_count, "refunds": f.refunds,
            "disputes": f.disputes, "adjustments": f.adjustments, "fees": f.fees, "net": f.net,
            "fee_cover": f.fee_cover, "net_after_fees": f.net_after_fees}


def bounds(fy: int) -> tuple[datetime, datetime]:
    return fiscal_year_bounds_utc(fy, START_MONTH, TOKYO)


def month_starts(fy: int) -> list[date]:
    return [date(fy + (m < START_MONTH), m, 1) for m in (*range(START_MONTH, 13), *range(1, START_MONTH))]


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, TOKYO).astimezone(UTC)


IN_YEAR = "l.booked_at >= :s AND l.booked_at < :e AND l.currency = 'JPY'"


def sql_totals(fy: int) -> dict[str, int]:
    s, e = bounds(fy)
    return flows_of(rows(f"SELECT l.kind, SUM(l.amount_minor), COUNT(*) FROM ledger_entries l "
                         f"WHERE {IN_YEAR} GROUP BY l.kind", s=s, e=e))


def sql_months(fy: int) -> dict[date, dict[str, int]]:
    months = month_starts(fy)
    out = {}
    for first, following in zip(months, [*months[1:], date(fy + 1, START_MONTH, 1)], strict=True):
        out[first] = flows_of(rows(
            f"SELECT l.kind, SUM(l.amount_minor), COUNT(*) FROM ledger_entries l WHERE {IN_YEAR} "
            "GROUP BY l.kind", s=utc_midnight(first), e=utc_midnight(following)))
    return out


def sql_channels(fy: int) -> dict[str, dict[str, int]]:
    s, e = bounds(fy)
    found = rows(f"SELECT d.channel, l.kind, SUM(l.amount_minor), COUNT(*) FROM ledger_entries l "
                 f"JOIN donations d ON d.id = l.donation_id WHERE {IN_YEAR} "
                 "GROUP BY d.channel, l.kind", s=s, e=e)
    return {c: flows_of([r[1:] for r in found if r[0] == c]) for c in CHANNELS}


def sql_currencies(fy: int) -> dict[str, dict[str, int]]:
    """Per currency the donor paid in: base flows and gifts, refunds and disputes in the
    donor's own currency (money that came with a donation)."""
    s, e = bounds(fy)
    found = rows(
        "SELECT COALESCE(l.original_currency, d.currency), l.kind, SUM(l.amount_minor), COUNT(*), "
        "SUM(COALESCE(l.original_amount_minor, 0)) FROM ledger_entries l "
        f"JOIN donations d ON d.id = l.donation_id WHERE {IN_YEAR} "
        "GROUP BY COALESCE(l.original_currency, d.currency), l.kind", s=s, e=e)
    out = {}
    for currency in sorted({r[0] for r in found}):
        mine = [r for r in found if r[0] == currency]
        f = flows_of([r[1:4] for r in mine])
        original = {kind: int(o) for _, kind, _, _, o in mine}
        f["original_gifts"] = original.get("gift", 0)
        f["original_refunds"] = original.get("refund", 0)
        f["original_disputes"] = original.get("dispute", 0) + original.get("dispute_reversal", 0)
        out[currency] = f
    return out


def sql_cases(fy: int) -> dict[str, dict[str, int]]:
    s, e = bounds(fy)
    first_day, next_first = date(fy, START_MONTH, 1), date(fy + 1, START_MONTH, 1)
    in_year = dict(rows(f"SELECT l.case_id, SUM(l.amount_minor) FROM ledger_entries l WHERE {IN_YEAR} "
                        f"AND l.kind IN {RAISED} AND l.case_id IS NOT NULL GROUP BY l.case_id",
                        s=s, e=e))
    to_end = dict(rows(f"SELECT l.case_id, SUM(l.amount_minor) FROM ledger_entries l WHERE "
                       f"l.booked_at < :e AND l.currency = 'JPY' AND l.kind IN {RAISED} "
                       "AND l.case_id IS NOT NULL GROUP BY l.case_id", e=e))
    spent = dict(rows(f"SELECT l.case_id, -SUM(l.amount_minor) FROM ledger_entries l WHERE {IN_YEAR} "
                      "AND l.kind = 'disbursement' GROUP BY l.case_id", s=s, e=e))
    persons = {case_id: (int(n), int(r), int(ry)) for case_id, n, r, ry in rows(
        "SELECT b.case_id, COUNT(*), "
        "SUM(CASE WHEN b.status = 'rescued' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN b.status = 'rescued' AND b.rescued_on >= :d0 AND b.rescued_on < :d1 "
        "THEN 1 ELSE 0 END) FROM beneficiaries b GROUP BY b.case_id", d0=first_day, d1=next_first)}
    out = {}
    for case_id, slug, title, status, goal in rows(
            "SELECT id, slug, public_title, status, goal_amount_minor FROM rescue_cases ORDER BY id"):
        n, rescued, rescued_in_year = persons.get(case_id, (0, 0, 0))
        out[slug] = {"title": title, "status": status, "goal": int(goal),
                     "raised_in_year": int(in_year.get(case_id, 0)),
                     "raised_to_date": int(to_end.get(case_id, 0)),
                     "spent_in_year": int(spent.get(case_id, 0)), "people": n,
                     "rescued_in_year": rescued_in_year, "rescued_to_date": rescued}
    return out


def sql_general_fund(fy: int) -> int:
    _, e = bounds(fy)
    return int(rows(f"SELECT COALESCE(SUM(l.amount_minor), 0) FROM ledger_entries l WHERE "
                    f"l.booked_at < :e AND l.currency = 'JPY' AND l.kind IN {RAISED} "
                    "AND l.case_id IS NULL", e=e)[0][0])


def sql_gift_amounts(fy: int) -> list[int]:
    s, e = bounds(fy)
    return [int(a) for (a,) in rows(f"SELECT l.amount_minor FROM ledger_entries l WHERE {IN_YEAR} "
                                    "AND l.kind = 'gift' ORDER BY l.amount_minor", s=s, e=e)]


def plain_median(amounts: list[int]) -> int | None:
    values = sorted(amounts)
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return half_up(values[middle - 1] + values[middle], 2)


def donors_between(start: datetime | None, end: datetime) -> set[int]:
    """Donors with a gift booked in [start, end) (from the beginning when start is None)."""
    where = "l.booked_at < :e" + (" AND l.booked_at >= :s" if start else "")
    params = {"e": end, **({"s": start} if start else {})}
    return {int(d) for (d,) in rows(
        "SELECT DISTINCT d.donor_id FROM ledger_entries l JOIN donations d ON d.id = l.donation_id "
        f"WHERE l.kind = 'gift' AND d.donor_id IS NOT NULL AND {where}", **params)}


@dataclass
class SqlDonors:
    active: set[int]
    new: set[int]
    returning: set[int]
    lybunt: set[int]
    sybunt: set[int]


def sql_donors(fy: int) -> SqlDonors:
    s, e = bounds(fy)
    ps, _ = bounds(fy - 1)
    active = donors_between(s, e)
    before = donors_between(None, s)
    last_year = donors_between(ps, s)
    before_last = donors_between(None, ps)
    return SqlDonors(active=active, new=active - before, returning=active & before,
                     lybunt=last_year - active, sybunt=before_last - last_year - active)


def sql_last_gift_months(fy: int) -> dict[int, date]:
    """Each donor's last gift month up to the end of the fiscal year."""
    _, e = bounds(fy)
    return {int(donor): local_month(utc_value(at)) for donor, at in rows(
        "SELECT d.donor_id, MAX(l.booked_at) FROM ledger_entries l "
        "JOIN donations d ON d.id = l.donation_id WHERE l.kind = 'gift' "
        "AND l.booked_at < :e GROUP BY d.donor_id", e=e)}


def utc_value(value: datetime | str) -> datetime:
    """A UTC timestamp as plain SQL hands it back (SQLite: text without an offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sql_people_rescued(fy: int) -> int:
    return int(rows(
        "SELECT COUNT(*) FROM beneficiaries b JOIN rescue_cases c ON c.id = b.case_id "
        "WHERE b.status = 'rescued' AND b.rescued_on >= :d0 AND b.rescued_on < :d1",
        # (every case: the directors' report counts rescues in private cases too)
        d0=date(fy, START_MONTH, 1), d1=date(fy + 1, START_MONTH, 1))[0][0])


def sql_spent(fy: int) -> int:
    s, e = bounds(fy)
    return int(rows(f"SELECT COALESCE(-SUM(l.amount_minor), 0) FROM ledger_entries l WHERE {IN_YEAR} "
                    "AND l.kind = 'disbursement'", s=s, e=e)[0][0])


def sql_summary(fy: int) -> dict[str, int | None]:
    """Every headline figure of a year, keyed like the page's data-figure attributes."""
    t = sql_totals(fy)
    amounts = sql_gift_amounts(fy)
    d = sql_donors(fy)
    rescued, spent = sql_people_rescued(fy), sql_spent(fy)
    return {
        "gifts": t["gifts"], "refunds": t["refunds"], "disputes": t["disputes"],
        "adjustments": t["adjustments"], "net": t["net"], "fees": t["fees"],
        "fee-cover": t["fee_cover"], "net-after-fees": t["net_after_fees"], "gift-count": len(amounts),
        "average": half_up(sum(amounts), len(amounts)) if amounts else None,
        "median": plain_median(amounts), "people-rescued": rescued, "spent": spent,
        "spent-per-person": half_up(spent, rescued) if rescued else None,
        "donors": len(d.active), "donors-new": len(d.new), "donors-returning": len(d.returning),
        "lybunt": len(d.lybunt), "sybunt": len(d.sybunt),
    }


def report_summary(r: FundingReport) -> dict[str, int | None]:
    t = r.totals
    return {
        "gifts": t.gifts, "refunds": t.refunds, "disputes": t.disputes, "adjustments": t.adjustments,
        "net": t.net, "fees": t.fees, "fee-cover": t.fee_cover, "net-after-fees": t.net_after_fees,
        "gift-count": t.gift_count,
        "average": r.average_gift, "median": r.median_gift, "people-rescued": r.people_rescued,
        "spent": r.spent, "spent-per-person": r.spent_per_person, "donors": r.donors.active,
        "donors-new": r.donors.new, "donors-returning": r.donors.returning,
        "lybunt": r.donors.lybunt, "sybunt": r.donors.sybunt,
    }


def years() -> list[int]:
    """FY2021 (before any money) to the year under way."""
    return list(range(2021, max(current_fiscal_year(), 2026) + 1))


# --- the report equals plain SQL ---------------------------------------------------------------


@pytest.fixture
def history(app) -> History:  # noqa: ANN001
    return build_history()


def test_totals_months_channels_and_currencies_equal_plain_sql(history: History) -> None:
    for fy in years():
        r = funding_report(fy)
        assert (r.fiscal_year, r.currency) == (fy, "JPY")
        assert (r.first_month, r.next_first_month) == (date(fy, 9, 1), date(fy + 1, 9, 1))
        assert flows_dict(r.totals) == sql_totals(fy), fy
        assert [m for m, _ in r.by_month] == month_starts(fy), fy
        assert {m: flows_dict(f) for m, f in r.by_month} == sql_months(fy), fy
        assert [key for key, _, _ in r.by_channel] == list(CHANNELS), fy
        assert {key: flows_dict(f) for key, _, f in r.by_channel} == sql_channels(fy), fy
        got = {c.currency: {**flows_dict(c.base), "original_gifts": c.original_gifts,
                            "original_refunds": c.original_refunds,
                            "original_disputes": c.original_disputes} for c in r.by_currency}
        expected = sql_currencies(fy)
        # (a currency row with no donor money is test_currency_rows_are_donor_currencies_only's)
        assert {code: got.get(code) for code in expected} == expected, fy
        for c in r.by_currency:
            assert c.original_net == c.original_gifts + c.original_refunds + c.original_disputes


def test_currency_rows_are_donor_currencies_only(history: History, client, auth, make_user) -> None:  # noqa: ANN001
    """"By currency" is what donors paid in each currency. FY2023 had no dollar gift, only a
    payment out in dollars: the report, the page and the CSV list no USD row for it."""
    sign_in(client, auth, make_user)
    for fy in years():
        expected = set(sql_currencies(fy))
        assert {c.currency for c in funding_report(fy).by_currency} == expected, fy
        if fy >= 2022:
            page = FigureParser()
            page.feed(client.get(f"/reports/{fy}").text)
            assert {code for kind, code in page.rows if kind == "currency"} == expected, fy
            assert {row[0] for row in read_csv(client, f"/reports/{fy}/currencies.csv")[1:]} == expected, fy


def test_every_case_and_the_general_fund_equal_plain_sql(history: History) -> None:
    for fy in years():
        r = funding_report(fy)
        got = {c.slug: {"title": c.title, "status": c.status, "goal": c.goal,
                        "raised_in_year": c.raised_in_year, "raised_to_date": c.raised_to_date,
                        "spent_in_year": c.spent_in_year, "people": c.people,
                        "rescued_in_year": c.rescued_in_year, "rescued_to_date": c.rescued_to_date}
               for c in r.cases}
        assert got == sql_cases(fy), fy
        assert r.general_fund_raised == sql_general_fund(fy), fy


def test_headline_figures_equal_plain_sql(history: History) -> None:
    for fy in years():
        assert report_summary(funding_report(fy)) == sql_summary(fy), fy


def test_donor_lists_hold_exactly_the_lapsed_donors(history: History) -> None:
    for fy in years():
        r = funding_report(fy)
        expected = sql_donors(fy)
        for kind in ("lybunt", "sybunt"):
            listed = lapsed_donors(kind, fy)
            assert [d.donor_id for d in listed] == sorted(getattr(expected, kind)), (fy, kind)
            on_page = getattr(r.donors, f"{kind}_list")
            assert on_page == listed[:50]
            names = dict((int(i), (n, e)) for i, n, e in rows("SELECT id, name, email FROM donors"))
            assert [(d.name, d.email) for d in listed] == [names[d.donor_id] for d in listed]


def test_lapsed_donors_last_gift_is_taken_up_to_the_years_end(history: History) -> None:
    """A closed year's report must not change: a LYBUNT donor of FY2024 who gave again in
    FY2025 still 'last gave' in FY2023 on the FY2024 report."""
    for fy in years():
        last = sql_last_gift_months(fy)
        for kind in ("lybunt", "sybunt"):
            got = {d.donor_id: d.last_gift_month for d in lapsed_donors(kind, fy)}
            assert got == {donor: last[donor] for donor in got}, (fy, kind)


def test_the_issues_cases_land_where_they_belong(history: History) -> None:
    """Hand-checked facts behind the comparisons: the 23:59 gift, the refund a year later,
    the dollar gift to a yen case and the transfers between cases."""
    h = history
    r24, r25 = funding_report(2024), funding_report(2025)
    months24 = dict(r24.by_month)
    months25 = dict(r25.by_month)
    # 12,345 at 23:59 on 31 August (14:59 UTC) is FY2024's, in August
    assert months24[date(2025, 8, 1)].gifts == 12_345
    assert months24[date(2025, 8, 1)].fees == -444
    # 6,000 at 00:00 on 1 September (15:00 UTC the day before) is FY2025's, in September
    assert months25[date(2025, 9, 1)].gifts == 6_000 + 0  # the only September gift of FY2025
    cards24 = dict((k, f) for k, _, f in r24.by_channel)["card"]
    assert cards24.gifts == 15_000 + 12_345 and cards24.fees == -(540 + 444)
    # the dollar card gift: $100 settled as ¥15,000 in FY2024; $30 (¥4,500) refunded in
    # FY2025 and $20 (¥3,000) refunded today through the payment service
    usd24 = next(c for c in r24.by_currency if c.currency == "USD")
    assert (usd24.original_gifts, usd24.base.gifts) == (10_000 + 2_550, 15_000 + 3_825)
    assert usd24.original_refunds == 0
    usd25 = next(c for c in r25.by_currency if c.currency == "USD")
    assert (usd25.original_refunds, usd25.base.refunds) == (-3_000, -4_500)
    assert months25[date(2025, 12, 1)].refunds == -4_500
    today = funding_report(current_fiscal_year())
    usd_now = next(c for c in today.by_currency if c.currency == "USD")
    assert (usd_now.original_refunds, usd_now.base.refunds) == (-2_000, -3_000)
    assert h.refund_today_id.startswith("re_sbx_")
    # the dollar bank transfer to bravo (a yen case): ¥3,825 raised in FY2024
    bravo24 = next(c for c in r24.cases if c.slug == "bravo-two")
    assert bravo24.raised_in_year == 2_000 + 3_825 - 1_000  # less the transfer to alpha
    # transfers: charlie's ¥50,000 to alpha and echo's ¥20,000 to the general fund today; in
    # no year are transfers gifts
    assert (h.moved_from_charlie, h.moved_from_echo) == (50_000, 20_000)
    cases_now = {c.slug: c for c in today.cases}
    assert cases_now["charlie-one"].raised_to_date == 0
    assert cases_now["echo-legal"].raised_to_date == 0
    assert cases_now["charlie-one"].raised_in_year == -50_000
    assert today.general_fund_raised == 5_000 + 6_000 + 1_500 + 20_000
    for fy in years():
        r = funding_report(fy)
        assert r.totals.gifts == sum(f.gifts for _, f in r.by_month)
        assert r.totals.net == sum(f.net for _, _, f in r.by_channel), fy  # every gift has a channel
    # donors (by hand): FY2024 active cat, fay, gus, hal and echo's anonymous donor
    assert (r24.donors.active, r24.donors.new, r24.donors.returning) == (5, 5, 0)
    assert (r24.donors.lybunt, r24.donors.sybunt) == (4, 1)
    assert (r25.donors.active, r25.donors.new, r25.donors.returning) == (6, 4, 2)
    assert (r25.donors.lybunt, r25.donors.sybunt) == (4, 4)
    # people rescued: 2024-03-10 (FY2023), 2025-08-31 (FY2024), 2025-09-01 and 2026-02-14
    assert [funding_report(fy).people_rescued for fy in (2023, 2024, 2025)] == [1, 1, 2]


def test_a_year_without_gifts_has_no_average_or_median(app) -> None:  # noqa: ANN001
    make_case("quiet-case", status=workflow.FUNDRAISING)
    r = funding_report(2021)
    assert flows_dict(r.totals) == flows_dict(Flows())
    assert (r.average_gift, r.median_gift, r.spent_per_person) == (None, None, None)
    assert all(c.raised_to_date == 0 for c in r.cases) and r.by_currency == []


@pytest.mark.parametrize(("counts", "median"), [
    ([], None),
    ([(500, 0)], None),
    ([(700, 1)], 700),
    ([(100, 1), (200, 1)], 150),
    ([(100, 1), (201, 1)], 151),  # 150.5 rounds half up
    ([(1, 1), (2, 1)], 2),  # 1.5 rounds half up
    ([(100, 2), (300, 1)], 100),
    ([(100, 2), (300, 2)], 200),
    ([(100, 1), (200, 0), (300, 1), (900, 1)], 300),
    ([(5, 3), (7, 3)], 6),
    ([(5, 3), (8, 3)], 7),  # 6.5 rounds half up
])
def test_median_of_a_distribution(counts: list[tuple[int, int]], median: int | None) -> None:
    assert median_of(counts) == median
    expanded = [v for v, n in counts for _ in range(n)]
    assert median_of(counts) == plain_median(expanded)


# --- the page and the CSVs show the same figures ---------------------------------------------


class FigureParser(HTMLParser):
    """Text of every element with data-figure, and of the rows with data-month, -channel,
    -currency or -case (cells in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.rows: dict[tuple[str, str], list[str]] = {}
        self._figure: str | None = None
        self._row: tuple[str, str] | None = None
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-figure" in a:
            self._figure = a["data-figure"]
            self.figures[self._figure] = ""
            self._depth = 0
        elif self._figure is not None:
            self._depth += 1
        for key in ("data-month", "data-channel", "data-currency", "data-case"):
            if tag == "tr" and key in a:
                self._row = (key[5:], a[key] or "")
                self.rows[self._row] = []
        if self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._figure is not None:
            if self._depth == 0:
                self._figure = None
            else:
                self._depth -= 1
        if self._row is not None and tag in ("td", "th") and self._cell is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self.figures[self._figure] += data
        if self._cell is not None:
            self._cell.append(data)


def amount(text: str) -> int | None:
    """'¥12,345' -> 12345, '-¥4,500' -> -4500, '—' -> None (yen have no decimals)."""
    text = text.strip().split()[0] if text.strip() else ""
    if text in ("—", ""):
        return None
    negative = text.startswith(("-", "−"))
    digits = re.sub(r"[^0-9]", "", text)
    assert digits, text
    return -int(digits) if negative else int(digits)


def sign_in(client, auth, make_user, role: str = "director"):  # noqa: ANN001, ANN201
    user, password = make_user(role)
    response = auth.login(user.email, password)
    assert response.status_code in (302, 303), response.status_code
    return user


def test_the_page_shows_the_same_figures(history: History, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user)
    for fy in range(2022, current_fiscal_year() + 1):
        response = client.get(f"/reports/{fy}")
        assert response.status_code == 200, (fy, response.status_code)
        assert response.headers["Cache-Control"] == "private, no-store"
        page = FigureParser()
        page.feed(response.text)
        expected = sql_summary(fy)
        shown = {key: amount(text) for key, text in page.figures.items()}
        assert shown == expected, fy
        for month, f in sql_months(fy).items():
            cells = page.rows[("month", month.strftime("%Y-%m"))]
            # month, gifts (count), gross, refunds, disputes, net, fees
            assert [amount(c) for c in cells[1:]] == [f["gift_count"], f["gifts"], f["refunds"],
                                                      f["disputes"], f["net"], f["fees"]], (fy, month)
        for channel, f in sql_channels(fy).items():
            cells = page.rows[("channel", channel)]
            assert [amount(c) for c in cells[1:]] == [f["gift_count"], f["gifts"], f["net"]], (fy, channel)
        currencies = sql_currencies(fy)
        for code, f in currencies.items():
            cells = page.rows[("currency", code)]
            assert amount(cells[1]) == f["gift_count"]
            assert amount(cells[4]) == f["net"], (fy, code)
        for slug, c in sql_cases(fy).items():
            cells = page.rows[("case", slug)]
            # the page names the status in words; the CSV below keeps the code
            assert cells[0] == c["title"] and cells[1] == labels.label("case_status", c["status"])
            assert [amount(x) for x in cells[2:]] == [
                c["goal"], c["raised_in_year"], c["raised_to_date"], c["spent_in_year"], c["people"],
                c["rescued_in_year"], c["rescued_to_date"]], (fy, slug)


def read_csv(client, url: str) -> list[list[str]]:  # noqa: ANN001
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def major(cell: str, currency: str = "JPY") -> int | None:
    """A CSV amount (a number in major units) back to minor units."""
    if cell == "":
        return None
    value = Decimal(cell) * (Decimal(10) ** EXPONENT[currency])
    assert value == value.to_integral_value(), cell
    return int(value)


SUMMARY_LABELS = {
    "Gifts (gross)": "gifts", "Refunds": "refunds", "Disputes": "disputes",
    "Corrections": "adjustments", "Net": "net", "Payment fees": "fees", "Net after fees": "net-after-fees",
    "Payment fees covered by donors": "fee-cover",
    "Gifts (count)": "gift-count", "Average gift": "average", "Median gift": "median",
    "People rescued": "people-rescued", "Paid out": "spent",
    "Paid out per person rescued": "spent-per-person", "Donors": "donors", "New donors": "donors-new",
    "Returning donors": "donors-returning", "LYBUNT donors": "lybunt", "SYBUNT donors": "sybunt",
}


def flow_cells(f: dict[str, int]) -> list[int]:
    return [f["gift_count"], f["gifts"], f["refunds"], f["disputes"], f["adjustments"], f["net"],
            f["fees"], f["fee_cover"], f["net_after_fees"]]


def test_the_csvs_carry_the_same_figures(history: History, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "admin")
    for fy in (2023, 2024, 2025, current_fiscal_year()):
        summary = read_csv(client, f"/reports/{fy}/summary.csv")
        assert summary[0] == ["figure", "amount (JPY)"]
        assert {SUMMARY_LABELS[label]: major(cell) for label, cell in summary[1:]} == sql_summary(fy)

        months = read_csv(client, f"/reports/{fy}/months.csv")
        assert months[0][0] == "month" and len(months) == 13
        assert {row[0]: [major(c) for c in row[1:]] for row in months[1:]} == {
            m.strftime("%Y-%m"): flow_cells(f) for m, f in sql_months(fy).items()}, fy

        channels = read_csv(client, f"/reports/{fy}/channels.csv")
        labels = {"Card": "card", "Bank transfer": "bank_transfer", "Cash": "cash",
                  "Convenience store": "konbini"}
        assert {labels[row[0]]: [major(c) for c in row[1:]] for row in channels[1:]} == {
            k: flow_cells(f) for k, f in sql_channels(fy).items()}, fy

        currencies = read_csv(client, f"/reports/{fy}/currencies.csv")
        got = {row[0]: ([major(c, row[0]) for c in row[1:5]], [major(c) for c in row[5:]])
               for row in currencies[1:]}
        assert {code: got.get(code) for code in sql_currencies(fy)} == {
            code: ([f["original_gifts"], f["original_refunds"], f["original_disputes"],
                    f["original_gifts"] + f["original_refunds"] + f["original_disputes"]],
                   flow_cells(f)) for code, f in sql_currencies(fy).items()}, fy

        cases = read_csv(client, f"/reports/{fy}/cases.csv")
        assert cases[0][:4] == ["case", "title", "status", "goal"]
        got_cases = {row[0]: [row[1], row[2], *[major(c) for c in row[3:7]], *map(int, row[7:])]
                     for row in cases[1:]}
        assert got_cases == {slug: [c["title"], c["status"], c["goal"], c["raised_in_year"],
                                    c["raised_to_date"], c["spent_in_year"], c["people"],
                                    c["rescued_in_year"], c["rescued_to_date"]]
                             for slug, c in sql_cases(fy).items()}, fy

        donors = sql_donors(fy)
        for kind in ("lybunt", "sybunt"):
            listed = read_csv(client, f"/reports/{fy}/{kind}.csv")
            assert listed[0] == ["donor", "name", "email", "last gift month"]
            assert sorted(int(row[0]) for row in listed[1:]) == sorted(getattr(donors, kind)), (fy, kind)


def test_the_directors_report_counts_rescues_in_private_cases_too(app) -> None:  # noqa: ANN001
    """Found by the outside try of issue 15: after a case was taken off the public site, the
    directors' "People rescued" (and the money paid out per person) dropped it, while their
    case table still listed its rescue. The public figures leave a private case out."""
    from tracker.reports.services import lives_saved

    public = make_case("public-one", people=1, status=workflow.IN_PROGRESS)
    private = make_case("private-one", people=2, status=workflow.IN_PROGRESS)
    today = local_today()
    for person in [*public.beneficiaries, *private.beneficiaries]:
        case_services.mark_rescued(person, today)
    case_services.unpublish(private)
    db.session.commit()
    fy = current_fiscal_year()
    assert lives_saved(fy) == 1
    assert lives_saved(fy, public_only=False) == 3
    assert funding_report(fy).people_rescued == 3
