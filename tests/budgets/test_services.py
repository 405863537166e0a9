"""Budget rules through the services: budget lines, disbursements with four eyes, reversals,
what a case holds, closing a case, budget against actual, receipts.

Every refused action is checked three ways: the exception type, the field it names, and that
after the rollback no row was written to any of the budget, ledger or audit tables. Figures
are checked against numbers worked out by hand and against plain-SQL sums over the ledger.
Runs on SQLite and PostgreSQL (the ``app`` fixture is parametrized by backend).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
import sqlalchemy as sa
from PIL import Image

from tests.budgets.support import (
    MARKER,
    budgeted_case,
    counts,
    days_ago,
    disbursement_entries,
    disbursement_row,
    entry,
    jpeg_with_exif,
    loaded,
    local_noon,
    pay,
    refused,
    spent_sql,
    staff_member,
    today,
)
from tests.factories import make_case
from tracker.audit import AuditEntry
from tracker.budgets import services
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.cases.public import progress_for
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.money import Money, parse_rate
from tracker.core.time import as_utc
from tracker.extensions import db
from tracker.ledger import reads as ledger
from tracker.ledger.models import LedgerEntry

DEFAULT_CATEGORIES = ["guides", "transport", "safe_house", "documents_legal", "medical", "food",
                      "other"]
REASON = "typed the wrong amount on the form"


@pytest.fixture
def staff(app):
    """Two staff members: ``a`` records, ``b`` approves."""
    return staff_member("aiko@example.org"), staff_member("ben@example.org")


def audit_rows(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def reload_case(case_id: int) -> RescueCase:
    db.session.expire_all()
    return db.session.get(RescueCase, case_id)


def money(case: RescueCase) -> ledger.CaseMoney:
    return ledger.money_by_case([case.id])[case.id]


def case_input(case: RescueCase, **changes) -> case_services.CaseInput:
    fields = {
        "slug": case.slug, "public_title": case.public_title, "public_region": case.public_region,
        "goal": Money(case.goal_amount_minor, case.goal_currency),
        "public_summary": case.public_summary, "track": case.track,
        "private_notes": case.private_notes, "private_contact": case.private_contact,
    }
    fields.update(changes)
    return case_services.CaseInput(**fields)


# --- settings ---------------------------------------------------------------------------------


def test_the_default_settings(app):
    assert list(services.categories()) == DEFAULT_CATEGORIES
    assert services.category_label("safe_house") == "Safe house"
    assert services.category_label("documents_legal") == "Documents and legal"
    assert services.approval_threshold() == Money(100_000, "JPY")


def test_categories_are_a_setting(app, monkeypatch):
    case = make_case(status=workflow.FUNDRAISING)
    services.set_line(case, "guides", Money(10_000, "JPY"))
    db.session.commit()
    monkeypatch.setitem(app.config, "TRACKER_BUDGET_CATEGORIES",
                        {"boats": "Boats", "guides": "Guides"})
    services.set_line(case, "boats", Money(20_000, "JPY"))
    db.session.commit()
    # configured order first, whatever the order the lines were added in
    assert [line.category for line in services.lines_for(case.id)] == ["boats", "guides"]
    refused(DomainError, "category", lambda: services.set_line(case, "medical", Money(1, "JPY")))
    # a key no longer configured keeps a readable label
    assert services.category_label("safe_house") == "Safe house"
    assert services.category_label("river_crossing") == "River crossing"


# --- budget lines -----------------------------------------------------------------------------


def test_set_line_adds_a_line_then_changes_it_with_audit_entries(app):
    case = make_case(status=workflow.FUNDRAISING)
    line = services.set_line(case, "transport", Money(80_000, "JPY"), "two bus tickets")
    services.set_line(case, "guides", Money(300_000, "JPY"))
    db.session.commit()

    assert (line.case_id, line.category, line.planned_minor, line.currency) == (
        case.id, "transport", 80_000, "JPY")
    assert [x.category for x in services.lines_for(case.id)] == ["guides", "transport"]
    assert services.budget_total(case.id) == 380_000
    added = audit_rows("budget.line_added")
    assert [(a.object_type, a.object_id, a.case_id, a.after) for a in added][0] == (
        "budget_lines", line.id, case.id, {"category": "transport", "planned_minor": 80_000})
    assert len(added) == 2

    changed = services.set_line(case, "transport", Money(95_000, "JPY"), "a safer route")
    db.session.commit()
    assert changed.id == line.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BudgetLine)) == 2
    assert db.session.get(BudgetLine, line.id).planned_minor == 95_000
    [audit] = audit_rows("budget.line_changed")
    assert audit.object_id == line.id and audit.case_id == case.id
    assert audit.before == {"category": "transport", "planned_minor": 80_000}
    assert audit.after["planned_minor"] == 95_000
    # the private note is not copied into the audit log
    assert "safer route" not in repr(audit.after) and "bus tickets" not in repr(added[0].after)

    # the same plan again changes nothing and audits nothing
    before = counts()
    services.set_line(case, "transport", Money(95_000, "JPY"), "a safer route")
    db.session.commit()
    assert counts() == before


@pytest.mark.parametrize(
    ("category", "planned", "note", "field"),
    [
        pytest.param("boats", Money(10_000, "JPY"), "", "category", id="unknown-category"),
        pytest.param("", Money(10_000, "JPY"), "", "category", id="empty-category"),
        pytest.param("guides", Money(0, "JPY"), "", "planned", id="zero"),
        pytest.param("guides", Money(-5_000, "JPY"), "", "planned", id="negative"),
        pytest.param("guides", Money(10_000, "USD"), "", "planned", id="not-base-currency"),
        pytest.param("guides", Money(10**12 + 1, "JPY"), "", "planned", id="absurdly-large"),
        pytest.param("guides", Money(99_999_999_999, "JPY"), "", "planned", id="issue-15-repro"),
        pytest.param("guides", Money(100_000_001, "JPY"), "", "planned", id="above-staff-maximum"),
        pytest.param("guides", Money(10_000, "JPY"), "x" * 501, "private_note", id="note-too-long"),
    ],
)
def test_set_line_refuses_bad_input(app, category, planned, note, field):
    case, _ = budgeted_case(lines={"transport": 50_000})
    refused(DomainError, field, lambda: services.set_line(case, category, planned, note))
    assert [line.planned_minor for line in services.lines_for(case.id)] == [50_000]


def test_staff_amounts_are_capped_by_their_setting(app, staff, monkeypatch):
    """Issue 15, item 11: budget lines and payments out stop at TRACKER_MAX_STAFF_AMOUNT_MINOR,
    with a message naming the largest amount; the cap itself is accepted."""
    a, _ = staff
    case, lines = budgeted_case(lines={"guides": 50_000})
    exc = refused(DomainError, "planned",
                  lambda: services.set_line(case, "transport", Money(100_000_001, "JPY")))
    assert exc.reason == "The largest amount accepted here is ¥100,000,000. Check the number of digits."
    assert services.set_line(case, "transport", Money(100_000_000, "JPY")).planned_minor == 100_000_000
    db.session.commit()
    monkeypatch.setitem(app.config, "TRACKER_MAX_STAFF_AMOUNT_MINOR", 2_000)
    exc = refused(DomainError, "amount", lambda: services.record_disbursement(
        case, entry(lines["guides"], 2_001), actor=a, today=today()))
    assert "¥2,000" in exc.reason
    assert pay(case, lines["guides"], 2_000, actor=a).amount_minor == 2_000


def test_a_changed_line_is_checked_like_a_new_one(app):
    case, lines = budgeted_case(lines={"guides": 50_000})
    refused(DomainError, "planned", lambda: services.set_line(case, "guides", Money(0, "JPY")))
    assert db.session.get(BudgetLine, lines["guides"].id).planned_minor == 50_000


def test_a_closed_case_has_a_fixed_budget(app):
    case, lines = budgeted_case(lines={"guides": 50_000}, raised=0)
    case_services.close_case(case, "cancelled", move_funds_to="keep")
    db.session.commit()
    refused(Conflict, None, lambda: services.set_line(case, "medical", Money(5_000, "JPY")))
    refused(Conflict, None, lambda: services.set_line(case, "guides", Money(60_000, "JPY")))
    refused(Conflict, None, lambda: services.remove_line(lines["guides"]))
    refused(Conflict, None, lambda: services.set_options(case, goal_follows_budget=True,
                                                         show_budget=True))


def test_remove_line(app, staff):
    a, _ = staff
    case, lines = budgeted_case(lines={"guides": 50_000, "food": 8_000})
    services.remove_line(lines["food"])
    db.session.commit()
    assert [line.category for line in services.lines_for(case.id)] == ["guides"]
    [audit] = audit_rows("budget.line_removed")
    assert audit.before == {"category": "food", "planned_minor": 8_000}

    pay(case, lines["guides"], 5_000, actor=a)
    error = refused(Conflict, None, lambda: services.remove_line(lines["guides"]))
    assert "paid" in error.reason
    assert [line.category for line in services.lines_for(case.id)] == ["guides"]


def test_a_line_with_only_a_pending_or_rejected_payment_stays_too(app, staff):
    a, b = staff
    case, lines = budgeted_case(lines={"guides": 500_000})
    big = pay(case, lines["guides"], 200_000, actor=a)
    refused(Conflict, None, lambda: services.remove_line(lines["guides"]))
    services.reject(big.id, actor=loaded(b), reason="no receipt for this one")
    db.session.commit()
    refused(Conflict, None, lambda: services.remove_line(lines["guides"]))


# --- the goal follows the budget --------------------------------------------------------------


def test_the_goal_follows_the_budget(app):
    case = make_case(status=workflow.FUNDRAISING, goal=1_000_000)
    # turning it on with no lines would leave no goal
    refused(Conflict, None, lambda: services.set_options(case, goal_follows_budget=True,
                                                         show_budget=False))
    case = reload_case(case.id)
    assert (case.goal_follows_budget, case.goal_amount_minor) == (False, 1_000_000)

    guides = services.set_line(case, "guides", Money(300_000, "JPY"))
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 1_000_000  # not following yet

    assert services.set_options(case, goal_follows_budget=True, show_budget=False) == [
        "goal_follows_budget"]
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 300_000
    [options] = audit_rows("case.budget_options")
    assert options.after == {"goal_follows_budget": True}

    services.set_line(case, "transport", Money(120_000, "JPY"))  # a line added
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 420_000
    services.set_line(case, "guides", Money(250_000, "JPY"))  # a line changed
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 370_000
    services.remove_line(db.session.get(BudgetLine, guides.id))  # a line removed
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 120_000

    goal_moves = [(e.before, e.after) for e in audit_rows("case.updated")]
    assert goal_moves == [
        ({"goal_amount_minor": 1_000_000}, {"goal_amount_minor": 300_000, "because": "budget"}),
        ({"goal_amount_minor": 300_000}, {"goal_amount_minor": 420_000, "because": "budget"}),
        ({"goal_amount_minor": 420_000}, {"goal_amount_minor": 370_000, "because": "budget"}),
        ({"goal_amount_minor": 370_000}, {"goal_amount_minor": 120_000, "because": "budget"}),
    ]

    # the last line cannot go while the goal follows the budget
    [last] = services.lines_for(case.id)
    refused(Conflict, None, lambda: services.remove_line(last))
    assert reload_case(case.id).goal_amount_minor == 120_000


def test_a_hand_set_goal_is_refused_while_the_goal_follows_the_budget(app):
    case, _ = budgeted_case(lines={"guides": 300_000})
    services.set_options(case, goal_follows_budget=True, show_budget=False)
    db.session.commit()
    case = reload_case(case.id)

    error = refused(Conflict, "goal", lambda: case_services.update_case(
        case, case_input(case, goal=Money(999_000, "JPY")), "JPY"))
    assert "budget" in error.reason
    case = reload_case(case.id)
    assert case.goal_amount_minor == 300_000
    # the same goal with another edit is fine
    assert case_services.update_case(case, case_input(case, public_title="Seven survivors"),
                                     "JPY") == ["public_title"]
    db.session.commit()
    # once the goal no longer follows the budget it can be set by hand again
    services.set_options(case, goal_follows_budget=False, show_budget=False)
    db.session.commit()
    case = reload_case(case.id)
    assert case_services.update_case(case, case_input(case, goal=Money(999_000, "JPY")),
                                     "JPY") == ["goal_amount_minor"]
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 999_000
    services.set_line(case, "guides", Money(10_000, "JPY"))
    db.session.commit()
    assert reload_case(case.id).goal_amount_minor == 999_000


# --- recording disbursements ------------------------------------------------------------------


def test_a_payment_under_the_threshold_counts_at_once(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    spent_on = days_ago(4)
    d = pay(case, lines["guides"], 50_000, actor=a, spent_on=spent_on, payee="Guide Kim",
            note="river crossing")

    row = disbursement_row(d.id)
    assert (row["status"], bool(row["needs_approval"]), row["decided_by_id"]) == (
        "approved", False, a.id)
    assert row["created_by_id"] == a.id and row["decided_at"] is not None
    assert (row["amount_minor"], row["currency"], row["base_amount_minor"],
            row["base_currency"]) == (50_000, "JPY", 50_000, "JPY")
    assert Decimal(str(row["exchange_rate"])) == 1
    assert (row["private_payee"], row["private_note"]) == ("Guide Kim", "river crossing")
    assert disbursement_entries(case.id) == [(-50_000, "JPY", -50_000, "JPY", d.id)]
    booked = db.session.scalar(db.select(LedgerEntry).where(LedgerEntry.disbursement_id == d.id))
    # booked at local noon of the day paid (fiscal years are cut on the booking time)
    assert as_utc(booked.booked_at) == local_noon(spent_on)
    assert booked.created_by_id == a.id
    assert money(case).spent_minor == 50_000 == spent_sql(case.id)
    [audit] = audit_rows("disbursement.recorded")
    assert audit.actor_id == a.id and audit.object_id == d.id
    assert audit.after["needs_approval"] is False and audit.after["payee"] == "recorded"


def test_a_payment_at_the_threshold_counts_at_once(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 100_000, actor=a)
    assert (d.status, d.needs_approval) == ("approved", False)
    assert disbursement_entries(case.id) == [(-100_000, "JPY", -100_000, "JPY", d.id)]


def test_a_payment_above_the_threshold_waits_for_a_second_approval(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 100_001, actor=a)
    row = disbursement_row(d.id)
    assert (row["status"], bool(row["needs_approval"])) == ("pending", True)
    assert (row["decided_by_id"], row["decided_at"]) == (None, None)
    assert disbursement_entries(case.id) == []
    assert money(case).spent_minor == 0
    assert [x.id for x in services.pending_approvals()] == [d.id]
    assert case_services.pending_disbursements(case.id) == 1


def test_the_threshold_is_a_setting(app, staff, monkeypatch):
    a, _ = staff
    case, lines = budgeted_case()
    monkeypatch.setitem(app.config, "TRACKER_APPROVAL_THRESHOLD_MINOR", 0)
    d = pay(case, lines["guides"], 1, actor=a)
    assert (d.status, d.needs_approval) == ("pending", True)
    assert disbursement_entries(case.id) == []


def test_a_usd_payment_at_the_configured_rate(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    assert app.config["TRACKER_EXCHANGE_RATES"]["USD"] == Decimal(150)
    small = pay(case, lines["transport"], 1_000, "USD", actor=a)  # $10.00 -> ¥1,500
    assert (small.base_amount_minor, small.exchange_rate, small.status) == (
        1_500, Decimal(150), "approved")
    big = pay(case, lines["guides"], 100_000, "USD", actor=a)  # $1,000.00 -> ¥150,000
    assert (big.base_amount_minor, big.status) == (150_000, "pending")
    services.approve(big.id, actor=b)
    db.session.commit()
    assert disbursement_entries(case.id) == [
        (-1_500, "JPY", -1_000, "USD", small.id),
        (-150_000, "JPY", -100_000, "USD", big.id),
    ]
    assert money(case).spent_minor == 151_500


def test_the_threshold_is_in_the_base_currency(app, staff):
    """$700.00 is ¥105,000: above the threshold although 70,000 < 100,000 in cents."""
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 70_000, "USD", actor=a)
    assert (d.base_amount_minor, d.status, d.needs_approval) == (105_000, "pending", True)


def test_a_typed_rate_wins_and_is_rounded_half_up(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    # $10.01 at 149.5 is ¥1,496.495: rounded half up to the yen
    d = pay(case, lines["transport"], 1_001, "USD", actor=a, rate=Decimal("149.5"))
    assert (d.base_amount_minor, d.exchange_rate) == (1_496, Decimal("149.5"))
    d2 = pay(case, lines["transport"], 1_003, "USD", actor=a, rate=parse_rate("149.5"))
    assert d2.base_amount_minor == 1_499  # 1,499.485 -> 1,499
    stored = Decimal(str(disbursement_row(d.id)["exchange_rate"]))
    assert stored == Decimal("149.5")


def test_a_currency_without_a_configured_rate_needs_a_typed_one(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    assert "THB" not in app.config["TRACKER_EXCHANGE_RATES"]
    refused(DomainError, "rate", lambda: services.record_disbursement(
        case, entry(lines["transport"], 50_000, "THB"), actor=a, today=today()))
    d = pay(case, lines["transport"], 50_000, "THB", actor=a, rate=Decimal("4.2"))
    assert d.base_amount_minor == 2_100  # ฿500.00 at 4.2


def test_a_base_currency_payment_takes_no_rate(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    for typed in (Decimal(2), Decimal("0.5"), Decimal("150")):
        refused(DomainError, "rate", lambda typed=typed: services.record_disbursement(
            case, entry(lines["guides"], 5_000, rate=typed), actor=a, today=today()))
    d = pay(case, lines["guides"], 5_000, actor=a, rate=Decimal(1))  # 1 is harmless
    assert (d.base_amount_minor, d.exchange_rate) == (5_000, Decimal(1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), (None, None), ("   ", None), ("150", Decimal(150)),
     (" 149.85 ", Decimal("149.85")), ("1,000", Decimal(1000)), ("0.0067", Decimal("0.0067"))],
)
def test_parse_rate_reads_a_typed_rate(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text", ["abc", "1.2.3", "0", "0.0", "-150", "NaN", "sNaN", "Infinity", "-inf", "1000001",
             "1e7", "150 yen", "149,85", "1,00", "0.000000001", "150.123456789"])
def test_parse_rate_refuses_what_is_not_a_positive_rate(text):
    with pytest.raises(DomainError) as info:
        parse_rate(text)
    assert info.value.field == "rate"


def test_a_payment_worth_less_than_one_yen_is_refused(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    # one cent at 0.4 yen per dollar is ¥0.004: nothing in yen
    error = refused(DomainError, "amount", lambda: services.record_disbursement(
        case, entry(lines["guides"], 1, "USD", rate=Decimal("0.4")), actor=a, today=today()))
    assert "smallest unit" in error.reason
    # ¥0.5 rounds half up to ¥1 and is accepted
    assert pay(case, lines["guides"], 1, "USD", actor=a, rate=Decimal(50)).base_amount_minor == 1


def test_a_payment_dated_today_is_fine(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 1_000, actor=a, spent_on=today())
    assert d.spent_on == today() and d.status == "approved"


BAD_PAYMENTS = [
    # (id, changes to the input, field)
    ("zero", {"amount": Money(0, "JPY")}, "amount"),
    ("negative", {"amount": Money(-5_000, "JPY")}, "amount"),
    ("negative-usd", {"amount": Money(-100, "USD")}, "amount"),
    ("absurdly-large", {"amount": Money(10**12 + 1, "JPY")}, "amount"),
    ("issue-15-repro", {"amount": Money(99_999_999_999, "JPY")}, "amount"),
    ("above-staff-maximum", {"amount": Money(100_000_001, "JPY")}, "amount"),
    ("above-staff-maximum-usd", {"amount": Money(100_000_001, "USD")}, "amount"),
    ("tomorrow", {"spent_on": "tomorrow"}, "spent_on"),
    ("no-payee", {"payee": ""}, "payee"),
    ("blank-payee", {"payee": "   "}, "payee"),
    ("payee-too-long", {"payee": "P" * 201}, "payee"),
    ("note-too-long", {"note": "n" * 5_001}, "note"),
    ("line-of-another-case", {"line_id": "other"}, "line"),
    ("no-such-line", {"line_id": 987_654}, "line"),
    ("jpy-with-a-rate", {"rate": Decimal(3)}, "rate"),
    ("usd-worth-nothing", {"amount": Money(1, "USD"), "rate": Decimal("0.0001")}, "amount"),
]


@pytest.mark.parametrize(("changes", "field"), [pytest.param(*r[1:], id=r[0]) for r in BAD_PAYMENTS])
def test_bad_payments_are_refused_and_write_nothing(app, staff, changes, field):
    a, _ = staff
    case, lines = budgeted_case(lines={"guides": 300_000})
    _, other_lines = budgeted_case("another-case", lines={"guides": 10_000}, raised=0)
    if changes.get("spent_on") == "tomorrow":
        changes["spent_on"] = today() + timedelta(days=1)
    if changes.get("line_id") == "other":
        changes["line_id"] = other_lines["guides"].id
    data = dataclasses.replace(entry(lines["guides"], 5_000), **changes)
    refused(DomainError, field, lambda: services.record_disbursement(
        case, data, actor=a, today=today()))
    assert services.disbursements_for(case.id) == []
    assert spent_sql(case.id) == 0


def test_the_longest_payee_is_accepted(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 1_000, actor=a, payee="  " + "P" * 200 + "  ")
    assert disbursement_row(d.id)["private_payee"] == "P" * 200


def test_no_payment_from_a_closed_case(app, staff):
    a, _ = staff
    case, lines = budgeted_case(raised=0)
    case_services.close_case(case, "cancelled", move_funds_to="keep")
    db.session.commit()
    refused(Conflict, None, lambda: services.record_disbursement(
        case, entry(lines["guides"], 5_000), actor=a, today=today()))


def test_the_payee_and_note_stay_out_of_the_audit_log(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a, payee="Mr. Park at Yanji station",
            note="paid at the safe house on Hill Road")
    services.approve(d.id, actor=b)
    db.session.commit()
    services.reverse(d.id, actor=a, reason="wrong guide recorded here", today=today())
    db.session.commit()
    dumped = repr([(e.before, e.after, e.actor_label) for e in db.session.scalars(
        db.select(AuditEntry))])
    for secret in ("Park", "Yanji", "Hill Road", "wrong guide recorded"):
        assert secret not in dumped


# --- approving and rejecting ------------------------------------------------------------------


def test_another_staff_member_approves_and_it_is_booked_once(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)
    approved = services.approve(d.id, actor=b)
    db.session.commit()
    assert approved.id == d.id
    row = disbursement_row(d.id)
    assert (row["status"], row["created_by_id"], row["decided_by_id"]) == ("approved", a.id, b.id)
    assert row["decided_at"] is not None
    [booked] = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.case_id == case.id,
                                                               LedgerEntry.kind == "disbursement"))
    assert (booked.amount_minor, booked.disbursement_id, booked.created_by_id) == (
        -150_000, d.id, b.id)
    assert money(case).spent_minor == 150_000
    [audit] = audit_rows("disbursement.approved")
    assert (audit.actor_id, audit.object_id) == (b.id, d.id)
    assert services.pending_approvals() == []

    # a second approval finds it counted already
    refused(Conflict, None, lambda: services.approve(d.id, actor=b))
    assert len(disbursement_entries(case.id)) == 1


def test_nobody_approves_their_own_payment(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)
    error = refused(Conflict, None, lambda: services.approve(d.id, actor=a))
    assert "someone else" in error.reason
    assert disbursement_row(d.id)["status"] == "pending"
    assert disbursement_entries(case.id) == []


def test_a_payment_that_counted_at_once_cannot_be_approved_again(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 5_000, actor=a)
    refused(Conflict, None, lambda: services.approve(d.id, actor=b))
    assert len(disbursement_entries(case.id)) == 1


def test_approving_a_missing_disbursement(app, staff):
    _, b = staff
    refused(NotFound, None, lambda: services.approve(424_242, actor=b))


def test_a_rejected_payment_never_counts(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)
    refused(DomainError, "reason", lambda: services.reject(d.id, actor=loaded(b), reason="  no  "))
    assert disbursement_row(d.id)["status"] == "pending"

    services.reject(d.id, actor=loaded(b), reason="no receipt and wrong line")
    db.session.commit()
    row = disbursement_row(d.id)
    assert (row["status"], row["decided_by_id"]) == ("rejected", b.id)
    assert row["decided_at"] is not None
    [audit] = audit_rows("disbursement.rejected")
    assert audit.after == {"reason": "recorded"}

    refused(Conflict, None, lambda: services.approve(d.id, actor=b))
    refused(Conflict, None, lambda: services.reject(d.id, actor=loaded(b), reason="rejecting it again"))
    refused(Conflict, None, lambda: services.reverse(d.id, actor=b, reason=REASON, today=today()))
    assert disbursement_entries(case.id) == []
    assert money(case).spent_minor == 0
    figures = services.budget_figures(case)
    assert (figures.spent, figures.pending) == (Money(0, "JPY"), Money(0, "JPY"))


def test_the_recorder_may_withdraw_their_own_payment(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)
    services.reject(d.id, actor=loaded(a), reason="recorded it twice by mistake")
    db.session.commit()
    assert disbursement_row(d.id)["status"] == "rejected"
    assert disbursement_entries(case.id) == []


def test_reject_with_a_user_expired_by_a_commit(app, staff):
    """Services take models; a User object expired by an earlier commit (as every object is
    after ``commit()``) must do. ``reject`` sets the status first and reads ``actor.id`` after:
    loading the actor autoflushes a half-decided row that the CHECK refuses."""
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)  # commits: ``b`` is expired now
    services.reject(d.id, actor=b, reason="no receipt for this payment")
    db.session.commit()
    row = disbursement_row(d.id)
    assert (row["status"], row["decided_by_id"]) == ("rejected", b.id)


def test_a_payment_recorded_without_a_user_can_be_approved_by_staff(app, staff):
    _, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=None)
    assert (d.created_by_id, d.status) == (None, "pending")
    services.approve(d.id, actor=b)
    db.session.commit()
    assert disbursement_entries(case.id) == [(-150_000, "JPY", -150_000, "JPY", d.id)]


# --- reversals --------------------------------------------------------------------------------


def test_a_small_payment_is_reversed_at_once(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 50_000, actor=a)
    original = disbursement_row(d.id)

    r = services.reverse(d.id, actor=b, reason=REASON, today=today())
    db.session.commit()
    row = disbursement_row(r.id)
    assert (row["reverses_id"], row["budget_line_id"], row["case_id"]) == (
        d.id, lines["guides"].id, case.id)
    assert (row["amount_minor"], row["base_amount_minor"], row["currency"]) == (
        -50_000, -50_000, "JPY")
    assert (row["status"], bool(row["needs_approval"]), row["decided_by_id"]) == (
        "approved", False, b.id)
    assert row["private_note"] == REASON and row["spent_on"] in (today(), today().isoformat())
    assert disbursement_entries(case.id) == [
        (-50_000, "JPY", -50_000, "JPY", d.id),
        (50_000, "JPY", 50_000, "JPY", r.id),
    ]
    assert money(case).spent_minor == 0 == spent_sql(case.id)
    assert disbursement_row(d.id) == original  # the original is never edited
    [audit] = audit_rows("disbursement.reversal_recorded")
    assert audit.after["reverses"] == d.id and audit.object_id == r.id

    refused(Conflict, None, lambda: services.reverse(d.id, actor=a, reason=REASON, today=today()))
    refused(Conflict, None, lambda: services.reverse(r.id, actor=a, reason=REASON, today=today()))
    assert disbursement_row(d.id) == original

    # the right payment is recorded anew
    pay(case, lines["guides"], 45_000, actor=a)
    assert money(case).spent_minor == 45_000 == spent_sql(case.id)


def test_a_large_payment_is_reversed_with_four_eyes(app, staff):
    a, b = staff
    c = staff_member("chie@example.org")
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 200_000, "USD", actor=a)  # $2,000 -> ¥300,000
    services.approve(d.id, actor=b)
    db.session.commit()
    original = disbursement_row(d.id)

    r = services.reverse(d.id, actor=b, reason=REASON, today=today())
    db.session.commit()
    assert (r.status, r.needs_approval, r.amount_minor, r.currency, r.base_amount_minor) == (
        "pending", True, -200_000, "USD", -300_000)
    assert money(case).spent_minor == 300_000  # not counted until approved
    assert services.budget_figures(case).pending == Money(-300_000, "JPY")
    # while a reversal waits, no second one
    refused(Conflict, None, lambda: services.reverse(d.id, actor=c, reason=REASON, today=today()))
    refused(Conflict, None, lambda: services.approve(r.id, actor=b))  # b recorded the reversal

    services.approve(r.id, actor=a)  # the original's recorder may approve b's reversal
    db.session.commit()
    assert disbursement_entries(case.id) == [
        (-300_000, "JPY", -200_000, "USD", d.id),
        (300_000, "JPY", 200_000, "USD", r.id),
    ]
    assert money(case).spent_minor == 0
    assert disbursement_row(d.id) == original
    refused(Conflict, None, lambda: services.reverse(d.id, actor=c, reason=REASON, today=today()))


def test_a_rejected_reversal_can_be_made_again(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 150_000, actor=a)
    services.approve(d.id, actor=b)
    db.session.commit()
    first = services.reverse(d.id, actor=a, reason=REASON, today=today())
    db.session.commit()
    services.reject(first.id, actor=loaded(b), reason="the payment was right after all")
    db.session.commit()
    assert money(case).spent_minor == 150_000
    second = services.reverse(d.id, actor=a, reason=REASON, today=today())
    db.session.commit()
    services.approve(second.id, actor=b)
    db.session.commit()
    assert money(case).spent_minor == 0
    assert [e[4] for e in disbursement_entries(case.id)] == [d.id, second.id]


def test_only_a_counted_payment_can_be_reversed(app, staff):
    a, b = staff
    case, lines = budgeted_case()
    pending = pay(case, lines["guides"], 150_000, actor=a)
    error = refused(Conflict, None, lambda: services.reverse(
        pending.id, actor=b, reason=REASON, today=today()))
    assert "reject" in error.reason
    counted = pay(case, lines["guides"], 5_000, actor=a)
    refused(DomainError, "reason", lambda: services.reverse(
        counted.id, actor=b, reason="", today=today()))
    refused(DomainError, "reason", lambda: services.reverse(
        counted.id, actor=b, reason="oops", today=today()))
    refused(NotFound, None, lambda: services.reverse(
        424_242, actor=b, reason=REASON, today=today()))


# --- what a case holds; progress ----------------------------------------------------------------


def test_spending_leaves_raised_alone_and_lowers_what_the_case_holds(app, staff):
    a, b = staff
    case, lines = budgeted_case(raised=500_000)
    other, _ = budgeted_case("other-case", raised=70_000, lines={"food": 5_000})
    before = progress_for([case])[case.id]
    moved_before = money(case).last_moved

    pay(case, lines["guides"], 80_000, actor=a)
    big = pay(case, lines["transport"], 150_000, actor=a)
    assert (money(case).raised_minor, money(case).spent_minor, money(case).held_minor) == (
        500_000, 80_000, 420_000)  # the pending 150,000 does not count yet
    services.approve(big.id, actor=b)
    db.session.commit()
    small = pay(case, lines["guides"], 20_000, actor=a)
    services.reverse(small.id, actor=a, reason=REASON, today=today())
    db.session.commit()

    m = ledger.money_by_case([case.id, other.id])
    assert (m[case.id].raised_minor, m[case.id].spent_minor, m[case.id].held_minor) == (
        500_000, 230_000, 270_000)
    assert m[case.id].spent_minor == spent_sql(case.id)
    assert m[case.id].donors == 1
    assert m[case.id].last_moved == moved_before  # paying out is not "money moved" publicly
    assert (m[other.id].raised_minor, m[other.id].spent_minor, m[other.id].held_minor) == (
        70_000, 0, 70_000)
    assert ledger.raised_by_case([case.id]) == {case.id: 500_000}

    after = progress_for([reload_case(case.id)])[case.id]
    assert after.raised == before.raised == Money(500_000, "JPY")
    assert after.updated_at == before.updated_at  # when money was paid out is not public


def test_a_case_that_only_spent_holds_a_negative_amount(app, staff):
    a, _ = staff
    case, lines = budgeted_case(raised=0)
    pay(case, lines["guides"], 30_000, actor=a)
    m = money(case)
    assert (m.raised_minor, m.spent_minor, m.held_minor, m.last_moved) == (0, 30_000, -30_000, None)


# --- closing a case -----------------------------------------------------------------------------


def test_a_case_with_a_payment_awaiting_approval_cannot_close(app, staff):
    a, b = staff
    case, lines = budgeted_case(raised=500_000)
    d = pay(case, lines["guides"], 150_000, actor=a)
    error = refused(Conflict, None, lambda: case_services.close_case(
        case, "cancelled", move_funds_to="general"))
    assert "awaiting approval" in error.reason
    assert reload_case(case.id).status == workflow.FUNDRAISING
    assert db.session.scalar(db.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "transfer")) == 0

    services.approve(d.id, actor=b)
    db.session.commit()
    pay(case, lines["transport"], 30_000, actor=a)
    moved = case_services.close_case(case, "cancelled", move_funds_to="general")
    db.session.commit()
    assert moved == 500_000 - 180_000
    assert reload_case(case.id).status == workflow.CLOSED
    transfers = [tuple(r) for r in db.session.execute(sa.text(
        "SELECT case_id, amount_minor, currency, transfer_group FROM ledger_entries"
        " WHERE kind = 'transfer' ORDER BY amount_minor"))]
    assert [(c, amt, cur) for c, amt, cur, _ in transfers] == [
        (case.id, -320_000, "JPY"), (None, 320_000, "JPY")]
    assert transfers[0][3] == transfers[1][3] is not None
    m = money(case)
    assert (m.spent_minor, m.held_minor) == (180_000, 0)

    refused(Conflict, None, lambda: services.record_disbursement(
        case, entry(lines["guides"], 5_000), actor=a, today=today()))


def test_a_rejected_payment_does_not_block_closing(app, staff):
    a, b = staff
    case, lines = budgeted_case(raised=100_000)
    d = pay(case, lines["guides"], 150_000, actor=a)
    services.reject(d.id, actor=loaded(b), reason="not this case's money")
    db.session.commit()
    assert case_services.close_case(case, "cancelled", move_funds_to="general") == 100_000
    db.session.commit()
    assert reload_case(case.id).status == workflow.CLOSED


def test_closing_a_case_that_spent_more_than_it_raised_moves_nothing(app, staff):
    a, _ = staff
    case, lines = budgeted_case(raised=10_000)
    pay(case, lines["guides"], 30_000, actor=a)
    assert case_services.close_case(case, "cancelled", move_funds_to="general") == 0
    db.session.commit()
    assert db.session.scalar(db.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "transfer")) == 0


def test_a_pending_reversal_blocks_closing_too(app, staff):
    a, b = staff
    case, lines = budgeted_case(raised=500_000)
    d = pay(case, lines["guides"], 150_000, actor=a)
    services.approve(d.id, actor=b)
    db.session.commit()
    services.reverse(d.id, actor=a, reason=REASON, today=today())
    db.session.commit()
    refused(Conflict, None, lambda: case_services.close_case(case, "cancelled",
                                                             move_funds_to="keep"))
    assert reload_case(case.id).status == workflow.FUNDRAISING


# --- budget against actual ----------------------------------------------------------------------


def test_budget_figures_line_by_line(app, staff):
    a, b = staff
    case, lines = budgeted_case(
        lines={"other": 10_000, "guides": 300_000, "transport": 50_000, "medical": 40_000})
    pay(case, lines["guides"], 120_000, actor=a)  # pending
    counted = pay(case, lines["guides"], 130_000, actor=a)
    services.approve(counted.id, actor=b)
    db.session.commit()
    pay(case, lines["guides"], 20_000, actor=a)
    pay(case, lines["transport"], 40_000, actor=a)
    wrong = pay(case, lines["transport"], 30_000, actor=a)
    services.reverse(wrong.id, actor=a, reason=REASON, today=today())
    db.session.commit()
    pay(case, lines["transport"], 25_000, actor=a)  # 65,000 of 50,000: overspent
    rejected = pay(case, lines["medical"], 200_000, actor=a)
    services.reject(rejected.id, actor=loaded(b), reason="this was never agreed")
    db.session.commit()

    figures = services.budget_figures(reload_case(case.id))
    rows = [(f.line.category, f.label, f.planned.amount_minor, f.spent.amount_minor,
             f.pending.amount_minor, f.remaining.amount_minor, f.overspent)
            for f in figures.lines]
    assert rows == [
        ("guides", "Guides", 300_000, 150_000, 120_000, 150_000, False),
        ("transport", "Transport", 50_000, 65_000, 0, -15_000, True),
        ("medical", "Medical", 40_000, 0, 0, 40_000, False),
        ("other", "Other", 10_000, 0, 0, 10_000, False),
    ]
    assert all(f.planned.currency == f.spent.currency == "JPY" for f in figures.lines)
    assert (figures.planned, figures.spent, figures.pending, figures.remaining) == (
        Money(400_000, "JPY"), Money(215_000, "JPY"), Money(120_000, "JPY"), Money(185_000, "JPY"))
    assert figures.overspent is False
    assert figures.spent.amount_minor == spent_sql(case.id) == money(case).spent_minor


def test_public_budget_shows_label_plan_and_spending_only_when_chosen(app, staff):
    a, _ = staff
    case, lines = budgeted_case(lines={"transport": 50_000, "safe_house": 200_000})
    pay(case, lines["safe_house"], 60_000, actor=a, payee="Landlord Choi")
    assert services.public_budget(reload_case(case.id)) is None

    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    rows = services.public_budget(reload_case(case.id))
    assert [(r.label, r.planned, r.spent) for r in rows] == [
        ("Transport", Money(50_000, "JPY"), Money(0, "JPY")),
        ("Safe house", Money(200_000, "JPY"), Money(60_000, "JPY")),
    ]
    assert {f.name for f in dataclasses.fields(rows[0])} == {"label", "planned", "spent"}
    assert "Choi" not in repr(rows)


def test_public_budget_of_a_case_without_lines_is_none(app):
    case = make_case(status=workflow.FUNDRAISING)
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    assert reload_case(case.id).show_budget is True
    assert services.public_budget(reload_case(case.id)) is None


# --- receipts -----------------------------------------------------------------------------------


def test_a_receipt_is_stored_without_exif_or_gps(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    upload = jpeg_with_exif(MARKER)
    assert MARKER.encode() in upload and Image.open(BytesIO(upload)).getexif().get_ifd(0x8825)
    d = pay(case, lines["guides"], 5_000, actor=a, receipt=upload)

    [stored] = db.session.scalars(db.select(DisbursementReceipt))
    assert stored.disbursement_id == d.id
    assert stored.content_type == "image/jpeg" and stored.byte_size == len(stored.data) > 0
    for needle in (MARKER.encode(), b"MarkerPhoneMaker", b"Exif\x00\x00"):
        assert needle not in stored.data
    image = Image.open(BytesIO(stored.data))
    assert image.format == "JPEG" and image.size == (96, 64)
    assert len(image.getexif()) == 0
    assert "exif" not in image.info and "comment" not in image.info
    [audit] = audit_rows("disbursement.recorded")
    assert audit.after["receipt"] is True


@pytest.mark.parametrize("upload", [b"%PDF-1.4 not a photo", b"<svg xmlns='x'/>",
                                    jpeg_with_exif()[:200]], ids=["pdf", "svg", "truncated"])
def test_a_receipt_that_is_not_a_photo_is_refused_and_nothing_is_written(app, staff, upload):
    a, _ = staff
    case, lines = budgeted_case()
    refused(DomainError, "receipt", lambda: services.record_disbursement(
        case, entry(lines["guides"], 5_000), actor=a, today=today(), receipt=upload))
    assert services.disbursements_for(case.id) == []


def test_a_receipt_added_later_and_only_once(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["guides"], 5_000, actor=a)
    assert d.receipt is None
    services.add_receipt(d, jpeg_with_exif())
    db.session.commit()
    d = db.session.get(Disbursement, d.id)
    assert d.receipt is not None and MARKER.encode() not in d.receipt.data
    assert audit_rows("disbursement.receipt_added")[0].object_id == d.id
    refused(Conflict, None, lambda: services.add_receipt(d, jpeg_with_exif()))


def test_describe_never_names_the_payee(app, staff):
    a, _ = staff
    case, lines = budgeted_case()
    d = pay(case, lines["transport"], 1_000, "USD", actor=a, payee="Landlord Choi",
            spent_on=days_ago(2))
    text = services.describe(d)
    assert "Transport" in text and str(days_ago(2)) in text and "$10.00" in text
    assert "Choi" not in text
