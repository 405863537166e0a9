"""Signing in and out, sessions, access rules, password hashing and the sign-in audit trail.

The ``client`` used here runs every request in its own app context (see this folder's
conftest), so nothing from an earlier request survives in ``g``: what a request sees about the
signed-in user comes only from the session cookie and the database.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Auth, csrf_from, make_app
from tracker.accounts import passwords, services
from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.core.access import PUBLIC, ROLES, policy_for, public, roles
from tracker.core.errors import DomainError
from tracker.extensions import db

SIGN_IN_FAILED = "Email or password is incorrect."


# --- helpers ---------------------------------------------------------------------------------


def post_login(client: FlaskClient, email: str, password: str, next_: str | None = None):
    """Sign in through the real form, optionally with ?next=."""
    url = "/login" if next_ is None else "/login?" + urlencode({"next": next_})
    page = client.get(url)
    assert page.status_code == 200
    return client.post(
        url, data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def session_user_id(client: FlaskClient) -> str | None:
    """The Flask-Login session identifier ("<id>:<version>") the client's cookie holds."""
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def assert_sent_to_login(response, next_path: str | None = "/staff/") -> None:
    assert response.status_code == 302, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    if next_path is not None:
        assert parse_qs(location.query).get("next") == [next_path]


def error_message(html: str) -> str:
    """The error shown under the password field of the sign-in form."""
    match = re.search(r'<p class="error" id="password-error">(.*?)</p>', html, re.S)
    assert match, "the sign-in page shows no error"
    return match.group(1).strip()


def normalized_failure_page(html: str, email: str) -> str:
    """The sign-in page without what legitimately differs between two attempts."""
    html = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]*"', r'\1TOKEN"', html)
    return html.replace(email, "EMAIL")


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def reload(user: User) -> User:
    """The user as the database has it now (requests write through their own sessions)."""
    db.session.refresh(user)
    return user


# --- signing in and out ----------------------------------------------------------------------


def test_sign_in_with_the_right_password_opens_the_staff_pages(client, auth, make_user):
    user, password = make_user("staff")
    assert_sent_to_login(client.get("/staff/"))

    response = auth.login(user.email, password)

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert session_user_id(client) == f"{user.id}:{user.session_version}"
    staff_page = client.get("/staff/")
    assert staff_page.status_code == 200
    assert user.email in staff_page.text  # the header names who is signed in
    assert reload(user).last_login_at is not None


def test_sign_in_ignores_case_and_spaces_around_the_email(client, make_user):
    user, password = make_user("staff", email="casey@example.org")

    response = post_login(client, "  Casey@Example.ORG ", password)

    assert response.status_code == 302
    assert client.get("/staff/").status_code == 200


