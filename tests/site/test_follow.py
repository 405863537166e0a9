"""Following a case without giving: double opt-in, the confirmation link (forged, expired),
the one-click unsubscribe (RFC 8058) by button and by a mail client's POST, the headers on
the followers' mail, only confirmed followers mailed when a post is published, erasure, the
rate limit and the same answer whether or not an address already follows."""

from __future__ import annotations

import email
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import csrf_from, make_app
from tests.donations.test_privacy import anonymize_page, staff_client
from tests.factories import give, make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.posts.helpers import post_form
from tracker.cases import follows
from tracker.cases.follows import CaseFollow
from tracker.core.time import utcnow
from tracker.donations.models import Donor
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage
from tracker.mail.send import build_message

PRIVATE_NOTE = "PRIVATE-ROUTE-over-the-mountain"
PRIVATE_NAME = "PRIVATE-NAME-Ahn"


@pytest.fixture
def case(app: Flask):
    case = make_case("six-survivors", people=2, status="fundraising",
                     public_title="Six flood survivors", private_notes=PRIVATE_NOTE)
    case.beneficiaries[0].private_name = PRIVATE_NAME
    db.session.commit()
    return case


def _follow(client, slug: str, address: str, lang: str = "en"):
    page = client.get(f"/cases/{slug}/follow?lang={lang}")
    assert page.status_code == 200
    return client.post(f"/cases/{slug}/follow", data={"email": address,
                                                     "csrf_token": csrf_from(page.text)})


def _messages(kind: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = db.select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query))


def _link(body: str, path: str) -> str:
    match = re.search(r"https?://\S+" + re.escape(path) + r"[^\s]+", body)
    assert match, body
    return match.group(0).split("localhost", 1)[-1]


def _confirm_path(message: OutboxMessage) -> str:
    return _link(message.body_text, "/follow/confirm/")


def _follows() -> list[CaseFollow]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(CaseFollow).order_by(CaseFollow.id)))


def _confirm(client, path: str):
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_from(page.text)})


def _publish_update(staff_client_, case, slug: str, kind: str = "update", publish: str = "publish"):
    response = post_form(staff_client_, title=f"News {slug}", slug=slug, kind=kind,
                         publish=publish, cases=str(case.id))
    assert response.status_code in (302, 303), response.text[:3000]


# --------------------------------------------------------------------------- following


def test_follow_sends_a_confirmation_and_only_the_link_confirms(client, case, mail_dir: Path) -> None:  # noqa: F811
    answer = _follow(client, case.slug, " Reader@Example.ORG ", lang="ja")
    assert answer.status_code == 200
    assert "メール" in answer.text
    [follow] = _follows()
    assert (follow.email, follow.locale, follow.confirmed_at) == ("reader@example.org", "ja", None)
    [message] = _messages("follow-confirm")
    assert message.to_address == "reader@example.org"
    assert "Six flood survivors" in message.subject
    for secret in (PRIVATE_NOTE, PRIVATE_NAME):
        assert secret not in message.body_text and secret not in message.subject
    # Written in the reader's language (Japanese), with the link.
    assert "お申し込み" in message.body_text and "72時間以内" in message.body_text
    path = _confirm_path(message)
    # Opening the link (a mail scanner) changes nothing; the button confirms.
    assert client.get(path).status_code == 200
    assert _follows()[0].confirmed_at is None
    done = _confirm(client, path)
    assert done.status_code == 200
    assert _follows()[0].confirmed_at is not None
    # The confirmation mail really goes out through the outbox, to the file transport.
    outbox.deliver_pending()
    [sent] = [email.message_from_bytes(p.read_bytes()) for p in mail_dir.glob("*.eml")]
    assert sent["To"] == "reader@example.org"


def test_the_answer_is_the_same_whether_or_not_the_address_follows(client, case) -> None:
    first = _follow(client, case.slug, "same@example.org")
    [follow] = _follows()
    _confirm(client, _confirm_path(_messages("follow-confirm")[0]))
    again = _follow(client, case.slug, "same@example.org")
    fresh = _follow(client, case.slug, "new@example.org")

    def strip(html: str) -> str:
        return re.sub(r'name="csrf_token"[^>]*', "", html)

    assert first.status_code == again.status_code == fresh.status_code == 200
    assert strip(first.text) == strip(again.text) == strip(fresh.text)
    # The confirmed address got no second mail; the new one got its confirmation.
    assert [m.to_address for m in _messages("follow-confirm")] == ["same@example.org",
                                                                   "new@example.org"]
    assert len(_follows()) == 2 and _follows()[0].id == follow.id


def test_an_unconfirmed_address_asking_again_gets_one_mail_per_ten_minutes(app, case) -> None:
    now = utcnow()
    with app.test_request_context():
        assert follows.request_follow(case, "wait@example.org", "en", now) is not None
        assert follows.request_follow(case, "wait@example.org", "en", now) is None
        assert follows.request_follow(case, "wait@example.org", "en",
                                      now + timedelta(minutes=11)) is not None
        db.session.commit()
    assert len(_messages("follow-confirm")) == 2
    assert len(_follows()) == 1


