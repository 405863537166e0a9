"""Account rules: creating users, signing in, roles and ending sessions."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tracker import audit
from tracker.accounts import passwords
from tracker.accounts.models import User
from tracker.core.access import ROLES
from tracker.core.errors import Conflict, DomainError
from tracker.core.time import utcnow
from tracker.core.validation import normalize_email
from tracker.extensions import db

#: the one answer for a wrong password, an unknown email and a disabled account
SIGN_IN_FAILED = _l("Email or password is incorrect.")


def create_user(email: str, password: str, role: str) -> User:
    """Create an active user; refuses unknown roles, weak passwords and taken emails."""
    email = normalize_email(email)
    if role not in ROLES:
        raise DomainError(_("Role must be one of %(roles)s.", roles=", ".join(ROLES)), field="role")
    problem = passwords.password_problem(password)
    if problem:
        raise DomainError(problem, field="password")
    if db.session.scalar(db.select(User.id).where(User.email == email)) is not None:
        raise Conflict(_("A user with the email %(email)s already exists.", email=email),
                       field="email")
    user = User(email=email, password_hash=passwords.hash_password(password), role=role)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, after={"email": email, "role": role})
    return user


def find_user(email: str | None) -> User | None:
    """The user with this email (compared by its email_key, as the lockout counts it), or None."""
    try:
        email = normalize_email(email or "")
    except DomainError:
        return None
    return db.session.scalar(db.select(User).where(User.email == email))


def authenticate(email: str, password: str) -> User:
    """Return the user these credentials belong to, or raise DomainError(str(SIGN_IN_FAILED)).

    For a user with the second factor on, the right password is only the first step: the
    caller must then ask for a code (tracker.accounts.totp.verify_sign_in_code).

    An unknown email, a wrong password and a disabled account give the same answer and cost
    the same argon2 check, so the form cannot be used to learn who has an account.
    """
    try:
        email = normalize_email(email)
    except DomainError:
        email = ""
    user = db.session.scalar(db.select(User).where(User.email == email)) if email else None
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        if user is not None:
            audit.record("user.login_failed", user, actor=user)
        raise DomainError(str(SIGN_IN_FAILED))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled_at is not None:
        # half-way: the sign-in completes (and is audited as user.login) with the code
        audit.record("user.login_password", user, actor=user)
        return user
    user.last_login_at = utcnow()
    audit.record("user.login", user, actor=user)
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session this user holds (their session id carries the version)."""
    user.session_version = User.session_version + 1  # in SQL, so concurrent bumps both count
    db.session.flush()
    db.session.refresh(user, ["session_version"])


def _change_and_end_sessions(user: User, attribute: str, value: object) -> None:
    """Change one account attribute, end the user's sessions, audit before and after."""
    before = getattr(user, attribute)
    setattr(user, attribute, value)
    end_sessions(user)
    audit.record(f"user.{attribute}", user, before={attribute: before}, after={attribute: value})


def set_role(user: User, role: str) -> None:
    """Change a user's role; their open sessions end at once."""
    if role not in ROLES:
        raise DomainError(_("Role must be one of %(roles)s.", roles=", ".join(ROLES)), field="role")
    _change_and_end_sessions(user, "role", role)


def set_active(user: User, active: bool) -> None:
    """Enable or disable a user; their open sessions end at once."""
    _change_and_end_sessions(user, "active", active)


def set_password(user: User, password: str) -> None:
    """Give a user a new password; other sessions end."""
    problem = passwords.password_problem(password)
    if problem:
        raise DomainError(problem, field="password")
    user.password_hash = passwords.hash_password(password)
    end_sessions(user)
    db.session.flush()
    audit.record("user.password", user)
