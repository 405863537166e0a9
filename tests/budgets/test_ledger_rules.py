"""The budget's money rules live in the database too (migration 0005), not only in the services.

Rows here are written with Core ``INSERT``/``UPDATE``, raw SQL or bare ORM objects, never
through the services, so the only thing that can refuse them is a constraint or trigger the
migrations created. Each bad row differs from a known-good baseline by the fields under test,
and the baselines (and near misses) are shown to be accepted, so a refusal can only come from
those fields. After each refusal the session is rolled back and every table holds what it held
before. Also here: booking disbursements on the ledger, migration 0005 down and up again, and
two staff members approving or reversing one payment at the same moment.

Runs on SQLite and PostgreSQL (the ``app`` fixture is parametrized by backend).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import DBAPIError

from tests.budgets.support import (
    budgeted_case,
    days_ago,
    disbursement_entries,
    disbursement_row,
    local_noon,
    pay,
    spent_sql,
    staff_member,
    today,
)
from tests.conftest import make_app
from tests.dbcheck import assert_refused, table_counts
from tracker.accounts.models import User
from tracker.budgets import services
from tracker.budgets.models import Disbursement
from tracker.budgets.services import book_disbursement
from tracker.cases.models import RescueCase
from tracker.core.errors import Conflict, DomainError
from tracker.core.money import Money, convert, parse_rate
from tracker.core.time import as_utc, utcnow
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry, LedgerIsAppendOnly

REASON = "typed the wrong amount on the form"


@dataclass(frozen=True)
class Seed:
    case_id: int
    line_id: int
    a: int  # recorded both payments
    b: int  # approved the large one
    counted_id: int  # ¥5,000, counted at once
    pending_id: int  # ¥150,000, awaiting a second approval


@pytest.fixture
def seed(app) -> Seed:
    """A case with a budget line, one counted payment and one awaiting approval (services)."""
    a = staff_member("aiko@example.org")
    b = staff_member("ben@example.org")
    case, lines = budgeted_case(lines={"guides": 500_000})
    counted = pay(case, lines["guides"], 5_000, actor=a)
    pending = pay(case, lines["guides"], 150_000, actor=a)
    return Seed(case.id, lines["guides"].id, a.id, b.id, counted.id, pending.id)


def insert(table: str, row: dict[str, Any]) -> None:
    db.session.execute(sa.insert(db.metadata.tables[table]).values(**row))


# --- known-good baselines ---------------------------------------------------------------------

BASELINES: dict[str, Callable[[Seed], dict[str, Any]]] = {
    "budget_lines": lambda s: {
        "case_id": s.case_id, "category": "transport", "planned_minor": 10_000, "currency": "JPY",
    },
    "disbursements": lambda s: {
        "case_id": s.case_id, "budget_line_id": s.line_id, "spent_on": date(2026, 10, 1),
        "amount_minor": 5_000, "currency": "JPY", "exchange_rate": Decimal(1),
        "base_amount_minor": 5_000, "base_currency": "JPY", "private_payee": "Guide K.",
        "status": "pending", "needs_approval": False, "created_by_id": s.a,
    },
    # a payment out, for the payment still awaiting approval (nothing booked for it yet)
    "ledger_entries": lambda s: {
        "kind": "disbursement", "case_id": s.case_id, "disbursement_id": s.pending_id,
        "amount_minor": -150_000, "currency": "JPY", "booked_month": date(2026, 11, 1),
    },
    "disbursement_receipts": lambda s: {
        "disbursement_id": s.pending_id, "content_type": "image/jpeg", "byte_size": 3,
        "data": b"\xff\xd8\xff",
    },
}

NOW = object()  # replaced by the current time
A, B = object(), object()  # replaced by the seed's users
COUNTED, PENDING = object(), object()  # replaced by the seed's disbursements


def row_for(table: str, seed: Seed, overrides: dict[str, Any]) -> dict[str, Any]:
    swap = {NOW: utcnow(), A: seed.a, B: seed.b, COUNTED: seed.counted_id,
            PENDING: seed.pending_id}
    row = BASELINES[table](seed)
    for key, value in overrides.items():
        row[key] = swap.get(value, value)
    return row


ACCEPTED = [
    ("line", "budget_lines", {}),
    ("pending-payment", "disbursements", {}),
    ("counted-at-once-by-its-recorder", "disbursements",
     {"status": "approved", "decided_by_id": A, "decided_at": NOW}),
    ("four-eyes-approved-by-another", "disbursements",
     {"needs_approval": True, "status": "approved", "decided_by_id": B, "decided_at": NOW}),
    ("four-eyes-recorded-by-nobody-approved-by-staff", "disbursements",
     {"needs_approval": True, "created_by_id": None, "status": "approved", "decided_by_id": B,
      "decided_at": NOW}),
    ("withdrawn-by-its-recorder", "disbursements",
     {"needs_approval": True, "status": "rejected", "decided_by_id": A, "decided_at": NOW}),
    ("reversal", "disbursements",
     {"reverses_id": COUNTED, "amount_minor": -5_000, "base_amount_minor": -5_000}),
    ("usd-at-a-rate", "disbursements",
     {"amount_minor": 1_000, "currency": "USD", "exchange_rate": Decimal("149.5"),
      "base_amount_minor": 1_495}),
    ("payment-out", "ledger_entries", {}),
    ("money-back", "ledger_entries", {"amount_minor": 150_000}),
    ("receipt", "disbursement_receipts", {}),
    ("png-receipt", "disbursement_receipts", {"content_type": "image/png"}),
]

FOUR_EYES = "ck_disbursements_four_eyes"
DECISION = "ck_disbursements_decision_recorded"
SIGN = "ck_disbursements_amount_sign"
LINKED = "ck_ledger_entries_disbursement_linked"
FK_FAILED = {"sqlite": "FOREIGN KEY constraint failed", "postgresql": "foreign key constraint"}

REFUSED = [
    # budget lines
    ("line-planned-zero", "budget_lines", {"planned_minor": 0}, "ck_budget_lines_planned_positive"),
    ("line-planned-negative", "budget_lines", {"planned_minor": -1},
     "ck_budget_lines_planned_positive"),
    ("line-currency-code", "budget_lines", {"currency": "JP"}, "ck_budget_lines_currency_code"),
    ("line-empty-category", "budget_lines", {"category": ""}, "ck_budget_lines_category_present"),
    ("line-category-twice", "budget_lines", {"category": "guides"},
     {"sqlite": "UNIQUE constraint failed: budget_lines.case_id, budget_lines.category",
      "postgresql": "uq_budget_lines_case_category"}),
    ("line-missing-case", "budget_lines", {"case_id": 999_999}, FK_FAILED),
    # four eyes
    ("approved-by-its-own-recorder", "disbursements",
     {"needs_approval": True, "status": "approved", "decided_by_id": A, "decided_at": NOW},
     FOUR_EYES),
    ("approved-by-nobody", "disbursements",
     {"needs_approval": True, "status": "approved", "decided_by_id": None, "decided_at": NOW},
     FOUR_EYES),
    ("reversal-approved-by-its-own-recorder", "disbursements",
     {"reverses_id": COUNTED, "amount_minor": -5_000, "base_amount_minor": -5_000,
      "needs_approval": True, "status": "approved", "decided_by_id": A, "decided_at": NOW},
     FOUR_EYES),
    # decisions
    ("pending-with-a-decider", "disbursements", {"decided_by_id": B}, DECISION),
    ("pending-with-a-decision-time", "disbursements", {"decided_at": NOW}, DECISION),
    ("approved-without-a-decision-time", "disbursements",
     {"status": "approved", "decided_by_id": A}, DECISION),
    ("rejected-without-a-decision-time", "disbursements",
     {"status": "rejected", "decided_by_id": B}, DECISION),
    ("unknown-status", "disbursements", {"status": "paid", "decided_at": NOW},
     "ck_disbursements_status"),
    # amounts
    ("payment-zero", "disbursements", {"amount_minor": 0}, SIGN),
    ("payment-negative", "disbursements", {"amount_minor": -5_000, "base_amount_minor": -5_000},
     SIGN),
    ("payment-base-zero", "disbursements", {"base_amount_minor": 0}, SIGN),
    ("payment-signs-differ", "disbursements", {"base_amount_minor": -5_000}, SIGN),
    ("reversal-positive", "disbursements", {"reverses_id": COUNTED}, SIGN),
    ("reversal-base-positive", "disbursements",
     {"reverses_id": COUNTED, "amount_minor": -5_000}, SIGN),
    ("rate-zero", "disbursements", {"exchange_rate": Decimal(0)}, "ck_disbursements_rate_positive"),
    ("rate-negative", "disbursements", {"exchange_rate": Decimal(-150)},
     "ck_disbursements_rate_positive"),
    ("currency-code", "disbursements", {"currency": "US"}, "ck_disbursements_currency_codes"),
    ("base-currency-code", "disbursements", {"base_currency": "JP"},
     "ck_disbursements_currency_codes"),
    ("reverses-a-missing-payment", "disbursements",
     {"reverses_id": 999_999, "amount_minor": -5_000, "base_amount_minor": -5_000}, FK_FAILED),
    ("missing-line", "disbursements", {"budget_line_id": 999_999}, FK_FAILED),
    ("missing-decider", "disbursements",
     {"status": "approved", "decided_by_id": 999_999, "decided_at": NOW}, FK_FAILED),
    # ledger entries
    ("ledger-disbursement-unlinked", "ledger_entries", {"disbursement_id": None}, LINKED),
    ("ledger-disbursement-of-no-case", "ledger_entries", {"case_id": None}, LINKED),
    ("ledger-transfer-linked", "ledger_entries",
     {"kind": "transfer", "transfer_group": "g1"}, LINKED),
    ("ledger-adjustment-linked", "ledger_entries", {"kind": "adjustment"}, LINKED),
    ("ledger-disbursement-booked-twice", "ledger_entries",
     {"disbursement_id": COUNTED, "amount_minor": -5_000},
     {"sqlite": "UNIQUE constraint failed: ledger_entries.disbursement_id",
      "postgresql": "uq_ledger_entries_disbursement_id"}),
    ("ledger-missing-disbursement", "ledger_entries", {"disbursement_id": 999_999}, FK_FAILED),
    ("ledger-disbursement-zero", "ledger_entries", {"amount_minor": 0},
     "ck_ledger_entries_amount_nonzero"),
    ("ledger-unknown-kind", "ledger_entries", {"kind": "payout"},
     ("ck_ledger_entries_kind", "ck_ledger_entries_amount_sign", LINKED)),
    # receipts
    ("receipt-gif", "disbursement_receipts", {"content_type": "image/gif"},
     "ck_disbursement_receipts_content_type"),
    ("receipt-empty", "disbursement_receipts", {"byte_size": 0},
     "ck_disbursement_receipts_byte_size"),
    ("receipt-missing-disbursement", "disbursement_receipts", {"disbursement_id": 999_999},
     FK_FAILED),
]


@pytest.mark.parametrize(("table", "overrides"), [pytest.param(*r[1:], id=r[0]) for r in ACCEPTED])
def test_the_baseline_rows_are_accepted(app, seed, table, overrides):
    before = table_counts()
    insert(table, row_for(table, seed, overrides))
    db.session.commit()
    after = table_counts()
    assert after[table] == before[table] + 1
    # a ledger entry also adds itself to the monthly rollups (triggers, same transaction)
    also = {"ledger_month_totals", "case_totals"} if table == "ledger_entries" else set()
    assert {k: v for k, v in after.items() if k != table and k not in also} == {
        k: v for k, v in before.items() if k != table and k not in also}


@pytest.mark.parametrize(("table", "overrides", "expect"),
                         [pytest.param(*r[1:], id=r[0]) for r in REFUSED])
def test_the_database_refuses_a_bad_row(app, seed, backend, table, overrides, expect):
    row = row_for(table, seed, overrides)
    assert_refused(lambda: insert(table, row), backend, expect)


def test_a_second_receipt_for_one_payment_is_refused(app, seed, backend):
    insert("disbursement_receipts", row_for("disbursement_receipts", seed, {}))
    db.session.commit()
    assert_refused(
        lambda: insert("disbursement_receipts", row_for("disbursement_receipts", seed, {})),
        backend,
        {"sqlite": "UNIQUE constraint failed: disbursement_receipts.disbursement_id",
         "postgresql": "uq_disbursement_receipts_disbursement_id"})


# --- four eyes, written around the services ---------------------------------------------------


def test_four_eyes_an_orm_row_approved_by_its_recorder(app, seed, backend):
    """The brief's case: a Disbursement object written directly, bypassing the services."""
    def write() -> None:
        db.session.add(Disbursement(
            case_id=seed.case_id, budget_line_id=seed.line_id, spent_on=days_ago(1),
            amount_minor=250_000, currency="JPY", exchange_rate=Decimal(1),
            base_amount_minor=250_000, base_currency="JPY", private_payee="Guide K.",
            status="approved", needs_approval=True, created_by_id=seed.a,
            decided_by_id=seed.a, decided_at=utcnow()))

    assert_refused(write, backend, FOUR_EYES)


