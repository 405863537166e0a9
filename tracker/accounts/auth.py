"""Flask-Login wiring: sessions are keyed by user id *and* session version."""

from __future__ import annotations

import time

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from tracker import audit
from tracker.accounts.models import User
from tracker.core.access import PUBLIC, policy_for
from tracker.extensions import db, login_manager


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load the user of a session, or None if the session is stale.

    A session made before the user's version was bumped (disabled, role changed, password
    reset) no longer matches and is treated as signed out.
    """
    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _epoch() -> int:
    return int(time.time())


def start_session(started_key: str = "signed_in_at", seen_key: str = "seen_at") -> None:
    """Mark a fresh sign-in: the session's clock (kept under these keys) starts now."""
    now = _epoch()
    session.permanent = True
    session[started_key] = now
    session[seen_key] = now


def session_ended(started_key: str = "signed_in_at", seen_key: str = "seen_at") -> str | None:
    """Why the session clock kept under ``started_key`` and ``seen_key`` has run out: "idle"
    (no request for TRACKER_SESSION_IDLE_MINUTES) or "maximum length" (older than
    TRACKER_SESSION_MAX_HOURS); None while it runs, and then this request counts as activity.

    Staff sessions use the default keys; a donor's session (``tracker.donors``) its own.
    """
    now = _epoch()
    config = current_app.config
    signed_in_at = session.get(started_key, 0)
    seen_at = session.get(seen_key, 0)
    if now - seen_at > config["TRACKER_SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    if now - signed_in_at > config["TRACKER_SESSION_MAX_HOURS"] * 3600:
        return "maximum length"
    if now - seen_at >= 60:  # rewrite the cookie at most once a minute
        session[seen_key] = now
    return None


def expire_idle_sessions():  # noqa: ANN201
    """``before_request``: end a session idle for TRACKER_SESSION_IDLE_MINUTES, or older than
    TRACKER_SESSION_MAX_HOURS, and send the person to sign in again (audited)."""
    if not current_user.is_authenticated:
        return None
    reason = session_ended()
    if reason is not None:
        user = current_user._get_current_object()
        audit.record("user.session_expired", user, actor=user, after={"reason": reason})
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("Your session ended; please sign in again."), "info")
        if request.endpoint and policy_for(current_app, request.endpoint) == PUBLIC:
            return None
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    return None


# --- the second step of signing in (TOTP) ------------------------------------------------------

#: session key of a sign-in waiting for its code: the password was right, the code is due
PENDING_KEY = "totp_pending"
#: how long the code page waits after the password was accepted
PENDING_SECONDS = 5 * 60


def start_pending_sign_in(user: User) -> None:
    """Remember, in a fresh session, that ``user`` gave the right password just now. Nobody
    is signed in until the code is right too."""
    session.clear()
    session[PENDING_KEY] = {"user_id": user.id, "version": user.session_version, "at": _epoch()}


def pending_sign_in_user() -> User | None:
    """The user whose sign-in waits for a code, or None when there is none, it is older than
    PENDING_SECONDS, or the account changed since (disabled, password or role changed)."""
    marker = session.get(PENDING_KEY)
    if not isinstance(marker, dict):
        return None
    try:
        user_id, version, at = int(marker["user_id"]), int(marker["version"]), int(marker["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= _epoch() - at <= PENDING_SECONDS:
        return None
    user = db.session.get(User, user_id)
    if (user is None or not user.active or user.session_version != version
            or user.totp_enabled_at is None):
        return None
    return user


#: what an admin without a second factor may still open: its set-up page and sign-out
ENROLMENT_ENDPOINTS = frozenset({
    "static",
    "accounts.security",
    "accounts.security_start",
    "accounts.security_confirm",
    "accounts.security_cancel",
    "accounts.logout",
})


def require_admin_second_factor():  # noqa: ANN201
    """``before_request``: an admin signed in without the second factor (a new admin, or one
    just promoted) may open nothing but its set-up page and sign-out until it is on. Pages
    asked for send them there; anything else is refused."""
    if not current_user.is_authenticated or current_user.role != "admin":
        return None
    if current_user.totp_enabled_at is not None or request.endpoint in ENROLMENT_ENDPOINTS:
        return None
    if request.method in ("GET", "HEAD"):
        flash(_("Admins must turn on the second factor before anything else."), "info")
        return redirect(url_for("accounts.security"))
    abort(403)


def init_app(app: Flask) -> None:
    """Configure the login manager."""
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see that page.")
    login_manager.localize_callback = str  # flashed in the visitor's language, as a str
    # "strong" would drop the session when a phone changes networks; the session version
    # and rotation at sign-in protect us instead.
    login_manager.session_protection = "basic"
    # before the access check, so an expired session is signed out before it is judged
    app.before_request_funcs.setdefault(None, []).insert(0, expire_idle_sessions)
    # after it (a session that just expired is anonymous) and before the access check
    app.before_request(require_admin_second_factor)
