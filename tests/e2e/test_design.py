"""The design in a real browser: the case page on a phone leads with what a donor came for, the
layout holds at phone and desktop widths in both languages, and an open Japanese page follows a
gift with the server's own Japanese wording and money format (5,000円), without a reload.

Most donors arrive from a shared link on a phone, so on a 390 px screen the case page shows the
title, the photo, both progress bars and the button to give, on the first screen, before anything
else (the story, status and region, the people, the budget, the donor wall, the posts, the share
links), as donation sites do. On a desktop the photo heads the story's column and the button
stays beside it, on the first screen too.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import give, make_case
from tracker.cases import covers, workflow
from tracker.cases import services as case_services
from tracker.core import faces
from tracker.core.money import Money, format_money
from tracker.core.time import local_today
from tracker.demo.covers import landscape_jpeg
from tracker.extensions import db
from tracker.posts import services as post_services

pytestmark = pytest.mark.e2e

CASE_PAGE = "article.case"
#: WCAG 2.5.5's target size, and what phone makers ask for a primary button
MIN_TAP_PX = 44
#: a change shows on an open page within this long (live.js polls every 2 s)
LIVE_UPDATE_MS = 10_000
LONG_STORY = ("They hid in a flooded valley for two months. **Six** people, one of them a "
              "four-year-old girl, wait for a safe way out.\n\n") * 3


def case_with_everything(slug: str) -> int:
    """A case with a story, people (one safe), money from two donors and a linked update."""
    case = make_case(slug, people=3, status=workflow.IN_PROGRESS, public_title="Six in the valley",
                     public_summary=LONG_STORY)
    # a drawn landscape as the cover, 960x640 as the demo's (clear of faces, so shown)
    covers.store_cover(case, landscape_jpeg(7), "Hills under the sky", None)
    # staff looked at it: no person can be recognized (every photo waits for that)
    covers.review_cover(case, faces.CONFIRM_NO_PERSON, {"looked": True}, actor_label="test")
    give(case, 120_000, name="Earlier donor")
    give(case, 30_000)
    first = min(case.beneficiaries, key=lambda p: p.id)
    case_services.mark_rescued(first, local_today(), today=local_today())
    db.session.commit()
    post_services.create_post(
        post_services.PostInput(
            title="One of three is safe", slug=f"{slug}-update", kind="update",
            body_markdown="One person reached safety.", case_ids=(case.id,),
            publish=post_services.PUBLISH_NOW,
        ),
        author_id=None,
    )
    db.session.commit()
    return case.id


def box(page: Page, selector: str) -> dict:
    """The bounding box of the one visible element ``selector`` matches (it must be there)."""
    element = page.locator(selector)
    expect(element, f"{selector} is on the page").to_have_count(1)
    expect(element).to_be_visible()
    found = element.bounding_box()
    assert found is not None, selector
    return found


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"the page is {width} px wide on a {viewport} px screen"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_on_a_phone_the_case_page_leads_with_photo_progress_and_the_give_button(
    app: Flask, new_context, snap, language: str,  # noqa: ANN001
) -> None:
    slug = f"e2e-lead-{language}"
    case_with_everything(slug)
    page = new_context(viewport=PHONE, locale=language).new_page()
    response = page.goto(f"/cases/{slug}")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", language)

    lead = {
        "title": box(page, f"{CASE_PAGE} h1"),
        "photo": box(page, f"{CASE_PAGE} img.case-cover"),
        "money bar": box(page, f"{CASE_PAGE} .progress.money progress"),
        "people bar": box(page, f"{CASE_PAGE} .progress.people progress"),
        "give button": box(page, f"{CASE_PAGE} .donate-cta a.button"),
    }
    rest = {
        "story": box(page, f"{CASE_PAGE} .case-story"),
        "status and region": box(page, f"{CASE_PAGE} .case-details"),
        "people": box(page, f"{CASE_PAGE} table.people"),
        "posts": box(page, f"{CASE_PAGE} .post-list"),
        "share links": box(page, f"{CASE_PAGE} .share"),
    }
    # The photo first, then the bars, then the button, then everything else.
    order = ["title", "photo", "money bar", "people bar", "give button"]
    for above, below in zip(order, order[1:], strict=False):
        assert lead[above]["y"] + lead[above]["height"] <= lead[below]["y"] + 0.5, (above, below, lead)
    lead_bottom = max(b["y"] + b["height"] for b in lead.values())
    for name, found in rest.items():
        assert found["y"] >= lead_bottom - 0.5, f"{name} starts above the give button: {found}, {lead_bottom}"
    # One column: the lead is as wide as the content, and nothing makes the page scroll sideways.
    assert lead["give button"]["width"] >= PHONE["width"] * 0.75, lead["give button"]
    assert lead["give button"]["height"] >= MIN_TAP_PX, lead["give button"]
    # ... and the whole button is on the first screen, under the photo
    assert lead["give button"]["y"] + lead["give button"]["height"] <= PHONE["height"], lead
    no_sideways_scrolling(page)

    # The bars keep their words: visible text and the bars' own labels, in the page's language.
    money_label = page.locator(f"{CASE_PAGE} .progress.money progress").get_attribute("aria-label")
    people_label = page.locator(f"{CASE_PAGE} .progress.people progress").get_attribute("aria-label")
    if language == "ja":
        assert money_label == "集まった寄付：目標の15パーセント"
        assert people_label == "救出された人：3人中1人"
        expect(page.locator(f"{CASE_PAGE} .progress.money")).to_contain_text("150,000円が集まりました")
    else:
        assert money_label == "Money raised: 15 percent of the goal"
        assert people_label == "People rescued: 1 of 3"
        expect(page.locator(f"{CASE_PAGE} .progress.money")).to_contain_text(
            "¥150,000 raised of ¥1,000,000 goal")
    snap(page, f"case-{language}")


@pytest.mark.parametrize("language", ["en", "ja"])
def test_on_a_desktop_the_progress_and_the_give_button_stay_beside_the_story(
    app: Flask, new_context, language: str,  # noqa: ANN001
) -> None:
    slug = f"e2e-wide-{language}"
    case_with_everything(slug)
    page = new_context(viewport=DESKTOP, locale=language).new_page()
    page.goto(f"/cases/{slug}")
    story = box(page, f"{CASE_PAGE} .case-story")
    photo = box(page, f"{CASE_PAGE} img.case-cover")
    support = box(page, f"{CASE_PAGE} .case-support")
    button = box(page, f"{CASE_PAGE} .donate-cta a.button")
    assert support["x"] >= story["x"] + story["width"], (story, support)
    assert support["y"] < story["y"] + story["height"], "the side column starts beside the story"
    # the photo heads the story's column, beside the box with the button, not across both
    assert photo["x"] + photo["width"] <= support["x"], (photo, support)
    assert support["y"] <= photo["y"] + 0.5, (photo, support)
    assert button["y"] + button["height"] <= DESKTOP["height"], "the give button is in the first screen"
    # never shown wider than its file (960 px): a blown-up photo looks soft
    file_width = int(page.locator(f"{CASE_PAGE} img.case-cover").get_attribute("width"))
    assert file_width == 960 and photo["width"] <= file_width, photo
    assert button["height"] >= MIN_TAP_PX
    no_sideways_scrolling(page)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_home_page_shows_cards_with_both_bars_and_a_give_link(
    app: Flask, new_context, snap, language: str,  # noqa: ANN001
) -> None:
    case_with_everything(f"e2e-home-{language}")
    make_case(f"e2e-home-{language}-2", people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    for size in (PHONE, DESKTOP):
        page = new_context(viewport=size, locale=language).new_page()
        page.goto("/")
        cards = page.locator("li.case-card[data-progress-url]")
        expect(cards).to_have_count(2)
        for n in range(2):
            card = cards.nth(n)
            expect(card.locator(".progress.money progress")).to_be_visible()
            expect(card.locator(".progress.people progress")).to_be_visible()
            give_link = card.locator(".card-actions a.button")
            expect(give_link).to_have_attribute("href", re.compile(r"^/cases/[\w-]+/donate$"))
            found = give_link.bounding_box()
            assert found is not None and found["height"] >= MIN_TAP_PX, found
        no_sideways_scrolling(page)
        if size is DESKTOP:
            # two cards take the width of the page, not two columns of three with one empty
            listed = box(page, "ul.case-list:not(.compact)")
            last = cards.nth(1).bounding_box()
            assert last is not None
            assert last["x"] + last["width"] >= listed["x"] + listed["width"] * 0.85, (listed, last)
        # The header (brand, main links, language picker) fits the screen.
        header = page.locator("header.site-header").bounding_box()
        assert header is not None and header["width"] <= size["width"]
        for link in page.locator("header.site-header nav a").all():
            found = link.bounding_box()
            assert found is not None and found["x"] + found["width"] <= size["width"] + 0.5, found
            assert found["height"] >= MIN_TAP_PX, (link.inner_text(), found)
    snap(page, f"home-{language}")


def live_text(page: Page, key: str) -> list[str]:
    return page.locator(f'{CASE_PAGE} [data-live="{key}"]').all_inner_texts()


def test_an_open_japanese_case_page_follows_a_gift_in_yen_and_japanese_without_reload(
    app: Flask, new_context, snap,  # noqa: ANN001
) -> None:
    slug = "e2e-live-ja"
    case = make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    give(case, 12_000, name="Earlier donor")
    case_id = case.id

    page = new_context(viewport=PHONE, locale="ja").new_page()
    page.goto(f"/cases/{slug}")
    raised = page.locator(f'{CASE_PAGE} [data-live="raised"]')
    expect(raised).to_have_text("12,000円")
    expect(page.locator(f'{CASE_PAGE} [data-live="status"]')).to_have_text("寄付募集中")
    marker = page.evaluate("() => (window.__designMarker = Math.random().toString(36).slice(2))")
    navigations: list[str] = []
    page.on("framenavigated",
            lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    # A gift is recorded while the page is open; then the first person reaches safety.
    give(db.session.get(type(case), case_id), 5_000, name="Keiko")
    expect(raised).to_have_text(format_money(Money(17_000, "JPY"), "ja"), timeout=LIVE_UPDATE_MS)
    assert format_money(Money(17_000, "JPY"), "ja") == "17,000円"
    expect(page.locator(f"{CASE_PAGE} .donors-line")).to_have_text("支援者 2人")
    money_bar = page.locator(f'{CASE_PAGE} [data-live="money-bar"]')
    expect(money_bar).to_have_attribute("aria-label", "集まった寄付：目標の1パーセント")

    case = db.session.get(type(case), case_id)
    first = min(case.beneficiaries, key=lambda p: p.id)
    case_services.mark_rescued(first, local_today(), today=local_today())
    db.session.commit()
    people = page.locator(f"{CASE_PAGE} .progress.people .progress-label")
    expect(people).to_have_text("2人中1人が救出済み、1人がまだ救出を待っています", timeout=LIVE_UPDATE_MS)
    expect(page.locator(f'{CASE_PAGE} [data-live="people-bar"]')).to_have_attribute(
        "aria-label", "救出された人：2人中1人")
    assert live_text(page, "status") == ["寄付募集中"]

    # The last one: the case completes, and every word the script writes is Japanese.
    case = db.session.get(type(case), case_id)
    waiting = [p for p in case.beneficiaries if p.status != "rescued"]
    case_services.mark_rescued(waiting[0], local_today(), today=local_today())
    db.session.commit()
    expect(page.locator(f'{CASE_PAGE}[data-status="rescued"]')).to_have_count(1, timeout=LIVE_UPDATE_MS)
    expect(page.locator(f'{CASE_PAGE} [data-live="status"]')).to_have_text("救出済み")
    expect(page.locator(f'{CASE_PAGE} [data-live="completed"]')).to_be_visible()
    expect(people).to_have_text("2人中2人が救出済み")
    assert live_text(page, "person-status") == ["救出済み", "救出済み"]

    assert navigations == [], navigations
    assert page.evaluate("() => window.__designMarker") == marker, "the page was reloaded"
    snap(page, "case-ja-after")


@pytest.mark.parametrize(("language", "minor", "expected"), [
    ("en", 5_050, "$50.50"), ("ja", 5_050, "$50.50"), ("en", 9_876_543, "$98,765.43"),
])
def test_live_figures_copy_the_servers_format_in_a_currency_with_decimals(
    app: Flask, new_context, language: str, minor: int, expected: str,  # noqa: ANN001
) -> None:
    """A dollar base currency: the script writes cents as the server does, in either language."""
    slug = f"e2e-usd-{language}-{minor}"
    case = make_case(slug, people=1, status=workflow.FUNDRAISING)
    case.goal_currency = "USD"  # as if TRACKER_BASE_CURRENCY were USD
    case.goal_amount_minor = 1_000_000_00
    db.session.commit()
    page = new_context(locale=language).new_page()
    page.goto(f"/cases/{slug}")
    raised = page.locator(f'{CASE_PAGE} [data-live="raised"]')
    expect(raised).to_have_text(format_money(Money(0, "USD"), language))

    give(db.session.get(type(case), case.id), minor, "JPY")  # the ledger sums in the base currency
    amount = page.request.get(f"/cases/{slug}/progress.json").json()["raised"]
    assert amount == {"amount_minor": minor, "currency": "USD"}
    assert format_money(Money(minor, "USD"), language) == expected
    expect(raised).to_have_text(expected, timeout=LIVE_UPDATE_MS)
