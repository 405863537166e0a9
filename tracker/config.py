"""Settings, read once from the environment when the app is created.

Every setting has a safe embedded default (SQLite in the instance folder, sandbox payments,
mail written to files) except ``SECRET_KEY``: outside debug and testing the app refuses to
start without one, because a guessable key lets anyone forge a staff session.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.core import money


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None


def _env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}.")


def normalize_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver, whatever scheme the host gave us."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


DEFAULT_CATEGORIES = "guides,transport,safe_house,documents_legal,medical,food,other"
#: labels of the default categories; other keys are labelled from their spelling
CATEGORY_LABELS = {
    "guides": "Guides", "transport": "Transport", "safe_house": "Safe house",
    "documents_legal": "Documents and legal", "medical": "Medical", "food": "Food",
    "other": "Other",
}
_CATEGORY_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _parse_categories(raw: str | Mapping[str, str]) -> dict[str, str]:
    """Parse "guides,safe_house=Safe house" into {key: label}, in the order given."""
    items = raw.items() if isinstance(raw, Mapping) else (
        (part.split("=", 1) + [""])[:2] for part in raw.split(",") if part.strip()
    )
    categories: dict[str, str] = {}
    for key, label in items:
        key, label = key.strip(), label.strip()
        if not _CATEGORY_KEY.match(key):
            raise ConfigError(
                f"TRACKER_BUDGET_CATEGORIES: {key!r} is not a category key; use lower-case "
                "letters, digits and underscores, like safe_house or safe_house=Safe house."
            )
        categories[key] = label or CATEGORY_LABELS.get(key) or key.replace("_", " ").capitalize()
    if not categories:
        raise ConfigError("TRACKER_BUDGET_CATEGORIES must name at least one category.")
    return categories


def from_env(env: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Build the settings dict from environment variables, applying the embedded defaults."""
    default_db = "sqlite:///" + os.path.join(instance_path, "tracker.sqlite3")
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "DATABASE_URL": normalize_database_url(env.get("DATABASE_URL") or default_db),
        # Seconds to wait for a PostgreSQL connection before the request fails with a 503.
        "TRACKER_DB_CONNECT_TIMEOUT": _env_int(env, "TRACKER_DB_CONNECT_TIMEOUT", 5),
        "TRACKER_BASE_CURRENCY": env.get("TRACKER_BASE_CURRENCY", "JPY"),
        "TRACKER_TIMEZONE": env.get("TRACKER_TIMEZONE", "Asia/Tokyo"),
        "TRACKER_FISCAL_YEAR_START_MONTH": _env_int(env, "TRACKER_FISCAL_YEAR_START_MONTH", 9),
        "TRACKER_CURRENCIES": env.get("TRACKER_CURRENCIES", "JPY,USD"),
        # Base-currency units per unit of each currency, for the sandbox and offline gifts
        # (Stripe gifts take the rate of their balance transaction instead).
        "TRACKER_EXCHANGE_RATES": env.get("TRACKER_EXCHANGE_RATES", "USD=150,EUR=160"),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "STRIPE_ALLOW_LIVE": _env_bool(env, "STRIPE_ALLOW_LIVE"),
        # The sandbox charges a pretend card fee so that fee and net columns get exercised.
        "TRACKER_SANDBOX_FEE_PERCENT": env.get("TRACKER_SANDBOX_FEE_PERCENT", "3.6"),
        # "Cover the card fee" on the donate form adds this percent of the gift (rounded up to
        # a whole minor unit) plus a fixed amount per currency ("USD=0.30"; none by default).
        "TRACKER_CARD_FEE_PERCENT": env.get("TRACKER_CARD_FEE_PERCENT", "3.6"),
        "TRACKER_CARD_FEE_FIXED": env.get("TRACKER_CARD_FEE_FIXED", ""),
        # The largest single gift accepted, in minor units of the gift's currency.
        "TRACKER_MAX_GIFT_MINOR": _env_int(env, "TRACKER_MAX_GIFT_MINOR", 10_000_000),
        # The largest amount staff may type for a correction, a budget line or a payment out,
        # in minor units of its currency (offline gifts are gifts: TRACKER_MAX_GIFT_MINOR).
        "TRACKER_MAX_STAFF_AMOUNT_MINOR": _env_int(env, "TRACKER_MAX_STAFF_AMOUNT_MINOR",
                                                   100_000_000),
        # Ways to pay yen that complete later, offered beside cards at checkout: "konbini"
        # (a convenience-store voucher) and "bank_transfer" (Stripe's jp_bank_transfer); both
        # by default, "none" for cards only (a Stripe account without them enabled).
        "TRACKER_JAPANESE_PAYMENT_METHODS": _methods(env.get("TRACKER_JAPANESE_PAYMENT_METHODS")),
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": _env_int(env, "MAIL_PORT", 25),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _env_bool(env, "MAIL_USE_TLS"),
        "MAIL_FROM": env.get("MAIL_FROM", "Rescue Tracker <no-reply@localhost>"),
        "REDIS_URL": env.get("REDIS_URL") or None,
        # "inline": a webhook applies its event before answering (the embedded default);
        # "queued": it stores the verified event and answers at once, and `flask worker`
        # applies stored events in order within a second (a server with a worker: a spike of
        # gifts never makes Stripe wait on a receipt being written).
        "TRACKER_WEBHOOK_PROCESSING": env.get("TRACKER_WEBHOOK_PROCESSING") or "inline",
        "MAIL_FILE_DIR": env.get("MAIL_FILE_DIR") or None,
        # who sends queued mail: background (a thread in each process), worker (only
        # `flask worker` sends) or after-response (tests); unset: background, tests after-response
        "TRACKER_OUTBOX_DELIVERY": env.get("TRACKER_OUTBOX_DELIVERY") or None,
        # how often the worker runs `stripe reconcile`, and when it ends an abandoned checkout
        "TRACKER_RECONCILE_MINUTES": _env_int(env, "TRACKER_RECONCILE_MINUTES", 15),
        "TRACKER_CHECKOUT_EXPIRE_HOURS": _env_int(env, "TRACKER_CHECKOUT_EXPIRE_HOURS", 24),
        # How long a public page may be served from a worker's memory before the database is
        # asked again (this worker's own commits clear it at once). 0 asks every time.
        "TRACKER_PAGE_CACHE_SECONDS": env.get("TRACKER_PAGE_CACHE_SECONDS") or "1",
        # Budget categories a case's lines are planned in: keys, optionally with a label
        # ("guides,safe_house=Safe house"). A key in use stays readable if later removed here.
        "TRACKER_BUDGET_CATEGORIES": env.get("TRACKER_BUDGET_CATEGORIES", DEFAULT_CATEGORIES),
        # A disbursement above this many base-currency minor units needs a second staff
        # member's approval before it counts (four eyes). Default ¥100,000 with a yen base.
        "TRACKER_APPROVAL_THRESHOLD_MINOR": _env_int(env, "TRACKER_APPROVAL_THRESHOLD_MINOR",
                                                     100_000),
        # Session cookies only over HTTPS; `dev.py serve` (plain HTTP on 127.0.0.1) turns it off.
        "SESSION_COOKIE_SECURE": _env_bool(env, "SESSION_COOKIE_SECURE", True),
        # Signed-in sessions end after this long without a request, and this long in all.
        "TRACKER_SESSION_IDLE_MINUTES": _env_int(env, "TRACKER_SESSION_IDLE_MINUTES", 30),
        "TRACKER_SESSION_MAX_HOURS": _env_int(env, "TRACKER_SESSION_MAX_HOURS", 12),
        # Rate limits (Flask-Limiter; kept in Redis when REDIS_URL is set so that every worker
        # counts together, else in this process's memory). false turns them and the sign-in
        # lockouts off (the test suite does, but for the tests of the limits themselves).
        "RATELIMIT_ENABLED": _env_bool(env, "RATELIMIT_ENABLED", True),
        # Sign-in attempts (password and second-factor code) per client IP.
        "TRACKER_RATELIMIT_LOGIN": env.get("TRACKER_RATELIMIT_LOGIN", "10 per minute;60 per hour"),
        # Checkouts started per client IP: slows card testing through the donation form.
        "TRACKER_RATELIMIT_CHECKOUT": env.get("TRACKER_RATELIMIT_CHECKOUT",
                                              "10 per minute;30 per hour;100 per day"),
        # Messages sent with the contact form per client IP.
        "TRACKER_RATELIMIT_CONTACT": env.get("TRACKER_RATELIMIT_CONTACT",
                                             "3 per minute;10 per hour;30 per day"),
        # Follow requests per client IP: each one may send a confirmation mail to any address.
        "TRACKER_RATELIMIT_FOLLOW": env.get("TRACKER_RATELIMIT_FOLLOW", "5 per minute;20 per hour"),
        # Per account: after this many failed sign-ins in 15 minutes the account is locked for
        # TRACKER_LOGIN_LOCKOUT_SECONDS, doubling with each lockout in a day, never beyond
        # TRACKER_LOGIN_LOCKOUT_MAX_SECONDS. A browser the user signed in from before is exempt.
        "TRACKER_LOGIN_LOCKOUT_AFTER": _env_int(env, "TRACKER_LOGIN_LOCKOUT_AFTER", 5),
        "TRACKER_LOGIN_LOCKOUT_SECONDS": _env_int(env, "TRACKER_LOGIN_LOCKOUT_SECONDS", 60),
        "TRACKER_LOGIN_LOCKOUT_MAX_SECONDS": _env_int(env, "TRACKER_LOGIN_LOCKOUT_MAX_SECONDS", 3600),
        # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: none, the
        # peer address is the client). Rate limits key on the client address this gives.
        "TRACKER_PROXY_COUNT": _env_int(env, "TRACKER_PROXY_COUNT", 0),
        # The language shown when neither the visitor's choice nor their browser's
        # Accept-Language names one of TRACKER_LANGUAGES (en, ja).
        "TRACKER_DEFAULT_LOCALE": env.get("TRACKER_DEFAULT_LOCALE", "en"),
        # The site's address as donors reach it (https://give.example.org): links in mail are
        # built from it, never from a request's Host header, which a stranger asking for a
        # donor's sign-in link could forge. Unset: the request's host (development).
        "TRACKER_PUBLIC_URL": (env.get("TRACKER_PUBLIC_URL") or "").rstrip("/") or None,
        # The sites that may show a case's widget (/cases/<slug>/widget) in an iframe: origins
        # separated by spaces or commas (https://blog.example.org); unset: any site ("*").
        "TRACKER_EMBED_ORIGINS": env.get("TRACKER_EMBED_ORIGINS") or "*",
        # The bearer token Prometheus sends for GET /metrics (at least 16 characters); unset,
        # /metrics answers 404.
        "TRACKER_METRICS_TOKEN": env.get("TRACKER_METRICS_TOKEN") or None,
        # "plain" (Flask's lines) or "json" (one JSON object per line, with the request id).
        "TRACKER_LOG_FORMAT": (env.get("TRACKER_LOG_FORMAT") or "plain").strip().lower(),
        # Where errors are reported (sentry-sdk), scrubbed of personal data; unset: nowhere.
        "SENTRY_DSN": env.get("SENTRY_DSN") or None,
    }


