"""The donate form in two clicks, in a real browser (issue 18, item 6).

In Japanese, yen is chosen and only yen presets show; choosing US dollars shows the dollar
presets; typing an amount selects "Other amount"; ticking "cover the card fee" says the fee
and the sandbox checkout charges gift + fee (and names the case); choosing "monthly" marks
the email as needed; axe finds no serious or critical violation and nothing scrolls sideways
at 390 px.
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
from tracker.ledger import reads
from tracker.ledger.models import FEE_COVER, GIFT

pytestmark = pytest.mark.e2e

SLUG = "six-survivors"
TITLE = "Six survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title=TITLE)


def _no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px"


def _visible_presets(page: Page) -> list[str]:
    return page.locator('.preset-group:not([hidden]) input[name="preset"]').evaluate_all(
        "els => els.map(e => e.value)")


def _presets_form_an_even_grid(page: Page) -> None:
    """Every preset is the same box: one width, and the boxes side by side equally tall
    (a preset with a note is not wider than one without)."""
    boxes = page.locator(".preset-group:not([hidden]) label.preset").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")
    assert len(boxes) == 4, boxes
    assert max(b[2] for b in boxes) - min(b[2] for b in boxes) < 1, boxes
    rows: dict[int, list[float]] = {}
    for _x, y, _w, height in boxes:
        rows.setdefault(round(y), []).append(height)
    assert len(rows) == 2 and all(len(r) == 2 and max(r) - min(r) < 1 for r in rows.values()), boxes


def _amount_unit(page: Page) -> tuple[str, str, str]:
    """What the "other amount" box shows before and after it, and inside it while empty."""
    prefix = page.locator('.amount-unit[data-unit="prefix"]').inner_text()
    suffix = page.locator('.amount-unit[data-unit="suffix"]').inner_text()
    return prefix, suffix, page.locator("#amount").get_attribute("placeholder") or ""


def test_yen_first_in_japanese_then_dollars_and_a_covered_gift_through_the_sandbox(
    app: Flask, case, new_context, snap  # noqa: ANN001
) -> None:
    page = new_context(viewport=PHONE, locale="ja-JP").new_page()
    page.goto(f"/cases/{SLUG}/donate?lang=ja")

    yen = page.get_by_role("radio", name="日本円", exact=True)
    dollars = page.get_by_role("radio", name="米ドル", exact=True)
    expect(yen).to_be_checked()
    assert _visible_presets(page) == ["JPY:3000", "JPY:5000", "JPY:10000", "JPY:30000"]
    expect(page.get_by_label("$50")).to_be_hidden()
    expect(page.get_by_label("5,000円", exact=True)).to_be_checked()
    _presets_form_an_even_grid(page)
    assert _amount_unit(page) == ("", "円", "例：2,000")
    _no_sideways_scrolling(page)
    found = axe_violations(page)
    assert not found, str(found)
    snap(page, "donate-form-ja")

    # dollars: only dollar presets, the same place in the row chosen
    dollars.check()
    assert _visible_presets(page) == ["USD:2500", "USD:5000", "USD:10000", "USD:25000"]
    expect(page.get_by_label("$50", exact=True)).to_be_checked()
    expect(page.get_by_label("5,000円", exact=True)).to_be_hidden()
    _presets_form_an_even_grid(page)
    assert _amount_unit(page) == ("$", "", "例：20")

    # back to yen; the fee says its amount as the amount changes
    yen.check()
    page.get_by_label("30,000円", exact=True).check()
    fee_box = page.locator("#cover_fee")
    fee_label = page.locator('label[for="cover_fee"]')
    expect(fee_label).to_have_text("決済手数料として1,080円を上乗せする")

    # typing an amount selects it, and the fee follows
    page.locator("#amount").press_sequentially("10,000")
    expect(page.locator('input[name="preset"][value="other"]')).to_be_checked()
    expect(page.get_by_label("30,000円", exact=True)).not_to_be_checked()
    expect(fee_label).to_have_text("決済手数料として360円を上乗せする")

    # a preset again empties the box
    page.get_by_label("30,000円", exact=True).check()
    expect(page.locator("#amount")).to_have_value("")
    expect(fee_label).to_have_text("決済手数料として1,080円を上乗せする")

    # monthly marks the email as needed (and the fee cover is for one-off gifts)
    email = page.locator("#email")
    expect(email).not_to_have_attribute("aria-required", "true")
    page.get_by_label("毎月寄付する").check()
    expect(email).to_have_accessible_name("メールアドレス（毎月のご寄付には必要です）")
    expect(email).to_have_attribute("aria-required", "true")
    expect(fee_box).to_be_hidden()
    found = axe_violations(page)
    assert not found, str(found)
    page.get_by_label("今回のみ寄付する").check()
    expect(email).to_have_accessible_name("領収書送付先のメールアドレス（任意）")

    # the covered gift: the sandbox checkout names the case and charges gift + fee
    fee_box.check()
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=ja)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("31,080円を支払う")
    expect(page.locator(".checkout-for")).to_have_text(f"ご寄付：{TITLE}")
    expect(page.locator(".checkout-lines")).to_contain_text("30,000円")
    expect(page.locator(".checkout-lines")).to_contain_text("1,080円")
    _no_sideways_scrolling(page)
    snap(page, "sandbox-checkout-covered-ja")
    found = axe_violations(page)
    assert not found, str(found)

    page.locator("#card_number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("31,080円")).click()
    expect(page).to_have_url(re.compile(r"/donations/don_[\w-]+/thanks(\?lang=ja)?$"))

    db.session.rollback()
    [donation] = db.session.scalars(db.select(Donation)).all()
    assert (donation.status, donation.amount_minor, donation.fee_cover_minor) == ("succeeded", 31_080, 1_080)
    kinds = {e.kind: e.amount_minor for e in reads.entries_of(donation.id)}
    assert (kinds[GIFT], kinds[FEE_COVER]) == (30_000, 1_080)


def test_english_opens_in_dollars_and_says_the_fee_in_cents(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context(viewport=PHONE).new_page()
    page.goto(f"/cases/{SLUG}/donate?lang=en")
    expect(page.get_by_role("radio", name="US Dollar", exact=True)).to_be_checked()
    assert _visible_presets(page) == ["USD:2500", "USD:5000", "USD:10000", "USD:25000"]
    expect(page.locator('label[for="cover_fee"]')).to_have_text("Add $1.80 to cover the payment fee")
    # whole dollars on the presets, without cents
    assert page.locator(".preset-group:not([hidden]) .preset-amount").all_inner_texts() == [
        "$25", "$50", "$100", "$250"]
    assert _amount_unit(page) == ("$", "", "e.g. 20")
    page.locator("#amount").fill("10.50")
    expect(page.locator('label[for="cover_fee"]')).to_have_text("Add $0.38 to cover the payment fee")
    page.get_by_label("Give monthly").check()
    expect(page.locator("#email")).to_have_accessible_name("Email (needed for a monthly gift)")
    _no_sideways_scrolling(page)
    found = axe_violations(page)
    assert not found, str(found)


def test_without_the_script_every_currency_shows_and_the_server_checks(
    app: Flask, case, new_context  # noqa: ANN001
) -> None:
    page = new_context(viewport=PHONE, java_script_enabled=False).new_page()
    page.goto(f"/cases/{SLUG}/donate?lang=en")
    # every preset, grouped under its currency's name
    expect(page.locator(".preset-group-name")).to_have_text(["Japanese Yen", "US Dollar"])
    expect(page.get_by_label("¥30,000", exact=True)).to_be_visible()
    expect(page.locator('label[for="cover_fee"]')).to_have_text("Add 3.6% to cover the payment fee")
    _no_sideways_scrolling(page)
    # a yen preset with dollars chosen is refused, nothing guessed
    page.get_by_label("¥30,000", exact=True).check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Continue to payment").click()
    assert answer.value.status == 422
    expect(page.locator("#preset-error")).to_contain_text("not in the currency you chose")
    db.session.rollback()
    assert db.session.scalars(db.select(Donation)).all() == []
