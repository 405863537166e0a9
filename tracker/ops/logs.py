"""Log lines: plain text (Flask's default, unchanged) or, with ``TRACKER_LOG_FORMAT=json``, one
JSON object per line on standard error: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, ``request_id`` ("-" outside a request) and, when there is one, ``exception``
(the traceback as text). Either way every record carries ``request_id``
(``tracker.ops.requestid.RequestIdFilter``).

The JSON handler sits on the root logger, so the app's, the libraries' and the mail
courier's records all come out the same way; Flask's own handler is taken off the app's
logger so that nothing is written twice. Calling ``configure`` again (another ``create_app``)
replaces the handler instead of adding a second one. Levels are left as they are (the
format changes, not what is logged).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from flask import Flask
from flask.logging import default_handler

from tracker.ops.requestid import RequestIdFilter

FORMATS = ("plain", "json")
#: marks the handler this module installed on the root logger
_MARK = "_tracker_json_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # ensure_ascii: a newline or any other control character is escaped, never a line break
        return json.dumps(entry, ensure_ascii=True, default=str)


def json_handler(stream=None) -> logging.Handler:  # noqa: ANN001
    """A stream handler (standard error by default) writing JSON lines with request ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    setattr(handler, _MARK, True)
    return handler


def installed_handler() -> logging.Handler | None:
    """The JSON handler on the root logger, if ``configure`` put one there."""
    return next((h for h in logging.getLogger().handlers if getattr(h, _MARK, False)), None)


def uninstall() -> None:
    """Take the JSON handler off the root logger and give the app's logger Flask's own
    handler back (tests)."""
    handler = installed_handler()
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    for name in getattr(handler, "_tracker_took_default_from", ()):
        logging.getLogger(name).addHandler(default_handler)


def configure(app: Flask) -> None:
    """Set up logging for ``TRACKER_LOG_FORMAT``: plain (Flask's default) or json."""
    if not any(isinstance(f, RequestIdFilter) for f in default_handler.filters):
        default_handler.addFilter(RequestIdFilter())
    if app.config["TRACKER_LOG_FORMAT"] != "json":
        return
    uninstall()
    handler = json_handler()
    if default_handler in app.logger.handlers:
        app.logger.removeHandler(default_handler)
        handler._tracker_took_default_from = (app.logger.name,)  # type: ignore[attr-defined]
    logging.getLogger().addHandler(handler)
