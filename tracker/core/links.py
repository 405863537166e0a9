"""Links in mail: every absolute link that leaves in an email is built here.

``public_url(endpoint, **values)`` puts the path of ``endpoint`` on ``TRACKER_PUBLIC_URL``, the
site's address as donors reach it. A request's ``Host`` header is chosen by whoever sends the
request: a link built on it could send a donor to a stranger's server (a sign-in link would
hand that server the donor's token). Only when ``TRACKER_PUBLIC_URL`` is unset (development,
see the README) is the request's own host used, and outside a request then there is no
address to use at all (``LinkBaseMissing``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, url_for


class LinkBaseMissing(RuntimeError):
    """A link for mail was asked for outside a request while TRACKER_PUBLIC_URL is unset."""


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` (with ``values``; unknown ones become the query) for
    a link in mail, on TRACKER_PUBLIC_URL whatever the request's Host header says."""
    base = current_app.config.get("TRACKER_PUBLIC_URL")
    if not base:
        if not has_request_context():
            raise LinkBaseMissing("set TRACKER_PUBLIC_URL: a link in mail needs the site's address")
        return url_for(endpoint, _external=True, **values)
    # The path alone, from the URL map (no request host, no script root of a forged request).
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return base.rstrip("/") + adapter.build(endpoint, values)
