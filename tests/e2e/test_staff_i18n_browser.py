"""In a real browser: the staff budget and approvals pages in Japanese, and their tables that
scroll sideways at phone width, reached and scrolled with the keyboard alone.

A staff member reads the budget page and the approvals queue in Japanese (picked from the
language links); each sideways-scrolling table is a focusable group with a name that says it
scrolls, which Tab reaches and the arrow keys scroll; axe-core finds no serious or critical
violations on either page, in Japanese or in English.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, axe_violations, sign_in
from tests.factories import give, make_case
from tracker.accounts.models import User
from tracker.budgets import services as budget_services
from tracker.cases import workflow
from tracker.core.money import Money
from tracker.core.time import local_today
from tracker.extensions import db

pytestmark = pytest.mark.e2e

PAYEE = "Mr Park, river guide"


def _case_with_a_pending_payment(recorded_by: User) -> int:
    case = make_case("e2e-staff-ja", people=2, status=workflow.FUNDRAISING,
                     public_title="Two on the mountain road")
    give(case, 500_000)
    budget_services.set_line(case, "guides", Money(300_000, "JPY"), "two guides")
    budget_services.set_line(case, "transport", Money(120_000, "JPY"))
    line_id = budget_services.lines_for(case.id)[0].id
    budget_services.record_disbursement(
        case, budget_services.DisbursementInput(
            line_id=line_id, spent_on=local_today() - timedelta(days=1),
            amount=Money(150_000, "JPY"), payee=PAYEE, note="paid at the crossing"),
        actor=db.session.get(User, recorded_by.id), today=local_today())
    db.session.commit()
    return case.id


def _tab_to(page: Page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element is the scroll box called ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('aria-label')") == name:
            return
    pytest.fail(f"Tab never reached the table box {name!r}")


def _arrow_scrolls(page: Page, name: str) -> None:
    """The focused box scrolls sideways with the right arrow key (its table is wider)."""
    box = page.get_by_role("group", name=name, exact=True)
    expect(box).to_be_focused()
    wider = box.evaluate("e => e.scrollWidth > e.clientWidth")
    assert wider, f"{name!r} does not scroll at phone width; the check would prove nothing"
    before = box.evaluate("e => e.scrollLeft")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => document.activeElement.scrollLeft > {before}")


def test_budget_and_approvals_in_japanese_scroll_by_keyboard_without_axe_violations(
    app: Flask, make_user, new_context,  # noqa: ANN001
) -> None:
    alice, alice_password = make_user("staff", email="alice@example.org")
    bob, _ = make_user("staff", email="bob@example.org")
    case_id = _case_with_a_pending_payment(bob)

    page = new_context(viewport=PHONE).new_page()
    sign_in(page, alice.email, alice_password)
    page.goto(f"/staff/cases/{case_id}/budget")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("予算と支出")
    expect(page.get_by_role("region", name="支払い", exact=True)).to_contain_text(PAYEE)

    for name in ("予算の表（横にスクロールできます）", "支払いの表（横にスクロールできます）"):
        _tab_to(page, name)
        _arrow_scrolls(page, name)
    found = axe_violations(page)
    assert not found, f"budget page (ja):\n{found}"

    page.get_by_role("navigation", name="メイン").get_by_role("link", name="承認").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("承認待ちの支払い")
    queued = page.get_by_role("row").filter(has_text=PAYEE)
    expect(queued.get_by_role("button", name="承認する")).to_be_visible()
    _tab_to(page, "承認待ちの表（横にスクロールできます）")
    _arrow_scrolls(page, "承認待ちの表（横にスクロールできます）")
    found = axe_violations(page)
    assert not found, f"approvals page (ja):\n{found}"

    # The same pages in English: the boxes' English names, and still no violations.
    page.goto("/staff/disbursements/?lang=en")
    expect(page.get_by_role("group", name="Approvals table (scrolls sideways)")).to_have_attribute(
        "tabindex", "0")
    found = axe_violations(page)
    assert not found, f"approvals page (en):\n{found}"
    page.goto(f"/staff/cases/{case_id}/budget")
    expect(page.get_by_role("region", name="Payments", exact=True)).to_contain_text(PAYEE)
    expect(page.get_by_role("group", name="Payments table (scrolls sideways)")).to_have_attribute(
        "tabindex", "0")
    found = axe_violations(page)
    assert not found, f"budget page (en):\n{found}"
