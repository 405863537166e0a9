"""Security headers on every response.

* A Content-Security-Policy with a fresh nonce per request and no 'unsafe-inline': scripts
  and styles come from this site's static files (or carry the nonce), nothing may frame the
  pages (but a page made for an iframe, which calls ``allow_framing``: a case's widget, framed
  by the sites in TRACKER_EMBED_ORIGINS), plugins are off, ``<base>`` cannot be rewritten,
  forms post only here (and to Stripe's hosted Checkout, which a donation form redirects to).
* nosniff, a strict Referrer-Policy (a case's address never leaves with a click elsewhere),
  HSTS when the request came over HTTPS.
* Staff and report pages, and a donor's own pages and receipts (/my), are never stored by a
  browser or a proxy (they carry private data).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request

#: where forms may post (a donation form answers with a redirect to Stripe Checkout)
FORM_TARGETS = "'self' https://checkout.stripe.com"
PRIVATE_PREFIXES = ("/staff", "/reports", "/account", "/login/code", "/my")


def csp_nonce() -> str:
    """This request's nonce, for the rare inline <script> or <style> a template needs."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def allow_framing() -> None:
    """Let this request's page sit in an iframe on the sites TRACKER_EMBED_ORIGINS names
    (any site when unset): its ``frame-ancestors`` name them and it carries no
    X-Frame-Options. Every other page keeps ``frame-ancestors 'none'`` and DENY."""
    g.tracker_framable = True


def policy(nonce: str, frame_ancestors: str = "'none'") -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        f"frame-ancestors {frame_ancestors}",
        f"form-action {FORM_TARGETS}",
    ])


def add_headers(response: Response) -> Response:
    headers = response.headers
    if g.get("tracker_framable"):
        origins = " ".join(current_app.config["TRACKER_EMBED_ORIGINS"])
        headers.setdefault("Content-Security-Policy", policy(csp_nonce(), origins))
    else:
        headers.setdefault("Content-Security-Policy", policy(csp_nonce()))
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith(PRIVATE_PREFIXES):
        headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
