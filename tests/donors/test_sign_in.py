"""Signing in to a donor's own page with an emailed link.

The link is single use, works for 15 minutes, is not used by opening it (mail scanners open
links), and the request form answers the same whether or not the address is a donor's. Two
uses at once sign in once. The donor's session ends when idle, when the donor signs out (in
every copy of the cookie) and when the donor is anonymized.

Runs on SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import hashlib
import http.client
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_from
from tests.dbcheck import table_counts
from tests.donors.helpers import (
    ask_for_link,
    donor,
    fresh,
    gift,
    link_path,
    new_link,
    normalized,
    sign_in,
    sign_in_mails,
    use_link,
)
from tests.factories import make_case
from tests.live import all_at_once, live_server
from tracker.accounts import auth as auth_module
from tracker.core.time import utcnow
from tracker.donors import privacy, services
from tracker.donors.models import DonorSignIn
from tracker.extensions import db

WHEN = datetime(2025, 10, 5, 3, 0, tzinfo=UTC)
EMAIL = "aiko@example.org"
GONE = "This link has expired or was already used; ask for a new one."


@pytest.fixture
def case(app: Flask):
    return make_case("six-survivors", status="fundraising", public_title="Six flood survivors")


@pytest.fixture
def known(case) -> str:  # noqa: ANN001
    """A donor with a gift and a receipt; returns their email."""
    gift(case, 5_000, WHEN, email=EMAIL, name="Aiko")
    return EMAIL


def donor_signed_in(client: FlaskClient) -> int | None:
    with client.session_transaction() as sess:
        return sess.get("donor_id")


def links() -> list[DonorSignIn]:
    fresh()
    return list(db.session.scalars(db.select(DonorSignIn).order_by(DonorSignIn.id)))


def shift_clock(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    """Move the clock the links are judged by."""
    monkeypatch.setattr(services, "utcnow", lambda: utcnow() + delta)


# --- asking for a link -----------------------------------------------------------------------


def test_a_known_donor_is_emailed_a_link_holding_only_plain_text(app, client, known):
    response = ask_for_link(client, "  AIKO@Example.org ")
    assert response.status_code == 200
    assert "Check your email" in response.text
    [mail] = sign_in_mails()
    assert mail.to_address == EMAIL
    assert mail.subject == "Your sign-in link"
    path = link_path(mail)
    assert "Open this link within 15 minutes" in mail.body_text
    # nothing about the gift: no amount, no case, no receipt number
    for private in ("5,000", "¥", "Six flood survivors", "RT-0", "Aiko"):
        assert private not in mail.body_text, private
    # only the token's SHA-256 is stored, never the token
    token = path.rsplit("/", 1)[1]
    [row] = links()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.used_at is None
    assert timedelta(minutes=14) < row.expires_at - row.created_at <= timedelta(minutes=15)
    dump = repr([tuple(r) for r in db.session.execute(db.text("SELECT * FROM donor_sign_ins"))])
    assert token not in dump
    # the mail leaves once the response is done (the file transport here)
    response.close()
    assert sign_in_mails()[0].sent_at is not None


def test_an_unknown_email_gets_the_identical_answer_and_no_mail(app, client, known):
    known_answer = ask_for_link(client, EMAIL)
    before = table_counts()
    unknown_answer = ask_for_link(app.test_client(), "nobody@example.org")
    assert table_counts() == before  # nothing stored, nothing queued
    assert len(sign_in_mails()) == 1
    assert unknown_answer.status_code == known_answer.status_code == 200
    assert normalized(unknown_answer.text) == normalized(known_answer.text)
    assert sorted(unknown_answer.headers.keys()) == sorted(known_answer.headers.keys())
    assert unknown_answer.headers.get("Set-Cookie") is None or "donor" not in unknown_answer.headers.get(
        "Set-Cookie", "")


def test_a_malformed_email_is_a_form_error(app, client, known):
    response = ask_for_link(client, "not-an-email")
    assert response.status_code == 422
    assert "That email address is not valid" in response.text
    assert sign_in_mails() == []


def test_an_anonymized_donor_gets_no_mail(app, client, known, make_user):
    staff, _ = make_user("staff")
    # Kept as the address first (as if anonymization had left it): the donor's flag decides.
    person = donor(EMAIL)
    person.anonymized_at = utcnow()
    db.session.commit()
    answer = ask_for_link(client, EMAIL)
    assert answer.status_code == 200 and "Check your email" in answer.text
    assert sign_in_mails() == [] and links() == []
    # and through the real anonymization, which also removes the address
    person.anonymized_at = None
    db.session.commit()
    privacy.anonymize_donor(donor(EMAIL), staff, "The donor asked us to forget them.")
    db.session.commit()
    assert ask_for_link(client, EMAIL).status_code == 200
    assert sign_in_mails() == []


def test_at_most_three_links_wait_at_once(app, client, known):
    for _ in range(5):
        assert ask_for_link(client, EMAIL).status_code == 200
    assert len(sign_in_mails()) == services.MAX_OPEN_LINKS == 3


def test_the_email_is_written_in_the_donors_language(app, client, case):
    gift(case, 5_000, WHEN, email="kenji@example.org", name="Kenji", locale="ja")
    gift(case, 3_000, WHEN, email="dana@example.org", name="Dana", locale="en")
    # asked from an English page, written in the donor's language all the same
    new_link(client, "kenji@example.org")
    new_link(client, "dana@example.org")
    japanese, english = sign_in_mails()
    assert japanese.subject == "ログイン用リンクのお知らせ"
    assert "15分以内に次のリンクを開いてログインしてください" in japanese.body_text
    assert "Open this link" not in japanese.body_text
    assert english.subject == "Your sign-in link"
    assert "Open this link within 15 minutes" in english.body_text
    assert link_path(japanese) != link_path(english)


def test_the_request_page_speaks_japanese(app, client, known):
    page = client.get("/my/sign-in?lang=ja")
    assert "ご寄付の記録を見る" in page.text and "ログイン用リンクを送る" in page.text
    response = client.post("/my/sign-in", data={"email": "", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 422
    assert "ご寄付の際にお知らせいただいたメールアドレスを入力してください。" in response.text


def test_the_link_opens_the_donors_page_in_their_language(app, client, case):
    """Issue 18 (outside tester): the link carries the donor's language, so a Japanese donor
    who opens it in a browser that asks for English (or on another device, without the
    language cookie) signs in to /my/ in Japanese."""
    gift(case, 5_000, WHEN, email="kenji@example.org", name="Kenji", locale="ja")
    client.get("/my/sign-in?lang=ja")
    assert ask_for_link(client, "kenji@example.org").status_code == 200
    [mail] = sign_in_mails()
    link = re.search(r"https?://\S+/my/sign-in/\S+", mail.body_text).group(0)
    assert link.endswith("?lang=ja")
    path = link.split("://", 1)[1].split("/", 1)[1]
    browser = app.test_client()  # no cookie, English preferred
    opened = browser.get(f"/{path}", headers={"Accept-Language": "en"})
    assert opened.status_code == 200 and 'lang="ja"' in opened.text and "ログイン" in opened.text
    signed_in = browser.post(f"/{path}", data={"csrf_token": csrf_from(opened.text)},
                             headers={"Accept-Language": "en"}, follow_redirects=True)
    assert signed_in.status_code == 200 and 'lang="ja"' in signed_in.text
    assert "ご寄付" in signed_in.text and "Every gift" not in signed_in.text


def test_a_donor_without_a_language_gets_the_page_they_asked_on(app, client, case):
    """A donor whose language is not known (an offline gift) asking on the Japanese page is
    written to, and linked, in Japanese."""
    gift(case, 5_000, WHEN, email="yui@example.org", name="Yui")
    fresh()
    donor("yui@example.org").locale = None
    db.session.commit()
    client.get("/my/sign-in?lang=ja")
    assert ask_for_link(client, "yui@example.org").status_code == 200
    [mail] = sign_in_mails()
    assert mail.subject == "ログイン用リンクのお知らせ"
    assert re.search(r"/my/sign-in/[A-Za-z0-9_-]+\?lang=ja$", mail.body_text, re.M)


# --- using it ----------------------------------------------------------------------------------


def test_opening_the_link_uses_nothing_and_the_button_signs_in(app, client, known):
    path = new_link(client, EMAIL)
    scanner = app.test_client()
    for _ in range(3):  # a mail scanner, then the donor, open the link
        opened = scanner.get(path)
        assert opened.status_code == 200 and "Sign in" in opened.text
    assert links()[0].used_at is None
    assert donor_signed_in(client) is None

    response = use_link(client, path)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/my/"
    assert donor_signed_in(client) == donor(EMAIL).id
    assert links()[0].used_at is not None
    assert client.get("/my/").status_code == 200


def test_a_link_used_twice_is_refused_the_second_time(app, client, known):
    path = new_link(client, EMAIL)
    page = client.get(path)
    other = app.test_client()
    other_page = other.get(path)
    assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 303
    before = table_counts()
    again = other.post(path, data={"csrf_token": csrf_from(other_page.text)})
    assert again.status_code == 410
    assert GONE in again.text
    assert donor_signed_in(other) is None
    assert other.get("/my/").status_code == 302
    assert table_counts() == before
    # and opening it now says so too
    assert other.get(path).status_code == 410


def test_a_link_used_late_is_refused(app, client, known, monkeypatch):
    path = new_link(client, EMAIL)
    page = client.get(path)
    shift_clock(monkeypatch, timedelta(minutes=14, seconds=50))
    assert client.get(path).status_code == 200  # still in time
    shift_clock(monkeypatch, timedelta(minutes=15, seconds=1))
    before = table_counts()
    assert client.get(path).status_code == 410
    late = client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert late.status_code == 410 and GONE in late.text
    assert donor_signed_in(client) is None
    assert links()[0].used_at is None
    assert table_counts() == before


def test_a_link_whose_expiry_is_past_is_refused(app, client, known):
    path = new_link(client, EMAIL)
    page = client.get(path)
    row = links()[0]
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 410
    assert donor_signed_in(client) is None


@pytest.mark.parametrize("token", ["unknown", "x" * 43, "A" * 101, "%E2%80%AE"])
def test_an_unknown_link_is_refused_and_changes_nothing(app, client, known, token):
    new_link(client, EMAIL)
    page = client.get("/my/sign-in")
    before = table_counts()
    assert client.get(f"/my/sign-in/{token}").status_code == 410
    response = client.post(f"/my/sign-in/{token}", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 410 and GONE in response.text
    assert table_counts() == before and donor_signed_in(client) is None


def test_a_link_for_a_donor_anonymized_since_is_refused(app, client, known, make_user):
    staff, _ = make_user("staff")
    path = new_link(client, EMAIL)
    page = client.get(path)
    privacy.anonymize_donor(donor(EMAIL), staff, "The donor asked us to forget them.")
    db.session.commit()
    assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 410
    assert donor_signed_in(client) is None


def _post(base: str, path: str, cookie: str, token: str) -> tuple[int, bytes]:
    """POST the button's form with the racer's own cookie; (status, Set-Cookie) back."""
    netloc = urlsplit(base).netloc
    connection = http.client.HTTPConnection(netloc, timeout=60)
    try:
        connection.request("POST", path, body=f"csrf_token={token}",
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status, (response.getheader("Set-Cookie") or "").encode()
    finally:
        connection.close()


def _get(base: str, path: str, cookie: str = "") -> tuple[int, str, str]:
    netloc = urlsplit(base).netloc
    connection = http.client.HTTPConnection(netloc, timeout=60)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode()
        set_cookie = response.getheader("Set-Cookie") or ""
        return response.status, body, set_cookie.split(";", 1)[0]
    finally:
        connection.close()


def test_one_link_used_at_once_from_eight_browsers_signs_in_once(app, client, known):
    """Eight browsers press the button of one link at the same moment, on a live server:
    exactly one is signed in; the others are refused; the link is used once."""
    path = new_link(client, EMAIL)
    with live_server(app) as base:
        racers = []
        for _ in range(8):  # each opens the link first: its own cookie and CSRF token
            status, body, cookie = _get(base, path)
            assert status == 200 and cookie.startswith("session=")
            racers.append((cookie, csrf_from(body)))
        results = all_at_once([
            (lambda c=cookie, t=token: _post(base, path, c, t)) for cookie, token in racers
        ])
        statuses = sorted(status for status, _ in results)
        assert statuses == [303] + [410] * 7, statuses
        [signed] = [cookie for status, cookie in results if status == 303]
        session_cookie = signed.decode().split(";", 1)[0]
        status, body, _ = _get(base, "/my/", session_cookie)
        assert status == 200 and "Your gifts" in body
        for cookie, _token in racers:  # the refused ones are not signed in
            status, _, _ = _get(base, "/my/", cookie)
            assert status == 302
    [row] = links()
    assert row.used_at is not None


# --- the donor's session ------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The session clock (seconds since the epoch), moved by the test."""
    now = {"t": 1_800_000_000}
    monkeypatch.setattr(auth_module, "_epoch", lambda: now["t"])
    return now