def _parse_rates(raw: str | Mapping[str, Any], base: str) -> dict[str, Decimal]:
    """Parse "USD=150,EUR=160" into {currency: Decimal rate}; the base currency is 1."""
    items = raw.items() if isinstance(raw, Mapping) else (
        part.split("=", 1) if "=" in part else (part, "")
        for part in raw.replace(" ", "").split(",") if part
    )
    rates: dict[str, Decimal] = {}
    for code, value in items:
        try:
            currency = money.normalize_currency(str(code))
            rate = Decimal(str(value))
        except (money.MoneyError, InvalidOperation):
            raise ConfigError(
                f"TRACKER_EXCHANGE_RATES: cannot read {code}={value!r}; write it like USD=150."
            ) from None
        if not rate.is_finite() or rate <= 0:
            raise ConfigError(f"TRACKER_EXCHANGE_RATES: the rate for {currency} must be positive.")
        rates[currency] = rate
    rates[base] = Decimal(1)
    return rates


def finalize(config: dict[str, Any], *, debug: bool) -> dict[str, Any]:
    """Check and normalize settings; raise ConfigError with a clear message when one is wrong.

    Each group of settings has its own check, run in this order (the first wrong setting is
    the one reported)."""
    _check_secret_key(config, debug=debug)
    _check_site(config)
    _check_money(config)
    _check_page_cache(config)
    _check_limits(config)
    _check_calendar(config)
    _check_stripe(config)
    _check_database(config)
    _check_sessions(config)
    _check_rate_limits(config)
    _check_worker(config)
    _check_methods(config)
    _check_operations(config)
    return config


