"""At phone width (390 px), text nobody can break by hand still fits: a 400-letter word and a
long URL in the about, contact and privacy pages' Markdown, in a case's story, in a post's body
and in a donor wall message wrap inside the page instead of widening it; and on /transparency
each amount stays on one line with its unit (「3,072,656円」, never 円 alone on a line)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from tests.e2e.conftest import PHONE
from tests.factories import give, make_case
from tracker.cases import workflow
from tracker.extensions import db
from tracker.organization import services as organization
from tracker.posts import services as posts

pytestmark = pytest.mark.e2e

WORD = "Unbroken" * 50  # 400 letters, no place to break
URL = "https://example.org/" + "a-very-long-path-segment/" * 12 + "?query=" + "x" * 80
TEXT = f"Before the word. {WORD} And a link: <{URL}> and [a named link]({URL}).\n\n{URL}\n"


def _width(page) -> int:  # noqa: ANN001
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_long_words_wrap_and_amounts_keep_their_unit(app: Flask, new_context) -> None:  # noqa: ANN001
    for slug in ("about", "contact", "privacy"):
        organization.update_page(slug, {"en": TEXT, "ja": "長い単語：" + TEXT})
    case = make_case("long-words", status=workflow.FUNDRAISING, public_summary=TEXT)
    gift = give(case, 3_072_656, name="A donor")
    gift.message = WORD
    gift.display_name = "A donor"
    gift.show_on_wall = True
    posts.create_post(posts.PostInput(title="A long word", slug="a-long-word", kind="update",
                                      body_markdown=TEXT, case_ids=(case.id,),
                                      publish=posts.PUBLISH_NOW),
                      author_id=None, now=datetime(2025, 10, 2, tzinfo=UTC))
    db.session.commit()

    page = new_context(viewport=PHONE).new_page()
    wide = []
    for path in ("/about", "/contact", "/privacy", "/about?lang=ja", "/cases/long-words",
                 "/posts/a-long-word"):
        page.goto(path)
        assert WORD[:40] in page.content(), path
        if (width := _width(page)) > PHONE["width"]:
            wide.append(f"{path}: {width} px")
    assert not wide, f"wider than {PHONE['width']} px: {wide}"

    page.goto("/transparency/2025?lang=ja")
    assert page.locator('[data-figure="gifts"]').inner_text() == "3,072,656円"
    # every amount on one line: a cell's text makes a single line box
    lines = page.evaluate("""() => [...document.querySelectorAll('.figures td')].map(e => {
        const r = document.createRange(); r.selectNodeContents(e);
        const tops = new Set([...r.getClientRects()].map(b => Math.round(b.top)));
        return [e.innerText, tops.size]; })""")
    wrapped = [text for text, count in lines if count > 1]
    assert not wrapped, f"amounts wrapped onto more than one line: {wrapped}"
    assert len(lines) >= 8
    assert _width(page) <= PHONE["width"]