def test_bad_addresses_and_private_cases(client, case) -> None:
    bad = _follow(client, case.slug, "not an address")
    assert bad.status_code == 422
    assert "does not look like an email address" in bad.text
    in_japanese = _follow(client, case.slug, "x@", lang="ja")
    assert in_japanese.status_code == 422
    assert "メールアドレスの形式ではないようです" in in_japanese.text
    assert _follows() == [] and _messages() == []
    private = make_case("private-request", status="requested")
    assert client.get(f"/cases/{private.slug}/follow").status_code == 404
    token = csrf_from(client.get(f"/cases/{case.slug}/follow").text)
    assert client.post(f"/cases/{private.slug}/follow",
                       data={"email": "a@example.org", "csrf_token": token}).status_code == 404
    assert client.get("/cases/no-such-case/follow").status_code == 404
    assert _follows() == []


def test_forged_and_expired_confirmation_links_change_nothing(client, case, monkeypatch) -> None:
    _follow(client, case.slug, "late@example.org")
    path = _confirm_path(_messages("follow-confirm")[0]).split("?")[0]
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(forged).status_code == 400
    assert client.post(forged, data={}).status_code == 400
    token = path.rsplit("/", 1)[1]
    # Another follow's id with this secret: not valid either.
    [follow] = _follows()
    other = follows._confirm_serializer().dumps([follow.id + 1, follow.secret])
    assert client.get(f"/follow/confirm/{other}").status_code == 400
    # Three days and a bit later the link has expired.
    monkeypatch.setattr(follows, "CONFIRM_HOURS", 0)
    time.sleep(1.1)
    expired = client.get(f"/follow/confirm/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert _follows()[0].confirmed_at is None


def test_follow_is_rate_limited(app: Flask, database_url: str, case) -> None:
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       TRACKER_RATELIMIT_FOLLOW="2 per minute",
                       # the mail stays queued: no delivery after the response, on an app whose
                       # pool is disposed below (PostgreSQL would warn of a connection left open)
                       TRACKER_OUTBOX_DELIVERY="worker")
    try:
        client = limited.test_client()
        statuses = [_follow(client, case.slug, f"r{i}@example.org").status_code for i in range(3)]
        assert statuses == [200, 200, 429]
        assert client.get(f"/cases/{case.slug}/follow").status_code == 200  # reading is free
    finally:
        with limited.app_context():
            db.engine.dispose()
    assert len(_follows()) == 2


def test_only_requests_sent_count_toward_the_follow_limit(app: Flask, database_url: str,
                                                          case) -> None:
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       RATELIMIT_KEY_PREFIX=f"rt-follow-{uuid.uuid4().hex}",
                       TRACKER_RATELIMIT_FOLLOW="2 per minute", TRACKER_OUTBOX_DELIVERY="worker")
    try:
        client = limited.test_client()
        typos = [_follow(client, case.slug, "not-an-address").status_code for _ in range(3)]
        assert typos == [422, 422, 422]  # nothing sent, nothing counted
        statuses = [_follow(client, case.slug, f"r{i}@example.org").status_code for i in range(3)]
        assert statuses == [200, 200, 429]
    finally:
        with limited.app_context():
            db.engine.dispose()
    assert len(_follows()) == 2


# --------------------------------------------------------------------------- the news


