"""Signed-in sessions: Secure/HttpOnly/SameSite cookies, 30 minutes idle, 12 hours in all."""

from __future__ import annotations

import pytest

from tests.conftest import Auth, make_app
from tracker import ConfigError
from tracker.accounts import auth as auth_module
from tracker.audit import AuditEntry
from tracker.extensions import db


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves forward (seconds since the epoch)."""
    now = {"t": 1_800_000_000}
    monkeypatch.setattr(auth_module, "_epoch", lambda: now["t"])
    return now


def signed_in(client, make_user, role="staff"):  # noqa: ANN001, ANN201
    user, password = make_user(role)
    response = Auth(client).login(user.email, password)
    assert response.status_code == 302
    return user, response


def expired_entries() -> list[str]:
    return [e.after["reason"] for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "user.session_expired"))]


def test_the_session_cookie_is_secure_httponly_and_lax(app, client, make_user, clock):
    _, response = signed_in(client, make_user)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "expires"} <= flags, cookie
    assert "samesite=lax" in cookie.lower(), cookie


def test_a_session_idle_for_thirty_minutes_ends(app, client, make_user, clock):
    signed_in(client, make_user)
    clock["t"] += 29 * 60
    assert client.get("/staff/").status_code == 200
    clock["t"] += 29 * 60  # 58 minutes since sign-in, but never 30 idle
    assert client.get("/staff/").status_code == 200
    clock["t"] += 30 * 60 + 1
    response = client.get("/staff/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert expired_entries() == ["idle"]
    # signed out for good: the next request is anonymous too
    clock["t"] += 1
    assert client.get("/staff/").status_code == 302


def test_a_session_ends_after_twelve_hours_however_busy(app, client, make_user, clock):
    signed_in(client, make_user)
    for _ in range(12 * 3):  # a request every 20 minutes for 12 hours
        clock["t"] += 20 * 60
        assert client.get("/staff/").status_code == 200
    clock["t"] += 20 * 60
    response = client.get("/staff/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert expired_entries() == ["maximum length"]


def test_an_expired_session_on_a_public_page_just_signs_out(app, client, make_user, clock):
    signed_in(client, make_user)
    clock["t"] += 31 * 60
    response = client.get("/")
    assert response.status_code == 200
    assert b"Staff sign-in" in response.data


@pytest.mark.parametrize("name", ["TRACKER_SESSION_IDLE_MINUTES", "TRACKER_SESSION_MAX_HOURS"])
def test_session_lengths_must_be_positive(database_url, name):
    with pytest.raises(ConfigError, match=name):
        make_app(database_url, **{name: 0})
