"""Languages: which one a request is shown in, and the Flask-Babel catalogs behind it.

The app speaks English and Japanese. A request's language is, in order:

1. ``?lang=xx`` in the URL, when ``xx`` is one we speak: the visitor picked it from the
   language links, and it is remembered in the ``tracker_lang`` cookie for a year and kept
   on every redirect within the site (``?lang=`` added to its ``Location``), so no redirect
   loses it, whether or not the cookie comes back;
2. that cookie;
3. the best match of the browser's ``Accept-Language``;
4. ``TRACKER_DEFAULT_LOCALE`` (English unless set).

An unknown or malformed code anywhere in that chain is ignored, so it falls through to the
next step and in the end to the default; it is never an error. A string missing from a
catalog shows its English text (gettext's own fallback), and ``tests/core/test_i18n.py``
fails while any entry is missing.

Pages cached for anonymous visitors are kept per language (``tracker.web.pagecache``), and
every response says ``Vary: Accept-Language, Cookie`` so shared caches do the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, Response, current_app, has_request_context, request, url_for
from flask_babel import Babel, force_locale, get_locale
from werkzeug.routing import BuildError

#: The languages the app speaks, with each one's name written in that language.
LANGUAGES: Final[dict[str, str]] = {"en": "English", "ja": "日本語"}
COOKIE: Final[str] = "tracker_lang"
PARAM: Final[str] = "lang"
TRANSLATIONS: Final[Path] = Path(__file__).resolve().parent.parent / "translations"

babel = Babel()


#: a language tag as BCP 47 writes it (ja, ja-JP, zh-Hant-TW; underscores as Babel writes them)
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


def known(code: object) -> str | None:
    """``code`` as one of LANGUAGES ("ja", "ja-JP", "JA_jp" -> "ja"), or None for anything
    else, malformed tags included."""
    if not isinstance(code, str) or len(code) > 35 or not _TAG.fullmatch(code):
        return None
    base = re.split(r"[-_]", code, maxsplit=1)[0].lower()
    return base if base in LANGUAGES else None


def default_locale() -> str:
    """The configured fallback language."""
    return current_app.config.get("TRACKER_DEFAULT_LOCALE", "en")


def select_locale() -> str:
    """Flask-Babel's locale selector: the request's language (see the module docstring)."""
    if not has_request_context():
        return default_locale()
    picked = known(request.args.get(PARAM))
    if picked:
        return picked
    remembered = known(request.cookies.get(COOKIE))
    if remembered:
        return remembered
    return request.accept_languages.best_match(list(LANGUAGES)) or default_locale()


def current_locale() -> str:
    """The language code this request (or ``force_locale`` block) is shown in."""
    locale = get_locale()
    return known(str(locale)) if locale is not None else default_locale()


@contextmanager
def language(code: str | None) -> Iterator[str]:
    """Render in ``code`` (e.g. an email in the language the donor gave in); unknown or None
    means the default language."""
    chosen = known(code) or default_locale()
    with force_locale(chosen):
        yield chosen


def language_url(code: str) -> str:
    """The current page in language ``code``: same endpoint, arguments and query, with
    ``?lang=code``. A page reached by POST (a form shown again with errors) links to its GET
    form; a page with no endpoint (a 404) links to the home page."""
    endpoint = request.endpoint if request.url_rule is not None else None
    if endpoint and "GET" in (request.url_rule.methods or ()):
        # The query, but never a key that is a URL part of this page or one of url_for's own
        # (_external, _scheme, _anchor...): a query can name anything.
        query = {k: v for k, v in request.args.items(multi=False)
                 if request.method == "GET" and not k.startswith("_")}
        values = {**query, **(request.view_args or {}), PARAM: code}
        try:
            return url_for(endpoint, **values)
        except BuildError:  # an endpoint that can't be rebuilt from this request: go home
            pass
    return url_for("cases.home") + "?" + urlencode({PARAM: code})


def _keep_on_redirect(response: Response, picked: str) -> None:
    """Add ``?lang=picked`` to a redirect within this site that does not name a language, so
    the next page is shown in the language the visitor picked even where the cookie does not
    come back (a ``Secure`` cookie over plain HTTP, cookies blocked). Redirects to other sites
    (Stripe's checkout) are left alone: they are not ours to change."""
    location = response.headers.get("Location")
    if not location or not 300 <= response.status_code < 400:
        return
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != request.host:
            return
    elif not parts.path.startswith("/") or parts.path.startswith("//"):
        return
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == PARAM for key, _value in query):
        return
    query.append((PARAM, picked))
    response.headers["Location"] = urlunsplit(parts._replace(query=urlencode(query)))


def _remember_choice(response: Response) -> Response:
    # Read the pick from the URL itself, not from the selector: a view that only redirects
    # never asks for the locale, so the selector may not have run in this request.
    picked = known(request.args.get(PARAM))
    if picked:
        _keep_on_redirect(response, picked)
    if picked and request.cookies.get(COOKIE) != picked:
        response.set_cookie(
            COOKIE, picked, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", True),
        )
    # What a page says depends on these two request headers.
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our selector, time zone and catalogs; remember picked languages."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config.get("TRACKER_DEFAULT_LOCALE", "en"))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("TRACKER_TIMEZONE", "UTC"))
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(_remember_choice)

    @app.context_processor
    def languages() -> dict[str, object]:
        return {"LANGUAGES": LANGUAGES, "current_locale": current_locale,
                "language_url": language_url}