def test_only_confirmed_followers_get_updates_and_reports_with_unsubscribe_headers(
        app: Flask, client, case, make_user) -> None:
    _follow(client, case.slug, "yes@example.org", lang="ja")
    _confirm(client, _confirm_path(_messages("follow-confirm")[0]))
    _follow(client, case.slug, "maybe@example.org")  # never confirms
    other = make_case("another-case", status="fundraising")
    _follow(client, other.slug, "elsewhere@example.org")
    _confirm(client, _confirm_path(_messages("follow-confirm")[-1]))
    donor_gift = give(case, 5_000, email="donor@example.org")
    donor_gift.wants_updates = True
    db.session.commit()

    staff = staff_client(app, make_user)
    _publish_update(staff, case, "first-update", kind="update")
    [update] = _messages("case-update")
    assert update.to_address == "yes@example.org"
    assert "News first-update" in update.subject
    for secret in (PRIVATE_NOTE, PRIVATE_NAME):
        assert secret not in update.body_text
    headers = update.headers
    unsubscribe = headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https?://[^>]+/unsubscribe/[^>]+>", unsubscribe)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe[1:-1] in update.body_text
    # A news post is not mailed; a draft is not mailed.
    _publish_update(staff, case, "some-news", kind="news")
    _publish_update(staff, case, "draft-update", kind="update", publish="draft")
    assert len(_messages("case-update")) == 1

    # A rescue report: the donor who asked and the confirmed follower, once each.
    _publish_update(staff, case, "everyone-safe", kind="rescue_report")
    reports = _messages("rescue-report")
    assert sorted(m.to_address for m in reports) == ["donor@example.org", "yes@example.org"]
    by_address = {m.to_address: m for m in reports}
    assert "List-Unsubscribe" in by_address["yes@example.org"].headers
    assert by_address["donor@example.org"].headers == {}
    # The headers go out on the message itself.
    with app.test_request_context():
        built = build_message(update.to_address, update.subject, update.body_text, headers=update.headers)
    assert built["List-Unsubscribe"] == unsubscribe
    # as written on the wire: the URL itself in angle brackets (a MIME-encoded header is not
    # a link any mail program would follow)
    raw = built.as_bytes().decode("utf-8")
    assert f"List-Unsubscribe: {unsubscribe}\r\n" in raw or f"List-Unsubscribe: {unsubscribe}\n" in raw
    assert built["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_unsubscribe_link_opens_in_the_mails_language(app: Flask, client, case,
                                                          make_user) -> None:
    for address, lang in (("ja@example.org", "ja"), ("en@example.org", "en")):
        _follow(client, case.slug, address, lang=lang)
        _confirm(client, _confirm_path(_messages("follow-confirm")[-1]))
    _publish_update(staff_client(app, make_user), case, "an-update")
    mails = {m.to_address: m for m in _messages("case-update")}
    for address, lang, heading in (("ja@example.org", "ja", "お知らせの配信停止"),
                                   ("en@example.org", "en", "Stop the news")):
        link = mails[address].headers["List-Unsubscribe"][1:-1]
        assert link.endswith(f"?lang={lang}") and link in mails[address].body_text
        # a browser that says nothing of Japanese, without the site's cookie
        browser = app.test_client()
        page = browser.get(link.split("localhost", 1)[-1],
                           headers={"Accept-Language": "fr" if lang == "ja" else "ja"})
        assert page.status_code == 200 and heading in page.text
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        assert action.endswith(f"lang={lang}")


def test_unsubscribe_by_the_button_and_by_one_click(app: Flask, client, case, make_user) -> None:
    for address in ("button@example.org", "oneclick@example.org"):
        _follow(client, case.slug, address)
        _confirm(client, _confirm_path(_messages("follow-confirm")[-1]))
    _publish_update(staff_client(app, make_user), case, "an-update")
    links = {m.to_address: m.headers["List-Unsubscribe"][1:-1] for m in _messages("case-update")}
    button_path = links["button@example.org"].split("localhost", 1)[-1]
    click_path = links["oneclick@example.org"].split("localhost", 1)[-1]

    # GET shows a page with a button and changes nothing.
    page = client.get(button_path)
    assert page.status_code == 200 and "<button" in page.text
    assert len(_follows()) == 2
    stopped = client.post(button_path)  # the button: no CSRF token needed either
    assert stopped.status_code == 200
    assert [f.email for f in _follows()] == ["oneclick@example.org"]

    # A mail client's one-click POST: no page, no session, no CSRF token.
    fresh = app.test_client()
    one_click = fresh.post(click_path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert one_click.mimetype == "text/plain"
    assert _follows() == []
    # Twice is fine; a forged token is refused.
    assert fresh.post(click_path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get(click_path).status_code == 200
    forged = click_path.replace("?", "x?")  # the token changed, the language kept
    assert fresh.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert client.get(button_path.replace("?", "x?")).status_code == 400

    # Nobody left: the next update goes to no one.
    _publish_update(staff_client(app, make_user), case, "second-update")
    assert len(_messages("case-update")) == 2


# --------------------------------------------------------------------------- erasure


def test_erasing_a_donor_removes_the_follows_of_their_address(app: Flask, client, case, make_user) -> None:
    give(case, 5_000, email="erase-me@example.org", name="Erase Me")
    _follow(client, case.slug, "Erase-Me@example.org")
    _confirm(client, _confirm_path(_messages("follow-confirm")[0]))
    _follow(client, case.slug, "keep@example.org")
    donor = db.session.scalar(db.select(Donor).where(Donor.email == "erase-me@example.org"))
    staff = staff_client(app, make_user)
    export = staff.get(f"/staff/donors/{donor.id}/export.json")
    assert export.status_code == 200
    assert export.json["follows"][0]["case"]["slug"] == case.slug
    response = anonymize_page(staff, donor.id)
    assert response.status_code == 302, response.text[:2000]
    assert [f.email for f in _follows()] == ["keep@example.org"]
    assert follows.forget_email("keep@example.org") == 1


def test_unconfirmed_follows_are_deleted_once_their_link_has_expired(app, case) -> None:
    now = utcnow()
    with app.test_request_context():
        follows.request_follow(case, "never@example.org", "en", now - timedelta(hours=73))
        follows.request_follow(case, "recent@example.org", "en", now - timedelta(hours=1))
        old = follows.request_follow(case, "confirmed@example.org", "en", now - timedelta(hours=80))
        old.confirmed_at = now - timedelta(hours=79)
        db.session.commit()
    assert follows.prune_unconfirmed(now) == 1
    db.session.commit()
    assert sorted(f.email for f in _follows()) == ["confirmed@example.org", "recent@example.org"]
