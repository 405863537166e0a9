from datetime import date

from tests.factories import give, make_case
from tracker.budgets import services as b
from tracker.cases import workflow
from tracker.core.money import Money
from tracker.donations import ledger
from tracker.extensions import db


def test_flow(app, make_user):
    a, _ = make_user("staff"); c, _ = make_user("staff")
    case = make_case(status=workflow.FUNDRAISING)
    give(case, 500_000)
    line = b.set_line(case, "guides", Money(300_000, "JPY"))
    b.set_options(case, goal_follows_budget=True, show_budget=True)
    db.session.commit()
    assert case.goal_amount_minor == 300_000
    d = b.record_disbursement(case, b.DisbursementInput(line.id, date(2026, 11, 1), Money(50_000, "JPY"), "Guide K"), actor=a, today=date(2026, 11, 27))
    assert d.status == "approved"
    d2 = b.record_disbursement(case, b.DisbursementInput(line.id, date(2026, 11, 1), Money(100_000, "USD"), "Guide K"), actor=a, today=date(2026, 11, 27))
    assert d2.status == "pending" and d2.base_amount_minor == 150_000
    db.session.commit()
    b.approve(d2.id, actor=c)
    db.session.commit()
    m = ledger.money_by_case([case.id])[case.id]
    assert m.spent_minor == 200_000 and m.raised_minor == 500_000
    r = b.reverse(d.id, actor=c, reason="typed the wrong amount", today=date(2026, 11, 27))
    db.session.commit()
    assert r.status == "approved"
    f = b.budget_figures(case)
    assert f.spent.amount_minor == 150_000