def _methods(value: str | None) -> tuple[str, ...]:
    """TRACKER_JAPANESE_PAYMENT_METHODS: unset is both; "none" (or empty) is none."""
    if value is None:
        return ("konbini", "bank_transfer")
    return tuple(m.strip() for m in value.replace(",", " ").split() if m.strip() and m.strip() != "none")


def _check_methods(config: dict[str, Any]) -> None:
    unknown = set(config.get("TRACKER_JAPANESE_PAYMENT_METHODS") or ()) - {"konbini", "bank_transfer"}
    if unknown:
        raise ConfigError("TRACKER_JAPANESE_PAYMENT_METHODS takes konbini and bank_transfer "
                          f"(or none); not {', '.join(sorted(unknown))}.")


def _check_worker(config: dict[str, Any]) -> None:
    """The outbox's delivery mode and the worker's periods."""
    mode = config.get("TRACKER_OUTBOX_DELIVERY")
    if mode is not None and mode not in ("background", "worker", "after-response"):
        raise ConfigError("TRACKER_OUTBOX_DELIVERY must be background, worker or after-response.")
    for name in ("TRACKER_RECONCILE_MINUTES", "TRACKER_CHECKOUT_EXPIRE_HOURS"):
        value = config.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive whole number.")


def _check_secret_key(config: dict[str, Any], *, debug: bool) -> None:
    if config.get("SECRET_KEY"):
        return
    if debug or config.get("TESTING"):
        # Throwaway key: sessions die with the process, which is what debug runs want.
        config["SECRET_KEY"] = os.urandom(32).hex()
        return
    raise ConfigError(
        "SECRET_KEY is not set. Refusing to start: set the SECRET_KEY environment "
        "variable to a long random string (for example the output of "
        "`python3 -c 'import secrets; print(secrets.token_hex(32))'`)."
    )


