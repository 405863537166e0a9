"""Rate limits per client address (Flask-Limiter), and the store the sign-in lockouts share.

- Sign-in: password and second-factor attempts share one budget per client address
  (TRACKER_RATELIMIT_LOGIN).
- Contact messages: the contact form's sends per client address (TRACKER_RATELIMIT_CONTACT),
  so the organization's inbox cannot be flooded through it.
- Checkout creation: the donation forms share one budget per client address
  (TRACKER_RATELIMIT_CHECKOUT), which slows anyone testing stolen cards through them.

Counts live in Redis when REDIS_URL is set, so every worker and server counts together; in
this process's memory otherwise. If Redis stops answering, the limits count in memory
meanwhile rather than refuse every sign-in and gift.

Each app gets its own Limiter: Flask-Limiter keeps its switch, storage and limits on the
instance, and one shared instance would let one app's settings leak into another's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from limits.storage import Storage
from werkzeug.middleware.proxy_fix import ProxyFix

#: endpoint -> (shared budget, setting that holds its limits); only POSTs count
LIMITED_ENDPOINTS: dict[str, tuple[str, str]] = {
    "accounts.login": ("sign-in", "TRACKER_RATELIMIT_LOGIN"),
    "accounts.login_code": ("sign-in", "TRACKER_RATELIMIT_LOGIN"),
    "donors.sign_in": ("sign-in", "TRACKER_RATELIMIT_LOGIN"),
    "donations.give": ("checkout", "TRACKER_RATELIMIT_CHECKOUT"),
    "donations.give_to_case": ("checkout", "TRACKER_RATELIMIT_CHECKOUT"),
    "organization.contact": ("contact", "TRACKER_RATELIMIT_CONTACT"),
    "follow.follow": ("follow", "TRACKER_RATELIMIT_FOLLOW"),
}

#: budgets that count only some answers: a form sent back with an error (a typo in the
#: amount or the email address) starts no checkout and sends nothing, and must not use up the
#: address's budget (many people share one address behind a mobile carrier's gateway). What
#: counts: a started checkout or pledge (a redirect), a contact message sent (a redirect), a
#: follow request whose mail is queued (the "check your inbox" page, 200; errors are 4xx)
COUNTS_ONLY: dict[str, Callable[[Any], bool]] = {
    "checkout": lambda response: response.status_code in (302, 303),
    "contact": lambda response: response.status_code in (302, 303),
    "follow": lambda response: response.status_code == 200,
}

EXTENSION = "tracker.limiter"

#: a limit ("3 per 1 minute") in words, by the unit the limits library names
LIMIT_TEXTS = {
    "second": _l("%(amount)d per %(multiples)d second"),
    "minute": _l("%(amount)d per %(multiples)d minute"),
    "hour": _l("%(amount)d per %(multiples)d hour"),
    "day": _l("%(amount)d per %(multiples)d day"),
    "month": _l("%(amount)d per %(multiples)d month"),
    "year": _l("%(amount)d per %(multiples)d year"),
}


def describe(item: Any) -> str:
    """The text of a 429 page: the limit that was reached, in the page's language
    ("3 per 1 minute", as the limits library writes it, in English)."""
    unit = getattr(getattr(item, "GRANULARITY", None), "name", None)
    if unit not in LIMIT_TEXTS:
        return str(item)
    return str(LIMIT_TEXTS[unit]) % {"amount": item.amount, "multiples": item.multiples}


def client_address() -> str:
    """The client's address: the peer, or what TRACKER_PROXY_COUNT trusted proxies said."""
    return request.remote_addr or "unknown"


def _limit_from(setting: str) -> Callable[[], str]:
    return lambda: current_app.config[setting]


def init_app(app: Flask) -> None:
    """Trust the configured proxies, make this app's limiter and put the limits on the views
    (after the blueprints are registered)."""
    proxies = app.config["TRACKER_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    limiter = Limiter(client_address)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    for endpoint, (scope, setting) in LIMITED_ENDPOINTS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            decorate: Any = limiter.shared_limit(_limit_from(setting), scope=scope, methods=["POST"],
                                                 deduct_when=COUNTS_ONLY.get(scope))
            app.view_functions[endpoint] = decorate(view)


def enabled() -> bool:
    """Whether rate limits and sign-in lockouts apply (RATELIMIT_ENABLED)."""
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def storage() -> Storage | None:
    """The counter store the limits use (Redis or memory), or None when limits are off."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or not enabled():
        return None
    return limiter.storage


def key(*parts: str) -> str:
    """A storage key in this deployment's namespace (RATELIMIT_KEY_PREFIX)."""
    return ":".join((current_app.config.get("RATELIMIT_KEY_PREFIX", "tracker"), *parts))

