"""Real-browser tests: Chromium against a live server, on SQLite and on PostgreSQL.

They cover what only a browser shows: the case page and the home page cards following a
case live (static/live.js polls each ``data-progress-url`` every 2 seconds) while other people
act in other browser contexts, and the sandbox gift flow done with the keyboard.

The live-update contract (templates/cases/show.html, templates/cases/home.html, static/live.js):
``<article class="case">`` carries ``data-case``, ``data-status`` and ``data-progress-url``;
spans ``data-live="raised|rescued|group_size|donors|status"`` hold the figures (money
formatted, status as its label); ``<p data-live="completed">`` ("Everyone in this case is
safe") is present but hidden until the case is rescued. Home cards
(``li.case-card[data-progress-url]``) carry the same spans.
"""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.factories import give, make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.money import Money, format_money
from tracker.core.time import local_today
from tracker.donations.models import Donation
from tracker.extensions import db

pytestmark = pytest.mark.e2e

#: the contract: a change shows on an open page within this long (live.js polls every 2 s)
LIVE_UPDATE_SECONDS = 10
OK_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
DECLINE_MESSAGE = "Your card was declined (test card). Nothing was charged."
CASE_PAGE = "article.case"


# --- helpers ---------------------------------------------------------------------------------


class Deadline:
    """Milliseconds left until a fixed moment, for several waits that share one budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def ms(self) -> float:
        return max(0.0, (self.end - time.monotonic()) * 1000)


def live(page: Page, key: str, scope: str = CASE_PAGE) -> Locator:
    """Every ``data-live=key`` element inside ``scope``."""
    return page.locator(f'{scope} [data-live="{key}"]')


def expect_live(page: Page, key: str, text: str, *, scope: str = CASE_PAGE, timeout: float = 5_000) -> None:
    """There is at least one ``data-live=key`` element in ``scope``, and all of them read ``text``."""
    found = live(page, key, scope)
    expect(found.first, f'no [data-live="{key}"] in {scope}').to_be_attached(timeout=timeout)
    expect(found, f'[data-live="{key}"] in {scope}').to_have_text([text] * found.count(), timeout=timeout)


def plant_marker(page: Page) -> tuple[str, list[str]]:
    """Set a JS variable on the page and record its later navigations: both prove "no reload"."""
    marker = page.evaluate("() => (window.__e2eMarker = 'marker-' + Math.random().toString(36).slice(2))")
    navigations: list[str] = []

    def seen(frame) -> None:  # noqa: ANN001
        if frame == page.main_frame:
            navigations.append(frame.url)

    page.on("framenavigated", seen)
    return marker, navigations


def assert_not_reloaded(page: Page, marker: str, navigations: list[str]) -> None:
    assert navigations == [], f"the page navigated: {navigations}"
    assert page.evaluate("() => window.__e2eMarker") == marker, "the page was reloaded (marker gone)"


def tab_to(page: Page, predicate: str, what: str, limit: int = 40) -> None:
    """Press Tab until ``predicate(document.activeElement)`` holds (keyboard navigation only)."""
    visited = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => Boolean(({predicate})(document.activeElement))"):
            return
        visited.append(page.evaluate(
            "() => { const e = document.activeElement; if (!e) return '-';"
            " return `${e.tagName.toLowerCase()}#${e.id}[${e.name || e.textContent.trim().slice(0, 20)}]`; }"
        ))
    pytest.fail(f"Tab never reached {what}; focus went through: {visited}")


def focused(page: Page, expression: str):  # noqa: ANN201
    """Evaluate ``expression`` on the focused element (``e``)."""
    return page.evaluate(f"() => {{ const e = document.activeElement; return {expression}; }}")


def fresh() -> None:
    """End this test's own transaction so reads see what the server committed."""
    db.session.rollback()


def open_case_page(context, slug: str) -> Page:  # noqa: ANN001
    """A visitor's case page, checked to carry the live-update hooks."""
    page = context.new_page()
    response = page.goto(f"/cases/{slug}")
    assert response is not None and response.status == 200, response and response.status
    article = page.locator(CASE_PAGE)
    expect(article).to_have_attribute("data-case", slug)
    progress_url = re.compile(rf"/cases/{re.escape(slug)}/progress\.json$")
    expect(article).to_have_attribute("data-progress-url", progress_url)
    return page


def raised_json(page: Page, slug: str) -> int:
    """Money raised for the case as progress.json reports it (asked through the browser)."""
    response = page.request.get(f"/cases/{slug}/progress.json")
    assert response.status == 200, response.status
    body = response.json()
    assert body["raised"]["currency"] == "JPY"
    return int(body["raised"]["amount_minor"])


def yen(minor: int) -> str:
    """The app's own formatting of a yen amount: what the page shows."""
    return format_money(Money(minor, "JPY"))


# --- 1. a rescue shows on an open case page --------------------------------------------------


