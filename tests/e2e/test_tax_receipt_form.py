"""Asking for a tax receipt (寄附金受領証明書) on the donate form, in a real browser (issue 18,
item 2).

In Japanese at 390 px: the addressee's fields are hidden until the donor ticks the box, then
appear (〒 postal code before the address) and the email is marked as needed; the donor gives
through the sandbox checkout and the gift keeps the addressee; axe finds no serious or
critical violation and nothing scrolls sideways. Without the script the fields are always
shown under the box.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, axe_violations
from tests.factories import make_case
from tracker.donations.models import Donation
from tracker.extensions import db

pytestmark = pytest.mark.e2e

SLUG = "six-survivors"
TITLE = "Six survivors"
BOX = "確定申告用の寄附金受領証明書を希望する"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title=TITLE)


def _no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px"


def test_ticking_the_box_shows_the_addressee_and_the_gift_keeps_it(
    app: Flask, case, new_context, snap  # noqa: ANN001
) -> None:
    page = new_context(viewport=PHONE, locale="ja-JP").new_page()
    page.goto(f"/cases/{SLUG}/donate?lang=ja")

    fields = page.locator("#tax-receipt-fields")
    email = page.locator("#email")
    expect(fields).to_be_hidden()
    expect(email).not_to_have_attribute("aria-required", "true")
    page.get_by_label(BOX).check()
    expect(fields).to_be_visible()
    expect(page.get_by_label(BOX)).to_have_attribute("aria-expanded", "true")
    expect(email).to_have_accessible_name("メールアドレス（寄附金受領証明書には必要です）")
    expect(email).to_have_attribute("aria-required", "true")
    # the postal code comes before the address
    order = page.locator("#tax-receipt-fields input").evaluate_all("els => els.map(e => e.name)")
    assert order == ["receipt_name", "receipt_kana", "receipt_postal_code", "receipt_address"]
    _no_sideways_scrolling(page)
    found = axe_violations(page)
    assert not found, str(found)
    snap(page, "donate-tax-receipt-ja")

    page.get_by_label("寄附金受領証明書の宛名").fill("山田 太郎")
    page.get_by_label("フリガナ").fill("ヤマダ タロウ")
    page.get_by_label("郵便番号").fill("1000001")
    page.get_by_label("住所").fill("東京都千代田区千代田1-1")
    email.fill("taro.yamada@example.org")

    # unticked, the fields go away again (and the email is optional again); ticked, back
    page.get_by_label(BOX).uncheck()
    expect(fields).to_be_hidden()
    expect(email).not_to_have_attribute("aria-required", "true")
    page.get_by_label(BOX).check()
    expect(page.get_by_label("郵便番号")).to_have_value("1000001")

    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=ja)?$"))
    page.locator("#card_number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("5,000円")).click()
    expect(page).to_have_url(re.compile(r"/donations/don_[\w-]+/thanks(\?lang=ja)?$"))

    db.session.rollback()
    [donation] = db.session.scalars(db.select(Donation)).all()
    assert donation.status == "succeeded" and donation.tax_receipt_requested is True
    assert (donation.receipt_name, donation.receipt_kana, donation.receipt_postal_code,
            donation.receipt_address) == ("山田 太郎", "ヤマダ タロウ", "100-0001", "東京都千代田区千代田1-1")


def test_without_the_script_the_fields_are_shown_under_the_box(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context(viewport=PHONE, java_script_enabled=False, locale="ja-JP").new_page()
    page.goto(f"/cases/{SLUG}/donate?lang=ja")
    expect(page.locator("#tax-receipt-fields")).to_be_visible()
    expect(page.get_by_label("郵便番号")).to_be_visible()
    _no_sideways_scrolling(page)
    # ticked with a bad postal code and no email: refused at the field, nothing recorded
    page.get_by_label(BOX).check()
    page.get_by_label("寄附金受領証明書の宛名").fill("山田 太郎")
    page.get_by_label("郵便番号").fill("12345")
    page.get_by_label("住所").fill("東京都千代田区千代田1-1")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="お支払いへ進む").click()
    assert answer.value.status == 422
    expect(page.locator("#receipt_postal_code-error")).to_contain_text("7桁")
    db.session.rollback()
    assert db.session.scalars(db.select(Donation)).all() == []
