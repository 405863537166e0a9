"""Who may see what: access is denied unless a view declares its policy.

Every view function carries an access policy set by one of the decorators below. A
``before_request`` hook looks the policy up for the matched endpoint; an endpoint without one
answers 403, so a forgotten decorator fails closed rather than open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

ROLES = ("staff", "director", "admin")
PUBLIC = "public"

F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """Anyone, signed in or not, may open this view."""
    view._access = PUBLIC  # type: ignore[attr-defined]
    return view


def roles(*allowed: str) -> Callable[[F], F]:
    """Only signed-in, active users holding one of ``allowed`` roles may open this view."""
    unknown = set(allowed) - set(ROLES)
    if unknown or not allowed:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(view: F) -> F:
        view._access = frozenset(allowed)  # type: ignore[attr-defined]
        return view

    return decorate


def signed_in(view: F) -> F:
    """Any signed-in user, whatever the role (sign-out, own account)."""
    view._access = frozenset(ROLES)  # type: ignore[attr-defined]
    return view


def policy_for(app: Flask, endpoint: str | None) -> Any:
    """The declared policy of an endpoint, or None when it has none."""
    if endpoint is None or endpoint == "static":
        return PUBLIC  # no route matched (the 404/405 handler answers), or a static file
    view = app.view_functions.get(endpoint)
    return getattr(view, "_access", None)


def enforce_access() -> Any:
    """``before_request`` hook: apply the matched view's policy, 403 when it has none."""
    policy = policy_for(current_app, request.endpoint)
    if policy == PUBLIC:
        return None
    if policy is None:
        current_app.logger.error("endpoint %s declares no access policy", request.endpoint)
        abort(403)
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if current_user.role not in policy:
        abort(403)
    return None


def init_app(app: Flask) -> None:
    """Install the access check on every request."""
    app.before_request(enforce_access)