def test_four_eyes_the_recorder_cannot_approve_a_pending_row_with_sql(app, seed, backend):
    approve = sa.text(
        "UPDATE disbursements SET status = 'approved', decided_by_id = :by, decided_at = :at"
        " WHERE id = :id")
    assert_refused(lambda: db.session.execute(
        approve, {"by": seed.a, "at": utcnow(), "id": seed.pending_id}), backend, FOUR_EYES)
    assert disbursement_row(seed.pending_id)["status"] == "pending"
    # the same statement by someone else is fine: only the four-eyes rule refused it
    db.session.execute(approve, {"by": seed.b, "at": utcnow(), "id": seed.pending_id})
    db.session.commit()
    assert disbursement_row(seed.pending_id)["decided_by_id"] == seed.b


def test_four_eyes_the_recorder_cannot_take_over_an_approval(app, seed, backend):
    services.approve(seed.pending_id, actor=db.session.get(User, seed.b))
    db.session.commit()
    assert_refused(lambda: db.session.execute(
        sa.text("UPDATE disbursements SET decided_by_id = created_by_id WHERE id = :id"),
        {"id": seed.pending_id}), backend, FOUR_EYES)
    assert disbursement_row(seed.pending_id)["decided_by_id"] == seed.b


# --- the ledger -------------------------------------------------------------------------------