def _check_site(config: dict[str, Any]) -> None:
    public_url = config.get("TRACKER_PUBLIC_URL")
    if public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public_url):
        raise ConfigError("TRACKER_PUBLIC_URL must be an http(s) address such as https://give.example.org.")
    if config["TRACKER_DEFAULT_LOCALE"] not in ("en", "ja"):
        raise ConfigError("TRACKER_DEFAULT_LOCALE must be en or ja.")
    if config.get("TRACKER_WEBHOOK_PROCESSING", "inline") not in ("inline", "queued"):
        raise ConfigError("TRACKER_WEBHOOK_PROCESSING must be inline or queued.")
    config["TRACKER_EMBED_ORIGINS"] = parse_embed_origins(config.get("TRACKER_EMBED_ORIGINS") or "*")


#: one origin a page may be framed by: scheme, host (a leading "*." allowed), optional port
_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def parse_embed_origins(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """TRACKER_EMBED_ORIGINS as a tuple of origins for CSP ``frame-ancestors``: ``("*",)``
    for any site; ConfigError for anything that is not an origin (a path, a quote, a ``;``
    would change the policy)."""
    items = raw.replace(",", " ").split() if isinstance(raw, str) else [str(i) for i in raw]
    if not items or items == ["*"]:
        return ("*",)
    for item in items:
        if not _ORIGIN.fullmatch(item):
            raise ConfigError(f"TRACKER_EMBED_ORIGINS: {item!r} is not an origin; write origins "
                              "like https://blog.example.org, separated by spaces or commas, or *.")
    return tuple(dict.fromkeys(i.rstrip("/").lower() for i in items))


def _currency(name: str, code: str) -> str:
    try:
        return money.normalize_currency(code)
    except money.MoneyError as exc:
        raise ConfigError(f"{name}: {exc.reason}") from None


def _check_money(config: dict[str, Any]) -> None:
    """Base currency, accepted currencies, exchange rates and the sandbox's fee."""
    config["TRACKER_BASE_CURRENCY"] = _currency("TRACKER_BASE_CURRENCY", config["TRACKER_BASE_CURRENCY"])
    currencies = config["TRACKER_CURRENCIES"]
    if isinstance(currencies, str):
        currencies = [c for c in currencies.replace(" ", "").split(",") if c]
    config["TRACKER_CURRENCIES"] = [_currency("TRACKER_CURRENCIES", c) for c in currencies]
    config["TRACKER_EXCHANGE_RATES"] = _parse_rates(
        config["TRACKER_EXCHANGE_RATES"], config["TRACKER_BASE_CURRENCY"]
    )
    try:
        fee = Decimal(str(config["TRACKER_SANDBOX_FEE_PERCENT"]))
    except InvalidOperation:
        fee = Decimal(-1)
    if not fee.is_finite() or not 0 <= fee < 100:
        raise ConfigError("TRACKER_SANDBOX_FEE_PERCENT must be a number from 0 to 100.")
    config["TRACKER_SANDBOX_FEE_PERCENT"] = fee
    config["TRACKER_CARD_FEE_PERCENT"] = _percent("TRACKER_CARD_FEE_PERCENT",
                                                  config["TRACKER_CARD_FEE_PERCENT"])
    config["TRACKER_CARD_FEE_FIXED"] = _parse_fixed_fees(config["TRACKER_CARD_FEE_FIXED"])


def _percent(name: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or not 0 <= value < 100:
        raise ConfigError(f"{name} must be a number from 0 to 100.")
    return value


def _parse_fixed_fees(raw: str | Mapping[str, Any]) -> dict[str, int]:
    """Parse "USD=0.30,JPY=0" (amounts in major units) into {currency: minor units}."""
    items = raw.items() if isinstance(raw, Mapping) else (
        part.split("=", 1) if "=" in part else (part, "")
        for part in raw.replace(" ", "").split(",") if part
    )
    fixed: dict[str, int] = {}
    for code, value in items:
        try:
            currency = money.normalize_currency(str(code))
            minor = Decimal(str(value)).scaleb(money.exponent(currency))
        except (money.MoneyError, InvalidOperation):
            minor = Decimal("NaN")
        if not minor.is_finite() or minor < 0 or minor != minor.to_integral_value():
            raise ConfigError(f"TRACKER_CARD_FEE_FIXED: cannot read {code}={value!r}; write it "
                              "like USD=0.30 (no more decimals than the currency has).")
        fixed[currency] = int(minor)
    return fixed


def _check_page_cache(config: dict[str, Any]) -> None:
    try:
        config["TRACKER_PAGE_CACHE_SECONDS"] = float(config["TRACKER_PAGE_CACHE_SECONDS"])
    except (TypeError, ValueError):
        raise ConfigError("TRACKER_PAGE_CACHE_SECONDS must be a number of seconds.") from None
    if not 0 <= config["TRACKER_PAGE_CACHE_SECONDS"] <= 60:
        raise ConfigError("TRACKER_PAGE_CACHE_SECONDS must be from 0 to 60.")


def _check_limits(config: dict[str, Any]) -> None:
    for name in ("TRACKER_MAX_GIFT_MINOR", "TRACKER_MAX_STAFF_AMOUNT_MINOR"):
        if not isinstance(config[name], int) or isinstance(config[name], bool) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number.")


def _check_calendar(config: dict[str, Any]) -> None:
    """Time zone, budget categories, the approval threshold and the fiscal year."""
    try:
        ZoneInfo(config["TRACKER_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TRACKER_TIMEZONE {config['TRACKER_TIMEZONE']!r} is not a known time zone "
            "(use a name such as Asia/Tokyo)."
        ) from None
    config["TRACKER_BUDGET_CATEGORIES"] = _parse_categories(config["TRACKER_BUDGET_CATEGORIES"])
    threshold = config["TRACKER_APPROVAL_THRESHOLD_MINOR"]
    if not isinstance(threshold, int) or threshold < 0:
        raise ConfigError("TRACKER_APPROVAL_THRESHOLD_MINOR must be a whole number of base-currency "
                          "minor units, 0 or more (0: every disbursement needs approval).")
    month = config["TRACKER_FISCAL_YEAR_START_MONTH"]
    if not isinstance(month, int) or not 1 <= month <= 12:
        raise ConfigError(f"TRACKER_FISCAL_YEAR_START_MONTH must be 1 to 12, got {month!r}.")


def _check_stripe(config: dict[str, Any]) -> None:
    key = config.get("STRIPE_SECRET_KEY")
    if key and key.startswith(("sk_live_", "rk_live_")) and not config.get("STRIPE_ALLOW_LIVE"):
        raise ConfigError(
            "STRIPE_SECRET_KEY is a live key. Refusing to start: use a test key (sk_test_...) "
            "or set STRIPE_ALLOW_LIVE=true when you really mean to take real money."
        )


def _check_database(config: dict[str, Any]) -> None:
    config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    # Engine options per database (tracker.core.database.engine_options): parameters hidden
    # from errors and logs; PostgreSQL pre-pings pooled connections (a restart costs no failed
    # request once it is back) and gives up connecting after TRACKER_DB_CONNECT_TIMEOUT seconds.
    from tracker.core.database import engine_options

    connect_timeout = config.get("TRACKER_DB_CONNECT_TIMEOUT", 5)
    if not isinstance(connect_timeout, int) or not 1 <= connect_timeout <= 300:
        raise ConfigError("TRACKER_DB_CONNECT_TIMEOUT must be a whole number of seconds, 1 to 300.")
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["DATABASE_URL"], connect_timeout))


def _check_sessions(config: dict[str, Any]) -> None:
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # Refuse oversized requests before anything reads them (photos are at most 10 MB).
    config.setdefault("MAX_CONTENT_LENGTH", 12 * 1024 * 1024)
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    for name in ("TRACKER_SESSION_IDLE_MINUTES", "TRACKER_SESSION_MAX_HOURS"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number.")
    # The cookie itself expires with the longest a session may last.
    config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=config["TRACKER_SESSION_MAX_HOURS"]))
    config.setdefault("REMEMBER_COOKIE_SECURE", config["SESSION_COOKIE_SECURE"])
    config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")


