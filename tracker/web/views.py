"""Health check and error pages."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from tracker.core import ratelimit
from tracker.core.access import public
from tracker.core.errors import DomainError
from tracker.core.transactions import transaction
from tracker.extensions import db
from tracker.web.unavailable import database_unavailable, unavailable_response

bp = Blueprint("core", __name__)


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers, 503 otherwise (load balancers poll this)."""
    try:
        with transaction():
            db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


#: the titles of the HTTP errors a visitor may meet, in the page's language (JSON keeps English)
HTTP_TITLES = {
    400: _l("Bad Request"),
    401: _l("Unauthorized"),
    403: _l("Forbidden"),
    404: _l("Not Found"),
    405: _l("Method Not Allowed"),
    406: _l("Not Acceptable"),
    409: _l("Conflict"),
    410: _l("Gone"),
    413: _l("Request Entity Too Large"),
    414: _l("Request URI Too Long"),
    415: _l("Unsupported Media Type"),
    422: _l("Unprocessable Entity"),
    429: _l("Too Many Requests"),
    431: _l("Request Header Fields Too Large"),
    500: _l("Internal Server Error"),
    503: _l("Service Unavailable"),
}

def _english(text: object) -> str:
    with force_locale("en"):
        return str(text)


#: the stock explanations (Werkzeug's, Flask-WTF's CSRF refusals), by their English text; an
#: explanation a view wrote itself is shown as it is
HTTP_DESCRIPTIONS = {_english(text): text for text in (
    _l("The browser (or proxy) sent a request that this server could not understand."),
    _l("The server could not verify that you are authorized to access the URL requested. You "
       "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
       "understand how to supply the credentials required."),
    _l("You don't have the permission to access the requested resource. It is either "
       "read-protected or not readable by the server."),
    _l("The requested URL was not found on the server. If you entered the URL manually please "
       "check your spelling and try again."),
    _l("The method is not allowed for the requested URL."),
    _l("The resource identified by the request is only capable of generating response entities "
       "which have content characteristics not acceptable according to the accept headers sent "
       "in the request."),
    _l("A conflict happened while processing the request. The resource might have been modified "
       "while the request was being processed."),
    _l("The requested URL is no longer available on this server and there is no forwarding "
       "address. If you followed a link from a foreign page, please contact the author of this "
       "page."),
    _l("The data value transmitted exceeds the capacity limit."),
    _l("The length of the requested URL exceeds the capacity limit for this server. The request "
       "cannot be processed."),
    _l("The server does not support the media type transmitted in the request."),
    _l("The request was well-formed but was unable to be followed due to semantic errors."),
    _l("This user has exceeded an allotted request count. Try again later."),
    _l("One or more header fields exceeds the maximum size."),
    _l("The server encountered an internal error and was unable to complete your request. Either "
       "the server is overloaded or there is an error in the application."),
    _l("The server is temporarily unable to service your request due to maintenance downtime or "
       "capacity problems. Please try again later."),
    _l("The CSRF token is missing."),
    _l("The CSRF session token is missing."),
    _l("The CSRF token has expired."),
    _l("The CSRF token is invalid."),
    _l("The CSRF tokens do not match."),
    _l("The referrer header is missing."),
    _l("The referrer does not match the host."),
)}


def _http_title(exc: HTTPException) -> str:
    return str(HTTP_TITLES.get(exc.code or 500, exc.name))


def _http_description(exc: HTTPException) -> str:
    limit = getattr(exc, "limit", None)
    if exc.code == 429 and limit is not None and hasattr(limit, "limit"):
        return ratelimit.describe(limit.limit)  # Flask-Limiter's refusal: "3 per 1 minute"
    text = exc.description or ""
    return str(HTTP_DESCRIPTIONS.get(text, text))


def _wants_json() -> bool:
    return request.path.endswith(".json") or request.path.startswith("/webhooks/")


def _error_response(status: int, title: str, message: str):
    if _wants_json():
        return jsonify(error=title, message=message), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def register_errorhandlers(app: Flask) -> None:
    """Every error gets a page (or JSON) of its own; nothing leaks a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code >= 500:
            db.session.rollback()
        if _wants_json():  # for programs (and Stripe): always the English of the error
            return _error_response(exc.code or 500, exc.name, exc.description or "")
        return _error_response(exc.code or 500, _http_title(exc), _http_description(exc))

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        return _error_response(exc.status_code, _("Request refused"), exc.reason)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        if database_unavailable(exc):  # a restart or an outage: "try again", never a 500
            return unavailable_response(exc)
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _error_response(500, _("Something went wrong"),
                               _("The error was logged. Nothing was saved."))
