"""Flask-Login wiring: sessions are keyed by user id *and* session version."""

from __future__ import annotations

from flask import Flask

from tracker.accounts.models import User
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


def init_app(app: Flask) -> None:
    """Configure the login manager."""
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see that page."
    # "strong" would drop the session when a phone changes networks; the session version
    # and rotation at sign-in protect us instead.
    login_manager.session_protection = "basic"
