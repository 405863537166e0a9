"""Typing an "Other amount" in a real browser selects "Other amount" (issue 15, walk 2).

In the walk, 2,000 typed with the ¥5,000 preset still selected went to a ¥5,000 checkout.
Now typing selects "Other amount" (static/donate.js), so the checkout is for what was typed;
choosing a preset afterwards empties the box; and with the script off the typed amount wins
(issue 18: tests/donations/test_other_amount.py), so it is never ignored.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.factories import make_case
from tracker.donations.models import Donation
from tracker.extensions import db

pytestmark = pytest.mark.e2e

SLUG = "six-survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _donations() -> list[tuple[int, str]]:
    db.session.rollback()
    return [tuple(row) for row in db.session.execute(db.select(Donation.amount_minor, Donation.currency))]


def test_typing_an_amount_selects_other_amount_and_checks_out_that_amount(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context().new_page()
    page.goto(f"/cases/{SLUG}/donate")
    page.get_by_role("radio", name="Japanese Yen", exact=True).check()  # English opens in dollars
    preset = page.get_by_label("¥5,000", exact=True)
    other = page.locator('input[name="preset"][value="other"]')
    expect(preset).to_be_checked()

    page.locator("#amount").press_sequentially("2,000")
    expect(other).to_be_checked()
    expect(preset).not_to_be_checked()

    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay ¥2,000")
    assert _donations() == [(2000, "JPY")]


def test_choosing_a_preset_after_typing_empties_the_other_amount(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context().new_page()
    page.goto(f"/cases/{SLUG}/donate")
    page.get_by_role("radio", name="Japanese Yen", exact=True).check()
    page.locator("#amount").fill("2,000")
    expect(page.locator('input[name="preset"][value="other"]')).to_be_checked()

    page.get_by_label("¥10,000", exact=True).check()
    expect(page.locator("#amount")).to_have_value("")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay ¥10,000")
    assert _donations() == [(10000, "JPY")]


def test_without_the_script_the_typed_amount_wins(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"/cases/{SLUG}/donate")
    page.get_by_role("radio", name="Japanese Yen", exact=True).check()
    page.locator("#amount").fill("2,000")
    expect(page.get_by_label("$50", exact=True)).to_be_checked()  # nothing changed it

    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay ¥2,000")
    assert _donations() == [(2000, "JPY")]
