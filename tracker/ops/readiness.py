"""``GET /readyz``: may this process take traffic?

200 only when the database answers, its schema is at the newest migration (the
``alembic_version`` row equals the head of ``migrations/``), and, when ``REDIS_URL`` is set,
Redis answers a PING. Otherwise 503. The JSON body names each part and how it stands
(``{"status": "ready"|"unavailable", "database": ..., "schema": ..., "redis": ...}``), never a
host, a URL, a password or a driver's message. ``/healthz`` stays the liveness check.

The head revision is read from the migration scripts once per process (they do not change
while it runs).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import inspect, text

from tracker.core.access import public
from tracker.extensions import db

bp = Blueprint("ops_ready", __name__)
logger = logging.getLogger(__name__)

#: seconds to wait for Redis (connect and answer)
REDIS_TIMEOUT = 2.0


@functools.cache
def head_revisions(directory: str) -> frozenset[str]:
    """The head revision(s) of the migration scripts in ``directory`` (cached per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _migrations_directory() -> str:
    return current_app.extensions["migrate"].directory


def check_database() -> dict[str, str]:
    """``database``: ok / unreachable; ``schema``: ok / behind (or ahead) / not migrated."""
    try:
        with db.engine.connect() as conn:
            has_table = inspect(conn).has_table("alembic_version")
            versions = (frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
                        if has_table else frozenset())
    except Exception as exc:  # noqa: BLE001 - any failure to ask means "not ready"
        logger.warning("readiness: database check failed (%s)", type(exc).__name__)
        return {"database": "unreachable", "schema": "unknown"}
    if not versions:
        return {"database": "ok", "schema": "not migrated"}
    if versions != head_revisions(_migrations_directory()):
        return {"database": "ok", "schema": "not at the newest migration"}
    return {"database": "ok", "schema": "ok"}


@functools.cache
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def check_redis() -> str:
    """ok / unreachable, or "not configured" without ``REDIS_URL``."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    try:
        _redis_client(url).ping()
    except Exception as exc:  # noqa: BLE001 - any failure to ask means "not ready"
        logger.warning("readiness: Redis check failed (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def readiness() -> tuple[bool, dict[str, str]]:
    """(ready, each part's state)."""
    parts = check_database()
    parts["redis"] = check_redis()
    ready = (parts["database"] == "ok" and parts["schema"] == "ok"
             and parts["redis"] in ("ok", "not configured"))
    return ready, parts


@bp.route("/readyz")
@public
def readyz():
    """200 when ready to take traffic, else 503 naming what is not."""
    ready, parts = readiness()
    response = jsonify(status="ready" if ready else "unavailable", **parts)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
