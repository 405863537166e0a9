"""A case in Japanese in a real browser, on a phone (390 px wide): a case with a Japanese version
shows its Japanese title, region and story; a case without one shows its English texts marked
as English with the note that the case is only available in English. Both pages, and the home
page that lists them, have no serious or critical axe violation and do not scroll sideways."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, axe_violations
from tests.factories import make_case
from tracker.cases import services, workflow
from tracker.extensions import db

pytestmark = pytest.mark.e2e

TITLE_JA = "国境の向こうに身を潜める6人"


def _no_sideways_scroll(page) -> None:  # noqa: ANN001
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


def test_a_case_in_japanese_and_one_that_falls_back_to_english(
    app: Flask, new_context, snap,  # noqa: ANN001
) -> None:
    both = make_case("six-in-hiding", status=workflow.FUNDRAISING,
                     public_title="Six people in hiding", public_region="Northeast China",
                     public_summary="Six people fled the floods.",
                     public_title_ja=TITLE_JA, public_region_ja="中国東北部",
                     public_summary_ja="洪水で村を追われた6人が、**安全な国**を目指しています。")
    services.add_beneficiary(both, public_alias="Mr. Y.Y.", age_band="18-29")
    make_case("english-only", status=workflow.FUNDRAISING,
              public_title="Three people we could reach", public_region="Southeast Asia",
              public_summary="Their story is written in English only.")
    db.session.commit()

    page = new_context(viewport=PHONE, locale="ja-JP",
                       extra_http_headers={"Accept-Language": "ja"}).new_page()
    failures = []

    page.goto("/cases/six-in-hiding?lang=ja")
    expect(page.locator("h1.case-title")).to_have_text(TITLE_JA)
    expect(page.locator(".case-details dd").last).to_have_text("中国東北部")
    expect(page.locator(".case-story strong")).to_have_text("安全な国")
    expect(page.locator("table.people")).to_contain_text("18〜29歳")
    expect(page.get_by_test_id("only-in")).to_have_count(0)
    assert page.title().startswith(TITLE_JA)
    _no_sideways_scroll(page)
    if found := axe_violations(page):
        failures.append(f"Japanese case page:\n{found}")
    snap(page, "case-in-japanese")

    page.goto("/cases/english-only?lang=ja")
    expect(page.get_by_test_id("only-in")).to_have_text("このケースの説明は英語のみです。")
    title = page.locator("h1.case-title")
    expect(title).to_have_text("Three people we could reach")
    expect(title).to_have_attribute("lang", "en")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    _no_sideways_scroll(page)
    if found := axe_violations(page):
        failures.append(f"English-only case on a Japanese page:\n{found}")
    snap(page, "case-english-fallback")

    page.goto("/?lang=ja")
    expect(page.get_by_role("link", name=TITLE_JA)).to_be_visible()
    expect(page.locator('a[lang="en"]', has_text="Three people we could reach")).to_be_visible()
    _no_sideways_scroll(page)
    if found := axe_violations(page):
        failures.append(f"Japanese home page:\n{found}")

    assert not failures, "axe found serious or critical violations:\n\n" + "\n\n".join(failures)