def _check_rate_limits(config: dict[str, Any]) -> None:
    """Validate the limit settings and point Flask-Limiter at Redis or memory."""
    from limits import parse_many

    for name in ("TRACKER_RATELIMIT_LOGIN", "TRACKER_RATELIMIT_CHECKOUT",
                 "TRACKER_RATELIMIT_CONTACT", "TRACKER_RATELIMIT_FOLLOW"):
        try:
            parse_many(str(config[name]))
        except ValueError:
            raise ConfigError(f"{name} {config[name]!r} is not a rate limit; write it like "
                              "'10 per minute;60 per hour'.") from None
    for name in ("TRACKER_LOGIN_LOCKOUT_AFTER", "TRACKER_LOGIN_LOCKOUT_SECONDS",
                 "TRACKER_LOGIN_LOCKOUT_MAX_SECONDS"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number.")
    if not isinstance(config["TRACKER_PROXY_COUNT"], int) or config["TRACKER_PROXY_COUNT"] < 0:
        raise ConfigError("TRACKER_PROXY_COUNT must be a whole number, 0 or more.")
    config.setdefault("RATELIMIT_STORAGE_URI", config.get("REDIS_URL") or "memory://")
    config.setdefault("RATELIMIT_KEY_PREFIX", "tracker")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    # Redis down: count in memory meanwhile rather than refuse every sign-in and gift.
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)


def _check_operations(config: dict[str, Any]) -> None:
    """The metrics token, the log format and the error reporting address."""
    token = config.get("TRACKER_METRICS_TOKEN")
    if token is not None and (not isinstance(token, str) or len(token) < 16 or not token.isprintable()
                              or " " in token):
        raise ConfigError("TRACKER_METRICS_TOKEN must be at least 16 characters without spaces (for "
                          "example `python3 -c 'import secrets; print(secrets.token_hex(32))'`).")
    if config.get("TRACKER_LOG_FORMAT", "plain") not in ("plain", "json"):
        raise ConfigError("TRACKER_LOG_FORMAT must be plain or json.")
    config.setdefault("TRACKER_LOG_FORMAT", "plain")
    dsn = config.get("SENTRY_DSN")
    if dsn and not re.fullmatch(r"https?://[^\s@/]+@[^\s/]+/\S+", dsn):
        raise ConfigError("SENTRY_DSN must be a Sentry DSN such as https://KEY@o1.ingest.sentry.io/1.")