def test_book_disbursement_writes_one_linked_entry(app, seed):
    d = db.session.get(Disbursement, seed.counted_id)
    [entry] = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.disbursement_id == d.id))
    assert (entry.kind, entry.case_id, entry.amount_minor, entry.currency) == (
        "disbursement", seed.case_id, -5_000, "JPY")
    assert (entry.original_amount_minor, entry.original_currency) == (-5_000, "JPY")
    assert (entry.donation_id, entry.gateway_ref, entry.transfer_group) == (None, None, None)
    assert entry.created_by_id == seed.a
    assert as_utc(entry.booked_at) == local_noon(d.spent_on)


def test_a_disbursement_is_booked_once(app, seed, backend):
    d = db.session.get(Disbursement, seed.counted_id)
    assert_refused(lambda: book_disbursement(d, booked_at=utcnow()), backend,
                   {"sqlite": "UNIQUE constraint failed: ledger_entries.disbursement_id",
                    "postgresql": "uq_ledger_entries_disbursement_id"})
    assert len(disbursement_entries(seed.case_id)) == 1
    assert spent_sql(seed.case_id) == 5_000


def test_a_reversal_is_booked_as_money_back(app, seed):
    reversal = services.reverse(seed.counted_id, actor=db.session.get(User, seed.b),
                                reason=REASON, today=today())
    db.session.commit()
    [entry] = db.session.scalars(db.select(LedgerEntry).where(
        LedgerEntry.disbursement_id == reversal.id))
    assert (entry.kind, entry.amount_minor, entry.original_amount_minor) == (
        "disbursement", 5_000, 5_000)
    assert as_utc(entry.booked_at) == local_noon(today())


