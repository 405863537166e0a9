"""Flask-Login wiring: sessions are keyed by user id *and* session version."""

from __future__ import annotations

import time

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from tracker.accounts.models import User
from tracker.core import audit
from tracker.core.access import PUBLIC, policy_for
from tracker.extensions import db, login_manager


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load the user of a session, or None if the session is stale.

    A session made before the user's version was bumped (disabled, role changed, password
    reset) no longer matches and is treated as signed out.
    """
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _epoch() -> int:
    return int(time.time())


def start_session() -> None:
    """Mark a fresh sign-in: the session's clock starts now."""
    now = _epoch()
    session.permanent = True
    session["signed_in_at"] = now
    session["seen_at"] = now


def expire_idle_sessions():  # noqa: ANN201
    """``before_request``: end a session idle for TRACKER_SESSION_IDLE_MINUTES, or older than
    TRACKER_SESSION_MAX_HOURS, and send the person to sign in again (audited)."""
    if not current_user.is_authenticated:
        return None
    now = _epoch()
    config = current_app.config
    signed_in_at = session.get("signed_in_at", 0)
    seen_at = session.get("seen_at", 0)
    idle = now - seen_at > config["TRACKER_SESSION_IDLE_MINUTES"] * 60
    too_old = now - signed_in_at > config["TRACKER_SESSION_MAX_HOURS"] * 3600
    if idle or too_old:
        user = current_user._get_current_object()
        audit.record("user.session_expired", user, actor=user,
                     after={"reason": "idle" if idle else "maximum length"})
        db.session.commit()
        logout_user()
        session.clear()
        flash("Your session ended; please sign in again.", "info")
        if request.endpoint and policy_for(current_app, request.endpoint) == PUBLIC:
            return None
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if now - seen_at >= 60:  # rewrite the cookie at most once a minute
        session["seen_at"] = now
    return None


def init_app(app: Flask) -> None:
    """Configure the login manager."""
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see that page."
    # "strong" would drop the session when a phone changes networks; the session version
    # and rotation at sign-in protect us instead.
    login_manager.session_protection = "basic"
    # before the access check, so an expired session is signed out before it is judged
    app.before_request_funcs.setdefault(None, []).insert(0, expire_idle_sessions)
