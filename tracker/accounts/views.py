"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from tracker.accounts import auth, services
from tracker.accounts.forms import LoginForm
from tracker.core.access import public, signed_in
from tracker.core.errors import DomainError
from tracker.extensions import db

bp = Blueprint("accounts", __name__)


def landing_page(role: str) -> str:
    """Where a user lands after signing in: the desk their role may open."""
    return url_for("staff.dashboard") if role in ("staff", "admin") else url_for("cases.home")


def _safe_next(target: str | None, role: str) -> str:
    """Only follow same-site relative redirects after sign-in (no open redirect).

    Control characters are refused too: a CR/LF cannot go into the Location header (it would
    turn a sign-in into a 500), and browsers drop tabs and newlines, so "/\\t/x" means "//x".
    """
    if target and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return landing_page(role)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign-in page; the same message for an unknown email and a wrong password."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except DomainError as exc:
            db.session.commit()  # keep the audit entry of the failed attempt
            form.password.errors = [exc.reason]
            return render_template("accounts/login.html", form=form), 200
        db.session.commit()
        # Rotate the session: nothing from before sign-in (a planted id) survives it.
        session.clear()
        login_user(user)
        auth.start_session()
        return redirect(_safe_next(request.args.get("next"), user.role))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
@signed_in
def logout():
    """Sign out. GET asks to confirm; POST (with a CSRF token) signs out."""
    if request.method == "GET":
        return render_template("accounts/logout.html")
    # Sessions live in signed cookies, so a copied cookie would outlive a plain sign-out:
    # bumping the version ends this user's sessions everywhere.
    services.end_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("cases.home"))
