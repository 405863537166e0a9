"""``flask seed-demo --donations N`` with a large N: ten years of history, written in bulk.

One seed of 3,000 gifts (the history starts at 1,000) is checked for what a report needs:
about 200 past cases with their people, budgets and payments; gifts over at least nine
fiscal years in yen and dollars, card fees, refunds and disputes; each entry's local booking
month; rollups equal to a fresh rebuild; the rollup triggers back after the load; nothing
added by a second run. Runs on SQLite and on PostgreSQL (the ``app`` fixture's backends).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.dbcheck import rollup_snapshot
from tracker.budgets.models import BudgetLine, Disbursement
from tracker.cases import workflow
from tracker.cases.models import PERSON_RESCUED, Beneficiary, RescueCase
from tracker.core.money import Money
from tracker.core.time import fiscal_year_of, local_month, local_today
from tracker.demo import bulk as bulk_seed
from tracker.donations import services as donation_services
from tracker.donations.models import Donation, Donor
from tracker.extensions import db
from tracker.ledger import reads as ledger
from tracker.ledger import rollups
from tracker.ledger.models import LedgerEntry

N = 3000


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _table_counts() -> dict[str, int]:
    return {m.__name__: _count(m) for m in (RescueCase, Beneficiary, BudgetLine, Disbursement,
                                             Donor, Donation, LedgerEntry)}


@pytest.fixture
def seeded(runner, app):
    result = runner.invoke(args=["seed-demo", "--donations", str(N)])
    assert result.exit_code == 0, result.output
    assert f"Added {N} demo gifts" in result.output
    return result


def test_history_of_cases_people_budgets_and_payments(seeded, app):
    history = RescueCase.private_notes == bulk_seed.HISTORY_NOTE
    assert 190 <= _count(RescueCase) <= 215
    cases = list(db.session.scalars(sa.select(RescueCase).where(history)))
    statuses = Counter(c.status for c in cases)
    ended = statuses[workflow.RESCUED] + statuses[workflow.CLOSED]
    assert ended >= 0.7 * len(cases) and statuses[workflow.RESCUED] > statuses[workflow.CLOSED]
    assert 1 <= sum(statuses[s] for s in workflow.OPEN_STATUSES) <= 40
    assert all(c.outcome for c in cases if c.status == workflow.CLOSED)
    # aliases only: titles name a group and a year, regions are coarse
    assert all(c.public_title.endswith(")") for c in cases)
    assert {c.public_region for c in cases} <= {"Northeast China", "Southeast Asia", "Mongolia",
                                                "Central Asia", "Russian Far East"}
    years = {c.created_at.year for c in cases}
    assert max(years) - min(years) >= 9

    zone_day = {c.id: c for c in cases}
    people = list(db.session.scalars(sa.select(Beneficiary).where(
        Beneficiary.case_id.in_(zone_day))))
    assert {p.case_id for p in people} == set(zone_day)
    rescued = [p for p in people if p.status == PERSON_RESCUED]
    assert len(rescued) > len(people) / 2
    for person in rescued:
        case = zone_day[person.case_id]
        # inside the case's life, in local dates (a day's slack for the time zone)
        assert case.published_at.date() - timedelta(days=1) <= person.rescued_on
        assert person.rescued_on <= (case.completed_at.date() if case.completed_at
                                     else local_today())
    for case in cases:
        if case.status == workflow.RESCUED:
            assert all(p.status == PERSON_RESCUED for p in case.beneficiaries)

    # budget lines behind every goal, and a few payments, each booked once, none overdrawn
    lines = list(db.session.scalars(sa.select(BudgetLine).where(BudgetLine.case_id.in_(zone_day))))
    assert {line.case_id for line in lines} == set(zone_day)
    planned = Counter()
    for line in lines:
        planned[line.case_id] += line.planned_minor
    assert all(c.goal_follows_budget and c.goal_amount_minor == planned[c.id] for c in cases)
    payments = list(db.session.scalars(sa.select(Disbursement).where(
        Disbursement.case_id.in_(zone_day))))
    assert payments and all(p.status == "approved" and not p.needs_approval for p in payments)
    booked = {e.disbursement_id: e for e in db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.kind == "disbursement"))}
    for payment in payments:
        entry = booked[payment.id]
        assert entry.case_id == payment.case_id
        assert entry.amount_minor == -payment.base_amount_minor
    money = ledger.money_by_case(zone_day)
    assert all(m.held_minor >= 0 for m in money.values())


def test_gifts_over_ten_years_in_two_currencies_with_fees_refunds_and_disputes(seeded, app):
    demo = Donation.public_id.like("demo_%")
    assert _count(Donation, demo) == N
    start_month = app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
    entries = list(db.session.execute(sa.select(
        LedgerEntry.kind, LedgerEntry.donation_id, LedgerEntry.amount_minor,
        LedgerEntry.original_currency, LedgerEntry.booked_at, LedgerEntry.booked_month,
        LedgerEntry.gateway_ref)))
    donations = {d.id: d for d in db.session.scalars(sa.select(Donation).where(demo))}
    gifts = Counter(e.donation_id for e in entries if e.kind == "gift")
    assert all(gifts[donation_id] == 1 for donation_id in donations)
    assert len({fiscal_year_of(e.booked_month, start_month) for e in entries
                if e.kind == "gift" and e.donation_id in donations}) >= 9
    assert all(e.booked_month == local_month(e.booked_at) for e in entries)
    assert {d.currency for d in donations.values()} == {"JPY", "USD"}
    usd = [d for d in donations.values() if d.currency == "USD"]
    assert 0.1 < len(usd) / N < 0.3
    rate = app.config["TRACKER_EXCHANGE_RATES"]["USD"]
    assert all(d.exchange_rate == rate and d.gross_minor == d.amount_minor * rate / 100
               for d in usd)
    assert {e.original_currency for e in entries if e.kind == "gift"} >= {"JPY", "USD"}

    # cards pay the sandbox fee, booked as a negative fee entry; offline gifts none
    fees = {e.donation_id: e.amount_minor for e in entries if e.kind == "fee"}
    cards = [d for d in donations.values() if d.channel == "card"]
    assert 0.6 < len(cards) / N < 0.9
    for d in donations.values():
        if d.channel == "card":
            assert d.gateway == "sandbox" and d.fee_minor > 0 and fees[d.id] == -d.fee_minor
            assert d.received_on is None
        else:
            assert d.gateway == "offline" and d.fee_minor == 0 and d.id not in fees
            assert d.received_on is not None
    assert {d.channel for d in donations.values()} == {"card", "bank_transfer", "cash"}

    kinds = Counter(e.kind for e in entries)
    assert kinds["refund"] >= 5 and kinds["dispute"] >= 1
    refunds = [e for e in entries if e.kind == "refund"]
    assert len({e.gateway_ref for e in refunds}) == len(refunds)
    assert all(e.gateway_ref.startswith("demo_re_") for e in refunds)
    for e in entries:
        if e.kind in ("refund", "dispute"):
            gift = donations[e.donation_id]
            assert gift.channel == "card" and 0 < -e.amount_minor <= gift.gross_minor
            assert e.booked_at > gift.settled_at

    # donors come back: fewer donors than gifts, most with an email have one, all lower-case
    donors = list(db.session.execute(sa.select(Donor.name, Donor.email)
                                     .where(Donor.name.like("Demo donor %"))))
    assert 0.05 * N < len(donors) < 0.5 * N
    emails = [email for _, email in donors if email]
    assert emails and all(e == e.lower() and e.startswith("demo-") for e in emails)
    per_donor = Counter(d.donor_id for d in donations.values())
    assert max(per_donor.values()) >= 5 and sum(1 for n in per_donor.values() if n == 1) > 0


def test_rollups_match_a_rebuild_and_their_triggers_are_back(seeded, app):
    kept = rollup_snapshot()
    assert kept["ledger_month_totals"] and kept["donor_months"]
    rollups.rebuild_in_session()
    assert rollup_snapshot() == kept
    db.session.rollback()

    def month_total() -> tuple[int, int]:
        return db.session.execute(sa.text(
            "SELECT COALESCE(SUM(amount_minor), 0), COALESCE(SUM(entries), 0) "
            "FROM ledger_month_totals")).one()

    before = month_total()
    donation_services.record_offline_gift(None, donation_services.OfflineGift(
        amount=Money(7_000, "JPY"), channel="cash", received_on=local_today(),
        donor_name="After the seed"))
    db.session.flush()
    assert month_total() == (before[0] + 7_000, before[1] + 1)
    db.session.rollback()


def test_running_again_with_the_same_number_adds_nothing(seeded, runner, app):
    counts = _table_counts()
    kept = rollup_snapshot()
    again = runner.invoke(args=["seed-demo", "--donations", str(N)])
    assert again.exit_code == 0, again.output
    assert "Added 0 demo gifts" in again.output
    assert _table_counts() == counts
    assert rollup_snapshot() == kept


def test_topping_up_keeps_the_history_and_adds_only_the_gifts(seeded, runner, app):
    counts = _table_counts()
    more = runner.invoke(args=["seed-demo", "--donations", str(N + 500)])
    assert more.exit_code == 0, more.output
    assert "Added 500 demo gifts" in more.output
    after = _table_counts()
    assert after["RescueCase"] == counts["RescueCase"]
    assert after["Disbursement"] == counts["Disbursement"]
    assert after["Donation"] == counts["Donation"] + 500
    public_ids = db.session.scalars(sa.select(Donation.public_id)
                                    .where(Donation.public_id.like("demo_%"))).all()
    assert len(set(public_ids)) == N + 500
    emails = db.session.scalars(sa.select(Donor.email).where(Donor.email.is_not(None))).all()
    assert len(set(emails)) == len(emails)
    kept = rollup_snapshot()
    rollups.rebuild_in_session()
    assert rollup_snapshot() == kept
    db.session.rollback()


def test_history_cases_are_published_unless_still_a_request(seeded, app):
    """Every past case that opened an appeal is published (when it did); the newest requests,
    like the fixed demo's elderly couple, stay private."""
    cases = list(db.session.scalars(sa.select(RescueCase)))
    assert len(cases) > 100
    assert all(c.is_public == (c.status != "requested") for c in cases)
    requests = [c for c in cases if c.status == "requested"]
    assert len(requests) >= 2 and all(c.published_at is None for c in requests)
    assert any(c.slug == "elderly-couple-request" for c in requests)
