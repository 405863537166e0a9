"""The about, contact and privacy pages: written by admins in both languages (Markdown,
sanitized as posts are), the other language's text with a note when the reader's is missing,
and a contact form whose message goes to the organization through the outbox, rate limited,
with the sender's address shown nowhere public. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import csrf_from, make_app
from tests.organization.helpers import save_identity, save_page
from tracker.audit import AuditEntry
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage

SENDER_ADDRESS = "worried.friend@example.net"


def _messages() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "contact")))


def test_an_admin_writes_the_about_page_and_readers_see_it_at_once(app, admin_client):
    visitor = app.test_client()
    before = visitor.get("/about")
    assert "This page has not been written yet." in before.text

    response = save_page(admin_client, "about", english="We are **volunteers** in Tokyo.")
    assert response.status_code == 302
    english = visitor.get("/about", headers={"If-None-Match": before.headers["ETag"]})
    assert english.status_code == 200
    assert "We are <strong>volunteers</strong> in Tokyo." in english.text
    assert 'data-testid="only-in"' not in english.text

    # no Japanese text: the English one, with a note in Japanese
    japanese = visitor.get("/about?lang=ja").text
    assert "We are <strong>volunteers</strong> in Tokyo." in japanese
    assert 'data-testid="only-in"' in japanese and '<div class="story" lang="en">' in japanese

    assert save_page(admin_client, "about", english="We are volunteers in Tokyo.",
                     japanese="私たちは東京のボランティアです。").status_code == 302
    japanese = visitor.get("/about?lang=ja").text
    assert "私たちは東京のボランティアです。" in japanese and 'data-testid="only-in"' not in japanese

    db.session.expire_all()
    entries = list(db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.action == "organization.page").order_by(AuditEntry.id)))
    assert [e.after["characters"] for e in entries] == [{"en": 31}, {"en": 27, "ja": 16}]


def test_page_text_is_sanitized_as_posts_are(app, admin_client, client):
    hostile = ('Hello <script>alert("x")</script> [click](javascript:alert(1)) '
               '<img src=x onerror="alert(2)"> <iframe src="https://evil.example"></iframe>')
    assert save_page(admin_client, "privacy", english=hostile).status_code == 302
    page = client.get("/privacy").text
    assert "<script>alert" not in page and "javascript:" not in page
    assert "onerror" not in page and "<iframe" not in page
    assert "Hello" in page


def test_only_the_three_pages_exist(app, admin_client):
    assert admin_client.get("/staff/organization/pages/secrets").status_code == 404
    assert admin_client.get("/staff/organization/pages/about").status_code == 200


def test_a_page_longer_than_allowed_is_a_form_error(app, admin_client):
    response = save_page(admin_client, "about", english="x" * 20_001)
    assert response.status_code == 422
    assert "Field cannot be longer than 20000 characters." in response.text
    assert "x" * 100 not in app.test_client().get("/about").text


def _contact(client, **data):  # noqa: ANN001, ANN003, ANN202
    page = client.get("/contact")
    assert page.status_code == 200
    form = {"name": "A worried friend", "email": SENDER_ADDRESS,
            "message": "How can I help the family?", "csrf_token": csrf_from(page.text), **data}
    return client.post("/contact", data=form)


def test_the_contact_form_sends_one_mail_to_the_organization(app, admin_client, client, mail_dir):
    assert save_identity(admin_client).status_code == 302
    response = _contact(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/contact")
    thanks = client.get("/contact").text
    assert "Thank you. Your message has been sent; we will reply by email." in thanks
    [message] = _messages()
    assert message.to_address == "office@hikari-bridge.example"
    assert SENDER_ADDRESS in message.body_text and "How can I help the family?" in message.body_text
    assert "A worried friend" in message.subject
    # delivered through the outbox, signed like every mail
    assert outbox.deliver_pending() == (1, 0)
    [eml] = list(mail_dir.iterdir())
    assert b"office@hikari-bridge.example" in eml.read_bytes()
    # answering it answers the visitor
    assert f"Reply-To: {SENDER_ADDRESS}".encode() in eml.read_bytes()

    # the sender's address is on no public page
    visitor = app.test_client()
    for path in ("/", "/about", "/contact", "/privacy", "/donate", "/contact?lang=ja"):
        assert SENDER_ADDRESS not in visitor.get(path).text, path
    assert SENDER_ADDRESS not in thanks


def test_without_a_contact_address_the_message_goes_to_the_sender_address(app, client):
    assert _contact(client).status_code == 302
    [message] = _messages()
    assert message.to_address == "no-reply@localhost"


@pytest.mark.parametrize(("data", "error"), [
    ({"email": "not-an-address"}, "Enter an email address like name@example.org."),
    ({"email": ""}, "Give an email address we can reply to."),
    ({"name": ""}, "Tell us your name."),
    ({"message": "   "}, "Write your message."),
    ({"message": "x" * 5001}, "Field cannot be longer than 5000 characters."),
])
def test_bad_contact_input_is_a_form_error_and_sends_nothing(app, client, data, error):
    response = _contact(client, **data)
    assert response.status_code == 422
    assert error in response.text
    assert 'aria-invalid="true"' in response.text
    assert _messages() == []


def test_a_contact_form_without_its_token_is_refused(app, client):
    response = client.post("/contact", data={"name": "x", "email": SENDER_ADDRESS, "message": "y"})
    assert response.status_code == 400
    assert _messages() == []


def test_japanese_contact_page_shows_japanese_errors(app, client):
    page = client.get("/contact?lang=ja")
    response = client.post("/contact?lang=ja", data={
        "name": "友人", "email": "bad", "message": "質問です。", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 422
    assert "Enter an email address" not in response.text
    assert _messages() == []


def test_the_contact_form_is_rate_limited(app, database_url):
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       RATELIMIT_KEY_PREFIX=f"rt-org-{uuid.uuid4().hex}",
                       TRACKER_RATELIMIT_CONTACT="2 per minute",
                       # the mail stays queued: no delivery after the response, on an app whose
                       # pool is disposed below (PostgreSQL would warn of a connection left open)
                       TRACKER_OUTBOX_DELIVERY="worker")
    try:
        client = limited.test_client()
        assert _contact(client).status_code == 302
        assert _contact(client).status_code == 302
        refused = _contact(client)
        assert refused.status_code == 429
        assert refused.headers.get("Retry-After")
        assert len(_messages()) == 2
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_only_messages_sent_count_toward_the_contact_limit(app, database_url):
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       RATELIMIT_KEY_PREFIX=f"rt-org-{uuid.uuid4().hex}",
                       TRACKER_RATELIMIT_CONTACT="2 per minute", TRACKER_OUTBOX_DELIVERY="worker")
    try:
        client = limited.test_client()
        for _ in range(3):  # a mistyped address, three times: nothing sent, nothing counted
            assert _contact(client, email="not-an-address").status_code == 422
        assert _contact(client).status_code == 302
        assert _contact(client).status_code == 302
        assert _contact(client).status_code == 429
        assert len(_messages()) == 2
    finally:
        with limited.app_context():
            db.engine.dispose()
