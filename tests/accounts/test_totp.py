"""The TOTP second factor: enrolment, the code step of signing in, replays, the admin rule,
turning it off, ``flask users reset-totp``, and an audit trail that never holds a secret.

Codes are computed with pyotp from the secret stored in the database, at the time step of the
app's clock (``tracker.accounts.auth._epoch``), which most tests set and move themselves.
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Auth, csrf_from
from tracker.accounts import auth as auth_module
from tracker.accounts import services, totp
from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.core.access import PUBLIC, ROLES, policy_for
from tracker.extensions import db

START = 1_800_000_000  # a multiple of 30: the start of a time step


@pytest.fixture
def clock(monkeypatch):
    """The app's clock (seconds since the epoch), which the test moves."""
    now = {"t": START + 5}
    monkeypatch.setattr(auth_module, "_epoch", lambda: now["t"])
    return now


# --- helpers ---------------------------------------------------------------------------------


def fresh(user: User) -> User:
    """The user as the database has it now (requests write through their own sessions)."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def now_step(clock: dict[str, int]) -> int:
    return clock["t"] // 30


def wrong_code(secret: str, clock: dict[str, int]) -> str:
    """Six digits that are no valid code of ``secret`` around now."""
    valid = {code_at(secret, s) for s in range(now_step(clock) - 2, now_step(clock) + 3)}
    return next(c for c in ("123456", "654321", "111111") if c not in valid)


def enable_totp(user: User, clock: dict[str, int]) -> str:
    """Turn the second factor on through the services (as if enrolled long ago); its secret."""
    totp.begin_enrolment(user)
    totp.confirm_enrolment(user, code_at(user.totp_secret, now_step(clock) - 1))
    user.totp_last_step = None  # enrolled long ago: no code of these steps used yet
    db.session.commit()
    return user.totp_secret


def post_password(client: FlaskClient, email: str, password: str, next_: str | None = None):
    url = "/login" if next_ is None else "/login?" + urlencode({"next": next_})
    page = client.get(url)
    return client.post(url, data={"email": email, "password": password,
                                  "csrf_token": csrf_from(page.text)})


def post_code(client: FlaskClient, code: str, url: str = "/login/code"):
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, data={"code": code, "csrf_token": csrf_from(page.text)})


def session_user_id(client: FlaskClient) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def is_signed_out(client: FlaskClient) -> bool:
    response = client.get("/staff/")
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def code_error(html: str) -> str | None:
    match = re.search(r'<p class="error" id="code-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else None


def actions(action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = db.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def security_post(client: FlaskClient, path: str, **data: str):
    page = client.get("/account/security")
    return client.post(path, data={**data, "csrf_token": csrf_from(page.text)})


@pytest.fixture
def staff_with_totp(app, make_user, clock):
    """A staff member with the second factor on: (user, password, secret)."""
    user, password = make_user("staff")
    return user, password, enable_totp(user, clock)


# --- enrolment -------------------------------------------------------------------------------


def test_enrol_and_confirm_turns_the_second_factor_on(client, auth, new_auth, make_user, clock):
    user, password = make_user("staff")
    auth.login(user.email, password)
    other = new_auth()
    other.login(user.email, password)  # a session made with the password alone
    page = client.get("/account/security")
    assert page.status_code == 200 and "<strong>Off</strong>" in page.text

    response = security_post(client, "/account/security/start")

    assert response.status_code == 302 and response.headers["Location"] == "/account/security"
    secret = fresh(user).totp_secret
    assert secret and fresh(user).totp_enabled_at is None  # not in use yet
    page = client.get("/account/security")
    assert "Being set up" in page.text
    assert re.search(r"<svg[^>]*class=\"qr-code\"", page.text)  # the QR code, inline
    assert f'<code id="totp-secret">{secret}</code>' in page.text  # and the key, to type
    assert "no-store" in page.headers["Cache-Control"]
    assert not is_signed_out(client)  # enrolling asks for no code yet

    code = code_at(secret, now_step(clock))
    response = security_post(client, "/account/security/confirm", code=code)

    assert response.status_code == 302
    user = fresh(user)
    assert user.totp_enabled_at is not None
    assert user.totp_last_step == now_step(clock)  # the first code is used up
    assert "<strong>On</strong>" in client.get("/account/security").text
    # this session goes on; the one signed in with the password alone has ended
    assert client.get("/staff/").status_code == 200
    assert is_signed_out(other.client)
    assert [e.action for e in actions() if e.action.startswith("user.totp")] == [
        "user.totp_enrolment_started", "user.totp_enabled"]


@pytest.mark.parametrize("wrong", ["six wrong digits", "12345", "abcdef", "1234567", ""])
def test_a_wrong_confirmation_code_changes_nothing(client, auth, make_user, clock, wrong):
    user, password = make_user("staff")
    auth.login(user.email, password)
    security_post(client, "/account/security/start")
    secret = fresh(user).totp_secret
    if wrong == "six wrong digits":
        wrong = wrong_code(secret, clock)
    sessions_before = fresh(user).session_version

    response = security_post(client, "/account/security/confirm", code=wrong)

    assert response.status_code == 422
    assert code_error(response.text)
    assert "Being set up" in response.text  # the QR code and key are still shown
    user = fresh(user)
    assert (user.totp_secret, user.totp_enabled_at, user.totp_last_step) == (secret, None, None)
    assert user.session_version == sessions_before
    assert actions("user.totp_enabled") == []


def test_a_code_of_another_secret_does_not_confirm(client, auth, make_user, clock):
    user, password = make_user("staff")
    auth.login(user.email, password)
    security_post(client, "/account/security/start")

    response = security_post(client, "/account/security/confirm",
                             code=code_at(pyotp.random_base32(), now_step(clock)))

    assert response.status_code == 422
    assert fresh(user).totp_enabled_at is None


def test_enrolment_can_be_cancelled_and_started_again_with_a_new_secret(client, auth, make_user, clock):
    user, password = make_user("staff")
    auth.login(user.email, password)
    security_post(client, "/account/security/start")
    first = fresh(user).totp_secret

    security_post(client, "/account/security/cancel")
    assert fresh(user).totp_secret is None
    security_post(client, "/account/security/start")

    assert fresh(user).totp_secret not in (None, first)


def test_enrolment_cannot_start_again_while_on(client, auth, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    auth.login(user.email, password)

    response = security_post(client, "/account/security/start")

    assert response.status_code == 302
    assert fresh(user).totp_secret == secret
    assert "already on" in client.get("/account/security").text


# --- signing in with the code ----------------------------------------------------------------


def test_the_password_alone_does_not_sign_in(client, staff_with_totp, clock):
    user, password, _ = staff_with_totp

    response = post_password(client, user.email, password)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login/code"
    assert session_user_id(client) is None
    assert is_signed_out(client)
    assert client.get("/account/security").status_code == 302
    page = client.get("/login/code")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    assert "no-store" in page.headers["Cache-Control"]
    assert fresh(user).last_login_at is None
    assert [e.action for e in actions()][-1] == "user.login_password"
    assert actions("user.login") == []


def test_the_right_code_signs_in_and_honours_next(client, staff_with_totp, clock):
    user, password, secret = staff_with_totp

    response = post_password(client, user.email, password, next_="/staff/cases/new?x=1")
    code_url = response.headers["Location"]
    assert parse_qs(urlsplit(code_url).query)["next"] == ["/staff/cases/new?x=1"]
    response = post_code(client, code_at(secret, now_step(clock)), code_url)

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/cases/new?x=1"
    assert session_user_id(client) == f"{user.id}:{fresh(user).session_version}"
    assert client.get("/staff/").status_code == 200
    assert fresh(user).last_login_at is not None
    [entry] = actions("user.login")
    assert entry.actor_id == user.id and entry.after == {"second_factor": "totp"}
    with client.session_transaction() as sess:
        assert auth_module.PENDING_KEY not in sess  # the marker is gone with the old session


# (a control character in next= is refused whole with a 400 before any form is read: see
# tests/accounts/test_auth.py::test_a_next_with_control_characters_is_refused_whole)
@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\/evil.example",
                                    "%2F%2Fevil.example/x"])
def test_the_code_step_does_not_follow_an_offsite_next(client, staff_with_totp, clock, target):
    user, password, secret = staff_with_totp

    code_url = post_password(client, user.email, password, next_=target).headers["Location"]
    response = post_code(client, code_at(secret, now_step(clock)), code_url)

    assert response.headers["Location"] == "/staff/"


def test_a_code_with_spaces_as_apps_show_it_is_accepted(client, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    code = code_at(secret, now_step(clock))
    post_password(client, user.email, password)

    response = post_code(client, f" {code[:3]} {code[3:]} ")

    assert response.status_code == 302 and client.get("/staff/").status_code == 200


def test_a_wrong_code_is_refused_audited_and_stays_on_the_page(client, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    right = code_at(secret, now_step(clock))
    post_password(client, user.email, password)

    response = post_code(client, wrong_code(secret, clock))

    assert response.status_code == 200
    assert "not right" in code_error(response.text)
    assert is_signed_out(client)
    [entry] = actions("user.totp_failed")
    assert entry.object_id == user.id and entry.actor_id == user.id
    assert (entry.before, entry.after) == (None, None)
    # still waiting for the code: the right one now signs in
    assert post_code(client, right).status_code == 302
    assert client.get("/staff/").status_code == 200


def test_a_code_is_never_accepted_twice(client, new_auth, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    code = code_at(secret, now_step(clock))
    post_password(client, user.email, password)
    assert post_code(client, code).status_code == 302

    other = new_auth().client  # someone who watched the code being typed
    post_password(other, user.email, password)
    response = post_code(other, code)

    assert response.status_code == 200 and code_error(response.text)
    assert is_signed_out(other)
    assert len(actions("user.totp_failed")) == 1
    # nor an older code once a newer one was accepted
    clock["t"] += 30
    assert post_code(other, code_at(secret, now_step(clock) - 1)).status_code == 200
    assert post_code(other, code_at(secret, now_step(clock))).status_code == 302


def test_codes_one_step_either_side_are_accepted_two_steps_ago_are_not(client, new_auth,
                                                                       staff_with_totp, clock):
    user, password, secret = staff_with_totp
    step = now_step(clock)

    post_password(client, user.email, password)
    assert post_code(client, code_at(secret, step - 2)).status_code == 200
    assert post_code(client, code_at(secret, step + 2)).status_code == 200
    assert is_signed_out(client)
    assert post_code(client, code_at(secret, step - 1)).status_code == 302

    later = new_auth().client
    post_password(later, user.email, password)
    assert post_code(later, code_at(secret, step + 1)).status_code == 302
    assert fresh(user).totp_last_step == step + 1


def test_the_same_code_raced_from_two_browsers_signs_in_only_one(app, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    code = code_at(secret, now_step(clock))
    clients = [app.test_client() for _ in range(2)]
    pages = []
    for c in clients:
        post_password(c, user.email, password)
        pages.append(c.get("/login/code"))
    barrier = threading.Barrier(2, timeout=30)
    results: list[int] = []

    def submit(c: FlaskClient, page) -> None:  # noqa: ANN001
        barrier.wait()
        response = c.post("/login/code", data={"code": code, "csrf_token": csrf_from(page.text)})
        results.append(response.status_code)

    threads = [threading.Thread(target=contextvars.Context().run, args=(submit, c, p))
               for c, p in zip(clients, pages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(results) == [200, 302]


def test_a_stale_user_object_cannot_claim_a_used_step(app, staff_with_totp, clock):
    """The claim is one conditional UPDATE: what the session remembers does not matter."""
    user, _, _ = staff_with_totp
    step = now_step(clock)
    user = fresh(user)
    assert user.totp_last_step is None
    with db.engine.begin() as conn:  # another request used this step meanwhile
        conn.execute(db.update(User).where(User.id == user.id).values(totp_last_step=step))

    assert totp._claim_step(user, step) is False
    assert totp._claim_step(user, step + 1) is True
    db.session.commit()
    assert fresh(user).totp_last_step == step + 1


def test_the_code_page_waits_five_minutes(client, new_auth, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    post_password(client, user.email, password)
    clock["t"] += 5 * 60  # exactly five minutes: still in time
    assert post_code(client, code_at(secret, now_step(clock))).status_code == 302
    used = fresh(user).totp_last_step

    late = new_auth().client
    post_password(late, user.email, password)
    token = csrf_from(late.get("/login/code").text)
    clock["t"] += 5 * 60 + 1  # a second too late
    response = late.post("/login/code", data={"code": code_at(secret, now_step(clock)),
                                             "csrf_token": token})

    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert is_signed_out(late)
    assert fresh(user).totp_last_step == used  # the late code was not even looked at
    assert actions("user.totp_failed") == []
    assert late.get("/login/code").status_code == 302  # and the marker is gone


def test_an_expired_code_page_says_why_and_keeps_next(client, staff_with_totp, clock):
    user, password, _ = staff_with_totp
    code_url = post_password(client, user.email, password, next_="/staff/cases/new").headers["Location"]
    clock["t"] += 5 * 60 + 1

    response = client.get(code_url)

    assert urlsplit(response.headers["Location"]).path == "/login"
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == ["/staff/cases/new"]
    assert "took too long" in client.get(response.headers["Location"]).text


def test_the_code_page_without_a_password_first_sends_to_sign_in(client, app):
    response = client.get("/login/code")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def test_a_pending_sign_in_of_one_user_cannot_finish_another(client, new_auth, make_user, clock):
    alice, alice_password = make_user("staff")
    bob, bob_password = make_user("staff")
    alice_secret, bob_secret = enable_totp(alice, clock), enable_totp(bob, clock)
    post_password(client, alice.email, alice_password)

    # Bob's valid code against Alice's pending sign-in
    response = post_code(client, code_at(bob_secret, now_step(clock)))

    assert response.status_code == 200 and code_error(response.text)
    assert is_signed_out(client)
    assert fresh(bob).totp_last_step is None  # Bob's code was not even used up
    [failed] = actions("user.totp_failed")
    assert failed.object_id == alice.id
    # Bob's own browser, with his own password, still signs in with that code
    bob_browser = new_auth().client
    post_password(bob_browser, bob.email, bob_password)
    assert post_code(bob_browser, code_at(bob_secret, now_step(clock))).status_code == 302
    assert session_user_id(bob_browser).startswith(f"{bob.id}:")
    assert alice_secret != bob_secret


def test_a_pending_sign_in_ends_when_the_account_changes(client, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    post_password(client, user.email, password)
    services.set_active(fresh(user), False)
    db.session.commit()

    page = client.get("/login")  # for a CSRF token of this session
    response = client.post("/login/code", data={"code": code_at(secret, now_step(clock)),
                                               "csrf_token": csrf_from(page.text)})

    assert urlsplit(response.headers["Location"]).path == "/login"
    assert is_signed_out(client)
    assert fresh(user).totp_last_step is None


def test_without_the_second_factor_sign_in_is_as_before(client, auth, make_user):
    user, password = make_user("staff")
    response = post_password(client, user.email, password)
    assert response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert actions("user.login_password") == []


# --- admins must have it ---------------------------------------------------------------------


def test_an_admin_without_the_second_factor_may_only_set_it_up(client, auth, make_user, clock):
    admin, password = make_user("admin", totp=False)

    response = auth.login(admin.email, password)

    assert response.status_code == 302  # signed in...
    assert session_user_id(client) is not None
    for path in ["/staff/", "/staff/audit/", "/reports/2025", "/", "/login", "/no-such-page"]:
        page = client.get(path)
        assert page.status_code == 302, path  # ...but every page sends them to set it up
        assert page.headers["Location"] == "/account/security", path
    with client.get("/static/site.css") as static_file:
        assert static_file.status_code == 200
    page = client.get("/account/security")
    assert page.status_code == 200 and "Admins must turn" in page.text
    token = csrf_from(page.text)
    assert client.post("/staff/cases/new", data={"csrf_token": token}).status_code == 403
    assert client.get("/logout").status_code == 200

    security_post(client, "/account/security/start")
    assert client.get("/staff/").status_code == 302  # not until it is confirmed
    secret = fresh(admin).totp_secret
    security_post(client, "/account/security/confirm", code=code_at(secret, now_step(clock)))

    assert client.get("/staff/").status_code == 200
    assert client.get("/staff/audit/").status_code == 200


def test_an_admin_without_the_second_factor_can_sign_out(client, auth, make_user):
    admin, password = make_user("admin", totp=False)
    auth.login(admin.email, password)

    response = auth.logout()

    assert response.status_code == 302 and session_user_id(client) is None


def test_someone_promoted_to_admin_must_set_it_up(runner, client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 200

    result = runner.invoke(args=["users", "set-role", user.email, "admin"])
    assert result.exit_code == 0, result.output

    assert is_signed_out(client)
    auth.login(user.email, password)
    response = client.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/security"


def test_an_admin_cannot_turn_it_off(client, auth, make_user, clock):
    admin, password = make_user("admin")
    auth.login(admin.email, password)
    page = client.get("/account/security")
    assert "<strong>On</strong>" in page.text and "Turn off" not in page.text
    secret = fresh(admin).totp_secret
    step_before = fresh(admin).totp_last_step

    response = security_post(client, "/account/security/disable",
                             code=code_at(secret, totp.current_step() + 1))

    assert response.status_code == 409
    assert "Admins must keep" in response.text
    admin = fresh(admin)
    assert admin.totp_enabled_at is not None and admin.totp_secret == secret
    assert admin.totp_last_step == step_before  # the code was not even spent
    assert actions("user.totp_disabled") == []


# --- turning it off --------------------------------------------------------------------------


def test_staff_may_turn_it_off_with_a_current_code(client, auth, staff_with_totp, clock):
    user, password, secret = staff_with_totp
    post_password(client, user.email, password)
    post_code(client, code_at(secret, now_step(clock)))
    assert "Turn off the second factor" in client.get("/account/security").text

    # the code just used to sign in, and a wrong one, do not turn it off
    for code in (code_at(secret, now_step(clock)), code_at(secret, now_step(clock) - 5)):
        response = security_post(client, "/account/security/disable", code=code)
        assert response.status_code == 422 and code_error(response.text)
        assert fresh(user).totp_enabled_at is not None

    response = security_post(client, "/account/security/disable",
                             code=code_at(secret, now_step(clock) + 1))

    assert response.status_code == 302
    user = fresh(user)
    assert (user.totp_secret, user.totp_enabled_at, user.totp_last_step) == (None, None, None)
    [entry] = actions("user.totp_disabled")
    assert (entry.before, entry.after, entry.actor_id) == ({"totp": True}, {"totp": False}, user.id)
    # signing in asks for the password only now
    Auth(client).logout()
    assert post_password(client, user.email, password).headers["Location"] == "/staff/"


def test_directors_may_use_the_second_factor_too(client, make_user, clock):
    director, password = make_user("director")
    secret = enable_totp(director, clock)
    post_password(client, director.email, password, next_="/reports/2025")
    response = post_code(client, code_at(secret, now_step(clock)), "/login/code?next=/reports/2025")
    assert response.headers["Location"] == "/reports/2025"
    assert client.get("/account/security").status_code == 200


# --- flask users reset-totp ------------------------------------------------------------------


def test_reset_totp_clears_it_and_ends_sessions(runner, client, auth, make_user, clock):
    admin, password = make_user("admin")
    auth.login(admin.email, password)
    assert client.get("/staff/").status_code == 200
    version = fresh(admin).session_version

    result = runner.invoke(args=["users", "reset-totp", admin.email.upper()])

    assert result.exit_code == 0, result.output
    assert "has no second factor now" in result.output
    admin = fresh(admin)
    assert (admin.totp_secret, admin.totp_enabled_at, admin.totp_last_step) == (None, None, None)
    assert admin.session_version == version + 1
    assert is_signed_out(client)
    [entry] = actions("user.totp_reset")
    assert (entry.actor_id, entry.actor_label) == (None, "cli")
    assert (entry.before, entry.after) == ({"totp": True}, {"totp": False})
    # the password alone signs the admin in again, straight to setting up a new one
    response = auth.login(admin.email, password)
    assert urlsplit(response.headers["Location"]).path != "/login/code"
    assert client.get("/staff/").headers["Location"] == "/account/security"


@pytest.mark.parametrize("email", ["nobody@example.org", "not-an-email"])
def test_reset_totp_of_an_unknown_email_fails(runner, app, email):
    result = runner.invoke(args=["users", "reset-totp", email])

    assert result.exit_code != 0
    assert "No user with the email" in result.output or "not valid" in result.output
    assert actions() == []


# --- the audit trail never holds a secret or a code ------------------------------------------


def test_no_secret_or_code_reaches_the_audit_trail(runner, client, new_auth, make_user, clock):
    user, password = make_user("staff")
    auth = Auth(client)
    auth.login(user.email, password)
    security_post(client, "/account/security/start")
    secret = fresh(user).totp_secret
    security_post(client, "/account/security/confirm", code=wrong_code(secret, clock))
    security_post(client, "/account/security/confirm", code=code_at(secret, now_step(clock)))
    other = new_auth().client
    post_password(other, user.email, password)
    post_code(other, wrong_code(secret, clock))
    post_code(other, code_at(secret, now_step(clock) + 1))
    runner.invoke(args=["users", "reset-totp", user.email])

    entries = actions()
    seen = {e.action for e in entries}
    assert {"user.totp_enrolment_started", "user.totp_enabled", "user.totp_failed",
            "user.login_password", "user.login", "user.totp_reset"} <= seen
    codes = {code_at(secret, s) for s in range(now_step(clock) - 2, now_step(clock) + 3)}
    codes.add(wrong_code(secret, clock))
    for entry in entries:
        text = json.dumps([entry.actor_label, entry.object_type, entry.before, entry.after])
        assert secret not in text and secret.lower() not in text, entry.action
        assert not any(code in text for code in codes), entry.action


# --- access policies of the new pages --------------------------------------------------------


def test_the_new_pages_declare_their_policy(app, client):
    assert policy_for(app, "accounts.login_code") == PUBLIC
    for endpoint in ("accounts.security", "accounts.security_start", "accounts.security_confirm",
                     "accounts.security_cancel", "accounts.security_disable"):
        assert policy_for(app, endpoint) == frozenset(ROLES), endpoint
    response = client.get("/account/security")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == ["/account/security"]
    page = client.get("/login")
    response = client.post("/account/security/start", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_security_page_without_inline_code(client, auth, make_user, role, clock):
    user, password = make_user(role)
    auth.login(user.email, password)
    if role != "admin":
        security_post(client, "/account/security/start")  # the page with the QR code
    html = client.get("/account/security").text
    assert "Second factor" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\sstyle\s*=", html)


def test_the_admin_rule_runs_after_the_idle_check_and_before_the_access_check(app: Flask):
    names = [hook.__name__ for hook in app.before_request_funcs[None]]
    assert names.index("expire_idle_sessions") < names.index("require_admin_second_factor")
    assert names.index("require_admin_second_factor") < names.index("enforce_access")
