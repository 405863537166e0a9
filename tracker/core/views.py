"""Health check and error pages."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, render_template, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from tracker.core.access import public
from tracker.core.db_unavailable import database_unavailable, unavailable_response
from tracker.core.errors import DomainError
from tracker.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers, 503 otherwise (load balancers poll this)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


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
        return _error_response(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        return _error_response(exc.status_code, "Request refused", exc.reason)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        if database_unavailable(exc):  # a restart or an outage: "try again", never a 500
            return unavailable_response(exc)
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _error_response(500, "Something went wrong", "The error was logged. Nothing was saved.")
