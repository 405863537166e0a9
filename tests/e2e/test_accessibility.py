"""Accessibility in a real browser: axe-core's WCAG 2.0/2.1 A and AA rules find no serious or
critical violation on the public pages and along the donation flow, at phone and desktop widths;
a gift can be given from the case page to the thank-you page with the keyboard alone.

axe-core comes from npm (tests/e2e/package.json, pinned in package-lock.json); the conftest
installs it with ``npm ci`` when it is missing (see ``axe_source``). The keyboard-only gift that
also watches open pages move is in test_browser.py; the one here starts on the case page.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, axe_violations, sign_in
from tests.factories import give, make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.money import Money, format_money
from tracker.core.time import local_today
from tracker.extensions import db
from tracker.posts import services as post_services

pytestmark = pytest.mark.e2e

OK_CARD = "4242 4242 4242 4242"
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}


def case_with_progress(slug: str) -> str:
    """A fundraising case with people (one already safe), some money raised and a published
    update post linked to it; returns the post's slug."""
    case = make_case(slug, people=3, status=workflow.IN_PROGRESS, public_title="Three in hiding")
    give(case, 120_000, name="Earlier donor")
    give(case, 30_000)
    first = min(case.beneficiaries, key=lambda p: p.id)
    case_services.mark_rescued(first, local_today(), today=local_today())
    db.session.commit()
    post = post_services.create_post(
        post_services.PostInput(
            title="One of three is safe",
            slug=f"{slug}-update",
            kind="update",
            body_markdown="One person reached **safety** this week. Two are still waiting.",
            case_ids=(case.id,),
            publish=post_services.PUBLISH_NOW,
        ),
        author_id=None,
    )
    db.session.commit()
    return post.slug


class Checker:
    """Runs axe on each page visited and collects every serious or critical violation, so one
    run reports all the pages that fail rather than only the first."""

    def __init__(self, page: Page, width: str) -> None:
        self.page, self.width, self.failures = page, width, []

    def check(self, what: str) -> None:
        self.page.wait_for_load_state()
        found = axe_violations(self.page)
        if found:
            self.failures.append(f"{what} ({self.urlpath()}, {self.width}):\n{found}")

    def visit(self, url: str, what: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        self.check(what)

    def urlpath(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def assert_clean(self) -> None:
        assert not self.failures, "axe found serious or critical violations:\n\n" + "\n\n".join(self.failures)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_public_pages_and_the_donation_flow_have_no_serious_axe_violations(
    app: Flask, new_context, width: str,  # noqa: ANN001
) -> None:
    slug = "e2e-a11y"
    post_slug = case_with_progress(slug)
    page = new_context(viewport=WIDTHS[width]).new_page()
    axe = Checker(page, width)

    axe.visit("/", "home")
    axe.visit(f"/cases/{slug}", "case page")
    axe.visit(f"/posts/{post_slug}", "post page")
    axe.visit("/transparency", "transparency report")
    axe.visit("/login", "sign-in page")

    # The donation form, then again with its error messages showing.
    axe.visit(f"/cases/{slug}/donate", "donation form")
    page.locator('input[name="preset"][value="other"]').check()
    page.locator("#amount").fill("not money")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator(".error").first).to_be_visible()
    axe.check("donation form with errors")

    page.get_by_role("radio", name="Japanese Yen", exact=True).check()
    page.get_by_label("¥5,000", exact=True).check()
    page.locator("#amount").fill("")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$"))
    axe.check("sandbox checkout")

    page.get_by_label("Card number").fill(OK_CARD)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page).to_have_url(re.compile(r"/donations/[^/]+/thanks(\?lang=\w+)?$"))
    expect(page.locator("section.thanks")).to_have_attribute("data-status", "succeeded")
    axe.check("thank-you page")

    axe.assert_clean()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_japanese_home_and_case_pages_have_no_serious_axe_violations(
    app: Flask, new_context, width: str,  # noqa: ANN001
) -> None:
    """The same checks on the pages in Japanese (the browser asks for Japanese first): other
    words, other line breaks, other lengths; and the page says it is Japanese."""
    slug = "e2e-a11y-ja"
    post_slug = case_with_progress(slug)
    page = new_context(viewport=WIDTHS[width], locale="ja-JP").new_page()
    axe = Checker(page, width)

    axe.visit("/", "home (ja)")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=2, name="支援受付中のケース")).to_be_visible()
    axe.visit(f"/cases/{slug}", "case page (ja)")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("link", name="この救出活動に寄付する")).to_be_visible()
    # A post written in English, listed on a Japanese page, says so (lang="en").
    expect(page.locator(f'.post-list a[href="/posts/{post_slug}"]')).to_have_attribute("lang", "en")
    # The language picker: a link to English, the current language marked.
    languages = page.get_by_role("navigation", name="言語")
    expect(languages.get_by_role("link", name="English")).to_have_attribute("hreflang", "en")
    expect(languages.locator('[aria-current="true"]')).to_have_text("日本語")
    axe.visit(f"/cases/{slug}?lang=en", "case page (picked English)")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    axe.assert_clean()


