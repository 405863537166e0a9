"""Versioned addresses for the static files, so a proxy may let browsers keep them for a year.

``url_for('static', filename='site.css')`` gives ``/static/site.css?v=<12 hex digits>``: the
start of the file's SHA-256. A changed file gets a new address, so a browser holding the old
one asks again. nginx (``deploy/nginx/tracker.conf``) serves ``/static/`` itself and marks a
request carrying ``v`` as cacheable for a year (``immutable``), one without it for an hour.

A file's hash is computed once per process and kept while its size and modification time
stay the same (a file edited under ``dev.py serve`` gets its new address at once).
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from flask import Flask, current_app
from werkzeug.security import safe_join

#: (path, mtime_ns, size) -> version
_versions: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_version(static_folder: str, filename: str) -> str | None:
    """The version of a static file (its hash, 12 hex digits), or None when there is no such
    file under ``static_folder``."""
    path = safe_join(static_folder, filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, stat.st_mtime_ns, stat.st_size)
    version = _versions.get(key)
    if version is None:
        with open(path, "rb") as handle:
            version = hashlib.file_digest(handle, "sha256").hexdigest()[:12]
        with _lock:
            _versions[key] = version
    return version


def add_version(endpoint: str, values: dict[str, Any]) -> None:
    """``url_defaults`` hook: add ``v`` to every static file's address."""
    if endpoint != "static" or "v" in values or not values.get("filename"):
        return
    folder = current_app.static_folder
    version = file_version(folder, values["filename"]) if folder else None
    if version:
        values["v"] = version


def init_app(app: Flask) -> None:
    app.url_defaults(add_version)