def test_the_session_ends_after_thirty_idle_minutes(app, client, known, clock):
    sign_in(client, EMAIL)
    clock["t"] += 29 * 60
    assert client.get("/my/").status_code == 200
    clock["t"] += 29 * 60  # 58 minutes in, never 30 idle
    assert client.get("/my/").status_code == 200
    clock["t"] += 30 * 60 + 1
    response = client.get("/my/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/sign-in")
    assert donor_signed_in(client) is None
    assert "Your session ended; please sign in again." in client.get("/my/sign-in").text


def test_signing_out_ends_the_session_in_every_copy_of_the_cookie(app, client, known):
    sign_in(client, EMAIL)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/my/").status_code == 200  # a copied cookie works while signed in
    page = client.get("/my/")
    response = client.post("/my/sign-out", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/my/sign-in")
    assert donor_signed_in(client) is None
    assert client.get("/my/").status_code == 302
    assert copy.get("/my/").status_code == 302  # ended on the server too
    assert links()[0].ended_at is not None


def test_anonymizing_a_donor_ends_their_session(app, client, known, make_user):
    staff, _ = make_user("staff")
    sign_in(client, EMAIL)
    privacy.anonymize_donor(donor(EMAIL), staff, "The donor asked us to forget them.")
    db.session.commit()
    assert client.get("/my/").status_code == 302
    assert donor_signed_in(client) is None


def test_a_donor_session_and_a_staff_session_are_separate(app, client, known, auth, make_user):
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    sign_in(client, EMAIL)
    assert client.get("/staff/").status_code == 200  # still staff
    assert client.get("/my/").status_code == 200
    page = client.get("/my/")
    client.post("/my/sign-out", data={"csrf_token": csrf_from(page.text)})
    assert client.get("/staff/").status_code == 200  # the staff session stays


def test_the_pages_need_a_signed_in_donor(app, client, known):
    for path in ("/my/", "/my/receipts/RT-000001.pdf", "/my/annual/2025.pdf"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/my/sign-in"), path


def test_a_signed_in_donor_asking_again_goes_to_their_page(app, client, known):
    sign_in(client, EMAIL)
    response = client.get("/my/sign-in")
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/")


def test_old_links_are_forgotten_when_a_new_one_is_asked_for(app, client, known, monkeypatch):
    new_link(client, EMAIL)
    sign_in(client, EMAIL)
    used = max(row.id for row in links())
    shift_clock(monkeypatch, timedelta(hours=13))
    new_link(app.test_client(), EMAIL)
    rows = links()
    assert len(rows) == 1 and rows[0].used_at is None  # the expired link and the old session went
    # and its id is new: a session kept in an old cookie names a row that stays gone
    assert rows[0].id > used


def test_the_request_form_shares_the_sign_in_rate_limit(database_url, app):
    """The link form counts against the sign-in budget of the client's address."""
    from tests.conftest import make_app

    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       RATELIMIT_KEY_PREFIX="donor-link-test", TRACKER_RATELIMIT_LOGIN="3 per minute")
    try:
        browser = limited.test_client()
        page = browser.get("/my/sign-in")
        token = csrf_from(page.text)
        statuses = [browser.post("/my/sign-in", data={"email": f"x{i}@example.org",
                                                      "csrf_token": token}).status_code
                    for i in range(3)]
        assert statuses == [200, 200, 200]
        assert browser.post("/my/sign-in", data={"email": "x@example.org",
                                                 "csrf_token": token}).status_code == 429
        login = browser.get("/login")
        assert browser.post("/login", data={"email": "a@example.org", "password": "x",
                                            "csrf_token": csrf_from(login.text)}).status_code == 429
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_donor_pages_are_never_stored(app, client, known):
    assert "no-store" in client.get("/my/sign-in").headers["Cache-Control"]
    sign_in(client, EMAIL)
    page = client.get("/my/")
    assert "no-store" in page.headers["Cache-Control"]
    number = re.search(r"/my/receipts/(RT-\d+)\.pdf", page.text).group(1)
    assert "no-store" in client.get(f"/my/receipts/{number}.pdf").headers["Cache-Control"]


def test_the_link_is_built_on_the_public_url_not_the_requests_host(app, client, known, monkeypatch):
    """Anyone may ask for anyone's link: with TRACKER_PUBLIC_URL set, a forged Host header
    cannot make the email point the donor (and their token) at another host."""
    monkeypatch.setitem(app.config, "TRACKER_PUBLIC_URL", "https://give.example.org/")
    page = client.get("/my/sign-in", headers={"Host": "evil.example"})
    client.post("/my/sign-in", headers={"Host": "evil.example"},
                data={"email": EMAIL, "csrf_token": csrf_from(page.text)})
    [mail] = sign_in_mails()
    assert "evil.example" not in mail.body_text
    assert re.search(r"^https://give\.example\.org/my/sign-in/[A-Za-z0-9_-]{43}\?lang=en$",
                     mail.body_text, re.M)