def test_last_rescue_turns_an_open_case_page_rescued_without_reload(
    app: Flask, make_user, new_context, snap,  # noqa: ANN001
) -> None:
    slug = "e2e-last-rescue"
    case = make_case(slug, people=3, status=workflow.IN_PROGRESS, public_title="Three in hiding")
    people = sorted(case.beneficiaries, key=lambda p: p.id)
    for person in people[:-1]:
        case_services.mark_rescued(person, local_today(), today=local_today())
    db.session.commit()
    case_id, last_alias = case.id, people[-1].public_alias
    user, password = make_user("staff")
    email = user.email

    # A donor has the case page open: two of three safe, no banner yet.
    donor = open_case_page(new_context(), slug)
    article = donor.locator(CASE_PAGE)
    expect(article).to_have_attribute("data-status", workflow.IN_PROGRESS)
    expect_live(donor, "rescued", "2")
    expect_live(donor, "group_size", "3")
    expect_live(donor, "status", str(workflow.LABELS[workflow.IN_PROGRESS]))
    banner = donor.locator(f'{CASE_PAGE} p[data-live="completed"]')
    expect(banner).to_have_count(1)
    expect(banner).to_be_hidden()
    give_here = donor.get_by_role("link", name="Give to this rescue")
    give_general = donor.get_by_role("link", name="Give to the general fund")
    expect(give_here).to_be_visible()
    expect(give_general).to_be_hidden()
    snap(donor, "case-before")
    marker, navigations = plant_marker(donor)

    # Staff, in another browser, sign in through the form and mark the last person rescued.
    staff = new_context().new_page()
    staff.goto("/login")
    staff.get_by_label("Email", exact=True).fill(email)
    staff.get_by_label("Password", exact=True).fill(password)
    staff.get_by_role("button", name="Sign in").click()
    expect(staff).to_have_url(re.compile(r"/staff/(\?lang=\w+)?$"))
    staff.goto(f"/staff/cases/{case_id}")
    buttons = staff.get_by_role("button", name="Mark rescued")
    expect(buttons).to_have_count(1)  # only the last person still waits
    row = staff.locator("tr", has=staff.get_by_role("cell", name=last_alias, exact=True))
    expect(row.get_by_role("button", name="Mark rescued")).to_have_count(1)
    snap(staff, "staff-before")
    row.get_by_role("button", name="Mark rescued").click()
    deadline = Deadline(LIVE_UPDATE_SECONDS)
    expect(staff.locator(".flash-success")).to_have_text("Everyone is safe: the case is complete.")
    expect(buttons).to_have_count(0)
    snap(staff, "staff-after")

    # The donor's page follows by itself, within the contract's time.
    rescued_article = donor.locator(f'{CASE_PAGE}[data-status="{workflow.RESCUED}"]')
    expect(rescued_article).to_have_count(1, timeout=deadline.ms())
    expect(banner).to_be_visible(timeout=deadline.ms())
    expect(banner).to_contain_text("Everyone in this case is safe")
    expect_live(donor, "group_size", "3", timeout=deadline.ms())
    expect_live(donor, "rescued", "3", timeout=deadline.ms())
    expect_live(donor, "status", str(workflow.LABELS[workflow.RESCUED]), timeout=deadline.ms())
    expect_live(donor, "person-status", "Rescued", timeout=deadline.ms())  # every row
    # The button changes with the rest of the section: a completed case takes no more gifts.
    expect(give_general).to_be_visible(timeout=deadline.ms())
    expect(give_here).to_be_hidden()
    assert_not_reloaded(donor, marker, navigations)
    snap(donor, "case-after")

    fresh()
    assert db.session.get(RescueCase, case_id).status == workflow.RESCUED


# --- 2. a keyboard-only gift moves the total on an open case page ----------------------------


