"""Sign-in lockouts per account, growing with each lockout and never for good.

After TRACKER_LOGIN_LOCKOUT_AFTER failed sign-ins (password or second-factor code) within 15
minutes, the email is locked for TRACKER_LOGIN_LOCKOUT_SECONDS; each further lockout within a
day doubles that, up to TRACKER_LOGIN_LOCKOUT_MAX_SECONDS. Every lockout of a real account is
audited. An unknown email is counted and locked the same way, so lockouts do not tell who has
an account.

Someone guessing a staff member's password cannot keep that person out for good:
- a lockout always ends (at most an hour by default), and the count of lockouts is forgotten
  a day after the last one;
- a browser the person signed in from before carries a signed "known device" cookie for their
  account and is not held by the account's lockout (only by the per-address rate limit);
- an admin can lift a lockout at once with ``flask users unlock EMAIL``.

The counts live in the rate limits' store (Redis or memory, see tracker.core.ratelimit), so
all workers see the same lockout. If that store fails, sign-in goes on without lockouts (the
per-address limit still counts in memory) rather than lock everybody out.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, Response, current_app, g, request
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from tracker import audit
from tracker.accounts.models import User
from tracker.core import ratelimit
from tracker.core.errors import DomainError
from tracker.core.validation import email_key

FAILURE_WINDOW_SECONDS = 15 * 60
STRIKES_MEMORY_SECONDS = 24 * 3600
DEVICE_COOKIE = "tracker_device"
DEVICE_COOKIE_DAYS = 90
DEVICE_COOKIE_PATH = "/login"
#: at most this many accounts remembered per browser (a shared office computer)
DEVICE_COOKIE_USERS = 5


class LockedOut(DomainError):
    """Sign-in refused while the account is locked; ``seconds`` until it opens again."""

    status_code = 429

    def __init__(self, seconds: int) -> None:
        minutes = max(1, math.ceil(seconds / 60))
        super().__init__(ngettext(
            "Too many failed sign-ins for this account. Try again in %(num)d minute.",
            "Too many failed sign-ins for this account. Try again in %(num)d minutes.", minutes,
        ))
        self.seconds = seconds


def _identity(email: str | None) -> str:
    """A key part for an email (its email_key, as the account lookup uses), hashed: no address
    in Redis."""
    normal = email_key(email)
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _keys(email: str | None) -> tuple[str, str, str]:
    who = _identity(email)
    return (ratelimit.key("lockout", "failures", who), ratelimit.key("lockout", "strikes", who),
            ratelimit.key("lockout", "locked", who))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="tracker.known-device")


def _known_users() -> list[int]:
    """The accounts that signed in from this browser before (from the signed cookie)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        value = _serializer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadSignature:
        return []
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int)]


def _known_device(user: User | None) -> bool:
    return user is not None and user.id in _known_users()


def seconds_locked(email: str | None, user: User | None = None) -> int:
    """How long this email stays locked for this browser (0: not locked)."""
    store = ratelimit.storage()
    if store is None or _known_device(user):
        return 0
    _, _, locked = _keys(email)
    try:
        if store.get(locked) <= 0:
            return 0
        return max(1, math.ceil(store.get_expiry(locked) - time.time()))
    except Exception:  # noqa: BLE001  (the store is down: no lockouts rather than no sign-ins)
        current_app.logger.warning("sign-in lockout store unavailable; not checking lockouts")
        return 0


def check(email: str | None, user: User | None = None) -> None:
    """Raise LockedOut when this email is locked (before any password is checked)."""
    seconds = seconds_locked(email, user)
    if seconds:
        raise LockedOut(seconds)


def failed(email: str | None, user: User | None = None) -> None:
    """Count a failed attempt; the one that reaches the threshold starts a lockout (audited)."""
    store = ratelimit.storage()
    if store is None or _known_device(user):
        return
    config = current_app.config
    failures, strikes, locked = _keys(email)
    try:
        if store.incr(failures, FAILURE_WINDOW_SECONDS) < config["TRACKER_LOGIN_LOCKOUT_AFTER"]:
            return
        store.clear(failures)
        strike = store.incr(strikes, STRIKES_MEMORY_SECONDS)
        seconds = min(config["TRACKER_LOGIN_LOCKOUT_SECONDS"] * 2 ** min(strike - 1, 30),
                      config["TRACKER_LOGIN_LOCKOUT_MAX_SECONDS"])
        store.clear(locked)
        store.incr(locked, seconds)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("sign-in lockout store unavailable; attempt not counted")
        return
    if user is not None:
        audit.record("user.locked_out", user, after={"seconds": seconds, "lockout": strike})


def succeeded(user: User) -> None:
    """A complete sign-in: forget the failures and remember this browser for the account."""
    store = ratelimit.storage()
    if store is not None:
        try:
            store.clear(_keys(user.email)[0])
        except Exception:  # noqa: BLE001
            current_app.logger.warning("sign-in lockout store unavailable")
    g.known_device_user = user.id


def unlock(email: str) -> bool:
    """Lift a lockout and forget its history; True if the email was locked."""
    store = ratelimit.storage()
    if store is None:
        return False
    failures, strikes, locked = _keys(email)
    was_locked = store.get(locked) > 0
    for name in (failures, strikes, locked):
        store.clear(name)
    return was_locked


def _remember_device(response: Response) -> Response:
    user_id = g.pop("known_device_user", None)
    if user_id is None:
        return response
    users = [user_id] + [u for u in _known_users() if u != user_id]
    config = current_app.config
    response.set_cookie(
        DEVICE_COOKIE, _serializer().dumps(users[:DEVICE_COOKIE_USERS]),
        max_age=DEVICE_COOKIE_DAYS * 86400, path=DEVICE_COOKIE_PATH,
        secure=config.get("SESSION_COOKIE_SECURE", True), httponly=True, samesite="Lax",
    )
    return response


def init_app(app: Flask) -> None:
    app.after_request(_remember_device)
