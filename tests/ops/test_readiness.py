"""/readyz: 200 only with the database reachable, its schema at the newest migration and, when
REDIS_URL is set, Redis answering; 503 naming the part that is not, and nothing secret.
/healthz keeps its liveness answer (tests/test_smoke.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import make_app
from tracker.extensions import db
from tracker.ops.readiness import head_revisions

REDIS_URL = "redis://127.0.0.1:6379/15"
#: nothing listens on port 1
CLOSED_REDIS = "redis://:redis-secret-pw@127.0.0.1:1/15"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_ready_at_the_newest_migration(client) -> None:  # noqa: ANN001
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "ok", "schema": "ok",
                             "redis": "not configured"}
    assert response.headers["Cache-Control"] == "no-store"


def test_not_ready_when_the_schema_is_behind(app: Flask, client) -> None:  # noqa: ANN001
    (head,) = head_revisions(app.extensions["migrate"].directory)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0011'"))
    try:
        response = client.get("/readyz")
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["database"] == "ok"
    assert response.json["schema"] == "not at the newest migration"
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("url", [
    "postgresql://postgres:db-secret-pw@127.0.0.1:1/nothing",  # a closed port
    "sqlite:///{tmp}/missing-dir/nope.sqlite3",
])
def test_not_ready_when_the_database_is_unreachable(tmp_path, url: str) -> None:  # noqa: ANN001
    app = make_app(url.format(tmp=tmp_path), TRACKER_DB_CONNECT_TIMEOUT=2)
    try:
        response = app.test_client().get("/readyz")
    finally:
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable", "schema": "unknown",
                             "redis": "not configured"}
    for secret in ("db-secret-pw", "127.0.0.1", "postgres", "nope.sqlite3", str(tmp_path)):
        assert secret not in response.text


def test_redis_is_asked_when_it_is_set(app: Flask, client, monkeypatch) -> None:  # noqa: ANN001
    if not redis_reachable():
        pytest.skip("needs the Redis server at 127.0.0.1:6379")
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["redis"] == "ok"

    monkeypatch.setitem(app.config, "REDIS_URL", CLOSED_REDIS)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "ok", "schema": "ok",
                             "redis": "unreachable"}
    assert "redis-secret-pw" not in response.text and "127.0.0.1" not in response.text