APPEND_ONLY = "append-only"


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_minor = -1 WHERE kind = 'disbursement'",
    "UPDATE ledger_entries SET disbursement_id = NULL, kind = 'adjustment'"
    " WHERE kind = 'disbursement'",
    "DELETE FROM ledger_entries WHERE kind = 'disbursement'",
], ids=["update-amount", "unlink", "delete"])
def test_disbursement_entries_are_append_only_in_the_database(app, seed, statement):
    before = disbursement_entries(seed.case_id)
    db.session.commit()
    with pytest.raises(DBAPIError) as info:
        db.session.execute(sa.text(statement))
        db.session.commit()
    db.session.rollback()
    assert APPEND_ONLY in str(info.value.orig)
    assert disbursement_entries(seed.case_id) == before == [
        (-5_000, "JPY", -5_000, "JPY", seed.counted_id)]


def test_disbursement_entries_are_append_only_in_the_orm(app, seed):
    entry = db.session.scalar(db.select(LedgerEntry).where(
        LedgerEntry.disbursement_id == seed.counted_id))
    entry.amount_minor = -1
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    entry = db.session.scalar(db.select(LedgerEntry).where(
        LedgerEntry.disbursement_id == seed.counted_id))
    db.session.delete(entry)
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert spent_sql(seed.case_id) == 5_000


