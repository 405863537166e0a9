"""The 503 answer when the database cannot be reached (``init_app``).

A database restart, a failover or a full connection pool must give visitors a clean
"503, try again" (Stripe retries a webhook it did not get a 2xx for), never a 500 page or a
hung request. Only operational failures count (connection refused or lost, the server
shutting down or starting, a locked SQLite file, a deadlock, no pooled connection free): a
constraint violation or a bad query is a bug and stays a logged 500.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from tracker.core.database import database_unavailable

#: how long a client is asked to wait before trying again (the Retry-After of every 503)
RETRY_AFTER_SECONDS = 5
#: the answer's words in English (JSON, and the plain-text last resort)...
UNAVAILABLE_TITLE = "Service unavailable"
UNAVAILABLE_MESSAGE = "We cannot reach our database right now. Please try again soon."
#: ...and on the page, in the visitor's language (Flask-Babel needs no database)
UNAVAILABLE_PAGE_TITLE = _l("Service unavailable")
UNAVAILABLE_PAGE_MESSAGE = _l("We cannot reach our database right now. Please try again soon.")


def _forget_transaction() -> None:
    """Roll the request's session back; a connection that is already gone is discarded."""
    import contextlib

    from tracker.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is broken; drop it without a rollback
        with contextlib.suppress(Exception):
            db.session.invalidate()


def _user_or_anonymous() -> dict:
    """Template context processor, registered before Flask-Login's: load the signed-in user
    now, and if the database cannot be reached show the page as to an anonymous visitor
    (Flask-Login's own ``current_user`` would raise again inside the error page)."""
    from flask import current_app, g, has_request_context
    from flask_login import current_user

    if has_request_context() and "_login_user" not in g and hasattr(current_app, "login_manager"):
        try:
            current_user._get_current_object()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            _forget_transaction()
            g._login_user = current_app.login_manager.anonymous_user()
    return {}


def unavailable_response(exc: BaseException | None = None):  # noqa: ANN201
    """The 503 answer: JSON for ``*.json`` and webhooks, else a page that needs no database
    (no signed-in user is loaded for it). Names no host, database or driver: only the class of
    the error reaches the log."""
    from flask import current_app, jsonify, render_template, request

    _forget_transaction()
    if exc is not None:
        cause = getattr(exc, "orig", None)
        current_app.logger.warning(
            "database unavailable (%s%s): answered 503", type(exc).__name__,
            f" from {type(cause).__name__}" if cause is not None else "")
    if request.path.endswith(".json") or request.path.startswith("/webhooks/"):
        response = jsonify(error=UNAVAILABLE_TITLE, message=UNAVAILABLE_MESSAGE)
    else:
        try:
            response = current_app.make_response(render_template(
                "errors/error.html", status=503, title=str(UNAVAILABLE_PAGE_TITLE),
                message=str(UNAVAILABLE_PAGE_MESSAGE)))
        except Exception:  # noqa: BLE001 - the page must not fail: plain text then
            response = current_app.response_class(
                f"{UNAVAILABLE_TITLE}. {UNAVAILABLE_MESSAGE}\n", mimetype="text/plain")
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:  # noqa: ANN001
    """The parts of the 503 that are not the answer itself (which the app's handler for
    unexpected exceptions gives, see tracker.web.views): every 503 the app sends (the
    webhook's own, /healthz's) gets a Retry-After header, and a page rendered for a signed-in
    user whose account cannot be loaded shows as anonymous. Call before Flask-Login is set up,
    so that its context processor runs after ours.
    """
    app.context_processor(_user_or_anonymous)

    @app.after_request
    def _retry_after(response):  # noqa: ANN001, ANN202
        if response.status_code == 503:
            response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return response
