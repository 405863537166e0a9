"""Yen gifts paid later in a real browser on a phone (390x844), in Japanese: through the
sandbox checkout by convenience store (konbini) and by bank transfer. The thank-you page says
the gift waits for its payment and shows the voucher or account; the TEST MODE voucher page
pays one, and the other runs out unpaid: the first is recorded once and counts on the case,
the second ends as expired and counts nothing. axe finds no serious or critical violation
on the checkout, the waiting thank-you page and the voucher page.
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


def check_axe(page: Page, what: str, failures: list[str]) -> None:
    page.wait_for_load_state()
    found = axe_violations(page)
    if found:
        failures.append(f"{what} ({page.url}):\n{found}")


def start(page: Page) -> None:
    """From the case's Japanese donate form (yen, ¥5,000) to the sandbox checkout."""
    assert page.goto(f"/cases/{SLUG}/donate?lang=ja").status == 200
    page.get_by_label("5,000円", exact=True).check()
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+"))


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def open_voucher(page: Page) -> None:
    """Follow the thank-you page's link to the voucher (it opens a new tab: here, this one)."""
    link = page.get_by_role("link", name=re.compile("お支払い方法の詳細を開く"))
    expect(link).to_have_attribute("target", "_blank")
    page.goto(link.get_attribute("href"))


def gifts() -> list[Donation]:
    db.session.rollback()
    return list(db.session.scalars(db.select(Donation).order_by(Donation.id)))


def test_konbini_paid_and_bank_transfer_expired(app: Flask, new_context, snap) -> None:  # noqa: ANN001
    make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    page = new_context(viewport=PHONE, locale="ja-JP").new_page()
    failures: list[str] = []

    # Convenience store: the gift waits, with the voucher shown.
    start(page)
    check_axe(page, "checkout offering ways to pay later", failures)
    page.get_by_role("button", name="コンビニ払い").click()
    expect(page).to_have_url(re.compile(r"/donations/[^/]+/thanks"))
    expect(page.locator("p.awaiting")).to_contain_text("お支払い（コンビニ払い）をお待ちしています")
    expect(page.locator(".pay-instructions")).to_contain_text("ファミリーマート")
    no_sideways_scroll(page)
    snap(page, "konbini-waiting")
    check_axe(page, "thank-you page waiting for a konbini payment", failures)
    [waiting] = gifts()
    assert (waiting.status, waiting.awaiting_method) == ("pending", "konbini")

    open_voucher(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("5,000円を支払う")
    check_axe(page, "TEST MODE voucher", failures)
    no_sideways_scroll(page)
    page.get_by_role("button", name="シミュレーション：支援者が支払う").click()
    expect(page).to_have_url(re.compile(r"/donations/[^/]+/thanks"))
    expect(page.locator("section.thanks")).to_have_attribute("data-status", "succeeded")
    snap(page, "konbini-paid")

    # Bank transfer: the account is shown; it runs out unpaid and ends as expired.
    start(page)
    page.get_by_role("button", name="銀行振込").click()
    expect(page.locator(".pay-instructions")).to_contain_text("口座番号")
    snap(page, "transfer-waiting")
    open_voucher(page)
    page.get_by_role("button", name="シミュレーション：支払われないまま期限が切れる").click()
    expect(page.locator("section.thanks")).to_have_attribute("data-status", "expired")
    expect(page.get_by_role("alert")).to_contain_text("期限切れ")

    paid, expired = gifts()
    assert (paid.status, expired.status) == ("succeeded", "expired")
    assert (paid.awaiting_method, expired.awaiting_method) == ("konbini", "bank_transfer")
    # the case counts the paid voucher once, and nothing of the transfer
    case_page = page.goto(f"/cases/{SLUG}?lang=ja")
    assert case_page.status == 200
    expect(page.locator("body")).to_contain_text("5,000円が集まりました")

    assert not failures, "axe found serious or critical violations:\n\n" + "\n\n".join(failures)