def test_the_ledger_guard_triggers_survived_the_migration(app, backend):
    if backend == "sqlite":
        names = db.session.scalars(sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_entries'"))
    else:
        names = db.session.scalars(sa.text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = 'ledger_entries'::regclass"))
    # the append-only guard, and the monthly rollups (migration 0006)
    rollups = {"sqlite": {"ledger_rollup_totals", "ledger_rollup_gifts"},
               "postgresql": {"ledger_rollup"}}[backend]
    assert set(names) == {"ledger_entries_no_update", "ledger_entries_no_delete"} | rollups


# --- migration 0005 down and up ---------------------------------------------------------------


def test_migration_0005_goes_down_and_up_again(tmp_path: Path):
    """On a scratch SQLite database: 0005's downgrade restores the ledger as 0004 had it
    (no disbursement kind, guard triggers in place) and its upgrade puts everything back."""
    app = make_app("sqlite:///" + str(tmp_path / "migrate.sqlite3"))
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0005")
            flask_migrate.downgrade(revision="0004")
            inspector = sa.inspect(db.engine)
            assert not {"budget_lines", "disbursements", "disbursement_receipts"} & set(
                inspector.get_table_names())
            assert "disbursement_id" not in {c["name"] for c in inspector.get_columns(
                "ledger_entries")}
            with db.engine.connect() as conn:
                triggers = set(conn.scalars(sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                    " AND tbl_name = 'ledger_entries'")))
                sql = conn.scalar(sa.text(
                    "SELECT sql FROM sqlite_master WHERE name = 'ledger_entries'"))
            assert triggers == {"ledger_entries_no_update", "ledger_entries_no_delete"}
            assert "'disbursement'" not in sql and "ck_ledger_entries_transfer_grouped" in sql

            flask_migrate.upgrade(revision="0005")
            inspector = sa.inspect(db.engine)
            assert {"budget_lines", "disbursements", "disbursement_receipts"} <= set(
                inspector.get_table_names())
            checks = {c["name"] for c in inspector.get_check_constraints("ledger_entries")}
            assert {"ck_ledger_entries_disbursement_linked", "ck_ledger_entries_kind",
                    "ck_ledger_entries_amount_sign", "ck_ledger_entries_transfer_grouped",
                    "ck_ledger_entries_donation_money_has_donation"} <= checks
            with db.engine.connect() as conn:
                assert set(conn.scalars(sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                    " AND tbl_name = 'ledger_entries'"))) == {
                    "ledger_entries_no_update", "ledger_entries_no_delete"}
        finally:
            db.session.remove()
            db.engine.dispose()


