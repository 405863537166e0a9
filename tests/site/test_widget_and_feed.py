"""The case widget (a page for an iframe on the NGO's blog: its own frame-ancestors from
TRACKER_EMBED_ORIGINS, every other page still 'none'), the staff embed code, and the Atom
feed of public posts (valid Atom, public fields only, nothing private)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from flask import Flask

from tests.conftest import make_app
from tests.donations.test_privacy import staff_client
from tests.factories import give, make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.posts.helpers import local_input, post_form
from tracker.config import ConfigError, parse_embed_origins
from tracker.extensions import db

A = "{http://www.w3.org/2005/Atom}"
PRIVATE_NOTE = "PRIVATE-NOTE-safe-house-address"


@pytest.fixture
def case(app: Flask):
    case = make_case("six-survivors", people=2, status="fundraising",
                     public_title="Six flood survivors", private_notes=PRIVATE_NOTE)
    return case


def _frame_ancestors(response) -> str:
    csp = response.headers["Content-Security-Policy"]
    [directive] = [d.strip() for d in csp.split(";") if d.strip().startswith("frame-ancestors")]
    return directive


# --------------------------------------------------------------------------- the widget


def test_widget_shows_progress_and_may_be_framed_by_any_site_when_unset(client, case) -> None:
    give(case, 30_000)
    response = client.get(f"/cases/{case.slug}/widget")
    assert response.status_code == 200
    assert _frame_ancestors(response) == "frame-ancestors *"
    assert "X-Frame-Options" not in response.headers
    html = response.text
    assert "Six flood survivors" in html
    assert "data-progress-url=\"/cases/six-survivors/progress.json\"" in html
    assert 'target="_blank" rel="noopener"' in html
    assert f'href="/cases/{case.slug}/donate"' in html
    assert "live.js" in html
    assert PRIVATE_NOTE not in html
    assert "¥30,000" in html
    # Cached and validated like the case page.
    again = client.get(f"/cases/{case.slug}/widget", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert _frame_ancestors(again) == "frame-ancestors *"
    # Every other page keeps framing denied.
    for path in ("/", f"/cases/{case.slug}", f"/cases/{case.slug}/follow", "/feed.atom",
                 f"/cases/{case.slug}/progress.json"):
        other = client.get(path)
        assert _frame_ancestors(other) == "frame-ancestors 'none'", path
        assert other.headers["X-Frame-Options"] == "DENY", path


def test_widget_frame_ancestors_follow_the_setting(app: Flask, database_url: str, case) -> None:
    embedded = make_app(database_url,
                        TRACKER_EMBED_ORIGINS="https://blog.example.org, https://www.example.jp:8443")
    try:
        client = embedded.test_client()
        response = client.get(f"/cases/{case.slug}/widget")
        assert response.status_code == 200
        assert _frame_ancestors(response) == \
            "frame-ancestors https://blog.example.org https://www.example.jp:8443"
        assert "X-Frame-Options" not in response.headers
        assert _frame_ancestors(client.get(f"/cases/{case.slug}")) == "frame-ancestors 'none'"
    finally:
        with embedded.app_context():
            db.engine.dispose()


def test_embed_origins_setting_is_checked() -> None:
    assert parse_embed_origins("") == ("*",)
    assert parse_embed_origins("*") == ("*",)
    assert parse_embed_origins("https://a.example.org https://*.example.jp") == (
        "https://a.example.org", "https://*.example.jp")
    for bad in ("https://a.example.org; script-src *", "blog.example.org", "'self'",
                "https://a.example.org/path"):
        with pytest.raises(ConfigError):
            parse_embed_origins(bad)


def test_widget_of_a_private_or_unknown_case_is_404(client, app) -> None:
    private = make_case("private-one", status="requested")
    for path in (f"/cases/{private.slug}/widget", "/cases/nothing-here/widget"):
        response = client.get(path)
        assert response.status_code == 404
        assert _frame_ancestors(response) == "frame-ancestors 'none'"
        assert PRIVATE_NOTE not in response.text


def test_staff_copy_the_embed_code_from_the_case_page(app: Flask, make_user, case) -> None:
    staff = staff_client(app, make_user)
    page = staff.get(f"/staff/cases/{case.id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="embed-code"' in html and 'data-copy="embed-code"' in html
    assert "&lt;iframe src=&#34;http://localhost/cases/six-survivors/widget&#34;" in html \
        or "&lt;iframe src=&#34;http" in html
    assert "width=&#34;100%&#34;" in html and "height=&#34;" in html and "title=&#34;" in html
    assert "copy.js" in html


# --------------------------------------------------------------------------- the feed


def test_feed_is_valid_atom_with_public_posts_only(app: Flask, client, make_user, case) -> None:
    private = make_case("hidden-case", status="requested", public_title="HIDDEN-CASE-TITLE")
    staff = staff_client(app, make_user)

    def write(slug: str, kind: str, publish: str = "publish", cases: str | None = None, **more):
        response = post_form(staff, title=f"Title {slug}", slug=slug, kind=kind, publish=publish,
                             cases=cases, body_markdown=f"First paragraph of {slug}.\n\nSecond "
                             f"paragraph {PRIVATE_NOTE}.", **more)
        assert response.status_code in (302, 303), response.text[:2000]

    write("an-appeal", "appeal", cases=str(case.id))
    write("an-update", "update", cases=str(case.id))
    write("some-news", "news")
    write("a-draft", "update", publish="draft", cases=str(case.id))
    write("a-scheduled", "update", publish="schedule", cases=str(case.id),
          publish_at=local_input(timedelta(days=2)))
    write("private-appeal", "appeal", cases=str(private.id))

    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # noqa: S314 - our own feed
    assert feed.tag == f"{A}feed"
    for required in ("id", "title", "updated"):
        assert (feed.findtext(f"{A}{required}") or "").strip(), required
    entries = feed.findall(f"{A}entry")
    titles = [e.findtext(f"{A}title") for e in entries]
    assert titles == ["Title an-update", "Title an-appeal"]
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{A}{required}") or "").strip(), required
        link = entry.find(f"{A}link")
        assert link is not None and link.get("href", "").endswith(
            "/posts/" + entry.findtext(f"{A}title").removeprefix("Title "))
        assert entry.findtext(f"{A}summary").startswith("First paragraph of")
    text = response.text
    for absent in ("some-news", "a-draft", "a-scheduled", "private-appeal", "HIDDEN-CASE-TITLE",
                   PRIVATE_NOTE):
        assert absent not in text, absent
    # Validated like public pages.
    assert client.get("/feed.atom", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    # Linked from every page's head.
    for path in ("/", f"/cases/{case.slug}", "/posts/an-appeal", f"/cases/{case.slug}/widget",
                 f"/cases/{case.slug}/follow", "/no-such-page"):
        assert '<link rel="alternate" type="application/atom+xml"' in client.get(path).text, path


def test_an_empty_feed_is_valid_atom(client, app) -> None:
    feed = ET.fromstring(client.get("/feed.atom").data)  # noqa: S314 - our own feed
    assert feed.tag == f"{A}feed" and feed.findall(f"{A}entry") == []
    assert feed.findtext(f"{A}updated")
