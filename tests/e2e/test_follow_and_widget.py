"""Following a case and its widget, in a real browser (issue 18, items 9 and 10).

* A visitor follows a case from its page, opens the confirmation link from the mail the outbox
  holds, presses the button; an update is published and its mail's unsubscribe link (the one
  in its List-Unsubscribe header) stops the news with one button.
* The widget sits in an iframe of a page served by ANOTHER origin (a second HTTP server on
  another port) and follows a gift recorded meanwhile, without a reload.
* axe finds no serious or critical violation on the new pages, and none scrolls sideways at
  390 px.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, axe_violations, sign_in
from tests.factories import give, make_case
from tracker.cases import workflow
from tracker.cases.follows import CaseFollow
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.posts import services as post_services
from tracker.posts.services import PostInput

pytestmark = pytest.mark.e2e

#: live.js polls every 2 s; a change shows well within this
LIVE_UPDATE_MS = 10_000
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def blog(live_server: str) -> Iterator[callable]:
    """``blog(path)``: the URL of a page on another origin (127.0.0.1, another port) whose
    body is an <iframe> of ``path`` on the live server, as the NGO's blog would embed it."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def make(path: str) -> str:
        pages["/post.html"] = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Our blog</title></head><body><main><h1>Our blog</h1>"
            f'<iframe src="{live_server}{path}" title="Rescue progress" width="100%" height="300">'
            "</iframe></main></body></html>"
        ).encode()
        return f"http://127.0.0.1:{server.server_port}/post.html"

    yield make
    server.shutdown()
    server.server_close()
    thread.join(5)


def _outbox(kind: str) -> list[OutboxMessage]:
    db.session.rollback()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                   .order_by(OutboxMessage.id)))


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_follow_confirm_and_unsubscribe(app: Flask, new_context, snap) -> None:  # noqa: ANN001
    slug = "e2e-follow"
    case = make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two in hiding")
    case_id = case.id
    page = new_context(viewport=PHONE).new_page()
    assert page.goto(f"/cases/{slug}").status == 200
    page.get_by_role("link", name="Follow this rescue by email").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Follow")
    assert page.evaluate(NO_SIDEWAYS)
    found = axe_violations(page)
    assert not found, str(found)
    snap(page, "follow-form")
    page.get_by_label("Email").fill("follower@example.org")
    page.get_by_role("button", name="Follow this rescue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    found = axe_violations(page)
    assert not found, str(found)

    [mail] = _outbox("follow-confirm")
    assert mail.to_address == "follower@example.org"
    link = re.search(r"https?://\S+/follow/confirm/\S+", mail.body_text).group(0)
    page.goto(_path(link))
    assert page.evaluate(NO_SIDEWAYS)
    found = axe_violations(page)
    assert not found, str(found)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmed")
    db.session.rollback()
    assert db.session.scalar(db.select(CaseFollow.confirmed_at)) is not None

    # Staff publish an update: the follower's mail carries the one-click unsubscribe link.
    with app.test_request_context():
        post_services.create_post(PostInput(title="Halfway there", slug="e2e-halfway", kind="update",
                                            body_markdown="They crossed the first border.",
                                            case_ids=(case_id,), publish="publish"),
                                  author_id=None)
        db.session.commit()
    [update] = _outbox("case-update")
    unsubscribe = update.headers["List-Unsubscribe"][1:-1]
    assert update.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(_path(unsubscribe))
    assert page.evaluate(NO_SIDEWAYS)
    found = axe_violations(page)
    assert not found, str(found)
    page.get_by_role("button", name="Stop the emails").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stopped")
    found = axe_violations(page)
    assert not found, str(found)
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(CaseFollow)) == 0


def test_widget_in_another_origins_iframe_follows_a_gift(app: Flask, new_context, blog, snap,  # noqa: ANN001
                                                         make_user) -> None:  # noqa: ANN001
    slug = "e2e-widget"
    case = make_case(slug, people=3, status=workflow.FUNDRAISING, goal=100_000,
                     public_title="Three waiting in a safe house")
    page = new_context(viewport=PHONE).new_page()
    assert page.goto(blog(f"/cases/{slug}/widget")).status == 200
    widget = page.frame_locator("iframe")
    expect(widget.get_by_role("heading", level=1)).to_have_text("Three waiting in a safe house")
    raised = widget.locator('[data-live="raised"]')
    expect(raised).to_have_text("¥0")
    give_link = widget.get_by_role("link", name="Give to this rescue")
    expect(give_link).to_have_attribute("target", "_blank")
    expect(give_link).to_have_attribute("rel", "noopener")

    give(case, 25_000)
    expect(raised).to_have_text("¥25,000", timeout=LIVE_UPDATE_MS)
    expect(widget.locator('[data-live="money-bar"]')).to_have_attribute("value", "25")
    snap(page, "widget-in-blog")

    # The button opens the donate page in a new tab, on the tracker's own origin.
    with page.context.expect_page() as opened:
        give_link.click()
    donate = opened.value
    donate.wait_for_load_state()
    assert donate.url.endswith(f"/cases/{slug}/donate")

    # The widget page itself: no sideways scroll at 390 px, and axe finds nothing serious.
    alone = new_context(viewport=PHONE).new_page()
    assert alone.goto(f"/cases/{slug}/widget").status == 200
    assert alone.evaluate(NO_SIDEWAYS)
    found = axe_violations(alone)
    assert not found, str(found)

    # Staff copy the embed code from the case's staff page; it is the iframe of this widget.
    user, password = make_user("staff")
    staff = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    sign_in(staff, user.email, password)
    staff.goto(f"/staff/cases/{case.id}")
    code = staff.get_by_label("Embed code")
    expect(code).to_have_value(re.compile(rf'^<iframe src="http://[^"]+/cases/{slug}/widget" '
                                          r'title="[^"]+" width="100%" height="\d+"'))
    staff.get_by_role("button", name="Copy the code").click()
    expect(staff.locator('[data-copy-status="embed-code"]')).to_have_text("Copied")
    assert staff.evaluate("() => navigator.clipboard.readText()") == code.input_value()
    snap(staff, "staff-embed-code")
