"""A transfer to the organization's own account, in a real browser at 390 px: a donor pledges
¥5,000 in Japanese from a case's donate page (no checkout: the page shows the account details
and the reference code), then a staff member finds the code, confirms the money arrived (after
the confirmation page) and lands on the recorded gift. axe-core finds no serious or critical
violation on the new pages, and none of them scrolls sideways.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.donations.test_pledges import set_accounts
from tests.e2e.conftest import PHONE, axe_violations, sign_in
from tests.e2e.test_design import no_sideways_scrolling
from tests.factories import make_case
from tracker.cases import workflow
from tracker.donations.models import CONFIRMED, Donation, Pledge, Receipt
from tracker.extensions import db

pytestmark = pytest.mark.e2e

SLUG = "e2e-pledge"


def check(page: Page, what: str, failures: list[str]) -> None:
    page.wait_for_load_state()
    no_sideways_scrolling(page)
    found = axe_violations(page)
    if found:
        failures.append(f"{what} ({page.url}):\n{found}")


def test_a_japanese_pledge_confirmed_by_staff(app: Flask, new_context, make_user) -> None:  # noqa: ANN001
    make_case(SLUG, people=2, status=workflow.FUNDRAISING, public_title="Two people in hiding")
    set_accounts()
    user, password = make_user("staff")
    failures: list[str] = []

    donor = new_context(viewport=PHONE, locale="ja-JP").new_page()
    donor.goto(f"/cases/{SLUG}/donate?lang=ja")
    expect(donor.locator("html")).to_have_attribute("lang", "ja")
    button = donor.get_by_role("button", name="口座へ振り込む")
    expect(button).to_be_visible()
    check(donor, "donate form with the transfer choice", failures)
    # offered for yen one-off gifts only
    donor.locator('input[name="currency"][value="USD"]').check()
    expect(button).to_be_hidden()
    donor.locator('input[name="currency"][value="JPY"]').check()
    expect(button).to_be_visible()
    donor.locator('input[name="frequency"][value="monthly"]').check()
    expect(button).to_be_hidden()
    donor.locator('input[name="frequency"][value="once"]').check()
    expect(button).to_be_visible()
    donor.locator("#email").fill("hanako.e2e@example.org")
    donor.get_by_label("お名前（任意）").fill("山田花子")
    button.click()
    expect(donor).to_have_url(re.compile(r"/donations/pledges/plg_[\w-]+(\?lang=\w+)?$"))
    expect(donor.get_by_role("heading", level=1)).to_have_text(
        "ありがとうございます。お振込みをお願いいたします")
    code = donor.locator("#reference-code").inner_text()
    assert re.fullmatch(r"[A-Z3-9]{6}", code), code
    expect(donor.get_by_text("みずほ銀行")).to_be_visible()
    expect(donor.get_by_text(f"記入例：{code} ヤマダ タロウ")).to_be_visible()
    check(donor, "pledge page", failures)

    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 0

    staff = new_context(viewport=PHONE).new_page()
    sign_in(staff, user.email, password)
    staff.goto("/staff/pledges/")
    expect(staff.get_by_role("link", name=code)).to_be_visible()
    check(staff, "staff list of pledges", failures)
    staff.get_by_label("Reference code").fill(code.lower())
    staff.get_by_role("button", name="Search").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(f"Pledged transfer {code}")
    check(staff, "staff pledge page", failures)
    staff.get_by_label("Amount received").fill("4,560")
    staff.get_by_role("button", name="Confirm the transfer").click()
    confirm = staff.get_by_role("button", name="Record the gift of ¥4,560")
    expect(confirm).to_be_visible()
    check(staff, "confirmation page", failures)
    confirm.click()
    expect(staff).to_have_url(re.compile(r"/staff/gifts/don_[\w-]+(\?lang=\w+)?$"))

    assert not failures, "problems on the new pages:\n\n" + "\n\n".join(failures)
    db.session.rollback()
    pledge = db.session.scalar(db.select(Pledge))
    assert pledge.status == CONFIRMED and pledge.received_minor == 4_560
    gift = db.session.get(Donation, pledge.donation_id)
    assert gift.reference == code and gift.amount_minor == 4_560
    assert db.session.scalar(db.select(Receipt).where(Receipt.donation_id == gift.id)) is not None
