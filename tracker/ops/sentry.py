"""Error reports to Sentry (``sentry-sdk``) when ``SENTRY_DSN`` is set; nothing otherwise.

The people in our cases are in hiding and our donors trust us with their names, so what
reaches Sentry is cut down to what finds a bug, and scrubbed again on the way out
(``scrub``, the ``before_send`` hook):

* the SDK collects no personal data (``send_default_pii=False``, or its successor
  ``data_collection`` with every personal category off: ``privacy_options``), no request
  bodies (``max_request_body_size="never"``) and no local variables of stack frames;
* an error's text (an exception's message, a log line's arguments) is dropped: it can quote
  anything the code held. The exception's type, the stack (files, functions, lines) and a log
  call's own template stay;
* the request keeps its method, the URL *rule* (``/cases/<slug>``: no slug, no token, no
  query string) and a few harmless headers (``SAFE_HEADERS``); no cookies, no body, no user;
* breadcrumbs keep only their category, level, type and time;
* then, everywhere in the event: any key starting with ``private_`` or naming a password,
  token, secret, authorization, cookie, CSRF, session, email or code has its value replaced,
  and any email address, Stripe key or secret, or card-like number in a value is replaced.

Errors arrive through the SDK's logging integration: the app's 500 handler logs the exception
(``app.logger.exception``), which becomes the event. Each event is tagged with the request's
``request_id``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, has_request_context, request

from tracker.ops.requestid import request_id

FILTERED = "[Filtered]"
#: request headers kept in an event (lower case); every other header is dropped
SAFE_HEADERS = frozenset({"host", "user-agent", "accept", "accept-language", "content-type",
                          "content-length", "x-request-id"})
_SENSITIVE_KEY = re.compile(
    r"^private_|password|passwd|token|secret|authori[sz]ation|cookie|csrf|session|e-?mail|code|"
    r"otp|api_?key|dsn|card|iban|account", re.IGNORECASE)
#: keys that contain a sensitive word but hold nothing personal
_HARMLESS_KEYS = frozenset({"status_code"})
_SENSITIVE_VALUES = (
    re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+\.[^\s@<>\"'(),;:]+"),  # an email address
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+"),  # Stripe keys
    re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),  # a card-like number
)


def _scrub_text(value: str) -> str:
    for pattern in _SENSITIVE_VALUES:
        value = pattern.sub(FILTERED, value)
    return value


def _sensitive_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower() not in _HARMLESS_KEYS and bool(_SENSITIVE_KEY.search(key))


def scrub_value(value: Any) -> Any:
    """``value`` with every sensitive key's value and every sensitive text replaced, at any
    depth (dicts, lists, tuples, strings)."""
    if isinstance(value, dict):
        return {k: FILTERED if _sensitive_key(k) else scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # header lists come as [name, value] pairs
        if len(value) == 2 and _sensitive_key(value[0]):
            return [value[0], FILTERED]
        return [scrub_value(v) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def _scrub_request(req: dict[str, Any]) -> dict[str, Any]:
    headers = req.get("headers") or {}
    if isinstance(headers, dict):
        headers = {k: v for k, v in headers.items() if str(k).lower() in SAFE_HEADERS}
    else:
        headers = {}
    url = str(req.get("url") or "")
    return {
        "method": req.get("method"),
        "url": _url_without_parts(url) if url else "",
        "headers": headers,
    }


def _url_without_parts(url: str) -> str:
    """The scheme and host of ``url``, and the path as the URL rule that matched (never the
    path itself: it can hold a slug, a donor's sign-in token or a gift's id)."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^/?#]*)", url, re.IGNORECASE)
    origin = match.group(1) if match else ""
    rule = request.url_rule.rule if has_request_context() and request.url_rule is not None else "/…"
    return origin + rule


def _scrub_exceptions(event: dict[str, Any]) -> None:
    for exc in (event.get("exception") or {}).get("values") or []:
        if exc.get("value"):
            exc["value"] = FILTERED
        for frame in (exc.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """The event as it may leave: see the module's docstring."""
    event = dict(event)
    _scrub_exceptions(event)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):  # keep the code's template, drop what was put into it
        event["logentry"] = {"message": logentry.get("message"), "params": []}
    if "message" in event and "logentry" in event:
        event.pop("message")
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    event.pop("user", None)
    event.pop("extra", None)
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict):
        event["breadcrumbs"] = {"values": [
            {k: c.get(k) for k in ("category", "level", "type", "timestamp") if k in c}
            for c in crumbs.get("values") or [] if isinstance(c, dict)
        ]}
    return scrub_value(event)


def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed = scrub(event)
    rid = request_id()
    if rid:
        scrubbed.setdefault("tags", {})["request_id"] = rid
    return scrubbed


def before_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    return {k: crumb.get(k) for k in ("category", "level", "type", "timestamp") if k in crumb}


def privacy_options() -> dict[str, Any]:
    """What the SDK may collect by itself: no personal data. SDKs from 2.75 on take this as
    ``data_collection`` (and call ``send_default_pii`` deprecated); older ones as
    ``send_default_pii=False``."""
    import inspect

    from sentry_sdk.consts import ClientConstructor

    if "data_collection" not in inspect.signature(ClientConstructor.__init__).parameters:
        return {"send_default_pii": False}
    return {"data_collection": {
        "user_info": False,
        "cookies": {"mode": "off"},
        "http_headers": {"request": {"mode": "allowlist", "terms": sorted(SAFE_HEADERS)}},
        "http_bodies": [],
        "url_query_params": {"mode": "off"},
        "database_query_data": False,
        "stack_frame_variables": False,
        "gen_ai": {"inputs": False, "outputs": False},
    }}


def init_app(app: Flask, *, transport: Any = None) -> None:
    """Start reporting errors to ``SENTRY_DSN`` (nothing when it is unset). ``transport``
    replaces the SDK's sender (tests)."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    options: dict[str, Any] = privacy_options()
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration(transaction_style="endpoint"), LoggingIntegration()],
        max_request_body_size="never",
        include_local_variables=False,
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        **options,
    )
