"""Every link in every mail points at TRACKER_PUBLIC_URL, whatever Host a request claims.

Each kind of mail the app sends is set off through the real pages by a client whose every
request carries a forged ``Host: evil.example`` header: a receipt (a card gift through the
form and the sandbox checkout), a donor's sign-in link, a contact-form message, a follower's
confirmation link, the news of a rescue report and an update (staff publish them), with the
followers' unsubscribe link in the text and in the List-Unsubscribe header, a refund's
notice, and the account details of a pledged bank transfer. Every URL in every message must
start with TRACKER_PUBLIC_URL. A new call of ``outbox.queue`` in the code fails the test until
it is driven here too.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient

import tracker
from tests.conftest import Auth, csrf_from
from tests.donations.test_pledges import pledge_form, set_accounts
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.helpers import pay_on_page, start_gift
from tests.posts.helpers import post_form
from tracker.core import links
from tracker.core.transactions import transaction
from tracker.donations import recording
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.payments.gateway import get_gateway

PUBLIC = "https://give.example.org"
EVIL = "evil.example"
EMAIL = "aiko.links@example.org"
SLUG = "six-survivors"
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s<>\"')]+", re.IGNORECASE)
#: every kind of mail the app sends, each driven below
KINDS = {"receipt", "donor-sign-in", "rescue-report", "contact", "follow-confirm", "case-update",
         "refund", "pledge"}
#: the calls of ``outbox.queue`` in the code (a post's news, rescue report or update, is one;
#: the donor's notices, of a refund, a monthly gift's change or a pledged transfer, are one)
QUEUE_CALLS = 6


class ForgedHostClient(FlaskClient):
    """A test client whose every request claims ``Host: evil.example``."""

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Host"] = EVIL
        # The test's app context, and so ``g`` where Flask-WTF keeps a request's CSRF token,
        # outlives each request: forget the previous request's token, as a server would.
        if has_app_context():
            g.pop("csrf_token", None)
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def forged(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setitem(app.config, "TRACKER_PUBLIC_URL", PUBLIC)
    monkeypatch.setattr(app, "test_client_class", ForgedHostClient)
    return app.test_client()


def queue_calls_in_code() -> int:
    root = Path(tracker.__file__).parent
    return sum(len(re.findall(r"\boutbox\.queue\(", p.read_text("utf-8"))) for p in root.rglob("*.py"))


def test_every_link_in_every_mail_is_on_the_public_url(app: Flask, forged: FlaskClient,
                                                        make_user) -> None:  # noqa: ANN001
    case = make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    # The requests really arrive under the forged host.
    assert forged.get("/").request.host == EVIL

    # A receipt: a card gift with an email, wanting news of the case.
    _donation, session_id = start_gift(forged, SLUG, email=EMAIL, name="Aiko", wants_updates="y")
    assert pay_on_page(forged, session_id).status_code in (302, 303)
    # A pledged transfer to the organization's own account: its details, with a link back.
    set_accounts()
    assert pledge_form(forged, SLUG, lang="ja", email=EMAIL).status_code == 303
    # A sign-in link for the donor's page.
    page = forged.get("/my/sign-in")
    assert forged.post("/my/sign-in", data={"email": EMAIL, "csrf_token": csrf_from(page.text)}
                       ).status_code == 200
    # A message through the contact form, to the organization (its mail carries no link).
    page = forged.get("/contact")
    assert forged.post("/contact", data={"name": "Aiko", "email": EMAIL, "message": "Hello.",
                                         "csrf_token": csrf_from(page.text)}).status_code == 302
    # A follower of the case: the confirmation link, then the news with an unsubscribe link.
    page = forged.get(f"/cases/{SLUG}/follow")
    assert forged.post(f"/cases/{SLUG}/follow", data={
        "email": "follower.links@example.org", "csrf_token": csrf_from(page.text)}).status_code == 200
    db.session.rollback()
    [confirm] = db.session.scalars(db.select(OutboxMessage.body_text)
                                   .where(OutboxMessage.kind == "follow-confirm")).all()
    path = URL.search(confirm).group(0).removeprefix(PUBLIC)
    page = forged.get(path)
    assert forged.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 200
    # A rescue report published by staff: its news goes to the donor (and the follower).
    user, password = make_user("staff")
    assert Auth(forged).login(user.email, password).status_code == 302
    response = post_form(forged, slug="all-safe", title="Everyone is safe", kind="rescue_report",
                         cases=[str(case.id)], publish="publish")
    assert response.status_code == 302, response.text[:2000]
    # An update: its news goes to the follower only.
    response = post_form(forged, slug="halfway", title="Halfway there", kind="update",
                         cases=[str(case.id)], publish="publish")
    assert response.status_code == 302, response.text[:2000]

    # A refund of the card gift: the donor is told (a notice like a monthly gift's change).
    db.session.rollback()
    with transaction():
        recording.refund_donation(db.session.get(Donation, _donation.id), 1_000, "Asked back",
                                  user, get_gateway())

    db.session.rollback()
    messages = list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))
    assert {m.kind for m in messages} == KINDS
    assert queue_calls_in_code() == QUEUE_CALLS, (
        "a mail is queued from a new place in the code: send it in this test too")
    linked = set()
    for message in messages:
        text = f"{message.subject}\n{message.body_text}\n{' '.join(message.headers.values())}"
        assert EVIL not in text, (message.kind, text)
        for url in URL.findall(text):
            assert url.startswith(PUBLIC + "/"), (message.kind, url)
            linked.add(message.kind)
    assert linked >= {"donor-sign-in", "rescue-report", "follow-confirm", "case-update", "pledge"}
    [update] = [m for m in messages if m.kind == "case-update"]
    assert update.headers["List-Unsubscribe"].startswith(f"<{PUBLIC}/unsubscribe/")


def test_public_url_ignores_the_request_host(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "TRACKER_PUBLIC_URL", PUBLIC + "/")
    with app.test_request_context("/", headers={"Host": EVIL}):
        assert links.public_url("posts.show", slug="all-safe", lang="ja") == (
            f"{PUBLIC}/posts/all-safe?lang=ja")
    # Outside a request too (the worker, the CLI).
    assert links.public_url("donors.sign_in") == f"{PUBLIC}/my/sign-in"


def test_without_a_public_url_only_a_request_gives_the_address(app: Flask,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "TRACKER_PUBLIC_URL", None)
    with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert links.public_url("donors.sign_in") == "http://127.0.0.1:5000/my/sign-in"
    with pytest.raises(links.LinkBaseMissing):
        links.public_url("donors.sign_in")