def test_keyboard_gift_in_the_sandbox_moves_an_open_case_total(app: Flask, new_context, snap) -> None:  # noqa: ANN001
    slug = "e2e-keyboard-gift"
    case = make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    give(case, 12_000, name="Earlier donor")  # an offline gift: the total starts above zero
    case_id = case.id

    # Someone has the case page and the home page open before the gift.
    watching = new_context()
    watcher = open_case_page(watching, slug)
    expect_live(watcher, "raised", yen(12_000))
    expect_live(watcher, "donors", "1")
    marker, navigations = plant_marker(watcher)
    home = watching.new_page()
    home.goto("/")
    card = f'li.case-card[data-case="{slug}"]'
    progress_url = re.compile(rf"/cases/{slug}/progress\.json$")
    expect(home.locator(card)).to_have_attribute("data-progress-url", progress_url)
    expect_live(home, "raised", yen(12_000), scope=card)
    home_marker, home_navigations = plant_marker(home)
    snap(home, "home-before")

    # The donor gives with the keyboard alone.
    donor = new_context().new_page()
    donor.goto(f"/cases/{slug}/donate")
    snap(donor, "give-form")
    # The currency first: an English page opens in dollars; the arrow key moves to yen.
    tab_to(donor, "e => e.name === 'currency'", "the currency choice")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "USD checked"
    donor.keyboard.press("ArrowLeft")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "JPY checked"
    tab_to(donor, "e => e.name === 'preset'", "the amount presets")
    donor.keyboard.press("ArrowLeft")  # arrow keys move within the radio group ...
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "JPY:3000 checked"
    donor.keyboard.press("ArrowRight")  # ... back to the ¥5,000 preset
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "JPY:5000 checked"
    assert focused(donor, "e.closest('label').textContent.trim()") == yen(5_000)
    tab_to(donor, "e => e.id === 'name'", "the name field")
    donor.keyboard.type("Keiko Keyboard")
    tab_to(donor, "e => e.id === 'email'", "the email field")
    donor.keyboard.type("keiko@example.org")
    tab_to(donor, "e => e.type === 'submit' && e.textContent.includes('Continue to payment')",
           "the Continue to payment button")
    donor.keyboard.press("Enter")

    # The TEST MODE checkout page, still by keyboard.
    expect(donor).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$"))
    expect(donor.locator(".test-mode").first).to_contain_text("TEST MODE")
    expect(donor.get_by_role("heading", level=1)).to_have_text(f"Pay {yen(5_000)}")
    snap(donor, "checkout")
    tab_to(donor, "e => e.id === 'card_number'", "the card number field")
    donor.keyboard.type(OK_CARD)
    tab_to(donor, "e => e.type === 'submit' && e.textContent.includes('Pay')", "the Pay button")
    donor.keyboard.press("Enter")

    expect(donor).to_have_url(re.compile(r"/donations/[^/]+/thanks(\?lang=\w+)?$"))
    deadline = Deadline(LIVE_UPDATE_SECONDS)
    expect(donor.locator("section.thanks")).to_have_attribute("data-status", "succeeded")
    confirmed = donor.locator("p.confirmed")
    expect(confirmed).to_contain_text("is confirmed and recorded")
    expect(confirmed).to_contain_text(yen(5_000))
    snap(donor, "thanks")

    # The open pages move by ¥5,000 (and one donor) by themselves.
    expect_live(watcher, "raised", yen(17_000), timeout=deadline.ms())
    expect_live(watcher, "donors", "2", timeout=deadline.ms())
    expect_live(watcher, "donors-word", "donors", timeout=deadline.ms())
    expect_live(home, "raised", yen(17_000), scope=card, timeout=deadline.ms())
    assert_not_reloaded(watcher, marker, navigations)
    assert_not_reloaded(home, home_marker, home_navigations)
    snap(watcher, "case-after")
    snap(home, "home-after")

    assert raised_json(watcher, slug) == 17_000
    fresh()
    gifts = db.session.scalars(db.select(Donation).where(Donation.case_id == case_id,
                                                         Donation.gateway == "sandbox")).all()
    assert [(g.status, g.amount_minor, g.currency) for g in gifts] == [("succeeded", 5_000, "JPY")]


# --- 3. a declined card changes nothing ------------------------------------------------------


def test_declined_card_shows_the_decline_and_the_total_stays(app: Flask, new_context, snap) -> None:  # noqa: ANN001
    slug = "e2e-declined"
    case = make_case(slug, people=1, status=workflow.FUNDRAISING, public_title="One alone")
    give(case, 8_000)
    case_id = case.id

    watcher = open_case_page(new_context(), slug)
    expect_live(watcher, "raised", yen(8_000))
    marker, navigations = plant_marker(watcher)

    donor = new_context().new_page()
    donor.goto(f"/cases/{slug}/donate")
    donor.get_by_role("radio", name="Japanese Yen", exact=True).check()  # English opens in dollars
    donor.get_by_label(yen(5_000), exact=True).check()
    donor.get_by_label("Email for your receipt (optional)").fill("declined@example.org")
    donor.get_by_role("button", name="Continue to payment").click()
    expect(donor).to_have_url(re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$"))
    checkout_url = donor.url
    donor.get_by_label("Card number").fill(DECLINED_CARD)
    posted = lambda r: r.request.method == "POST" and "/sandbox/checkout/" in r.url  # noqa: E731
    with donor.expect_response(posted) as paid:
        donor.get_by_role("button", name=re.compile(r"^Pay ")).click()
    assert paid.value.status == 402

    expect(donor.get_by_role("alert")).to_have_text(DECLINE_MESSAGE)
    expect(donor.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    assert donor.url == checkout_url
    snap(donor, "declined")

    # Two polls of the open case page after the decline: its total has not moved.
    for _ in range(2):
        with watcher.expect_response(lambda r: "/progress.json" in r.url, timeout=LIVE_UPDATE_SECONDS * 1000):
            pass
    expect_live(watcher, "raised", yen(8_000), timeout=1_000)
    expect_live(watcher, "donors", "1", timeout=1_000)
    assert_not_reloaded(watcher, marker, navigations)
    snap(watcher, "case-after")

    assert raised_json(watcher, slug) == 8_000
    fresh()
    gifts = db.session.scalars(db.select(Donation).where(Donation.case_id == case_id,
                                                         Donation.gateway == "sandbox")).all()
    assert [g.status for g in gifts] == ["pending"]
