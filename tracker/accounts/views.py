"""Sign in (password, then a code for users with the second factor on), sign out, and the
account-security page where the second factor is set up and turned off."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from tracker.accounts import auth, lockout, services, totp
from tracker.accounts.forms import ButtonForm, CodeForm, LoginForm
from tracker.accounts.models import User
from tracker.core.access import public, signed_in
from tracker.core.errors import DomainError, form_status
from tracker.core.forms import apply_error
from tracker.core.redirects import same_site_path
from tracker.core.transactions import commit, transaction

bp = Blueprint("accounts", __name__)


def landing_page(role: str) -> str:
    """Where a user lands after signing in: the desk their role may open."""
    return url_for("staff.dashboard") if role in ("staff", "admin") else url_for("cases.home")


def _safe_next(target: str | None, role: str) -> str:
    """Follow ``next`` only to a same-site path (tracker.core.redirects), else the landing page."""
    return same_site_path(target) or landing_page(role)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign-in page; the same message for an unknown email and a wrong password."""
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data
        account = services.find_user(email)
        try:
            lockout.check(email, account)
            user = services.authenticate(email, form.password.data)
        except lockout.LockedOut as exc:
            form.password.errors = [exc.reason]
            return render_template("accounts/login.html", form=form), 429
        except DomainError as exc:
            lockout.failed(email, account)
            commit()  # keep the audit entries of the failed attempt (and a lockout)
            form.password.errors = [exc.reason]
            return render_template("accounts/login.html", form=form), 200
        commit()  # keep the sign-in (its audit entry, a rehashed password)
        # Rotate the session: nothing from before sign-in (a planted id) survives it.
        session.clear()
        if totp.is_enabled(user):
            # Not signed in yet: the code page finishes the sign-in.
            auth.start_pending_sign_in(user)
            return redirect(url_for("accounts.login_code", next=request.args.get("next")))
        login_user(user)
        auth.start_session()
        lockout.succeeded(user)
        return redirect(_safe_next(request.args.get("next"), user.role))
    return render_template("accounts/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@public
def login_code():
    """The second step of signing in: the 6-digit code from the user's authenticator app,
    within auth.PENDING_SECONDS of the right password."""
    user = auth.pending_sign_in_user()
    if user is None:
        if auth.PENDING_KEY in session:
            session.pop(auth.PENDING_KEY)
            flash(_("That sign-in took too long or is no longer valid; please sign in again."), "info")
        return redirect(url_for("accounts.login", next=request.args.get("next")))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            lockout.check(user.email, user)
            totp.verify_sign_in_code(user, form.code.data)
        except lockout.LockedOut as exc:
            form.code.errors = [exc.reason]
            page = render_template("accounts/login_code.html", form=form)
            return page, 429
        except DomainError as exc:
            lockout.failed(user.email, user)
            commit()  # keep the audit entries of the failed attempt (and a lockout)
            form.code.errors = [exc.reason]
            return render_template("accounts/login_code.html", form=form)
        commit()  # keep the sign-in and its audit entry
        session.clear()
        login_user(user)
        auth.start_session()
        lockout.succeeded(user)
        return redirect(_safe_next(request.args.get("next"), user.role))
    return render_template("accounts/login_code.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
@signed_in
def logout():
    """Sign out. GET asks to confirm; POST (with a CSRF token) signs out."""
    if request.method == "GET":
        return render_template("accounts/logout.html")
    # Sessions live in signed cookies, so a copied cookie would outlive a plain sign-out:
    # bumping the version ends this user's sessions everywhere.
    with transaction():
        services.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("cases.home"))


# --- the account's security: the second factor ------------------------------------------------


def _me() -> User:
    return current_user._get_current_object()


def _security_page(*, confirm_form: CodeForm | None = None, disable_form: CodeForm | None = None,
                   status: int = 200) -> Response:
    user = _me()
    page = render_template(
        "accounts/security.html",
        user=user,
        enabled=totp.is_enabled(user),
        enrolling=totp.is_enrolling(user),
        qr=totp.qr_svg(user) if totp.is_enrolling(user) else None,
        secret=user.totp_secret if totp.is_enrolling(user) else None,
        confirm_form=confirm_form or CodeForm(formdata=None),
        disable_form=disable_form or CodeForm(formdata=None),
    )
    return make_response(page, status)


@bp.route("/account/security")
@signed_in
def security():
    """Whether the second factor is on; set it up, or turn it off."""
    return _security_page()


def _button_step(step) -> Response:  # noqa: ANN001
    """A one-button step of setting up the second factor (CSRF-checked), then the page."""
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            with transaction():
                step(_me())
        except DomainError as exc:
            flash(exc.reason, "info")
    return redirect(url_for("accounts.security"))


@bp.route("/account/security/start", methods=["POST"])
@signed_in
def security_start():
    """Make a new secret and show it (QR code and text) with the form for a first code."""
    return _button_step(totp.begin_enrolment)


@bp.route("/account/security/confirm", methods=["POST"])
@signed_in
def security_confirm():
    """Turn the second factor on with a first code from the app; other sessions end."""
    form = CodeForm()
    if not form.validate_on_submit():
        return _security_page(confirm_form=form, status=422)
    user = _me()
    try:
        with transaction():
            totp.confirm_enrolment(user, form.code.data)
            # Sessions signed in with the password alone end; this one goes on under the new
            # version. (end_sessions raises no DomainError.)
            services.end_sessions(user)
    except DomainError as exc:
        apply_error(form, exc)
        return _security_page(confirm_form=form, status=form_status(exc))
    login_user(user)
    flash(_("The second factor is on: signing in now asks for a code from your app."), "info")
    return redirect(url_for("accounts.security"))


@bp.route("/account/security/cancel", methods=["POST"])
@signed_in
def security_cancel():
    """Throw away a secret that was never confirmed."""
    return _button_step(totp.cancel_enrolment)


@bp.route("/account/security/disable", methods=["POST"])
@signed_in
def security_disable():
    """Turn the second factor off with a current code (refused for admins)."""
    form = CodeForm()
    if not form.validate_on_submit():
        return _security_page(disable_form=form, status=422)
    try:
        with transaction():
            totp.disable(_me(), form.code.data)
    except DomainError as exc:
        apply_error(form, exc)
        return _security_page(disable_form=form, status=form_status(exc))
    flash(_("The second factor is off: signing in asks for your password only."), "info")
    return redirect(url_for("accounts.security"))
