"""A gift in Japanese in a real browser, on a phone-sized screen (390x844): from /donate?lang=ja
through the sandbox checkout to the thank-you page, every step in Japanese with yen written
5,000円, and axe-core finds no serious or critical WCAG 2.0/2.1 A/AA violation on the Japanese
donation form (also while it shows its errors), the checkout and the thank-you page.

The language picked with ?lang=ja is remembered (cookie), so the later pages need no parameter.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, axe_violations
from tracker.donations.models import Donation, Receipt
from tracker.extensions import db

pytestmark = pytest.mark.e2e

OK_CARD = "4242 4242 4242 4242"


def check_axe(page: Page, what: str, failures: list[str]) -> None:
    page.wait_for_load_state()
    found = axe_violations(page)
    if found:
        failures.append(f"{what} ({page.url}):\n{found}")


def test_a_japanese_gift_from_the_general_fund_form_to_the_thanks(app: Flask, new_context) -> None:  # noqa: ANN001
    page = new_context(viewport=PHONE, locale="en-US").new_page()
    failures: list[str] = []

    response = page.goto("/donate?lang=ja")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("一般基金に寄付する")
    expect(page.get_by_label("5,000円", exact=True)).to_be_checked()
    check_axe(page, "donation form", failures)

    # Errors first: an amount below the minimum, and a malformed email.
    page.locator('input[name="preset"][value="other"]').check()
    page.locator("#amount").fill("49")
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page.locator("#amount-error")).to_have_text("日本円でお受けできる最小の寄付額は50円です。")
    expect(page.locator("#amount")).to_have_attribute("aria-invalid", "true")
    check_axe(page, "donation form with errors", failures)

    page.locator("#amount").fill("2,000")
    page.locator("#email").fill("not-an-email")
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page.locator("#email-error")).to_contain_text("メールアドレスが正しくないようです")
    check_axe(page, "donation form with an email error", failures)

    # Then the gift.
    page.locator("#email").fill("hana@example.org")
    page.get_by_label("お名前（任意）").fill("Hana")
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("2,000円を支払う")
    # the amount and its 円 are one unbreakable piece: 円 never wraps alone onto a line of its own
    amount = page.locator("h1 .nowrap")
    expect(amount).to_have_text("2,000円")
    assert amount.evaluate("(e) => getComputedStyle(e).whiteSpace") == "nowrap"
    assert amount.evaluate("(e) => e.getClientRects().length") == 1
    check_axe(page, "sandbox checkout", failures)

    page.get_by_label("カード番号").fill(OK_CARD)
    page.get_by_role("button", name="2,000円を支払う").click()
    expect(page).to_have_url(re.compile(r"/donations/[^/]+/thanks(\?lang=\w+)?$"))
    expect(page.locator("section.thanks")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_role("heading", level=1)).to_have_text("ありがとうございます")
    expect(page.locator("p.confirmed")).to_have_text("2,000円のご寄付を確認し、記録しました。")
    expect(page.get_by_text("領収書をメールでお送りしています。")).to_be_visible()
    expect(page.get_by_role("link", name="支援受付中のケース一覧に戻る")).to_be_visible()
    check_axe(page, "thank-you page", failures)

    assert not failures, "axe found serious or critical violations:\n\n" + "\n\n".join(failures)

    db.session.rollback()
    donation = db.session.scalar(db.select(Donation).where(Donation.status == "succeeded"))
    assert donation is not None and donation.locale == "ja"
    assert (donation.amount_minor, donation.currency) == (2_000, "JPY")
    assert db.session.scalar(db.select(Receipt).where(Receipt.donation_id == donation.id)) is not None
