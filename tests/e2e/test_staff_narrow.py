"""In a real browser: no staff or director page scrolls sideways on a 390 px phone, nor the
donor's own page (/my/), whose gifts stand as cards there instead of a table scrolling in its box.

The house rule holds for the public pages (tests/e2e/test_design.py); here a staff member and a
director visit their working pages at 390 px, in English and in Japanese, with enough data that
every table is wide (long names, several people, gifts, payments, audit entries, posts, a monthly
gift). Wide tables scroll in their own box; the page itself never does.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, sign_in
from tests.e2e.test_design import no_sideways_scrolling
from tests.factories import give, make_case
from tests.payments.test_recurring import subscribe
from tracker.accounts.models import User
from tracker.budgets import services as budget_services
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.money import Money
from tracker.core.time import current_fiscal_year, local_today
from tracker.donors import services as donor_services
from tracker.extensions import db
from tracker.posts import services as post_services

pytestmark = pytest.mark.e2e

LONG_NAME = "Ms Alexandra Konstantinopoulou-Wellington of the Northern Rescue Supporters Circle"
LONG_EMAIL = "alexandra.konstantinopoulou.wellington.supporters@example-northern-rescue.org"
LONG_PAYEE = "Mr Park Jae-sung, river guide and driver on the long mountain road"
LONG_SLUG = "e2e-narrow-seven-people-waiting-beyond-the-northern-river-crossing"


def _lots_of_data(app: Flask, recorded_by: User) -> dict[str, str]:
    """A case with seven people (two safe), a budget with a payment, long-named gifts, a post and
    a monthly gift; returns the paths of the pages that show them."""
    case = make_case(LONG_SLUG, people=7, status=workflow.IN_PROGRESS,
                     public_title="Seven people waiting beyond the northern river crossing")
    for person in sorted(case.beneficiaries, key=lambda p: p.id)[:2]:
        case_services.mark_rescued(person, local_today(), today=local_today())
    db.session.commit()
    gifts = [give(case, 120_000 + n, name=f"{LONG_NAME} {n}", email=f"{n}.{LONG_EMAIL}",
                  reference=f"BANK-TRANSFER-REFERENCE-{n:04d}-0123456789ABCDEFGHIJ") for n in range(4)]
    give(None, 50_000, name=LONG_NAME)
    budget_services.set_line(case, "guides", Money(300_000, "JPY"), "two guides across the river")
    budget_services.set_line(case, "transport", Money(120_000, "JPY"), "a car to the safe house")
    line_id = budget_services.lines_for(case.id)[0].id
    budget_services.record_disbursement(
        case, budget_services.DisbursementInput(
            line_id=line_id, spent_on=local_today() - timedelta(days=1),
            amount=Money(150_000, "JPY"), payee=LONG_PAYEE, note="paid at the crossing, half in advance"),
        actor=db.session.get(User, recorded_by.id), today=local_today())
    db.session.commit()
    post_services.create_post(
        post_services.PostInput(
            title="Two of the seven reached the safe house after a long night on the road",
            slug="e2e-narrow-two-of-seven-reached-the-safe-house-after-a-long-night",
            kind="update", body_markdown="Two people are safe.", case_ids=(case.id,),
            publish=post_services.PUBLISH_NOW),
        author_id=None)
    db.session.commit()
    make_case("e2e-narrow-monthly", status=workflow.FUNDRAISING,
              public_title="Monthly help for the river crossing")
    subscribe(app.test_client(), "e2e-narrow-monthly", name="Alexandra Konstantinopoulou-Wellington",
              email="alexandra.konstantinopoulou-wellington@example-rescue.org")
    gift = gifts[0]
    return {
        "case": f"/staff/cases/{case.id}",
        "gift": f"/staff/gifts/{gift.public_id}",
        "donor": f"/staff/donors/{gift.donor_id}",
        "budget": f"/staff/cases/{case.id}/budget",
    }


def _check(page: Page, snap, paths: dict[str, str], language: str) -> list[str]:  # noqa: ANN001
    """Visit each page at phone width (saving screenshots); returns the pages that scroll sideways."""
    wide = []
    for label, path in paths.items():
        separator = "&" if "?" in path else "?"
        response = page.goto(f"{path}{separator}lang={language}")
        assert response is not None and response.status == 200, path
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide.append(f"{path} is {width} px wide")
        snap(page, f"{label}-{language}")
    return wide


@pytest.mark.parametrize("language", ["en", "ja"])
def test_staff_and_director_pages_do_not_scroll_sideways_on_a_phone(
    app: Flask, make_user, new_context, snap, language: str,  # noqa: ANN001
) -> None:
    staff, staff_password = make_user("staff", email=LONG_EMAIL.replace("alexandra", "staff"))
    director, director_password = make_user("director", email="director@example.org")
    paths = _lots_of_data(app, staff)

    page = new_context(viewport=PHONE).new_page()
    sign_in(page, staff.email, staff_password)
    wide = _check(page, snap, {
        "dashboard": "/staff/", "case": paths["case"], "gifts": "/staff/gifts/", "gift": paths["gift"],
        "donors": "/staff/donors/", "donor": paths["donor"], "audit": "/staff/audit/",
        "posts": "/staff/posts/", "recurring": "/staff/recurring/", "budget": paths["budget"],
    }, language)

    page = new_context(viewport=PHONE).new_page()
    sign_in(page, director.email, director_password)
    wide += _check(page, snap, {"report": f"/reports/{current_fiscal_year()}",
                                "donations": "/reports/donations?status=succeeded"}, language)
    assert not wide, "pages scroll sideways on a 390 px phone:\n" + "\n".join(wide)
    no_sideways_scrolling(page)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_donors_own_page_fits_a_phone(app: Flask, new_context, snap, language: str) -> None:  # noqa: ANN001
    """Issue 18 (outside tester): at 390 px the gifts table of /my/ was cut off and scrolled
    sideways. Each gift is now a card: every fact and its receipt link within the screen."""
    case = make_case(LONG_SLUG, status=workflow.IN_PROGRESS,
                     public_title="Seven people waiting beyond the northern river crossing")
    for n in range(3):
        give(case, 1_234_000 + n, name=LONG_NAME, email=LONG_EMAIL,
             reference=f"BANK-TRANSFER-REFERENCE-{n:04d}-0123456789ABCDEFGHIJ")
    give(None, 50_000, name=LONG_NAME, email=LONG_EMAIL)
    links: list[str] = []

    def link_for(token: str, locale: str) -> str:
        links.append(f"/my/sign-in/{token}?lang={locale}")
        return links[-1]

    with app.test_request_context(f"/my/sign-in?lang={language}"):
        assert donor_services.request_link(LONG_EMAIL, link_for)
    db.session.commit()

    page = new_context(viewport=PHONE).new_page()
    page.goto(links[0])
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/my/(\?lang=\w+)?$"))
    rows = page.locator("table.gifts tbody tr")
    expect(rows).to_have_count(4)
    snap(page, f"my-{language}")
    no_sideways_scrolling(page)
    # nothing of the gifts hides in a box that scrolls sideways
    inner, outer = page.evaluate(
        "() => { const b = document.querySelector('.table-scroll'); return [b.scrollWidth, b.clientWidth]; }")
    assert inner <= outer, f"the gifts scroll sideways in their box ({inner} px in {outer} px)"
    # every fact of every gift is on the screen, named by its column's header
    for cell in rows.locator("td").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    header = page.evaluate(
        "() => getComputedStyle(document.querySelector('table.gifts td'), '::before').content")
    assert header.strip('"') == ("Date" if language == "en" else "日付")