# --- exchange rates the database can hold -----------------------------------------------------


@pytest.mark.parametrize(("amount_minor", "currency", "typed"), [
    # ₫200,000,000 at 0.0059876543 is ¥1,197,531; at 0.00598765 (8 places) it is ¥1,197,530
    pytest.param(200_000_000, "VND", "0.0059876543", id="ten-decimal-places"),
    # a rate parse_rate accepts but NUMERIC(18, 8) turns into 0
    pytest.param(10**11, "USD", "0.000000001", id="below-the-column-scale"),
])
def test_a_typed_rate_is_refused_or_stored_as_it_was_used(app, seed, amount_minor, currency,
                                                          typed):
    """The stored rate must reproduce the stored base amount, on both databases; a rate the
    column (NUMERIC(18, 8)) cannot hold is a DomainError on the rate field, not a database
    error, and then nothing is written."""
    case = db.session.get(RescueCase, seed.case_id)
    a = db.session.get(User, seed.a)
    db.session.commit()
    before = table_counts()
    try:
        rate = parse_rate(typed)
        d = services.record_disbursement(case, services.DisbursementInput(
            line_id=seed.line_id, spent_on=days_ago(1), amount=Money(amount_minor, currency),
            payee="Money changer", rate=rate), actor=a, today=today())
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        assert exc.field == "rate"
        assert table_counts() == before
        return
    row = disbursement_row(d.id)
    stored = Decimal(str(row["exchange_rate"]))
    assert convert(Money(amount_minor, currency), "JPY", stored).amount_minor == \
        row["base_amount_minor"], f"the stored rate {stored} is not the rate used, {rate}"


# --- two staff members at the same moment -----------------------------------------------------


def _race(app: Flask, calls: list[Callable[[], None]]) -> list[str]:
    """Run each call in its own thread and app context (its own session and connection),
    released together; returns "ok" or the name of the exception each one raised."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[str] = [""] * len(calls)

    def run(i: int, call: Callable[[], None]) -> None:
        with app.app_context():
            try:
                barrier.wait()
                call()
                db.session.commit()
                results[i] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported in the results
                db.session.rollback()
                results[i] = type(exc).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_two_approvers_at_once_book_one_entry(app, seed):
    c = staff_member("chie@example.org")
    ids = (seed.b, c.id)

    def approve_as(user_id: int) -> Callable[[], None]:
        return lambda: services.approve(seed.pending_id, actor=db.session.get(User, user_id))

    db.session.commit()
    results = _race(app, [approve_as(user_id) for user_id in ids])
    db.session.expire_all()
    assert sorted(results) == ["Conflict", "ok"], results
    row = disbursement_row(seed.pending_id)
    assert row["status"] == "approved" and row["decided_by_id"] == ids[results.index("ok")]
    entries = [e for e in disbursement_entries(seed.case_id) if e[4] == seed.pending_id]
    assert entries == [(-150_000, "JPY", -150_000, "JPY", seed.pending_id)]
    assert spent_sql(seed.case_id) == 155_000


def test_two_reversals_at_once_give_the_money_back_once(app, seed):
    ids = (seed.a, seed.b)

    def reverse_as(user_id: int) -> Callable[[], None]:
        return lambda: services.reverse(seed.counted_id, actor=db.session.get(User, user_id),
                                        reason=REASON, today=today())

    db.session.commit()
    results = _race(app, [reverse_as(user_id) for user_id in ids])
    db.session.expire_all()
    assert sorted(results) == ["Conflict", "ok"], results
    reversals = db.session.scalars(db.select(Disbursement).where(
        Disbursement.reverses_id == seed.counted_id)).all()
    assert len(reversals) == 1 and reversals[0].status == "approved"
    assert spent_sql(seed.case_id) == 0
    with pytest.raises(Conflict):
        services.reverse(seed.counted_id, actor=db.session.get(User, seed.a), reason=REASON,
                         today=today())
    db.session.rollback()