def test_sign_out_ends_the_session(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 200

    confirm = client.get("/logout")
    assert confirm.status_code == 200
    assert client.get("/staff/").status_code == 200  # GET only asks; it does not sign out

    response = auth.logout()

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert session_user_id(client) is None
    assert_sent_to_login(client.get("/staff/"))


def test_sign_out_also_ends_a_copy_of_the_session_cookie(client, auth, new_auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    stolen = new_auth()
    cookie = client.get_cookie("session")
    stolen.client.set_cookie("session", cookie.value)
    assert stolen.client.get("/staff/").status_code == 200  # the copy works while signed in

    auth.logout()

    assert_sent_to_login(stolen.client.get("/staff/"))


def test_a_director_lands_on_a_page_they_may_open(client, make_user):
    user, password = make_user("director")
    response = post_login(client, user.email, password)
    assert response.status_code == 302
    landing = client.get(response.headers["Location"])
    assert landing.status_code == 200


def test_sign_out_without_a_csrf_token_is_refused_and_keeps_the_session(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)

    response = client.post("/logout", data={})

    assert response.status_code == 400
    assert client.get("/staff/").status_code == 200


def test_anonymous_sign_out_goes_to_the_sign_in_page(client):
    assert_sent_to_login(client.get("/logout"), next_path="/logout")


# --- one answer for every failed sign-in -----------------------------------------------------


def test_unknown_email_wrong_password_and_disabled_user_get_the_same_answer(client, make_user):
    user, password = make_user("staff", email="known@example.org")
    disabled, disabled_password = make_user("staff", email="gone@example.org")
    services.set_active(disabled, False)
    db.session.commit()

    attempts = {
        "unknown email": ("nobody@example.org", password),
        "wrong password": (user.email, "not the right password"),
        "disabled user": (disabled.email, disabled_password),
    }
    responses = {name: post_login(client, *creds) for name, creds in attempts.items()}

    for name, response in responses.items():
        assert response.status_code == 200, name
        assert error_message(response.text) == SIGN_IN_FAILED, name
        assert session_user_id(client) is None, name
    pages = {
        normalized_failure_page(responses[name].text, attempts[name][0]) for name in attempts
    }
    assert len(pages) == 1, "the failure pages differ beyond the email typed in"
    assert_sent_to_login(client.get("/staff/"))


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.org", "x" * 300])
def test_a_malformed_email_gets_the_same_answer_too(client, make_user, email):
    make_user("staff")

    response = post_login(client, email, "whatever password")

    assert response.status_code == 200
    if len(email) <= 254:  # longer input fails the form's own length check first
        assert error_message(response.text) == SIGN_IN_FAILED
    assert session_user_id(client) is None


def test_a_disabled_user_with_the_right_password_cannot_sign_in(client, make_user):
    user, password = make_user("staff")
    services.set_active(user, False)
    db.session.commit()

    response = post_login(client, user.email, password)

    assert response.status_code == 200
    assert error_message(response.text) == SIGN_IN_FAILED
    assert reload(user).last_login_at is None
    assert_sent_to_login(client.get("/staff/"))


# --- session rotation and session versions ---------------------------------------------------


def test_signing_in_rotates_the_session(client, make_user):
    user, password = make_user("staff")
    with client.session_transaction() as sess:
        sess["planted"] = "set before sign-in"
    page = client.get("/login")
    with client.session_transaction() as sess:
        assert sess["planted"] == "set before sign-in"
        csrf_before = sess["csrf_token"]
    cookie_before = client.get_cookie("session").value

    response = client.post(
        "/login",
        data={"email": user.email, "password": password, "csrf_token": csrf_from(page.text)},
    )

    assert response.status_code == 302
    assert client.get_cookie("session").value != cookie_before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{user.id}:1"
    client.get("/logout")  # renders a form, so a CSRF secret is made again
    with client.session_transaction() as sess:
        assert sess["csrf_token"] != csrf_before


def test_disabling_a_user_ends_their_open_session_at_once(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 200

    services.set_active(user, False)
    db.session.commit()

    assert_sent_to_login(client.get("/staff/"))
    assert reload(user).session_version == 2


def test_enabling_a_user_again_does_not_revive_old_sessions(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    services.set_active(user, False)
    db.session.commit()
    services.set_active(user, True)
    db.session.commit()

    assert_sent_to_login(client.get("/staff/"))
    assert auth.login(user.email, password).status_code == 302
    assert client.get("/staff/").status_code == 200


def test_a_role_change_ends_the_session_and_the_new_role_applies(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 200

    services.set_role(user, "director")
    db.session.commit()

    # Signed out, not merely refused: the old session is gone.
    assert_sent_to_login(client.get("/staff/"))
    assert_sent_to_login(client.get("/logout"), next_path="/logout")
    # Signing in again gives a director's session, and directors may not see staff pages.
    assert auth.login(user.email, password).status_code == 302
    assert session_user_id(client) == f"{user.id}:2"
    assert client.get("/staff/").status_code == 403


def test_a_promotion_also_needs_a_new_sign_in(client, auth, make_user):
    user, password = make_user("director")
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 403

    services.set_role(user, "staff")
    db.session.commit()

    assert_sent_to_login(client.get("/staff/"))
    auth.login(user.email, password)
    assert client.get("/staff/").status_code == 200


def test_a_password_change_ends_every_session_of_the_user(new_auth, make_user):
    user, password = make_user("staff")
    phone, laptop = new_auth(), new_auth()
    phone.login(user.email, password)
    laptop.login(user.email, password)
    assert phone.client.get("/staff/").status_code == 200
    assert laptop.client.get("/staff/").status_code == 200

    services.set_password(user, "a brand new password")
    db.session.commit()

    assert_sent_to_login(phone.client.get("/staff/"))
    assert_sent_to_login(laptop.client.get("/staff/"))
    assert error_message(post_login(phone.client, user.email, password).text) == SIGN_IN_FAILED
    assert post_login(phone.client, user.email, "a brand new password").status_code == 302


def test_a_forged_session_id_with_another_version_is_signed_out(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    for forged in (f"{user.id}:2", f"{user.id}:0", f"{user.id}", f"{user.id}:x", "x:1"):
        with client.session_transaction() as sess:
            sess["_user_id"] = forged
        assert_sent_to_login(client.get("/staff/"))


def test_sessions_of_different_clients_are_independent(new_auth, make_user):
    staff, staff_password = make_user("staff")
    director, director_password = make_user("director")
    staff_browser, director_browser, anonymous = new_auth(), new_auth(), new_auth()

    staff_browser.login(staff.email, staff_password)
    director_browser.login(director.email, director_password)

    assert staff_browser.client.get("/staff/").status_code == 200
    assert director_browser.client.get("/staff/").status_code == 403
    assert_sent_to_login(anonymous.client.get("/staff/"))


# --- access rules ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_with_next(client):
    assert_sent_to_login(client.get("/staff/"), next_path="/staff/")
    assert_sent_to_login(client.get("/staff/cases/new"), next_path="/staff/cases/new")
    assert_sent_to_login(client.get("/staff/?page=2"), next_path="/staff/?page=2")


@pytest.mark.parametrize(("role", "status"), [("staff", 200), ("admin", 200), ("director", 403)])
def test_staff_pages_by_role(client, auth, make_user, role, status):
    user, password = make_user(role)
    auth.login(user.email, password)

    assert client.get("/staff/").status_code == status
    assert client.get("/staff/cases/new").status_code == status


def test_the_public_pages_need_no_sign_in(client):
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_sign_in_returns_to_the_page_asked_for(client, make_user):
    user, password = make_user("staff")
    login_url = client.get("/staff/cases/new").headers["Location"]
    page = client.get(login_url)

    response = client.post(
        login_url,
        data={"email": user.email, "password": password, "csrf_token": csrf_from(page.text)},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/cases/new"


def _probe_view():
    def view():
        return "probe view ran"

    return view


@pytest.fixture
def probe_app(app: Flask, database_url: str):
    """A fresh app with extra routes: one without a policy, one public, one admin-only."""
    fresh = make_app(database_url)
    fresh.add_url_rule("/probe/undeclared", "probe_undeclared", _probe_view())
    fresh.add_url_rule("/probe/public", "probe_public", public(_probe_view()))
    fresh.add_url_rule("/probe/admin", "probe_admin", roles("admin")(_probe_view()))
    yield fresh
    with fresh.app_context():
        db.engine.dispose()


def test_a_view_without_a_policy_is_denied_even_to_an_admin(probe_app, make_user):
    admin, password = make_user("admin")
    anonymous = probe_app.test_client()
    browser = probe_app.test_client()
    assert Auth(browser).login(admin.email, password).status_code == 302

    for client in (anonymous, browser):
        undeclared = client.get("/probe/undeclared")
        assert undeclared.status_code == 403
        assert "probe view ran" not in undeclared.text
        declared = client.get("/probe/public")
        assert declared.status_code == 200
        assert declared.text == "probe view ran"
    # The admin really is signed in on this app: a role-checked route lets them in.
    assert browser.get("/probe/admin").status_code == 200
    assert_sent_to_login(anonymous.get("/probe/admin"), next_path="/probe/admin")


def test_every_endpoint_declares_an_access_policy(app):
    missing, odd = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        policy = policy_for(app, rule.endpoint)
        if policy is None:
            missing.append(rule.rule)
        elif policy != PUBLIC and not (
            isinstance(policy, frozenset) and policy and policy <= set(ROLES)
        ):
            odd.append((rule.rule, policy))
    assert not missing, f"endpoints without an access policy: {missing}"
    assert not odd, f"endpoints with a malformed policy: {odd}"


def test_directors_are_kept_out_of_every_staff_page(app):
    staff_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")]
    assert staff_rules
    for rule in staff_rules:
        policy = policy_for(app, rule.endpoint)
        assert isinstance(policy, frozenset), rule.rule
        assert "director" not in policy, rule.rule
        # staff work there, or only admins (the organization's identity and pages)
        assert "staff" in policy or policy == frozenset({"admin"}), rule.rule


def test_roles_refuses_unknown_or_missing_roles():
    with pytest.raises(ValueError, match="unknown roles"):
        roles("staff", "superuser")
    with pytest.raises(ValueError):
        roles()


# --- password hashing ------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id(app, make_user):
    user, password = make_user("staff")
    stored = reload(user).password_hash

    assert stored.startswith("$argon2id$")
    assert password not in stored
    assert PasswordHasher().verify(stored, password)


def test_an_old_hash_is_upgraded_at_sign_in(client, auth, make_user):
    user, password = make_user("staff")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(password)
    user.password_hash = weak
    db.session.commit()
    assert passwords.needs_rehash(weak)

    assert auth.login(user.email, password).status_code == 302

    stored = reload(user).password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$")
    current = PasswordHasher(type=Type.ID)
    assert current.check_needs_rehash(stored) is False
    assert passwords.needs_rehash(stored) is False
    params = extract_parameters(stored)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        current.time_cost,
        current.memory_cost,
        current.parallelism,
    )
    assert current.verify(stored, password)
    auth.logout()
    assert auth.login(user.email, password).status_code == 302


def test_a_failed_sign_in_does_not_touch_an_old_hash(client, make_user):
    user, password = make_user("staff")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(password)
    user.password_hash = weak
    db.session.commit()

    response = post_login(client, user.email, "not the right password")

    assert error_message(response.text) == SIGN_IN_FAILED
    assert reload(user).password_hash == weak


# --- open redirects and CSRF -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "https:/evil.example/",
        "javascript:alert(1)",
        " //evil.example/",
        "evil.example",
    ],
)
def test_sign_in_never_redirects_off_site(client, make_user, target):
    user, password = make_user("staff")

    response = post_login(client, user.email, password, next_=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert session_user_id(client) is not None


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/staff/\r\nX-Evil: 1", "/staff/\n",
                                    "/\x00/evil.example/"])
def test_a_next_with_control_characters_is_refused_whole(client, make_user, target):
    """A control character in any query parameter is a 400 (tracker.core.query), before the
    form is even read: no redirect, no sign-in."""
    user, password = make_user("staff")
    url = "/login?" + urlencode({"next": target})
    assert client.get(url).status_code == 400
    token = csrf_from(client.get("/login").text)
    response = client.post(url, data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert session_user_id(client) is None


def test_sign_in_follows_a_same_site_next(client, make_user):
    user, password = make_user("staff")

    response = post_login(client, user.email, password, next_="/staff/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    response = post_login(client, user.email, password, next_="/staff/cases/new?x=1")
    assert response.headers["Location"] == "/staff/cases/new?x=1"


def test_sign_in_without_a_csrf_token_is_refused(client, make_user):
    user, password = make_user("staff")

    response = client.post("/login", data={"email": user.email, "password": password})

    assert response.status_code == 400
    assert session_user_id(client) is None
    assert_sent_to_login(client.get("/staff/"))
    assert reload(user).last_login_at is None
    assert audit_entries("user.login") == []


def test_sign_in_with_a_forged_csrf_token_is_refused(client, make_user):
    user, password = make_user("staff")
    client.get("/login")

    response = client.post(
        "/login", data={"email": user.email, "password": password, "csrf_token": "forged"}
    )

    assert response.status_code == 400
    assert session_user_id(client) is None


# --- audit trail -----------------------------------------------------------------------------


def test_a_sign_in_is_audited(client, auth, make_user):
    user, password = make_user("staff")

    auth.login(user.email, password)

    [entry] = audit_entries("user.login")
    assert entry.actor_id == user.id
    assert entry.actor_label == user.email
    assert entry.object_type == "users"
    assert entry.object_id == user.id
    assert entry.ip == "127.0.0.1"
    assert entry.created_at is not None


def test_a_failed_sign_in_of_a_known_user_is_audited_as_failed(client, make_user):
    user, password = make_user("staff")

    post_login(client, user.email, "not the right password")
    post_login(client, "nobody@example.org", password)

    [entry] = audit_entries("user.login_failed")
    assert entry.object_id == user.id
    assert audit_entries("user.login") == []


def test_a_role_change_is_audited_with_before_and_after(app, make_user):
    user, _ = make_user("staff")

    services.set_role(user, "director")
    db.session.commit()

    [entry] = audit_entries("user.role")
    assert entry.object_type == "users"
    assert entry.object_id == user.id
    assert entry.before == {"role": "staff"}
    assert entry.after == {"role": "director"}
    assert entry.actor_id is None
    assert entry.actor_label == "cli"


def test_a_refused_role_changes_nothing(app, make_user):
    user, _ = make_user("staff")

    with pytest.raises(DomainError):
        services.set_role(user, "superuser")
    db.session.rollback()

    assert reload(user).role == "staff"
    assert user.session_version == 1
    assert audit_entries("user.role") == []
