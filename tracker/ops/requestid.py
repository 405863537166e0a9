"""Every request gets an id, sent back as ``X-Request-ID`` on every response.

A client's (or a load balancer's) own ``X-Request-ID`` is kept when it is sane: 8 to 128
letters, digits, dots, underscores or dashes. Anything else (missing, too long, spaces, a
newline that would split a log line) is replaced by a fresh uuid4 in hex. The id is
``g.request_id`` in views, ``request_id()`` anywhere, and ``record.request_id`` on every log
record (``RequestIdFilter``; "-" outside a request).

It is set by WSGI middleware around the whole app, so even a response made by an error
handler, or one whose ``after_request`` hooks never ran, carries the header.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, has_request_context, request

HEADER = "X-Request-ID"
#: the WSGI environ key holding the request's id
ENVIRON_KEY = "tracker.request_id"
_SANE = re.compile(r"[A-Za-z0-9._-]{8,128}")


def choose(incoming: str | None) -> str:
    """The incoming id when it is sane, else a new one."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def request_id() -> str | None:
    """The current request's id, or None outside a request."""
    if not has_request_context():
        return None
    return request.environ.get(ENVIRON_KEY)


class RequestIdMiddleware:
    """WSGI middleware: choose the id, put it in the environ, add the header to the answer."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rid = choose(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = rid

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, rid))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class RequestIdFilter(logging.Filter):
    """Give every record a ``request_id`` attribute (the request's, or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id() or "-"
        return True


def _set_g() -> None:
    g.request_id = request_id()


def init_app(app: Flask) -> None:
    """Wrap the WSGI app and make ``g.request_id`` the first thing every request sets."""
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _set_g)
