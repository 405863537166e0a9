"""The TOTP second factor (RFC 6238): enrolment, sign-in codes, turning it off, CLI reset.

A code is accepted for the current 30-second time step or one step either side (clocks on
phones drift), and never twice: the step a code was accepted for is stored in
``users.totp_last_step`` by one conditional UPDATE, so two requests racing with the same code
cannot both win. Secrets and codes never go into audit entries or logs.
"""

from __future__ import annotations

import hmac

import pyotp
import segno
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import or_, update

from tracker import audit
from tracker.accounts import auth
from tracker.accounts.models import User
from tracker.core.errors import Conflict, DomainError
from tracker.core.time import utcnow
from tracker.extensions import db

ISSUER = "Rescue Tracker"
#: seconds per time step, and how many steps either side of now a code may come from
STEP_SECONDS = 30
VALID_WINDOW = 1

CODE_REFUSED = _l("That code is not right (or was already used). Type the current 6-digit code.")
ADMINS_KEEP_IT = _l("Admins must keep the second factor. Ask another admin to reset it if your "
                    "phone is lost.")


def current_step() -> int:
    """The current 30-second time step, on the same clock as the session timers."""
    return auth._epoch() // STEP_SECONDS


def is_enabled(user: User) -> bool:
    return user.totp_enabled_at is not None


def is_enrolling(user: User) -> bool:
    """A secret has been made but not yet confirmed with a first code."""
    return user.totp_secret is not None and user.totp_enabled_at is None


def needs_enrolment(user: User) -> bool:
    """Admins must have the second factor before they may do anything else."""
    return user.role == "admin" and not is_enabled(user)


def _clean(code: str | None) -> str | None:
    """Six digits (spaces allowed, as apps show "123 456"), or None."""
    code = "".join((code or "").split())
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


def _matching_step(secret: str, code: str | None, after: int | None) -> int | None:
    """The time step within the window whose code is ``code`` and that is later than
    ``after`` (the last step accepted), or None."""
    code = _clean(code)
    if code is None:
        return None
    totp = pyotp.TOTP(secret)
    now = current_step()
    found = None
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        # compare every candidate, so the time taken does not tell which one matched
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or (after is not None and found <= after):
        return None
    return found


def _claim_step(user: User, step: int) -> bool:
    """Record ``step`` as used, unless it (or a later one) already was: one conditional
    UPDATE, so of two requests racing with the same code only one succeeds."""
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .where(or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(user, ["totp_last_step"])
    return claimed == 1


def _accept(user: User, code: str | None) -> bool:
    """Whether ``code`` is a valid, unused code of this user's secret (and mark it used)."""
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, user.totp_last_step)
    return step is not None and _claim_step(user, step)


# --- enrolment -----------------------------------------------------------------------------


def begin_enrolment(user: User) -> None:
    """Make a new secret for the user to add to their authenticator app (not yet in use)."""
    if is_enabled(user):
        raise Conflict(_("The second factor is already on."))
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    audit.record("user.totp_enrolment_started", user)


def provisioning_uri(user: User) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    if user.totp_secret is None:
        raise DomainError(_("Start setting up the second factor first."))
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(user: User) -> Markup:
    """The provisioning address as inline SVG markup (no style attributes, so the CSP allows it)."""
    svg = segno.make(provisioning_uri(user), error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass="qr-code", lineclass=None,
        title=_("QR code for your authenticator app"))
    return Markup(svg)  # noqa: S704  (segno's own SVG output, no user markup)


def confirm_enrolment(user: User, code: str | None) -> None:
    """Turn the second factor on once the user types a first valid code from their app;
    a wrong code changes nothing."""
    if is_enabled(user):
        raise Conflict(_("The second factor is already on."))
    if user.totp_secret is None:
        raise DomainError(_("Start setting up the second factor first."))
    step = _matching_step(user.totp_secret, code, None)
    if step is None:
        raise DomainError(str(CODE_REFUSED), field="code")
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    audit.record("user.totp_enabled", user, before={"totp": False}, after={"totp": True})


def enrol_without_confirmation(user: User) -> str:
    """Give the user a new secret that is in use at once and return it. Only for the demo
    accounts of ``flask seed-demo --accounts``, which print it; people enrol on the page."""
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    user.totp_enabled_at = utcnow()
    audit.record("user.totp_enabled", user, before={"totp": False}, after={"totp": True},
                 actor_label="seed-demo")
    return user.totp_secret


# --- signing in ----------------------------------------------------------------------------


def verify_sign_in_code(user: User, code: str | None) -> None:
    """The second step of signing in: accept a valid, unused code of ``user`` or raise
    DomainError (audited as ``user.totp_failed``). On success the sign-in is complete and
    audited as ``user.login``; the caller commits either way."""
    if not user.active or not is_enabled(user) or not _accept(user, code):
        audit.record("user.totp_failed", user, actor=user)
        raise DomainError(str(CODE_REFUSED), field="code")
    user.last_login_at = utcnow()
    audit.record("user.login", user, actor=user, after={"second_factor": "totp"})


# --- turning it off ------------------------------------------------------------------------


def _clear(user: User) -> bool:
    was_on = is_enabled(user)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    return was_on


def cancel_enrolment(user: User) -> None:
    """Throw away a secret that was never confirmed."""
    if is_enabled(user):
        raise Conflict(_("The second factor is already on."))
    if user.totp_secret is not None:
        _clear(user)
        audit.record("user.totp_enrolment_cancelled", user)


def disable(user: User, code: str | None) -> None:
    """The user turns their own second factor off with a current code; admins may not."""
    if not is_enabled(user):
        raise Conflict(_("The second factor is not on."))
    if user.role == "admin":
        raise Conflict(str(ADMINS_KEEP_IT))
    if not _accept(user, code):
        raise DomainError(str(CODE_REFUSED), field="code")
    _clear(user)
    audit.record("user.totp_disabled", user, before={"totp": True}, after={"totp": False})


def reset(user: User) -> None:
    """``flask users reset-totp``: clear the second factor of someone who lost their phone and
    end their sessions (an admin must then enrol again at their next sign-in)."""
    from tracker.accounts.services import end_sessions

    was_on = _clear(user)
    end_sessions(user)
    audit.record("user.totp_reset", user, before={"totp": was_on}, after={"totp": False})
