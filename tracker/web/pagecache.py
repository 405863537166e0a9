"""A small per-process cache of rendered public pages, validated against the database.

A page is stored with a *fingerprint* read from the database (a cheap indexed query) and
served while the fingerprint is unchanged: the database decides, the cache only saves
rendering work, and the fingerprint doubles as the ETag.

For at most ``TRACKER_PAGE_CACHE_SECONDS`` (default 1 s) after a check, a page is served
without asking the database again ("micro-caching"). An HTML page's fingerprint also carries
the organization's version (``tracker.organization.identity.site_version``): every page shows
its name, logo and footer, so saving the identity or one of its pages renders every page anew.
Any commit made by this process clears the cache at once, so a gift or a rescue recorded here
shows on the next request here; other workers and app servers show it within that second.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from flask import Flask, Response, abort, current_app, request, session
from flask_login import current_user
from sqlalchemy import event

from tracker.core.i18n import current_locale
from tracker.organization.identity import site_version


@dataclass(slots=True)
class CachedPage:
    fingerprint: Hashable
    etag: str
    body: bytes
    mimetype: str
    checked_at: float = 0.0


class PageCache:
    """LRU of rendered pages keyed by (kind, key), each valid for one fingerprint."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()
        #: bumped by every clear(): a page rendered from what was read before a commit of
        #: this process must not be kept after it (``put`` with the generation it started in)
        self.generation = 0

    def fresh(self, key: Hashable, max_age: float) -> CachedPage | None:
        """A page checked against the database less than ``max_age`` seconds ago."""
        with self._lock:
            page = self._pages.get(key)
            if page is None or time.monotonic() - page.checked_at >= max_age:
                return None
            return page

    def get(self, key: Hashable, fingerprint: Hashable) -> CachedPage | None:
        """The page if it was rendered for this fingerprint (marks it checked now)."""
        with self._lock:
            page = self._pages.get(key)
            if page is None or page.fingerprint != fingerprint:
                return None
            page.checked_at = time.monotonic()
            self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: CachedPage, generation: int | None = None) -> None:
        """Keep ``page``, unless the cache was cleared since ``generation`` (a commit came
        between the fingerprint read and now: the page may show what that commit changed)."""
        page.checked_at = time.monotonic()
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._pages.clear()


def etag_for(fingerprint: Hashable) -> str:
    """A short strong ETag for a fingerprint."""
    return hashlib.blake2b(repr(fingerprint).encode(), digest_size=12).hexdigest()


def cacheable() -> bool:
    """Only anonymous visitors without flashed messages see the shared version of a page."""
    return not current_user.is_authenticated and not session.get("_flashes")


def pages() -> PageCache:
    """This app's cache (one per app object, so two apps in one process never mix pages)."""
    return current_app.extensions["tracker_pages"]


def serve(key: Hashable, fingerprint: Callable[[], Hashable | None], render: Callable[[], str],
          mimetype: str = "text/html") -> Response:
    """Answer from the cache (or 304) while the page's fingerprint holds; else render and keep.

    ``fingerprint()`` returns None for a page that does not exist (404). Pages are kept per
    host and scheme: they carry absolute links (a link preview's og:url), and a request with a
    made-up Host header must not put its links in the page others get. They are kept per
    language too, and the ETag names the language, so a 304 never keeps the wrong one.
    """
    key = (request.host_url, current_locale(), key)
    shared = cacheable()
    page = _page(key, shared, fingerprint, render, mimetype)
    # weak comparison (RFC 9110): a proxy that compresses the page (nginx's gzip) sends the
    # ETag on as W/"...", and the browser asks with that
    if shared and request.if_none_match.contains_weak(page.etag):
        response = Response(status=304)
    else:
        response = Response(page.body, mimetype=page.mimetype)
    if shared:
        response.set_etag(page.etag)
        # Browsers and proxies must ask again each time: the ETag makes that cheap.
        response.headers["Cache-Control"] = "no-cache"
    return response


def _page(key: Hashable, shared: bool, fingerprint: Callable[[], Hashable | None],
          render: Callable[[], str], mimetype: str) -> CachedPage:
    """The page for ``key``: kept (and checked against its fingerprint at most every
    TRACKER_PAGE_CACHE_SECONDS), or rendered (and kept when ``shared``); 404 when the
    fingerprint is None."""
    max_age = current_app.config["TRACKER_PAGE_CACHE_SECONDS"]
    cache = pages()
    page = cache.fresh(key, max_age) if shared and max_age > 0 else None
    if page is None:
        generation = cache.generation  # before anything is read
        current = fingerprint()
        if current is None:
            abort(404)
        if mimetype in ("text/html", "application/atom+xml"):
            # every page shows the organization's name, logo and footer (and the about,
            # contact and privacy pages its text; the feed its name): one read of its row,
            # kept for the render
            current = (current, site_version())
        page = cache.get(key, current) if shared else None
        if page is None:
            page = CachedPage(current, etag_for((key, current)), render().encode("utf-8"), mimetype)
            if shared:
                cache.put(key, page, generation)
    return page


def serve_form(key: Hashable, fingerprint: Callable[[], Hashable | None],
               render: Callable[[], str], token: Callable[[], str]) -> Response:
    """A form page kept like a public page for anonymous visitors, with this visitor's CSRF
    token (``token()``, asked only once the page is known to exist, so a 404 touches no
    session and looks like any other) put in at each request; the kept copy holds a
    placeholder. The donate form costs a string replacement, not a render. No ETag: every
    answer carries its own token."""
    key = (request.host_url, current_locale(), key)
    shared = cacheable()

    def render_without_token() -> str:
        html = render()
        return html.replace(token(), _TOKEN_SLOT)  # the token the render put in (one per request)

    page = _page(key, shared, fingerprint, render_without_token if shared else render, "text/html")
    body = page.body.replace(_TOKEN_SLOT.encode(), token().encode()) if shared else page.body
    return Response(body, mimetype=page.mimetype)


#: where a kept form page had its CSRF token (no token or page text contains it)
_TOKEN_SLOT = "\u2063csrf-token-slot\u2063"  # noqa: S105 - a placeholder, not a secret


def init_app(app: Flask) -> None:
    """Clear the cache whenever this process commits anything to the app's database."""
    from tracker.extensions import db  # the extension module imports nothing of ours

    cache = app.extensions.setdefault("tracker_pages", PageCache())
    with app.app_context():
        event.listen(db.engine, "commit", lambda conn: cache.clear())