def test_a_gift_from_the_case_page_to_the_thanks_by_keyboard_alone(app: Flask, new_context) -> None:  # noqa: ANN001
    """Tab, Shift+Tab, Space, Enter and typing only: no clicks, no page.goto after the case page."""
    slug = "e2e-a11y-keys"
    make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    page = new_context().new_page()
    page.goto(f"/cases/{slug}")

    def tab_to(predicate: str, what: str, key: str = "Tab", limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press(key)
            if page.evaluate(f"() => Boolean(({predicate})(document.activeElement))"):
                return
        pytest.fail(f"{key} never reached {what}")

    tab_to("e => e.tagName === 'A' && e.textContent.includes('Give to this rescue')", "the Give link")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{slug}/donate(\?lang=\w+)?$"))

    # The first amount preset: Tab lands on the checked radio of the group (Space checks it if none is).
    tab_to("e => e.name === 'preset'", "the amount presets")
    page.keyboard.press("Space")
    # the amount as the checkout and the thank-you page write it, with every decimal ($50.00;
    # the preset itself says $50)
    code, _sep, minor = page.evaluate("() => document.activeElement.value").partition(":")
    chosen = format_money(Money(int(minor), code), "en")
    tab_to("e => e.id === 'email'", "the email field")
    page.keyboard.type("keys@example.org")
    tab_to("e => e.id === 'name'", "the name field, back with Shift+Tab", key="Shift+Tab")
    page.keyboard.type("Kenji Keys")
    tab_to("e => e.type === 'submit'", "the Continue to payment button")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pay {chosen}")
    tab_to("e => e.id === 'card_number'", "the card number field")
    page.keyboard.type(OK_CARD)
    tab_to("e => e.type === 'submit' && e.textContent.includes('Pay')", "the Pay button")
    page.keyboard.press("Space")

    expect(page).to_have_url(re.compile(r"/donations/[^/]+/thanks(\?lang=\w+)?$"))
    expect(page.locator("section.thanks")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("p.confirmed")).to_contain_text(chosen)


def test_screenshots_of_the_main_pages_and_the_directors_report(
    app: Flask, make_user, new_context, snap,  # noqa: ANN001
) -> None:
    """Home, case, donation and report pages at phone and desktop widths, and the home and
    case pages in Japanese, for review (test-results/screenshots/); the report page is also
    checked with axe. (The last visit picks English again for the rest of the test.)"""
    slug = "e2e-a11y-shots"
    case_with_progress(slug)
    director, password = make_user("director")
    page = new_context().new_page()
    for url, label in (("/", "home"), (f"/cases/{slug}", "case"), (f"/cases/{slug}/donate", "donation"),
                       (f"/cases/{slug}?lang=ja", "case-ja"), ("/?lang=ja", "home-ja"),
                       (f"/cases/{slug}?lang=en", None)):
        page.goto(url)
        if label:
            snap(page, label)

    sign_in(page, director.email, password)
    response = page.goto("/reports")
    assert response is not None and response.status == 200, response and response.status
    snap(page, "report")
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        found = axe_violations(page)
        assert not found, f"/reports ({width}):\n{found}"
