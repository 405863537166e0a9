"""In a real browser: closing a case is confirmed on the server (issue 15, walk 1).

A staff member finds the close panel below the people list, with nothing chosen for them;
sending it without choices says what to choose; with choices, the next page says in words and
amounts what will happen and nothing has changed yet; going back leaves the case open; the
confirmation button closes it. The confirmation page has no serious axe violations.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, sign_in
from tests.factories import give, make_case
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.extensions import db

pytestmark = pytest.mark.e2e


def _status(case_id: int) -> str:
    db.session.rollback()
    return db.session.get(RescueCase, case_id).status


def test_closing_a_case_shows_what_it_does_and_asks_to_confirm(
    app: Flask, make_user, new_context,  # noqa: ANN001
) -> None:
    staff, password = make_user("staff", email="closer@example.org")
    case = make_case("e2e-close", people=2, status=workflow.FUNDRAISING,
                     public_title="Two by the river")
    give(case, 12_000)
    case_id = case.id

    page = new_context().new_page()
    sign_in(page, staff.email, password)
    page.goto(f"/staff/cases/{case_id}")
    people = page.get_by_role("heading", name="People")
    close = page.get_by_role("heading", name="Close the case")
    assert people.bounding_box()["y"] < close.bounding_box()["y"]
    expect(page.get_by_label("Why the case closes")).to_have_value("")
    expect(page.get_by_label("Money the case holds")).to_have_value("")

    page.get_by_role("button", name="Close case").click()
    expect(page.get_by_text("Choose why the case closes.")).to_be_visible()
    assert _status(case_id) == "fundraising"

    page.get_by_label("Why the case closes").select_option("cancelled")
    page.get_by_label("Money the case holds").select_option("general")
    page.get_by_role("button", name="Close case").click()
    expect(page.get_by_role("heading", name="Close the case “Two by the river”?")).to_be_visible()
    expect(page.get_by_text("¥12,000 moves to the general fund.")).to_be_visible()
    assert _status(case_id) == "fundraising"
    found = axe_violations(page)
    assert not found, str(found)

    page.get_by_role("link", name="Go back without changing anything").click()
    expect(page.get_by_role("heading", name="Close the case")).to_be_visible()
    assert _status(case_id) == "fundraising"
    page.get_by_label("Why the case closes").select_option("cancelled")
    page.get_by_label("Money the case holds").select_option("general")
    page.get_by_role("button", name="Close case").click()
    page.get_by_role("button", name="Close the case").click()
    expect(page.get_by_text("Case closed; ¥12,000 moved.")).to_be_visible()
    assert _status(case_id) == "closed"
