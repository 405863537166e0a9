"""An open case page follows a rescue consistently (issue 15, walk 5).

In the walk, after staff marked a person rescued, an open public page said "2 of 6 rescued"
while its people table still said "Waiting" for that person until reload. Now static/live.js
takes the table, the count and the bar from one people.json answer and applies them together:
here staff mark one of three people rescued in another browser, and the visitor's page (never
reloaded) shows the row, the count and the bar agreeing, and never disagreeing on the way.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.factories import make_case
from tracker.cases import workflow

pytestmark = pytest.mark.e2e

CASE_PAGE = "article.case"
#: live.js polls every 2 s; a change shows well within this
LIVE_UPDATE_MS = 10_000

#: Every 25 ms, note any moment where the people count, the bar and the table disagree.
WATCH = """() => {
  window.__disagreements = [];
  const read = () => {
    const a = document.querySelector('article.case');
    const count = Number(a.querySelector('[data-live="rescued"]').textContent);
    const bar = Number(a.querySelector('[data-live="people-bar"]').value);
    const total = Number(a.querySelector('[data-live="group_size"]').textContent);
    const rows = [...a.querySelectorAll('tbody[data-live="people"] tr')];
    const rescuedRows = rows.filter(r => r.cells[2].textContent.trim() === 'Rescued').length;
    return {count, bar, total, rows: rows.length, rescuedRows};
  };
  window.__readPeople = read;
  setInterval(() => {
    const s = read();
    if (s.count !== s.rescuedRows || s.rows !== s.total
        || s.bar !== Math.floor(s.count * 100 / s.total)) {
      window.__disagreements.push(s);
    }
  }, 25);
}"""


def test_marking_a_person_rescued_updates_row_count_and_bar_together(
    app: Flask, make_user, new_context  # noqa: ANN001
) -> None:
    slug = "e2e-live-people"
    case = make_case(slug, people=3, status=workflow.IN_PROGRESS, public_title="Three in hiding")
    case_id = case.id
    middle = sorted(case.beneficiaries, key=lambda p: p.id)[1].public_alias
    user, password = make_user("staff")

    visitor = new_context().new_page()
    assert visitor.goto(f"/cases/{slug}").status == 200
    article = visitor.locator(CASE_PAGE)
    expect(article).to_have_attribute("data-people-url", re.compile(rf"/cases/{slug}/people\.json"))
    row = visitor.locator('tbody[data-live="people"] tr', has_text=middle)
    expect(row.locator("td").nth(2)).to_have_text("Waiting")
    expect(article.locator('[data-live="rescued"]')).to_have_text("0")
    visitor.evaluate("() => { window.__notReloaded = true; }")
    visitor.evaluate(WATCH)

    # Staff, in another browser, mark the middle person rescued.
    staff = new_context().new_page()
    staff.goto("/login")
    staff.get_by_label("Email", exact=True).fill(user.email)
    staff.get_by_label("Password", exact=True).fill(password)
    staff.get_by_role("button", name="Sign in").click()
    expect(staff).to_have_url(re.compile(r"/staff/$"))
    staff.goto(f"/staff/cases/{case_id}")
    staff_row = staff.locator("tr", has=staff.get_by_role("cell", name=middle, exact=True))
    staff_row.get_by_role("button", name="Mark rescued").click()
    expect(staff.get_by_role("button", name="Mark rescued")).to_have_count(2)

    # The visitor's page follows: that row, the count and the bar, together.
    expect(row.locator("td").nth(2)).to_have_text("Rescued", timeout=LIVE_UPDATE_MS)
    expect(article.locator('[data-live="rescued"]')).to_have_text("1")
    expect(article.locator('[data-live="people-bar"]')).to_have_attribute("value", "33")
    visitor.wait_for_timeout(2_500)  # one more round of polling: still agreeing
    state = visitor.evaluate("() => window.__readPeople()")
    assert state == {"count": 1, "bar": 33, "total": 3, "rows": 3, "rescuedRows": 1}
    assert visitor.evaluate("() => window.__disagreements") == []
    assert visitor.evaluate("() => window.__notReloaded") is True
    others = visitor.locator('tbody[data-live="people"] tr', has_not_text=middle)
    expect(others.locator("td:nth-child(3)")).to_have_text(["Waiting", "Waiting"])
