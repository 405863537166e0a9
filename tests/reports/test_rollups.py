"""The monthly rollups are kept by AFTER INSERT triggers on ledger_entries, in the same
transaction as the ledger: after any mix of operations they equal ``rollups.rebuild()``,
a rolled-back transaction or a failed statement leaves them as they were, and months are
local (Asia/Tokyo) months, not UTC ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.dbcheck import card_gift, rollup_snapshot
from tests.factories import make_case
from tracker.budgets import services as budget_services
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.core.time import local_today, utcnow
from tracker.donations import recording as payment_services
from tracker.donations import services as donation_services
from tracker.donations.adjustments import adjust_gift
from tracker.donations.models import Donation, Donor
from tracker.extensions import db
from tracker.ledger import rollups
from tracker.ledger.models import LedgerEntry
from tracker.ledger.rollups import DonorMonth, GiftAmountMonth, LedgerMonthTotal
from tracker.payments.gateway import get_gateway

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TOKYO)


def offline(case: RescueCase | None, amount: int, on: date, currency: str = "JPY", *,
            email: str | None = None, channel: str = "bank_transfer", commit: bool = True) -> Donation:
    donation = donation_services.record_offline_gift(case, donation_services.OfflineGift(
        amount=Money(amount, currency), channel=channel, received_on=on, donor_email=email))
    if commit:
        db.session.commit()
    return donation


def rebuilt() -> dict[str, list[tuple[Any, ...]]]:
    """The rollups recomputed from the ledger inside the transaction (then rolled back)."""
    rollups.rebuild_in_session()
    result = rollup_snapshot()
    db.session.rollback()
    return result


def bulk_gifts(case: RescueCase | None, amounts_and_times: list[tuple[int, datetime]],
               email: str | None) -> None:
    """Settled donations written through the ORM and their gift entries with one Core
    executemany insert (as a bulk load would), committed."""
    donor = donation_services.find_or_create_donor(email)
    donations = []
    for amount, at in amounts_and_times:
        donation = Donation(case_id=case.id if case else None, donor=donor, amount_minor=amount,
                            currency="JPY", channel="cash", gateway="offline", status="succeeded",
                            settled_currency="JPY", gross_minor=amount, fee_minor=0,
                            net_minor=amount, settled_at=at, received_on=at.astimezone(TOKYO).date())
        db.session.add(donation)
        donations.append(donation)
    db.session.flush()
    db.session.execute(sa.insert(LedgerEntry.__table__), [
        {"kind": "gift", "case_id": d.case_id, "donation_id": d.id, "amount_minor": d.gross_minor,
         "currency": "JPY", "original_amount_minor": d.amount_minor, "original_currency": "JPY",
         "gateway_ref": f"donation:{d.public_id}", "memo": "", "booked_at": d.settled_at,
         "booked_month": date(d.settled_at.astimezone(TOKYO).year, d.settled_at.astimezone(TOKYO).month, 1),
         "created_at": utcnow()}
        for d in donations])
    db.session.commit()


def mixed_history() -> None:
    alpha = make_case("alpha-six", people=2, status=workflow.FUNDRAISING)
    bravo = make_case("bravo-two", people=1, status=workflow.FUNDRAISING)
    offline(alpha, 10_000, date(2024, 1, 15), email="ann@example.org")
    offline(alpha, 10_000, date(2024, 1, 20), email="bob@example.org", channel="cash")
    offline(bravo, 2_550, date(2025, 3, 3), "USD", email="ann@example.org")
    offline(None, 5_000, date(2025, 8, 31))
    dollar = card_gift(alpha, 10_000, tokyo(2024, 11, 15, 10), "USD", fee=540, email="fay@example.org")
    disputed = card_gift(bravo, 5_000, tokyo(2025, 8, 31, 23, 59), fee=180, email="cat@example.org")
    card_gift(None, 3_000, tokyo(2025, 9, 1, 0, 0), fee=108)
    dan = offline(bravo, 4_000, date(2026, 2, 2), email="dan@example.org")
    # an earlier gift of an existing donor recorded later: first_gift_month moves back
    offline(bravo, 1_000, date(2023, 12, 24), email="dan@example.org")
    gateway = get_gateway()
    payment_services.refund_donation(dollar, 3_000, "Donor asked for part back", None, gateway)
    payment_services.book_dispute({"id": "dp_1", "charge": disputed.gateway_charge_id,
                                   "metadata": {"donation_id": disputed.public_id},
                                   "amount": 5_000}, gateway, False)
    payment_services.close_dispute({"id": "dp_1", "charge": disputed.gateway_charge_id,
                                    "metadata": {"donation_id": disputed.public_id},
                                    "amount": 5_000, "status": "won"}, gateway, False)
    adjust_gift(dan, -500, "Bank charge found on the statement", None)
    db.session.commit()
    line = budget_services.set_line(alpha, "guides", Money(500_000, "JPY"))
    budget_services.record_disbursement(alpha, budget_services.DisbursementInput(
        line_id=line.id, spent_on=date(2025, 6, 30), amount=Money(20_000, "USD"), payee="Guide K."),
        actor=None, today=local_today())
    db.session.commit()
    bulk_gifts(alpha, [(700, tokyo(2025, 10, 1)), (700, tokyo(2025, 10, 2)),
                       (1_300, tokyo(2025, 11, 30, 23, 59))], "bulk@example.org")
    case_services.close_case(bravo, "merged", move_funds_to="case", target=alpha)
    db.session.commit()


def test_triggers_keep_the_rollups_equal_to_a_rebuild(app) -> None:  # noqa: ANN001
    mixed_history()
    kept = rollup_snapshot()
    assert kept == rebuilt()
    # and the comparison is not of empty tables
    kinds = {row[2] for row in kept["ledger_month_totals"]}
    assert kinds == {"gift", "fee", "refund", "dispute", "dispute_reversal", "adjustment",
                     "disbursement", "transfer"}
    entries = db.session.scalar(sa.text("SELECT COUNT(*) FROM ledger_entries"))
    assert sum(row[9] for row in kept["ledger_month_totals"]) == entries
    assert sum(row[4] for row in kept["case_totals"]) == entries
    gifts = db.session.scalar(sa.text("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'gift'"))
    assert sum(row[3] for row in kept["gift_amount_months"]) == gifts
    # the amounts the triggers summed equal the ledger's sums per kind
    for kind, total in db.session.execute(sa.text(
            "SELECT kind, SUM(amount_minor) FROM ledger_entries GROUP BY kind")):
        assert sum(row[7] for row in kept["ledger_month_totals"] if row[2] == kind) == total, kind
        assert sum(row[3] for row in kept["case_totals"] if row[1] == kind) == total, kind
    # each case's donors: the different donors of its succeeded gifts
    for case_key, donors in db.session.execute(sa.text(
            "SELECT COALESCE(case_id, 0), COUNT(DISTINCT donor_id) FROM donations"
            " WHERE status = 'succeeded' GROUP BY COALESCE(case_id, 0)")):
        assert sum(row[2] for row in kept["case_donor_counts"] if row[0] == case_key) == donors


def test_a_rebuild_repairs_rollups_that_drifted(app) -> None:  # noqa: ANN001
    mixed_history()
    kept = rollup_snapshot()
    db.session.execute(sa.text("DELETE FROM gift_amount_months"))
    db.session.execute(sa.text("UPDATE ledger_month_totals SET amount_minor = amount_minor + 1"))
    db.session.execute(sa.text("UPDATE donors SET first_gift_month = NULL"))
    assert rollup_snapshot() != kept
    rollups.rebuild_in_session()
    db.session.commit()
    assert rollup_snapshot() == kept


def test_a_rolled_back_transaction_changes_no_rollup(app) -> None:  # noqa: ANN001
    mixed_history()
    before = rollup_snapshot()
    case = db.session.scalar(sa.select(RescueCase).where(RescueCase.slug == "alpha-six"))
    offline(case, 9_999, date(2022, 2, 2), email="ann@example.org", commit=False)  # ann's first gift
    offline(None, 1_234, date(2025, 10, 1), email="new@example.org", commit=False)
    db.session.flush()
    inside = rollup_snapshot()
    assert inside != before  # the triggers ran inside the transaction
    ann = db.session.scalar(sa.select(Donor).where(Donor.email == "ann@example.org"))
    assert ann.first_gift_month == date(2022, 2, 1)
    db.session.rollback()
    assert rollup_snapshot() == before
    assert rollup_snapshot() == rebuilt()


def test_a_failed_statement_changes_no_rollup(app) -> None:  # noqa: ANN001
    mixed_history()
    before = rollup_snapshot()
    donation = db.session.scalar(sa.select(Donation).order_by(Donation.id))
    good = {"kind": "adjustment", "case_id": donation.case_id, "donation_id": donation.id,
            "amount_minor": 100, "currency": "JPY", "memo": "", "booked_at": tokyo(2025, 1, 1),
            "booked_month": date(2025, 1, 1), "created_at": utcnow()}
    bad = {**good, "kind": "refund", "amount_minor": 100}  # a positive refund: CHECK amount_sign
    # the good row alone does change the rollups (inside a savepoint, undone)
    savepoint = db.session.begin_nested()
    db.session.execute(sa.insert(LedgerEntry.__table__), [good])
    assert rollup_snapshot() != before
    savepoint.rollback()
    assert rollup_snapshot() == before
    # one statement, two rows, the second refused: the first row's trigger work goes too,
    # and the transaction (inside a savepoint) goes on
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.execute(sa.insert(LedgerEntry.__table__), [good, bad])
    assert rollup_snapshot() == before
    # a gift booked twice (UNIQUE kind, gateway_ref) fails and is rolled back with its work
    duplicate = {**good, "kind": "gift", "amount_minor": 777, "original_amount_minor": 777,
                 "original_currency": "JPY", "gateway_ref": f"donation:{donation.public_id}"}
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(LedgerEntry.__table__).values(**good))
        db.session.execute(sa.insert(LedgerEntry.__table__).values(**duplicate))
        db.session.commit()
    db.session.rollback()
    assert rollup_snapshot() == before
    assert rollup_snapshot() == rebuilt()


def test_rollups_are_per_local_month(app) -> None:  # noqa: ANN001
    case = make_case("alpha-six", status=workflow.FUNDRAISING)
    # 23:59 on 31 August in Tokyo is 14:59 UTC the same day: August
    late = card_gift(case, 12_345, tokyo(2025, 8, 31, 23, 59), email="cat@example.org")
    # 00:00 on 1 September in Tokyo is 15:00 UTC on 31 August: September
    early = card_gift(case, 6_000, tokyo(2025, 9, 1, 0, 0), email="ivy@example.org")
    # 08:59 on 1 September in Tokyo is still 31 August in UTC: September
    morning = card_gift(case, 4_321, tokyo(2025, 9, 1, 8, 59), email="jo@example.org")
    booked = {d: (at, month) for d, at, month in db.session.execute(
        sa.select(LedgerEntry.donation_id, LedgerEntry.booked_at, LedgerEntry.booked_month)
        .where(LedgerEntry.kind == "gift"))}
    assert booked[late.id] == (datetime(2025, 8, 31, 14, 59, tzinfo=UTC), date(2025, 8, 1))
    assert booked[early.id] == (datetime(2025, 8, 31, 15, 0, tzinfo=UTC), date(2025, 9, 1))
    assert booked[morning.id] == (datetime(2025, 8, 31, 23, 59, tzinfo=UTC), date(2025, 9, 1))

    # summed over the slots (one group has several rows)
    totals = {(m, amount, n) for m, amount, n in db.session.execute(
        sa.select(LedgerMonthTotal.month, sa.func.sum(LedgerMonthTotal.amount_minor),
                  sa.func.sum(LedgerMonthTotal.entries))
        .where(LedgerMonthTotal.kind == "gift", LedgerMonthTotal.case_key == case.id,
               LedgerMonthTotal.channel == "card", LedgerMonthTotal.currency == "JPY")
        .group_by(LedgerMonthTotal.month))}
    assert totals == {(date(2025, 8, 1), 12_345, 1), (date(2025, 9, 1), 6_000 + 4_321, 2)}
    amounts = set(map(tuple, db.session.execute(
        sa.select(GiftAmountMonth.month, GiftAmountMonth.amount_minor, sa.func.sum(GiftAmountMonth.gifts))
        .group_by(GiftAmountMonth.month, GiftAmountMonth.amount_minor)).all()))
    assert amounts == {(date(2025, 8, 1), 12_345, 1), (date(2025, 9, 1), 6_000, 1),
                       (date(2025, 9, 1), 4_321, 1)}
    months = {(d, m) for d, m in db.session.execute(sa.select(DonorMonth.donor_id, DonorMonth.month))}
    assert months == {(late.donor_id, date(2025, 8, 1)), (early.donor_id, date(2025, 9, 1)),
                      (morning.donor_id, date(2025, 9, 1))}
    firsts = dict(db.session.execute(sa.select(Donor.id, Donor.first_gift_month)).all())
    assert firsts == {late.donor_id: date(2025, 8, 1), early.donor_id: date(2025, 9, 1),
                      morning.donor_id: date(2025, 9, 1)}
    assert rollup_snapshot() == rebuilt()


def test_first_gift_month_only_moves_back(app) -> None:  # noqa: ANN001
    case = make_case("alpha-six", status=workflow.FUNDRAISING)
    offline(case, 1_000, date(2025, 5, 5), email="ann@example.org")
    ann = db.session.scalar(sa.select(Donor).where(Donor.email == "ann@example.org"))
    assert ann.first_gift_month == date(2025, 5, 1)
    offline(case, 1_000, date(2026, 1, 1), email="ann@example.org")
    db.session.refresh(ann)
    assert ann.first_gift_month == date(2025, 5, 1)
    offline(case, 1_000, date(2024, 12, 31), email="ann@example.org")
    db.session.refresh(ann)
    assert ann.first_gift_month == date(2024, 12, 1)
    gifts = dict(db.session.execute(sa.select(DonorMonth.month, DonorMonth.gifts)
                                    .where(DonorMonth.donor_id == ann.id)).all())
    assert gifts == {date(2024, 12, 1): 1, date(2025, 5, 1): 1, date(2026, 1, 1): 1}
    assert rollup_snapshot() == rebuilt()


def test_the_cli_checks_and_rebuilds_the_rollups(app, runner):
    from tests.factories import give, make_case
    from tracker.cases import workflow

    give(make_case(status=workflow.FUNDRAISING), 5_000)
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0 and "match the ledger" in result.output, result.output
    db.session.execute(sa.text("UPDATE ledger_month_totals SET amount_minor = amount_minor + 1"))
    db.session.commit()
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 1 and "differ from the ledger" in result.output, result.output
    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["reports", "check"]).exit_code == 0
