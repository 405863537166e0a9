"""When the database cannot be reached the app answers 503 with Retry-After, never 500 and
never a hang: an HTML page for pages, JSON for ``*.json`` and the webhook (so Stripe retries),
and nothing in either about the database (host, port, name, driver, file path).

None of these tests needs a database server: PostgreSQL is "reached" at a closed port or at a
socket that never answers, SQLite at a path that cannot be opened.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import make_app
from tracker.config import ConfigError
from tracker.core.access import public
from tracker.extensions import db
from tracker.payments.gateway import sign_payload, webhook_secret
from tracker.sandbox.gateway import sandbox_event
from tracker.web.unavailable import RETRY_AFTER_SECONDS, database_unavailable

DB_NAME = "tracker_unreachable_db"
# (not /donate or /transparency: the general fund's form and the redirect to this year need no database)
PAGES = ["/", "/cases/six-survivors", "/cases/six-survivors/donate", "/transparency/2025"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _app(database_url: str, **overrides) -> Iterator[Flask]:
    app = make_app(database_url, **overrides)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def _private_words(database_url: str, port: int | None = None) -> list[str]:
    words = ["Traceback", "OperationalError", "InterfaceError", "psycopg", "sqlite3", "sqlalchemy",
             "SELECT", "127.0.0.1", "localhost", DB_NAME, "connection refused", "Connection refused"]
    if port is not None:
        words.append(str(port))
    if database_url.startswith("sqlite"):
        words.append(database_url.removeprefix("sqlite:///"))
    return words


def _assert_clean_503(response, private: list[str], *, json_body: bool) -> None:  # noqa: ANN001
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    if json_body:
        assert response.mimetype == "application/json"
        assert set(response.get_json()) <= {"error", "message"}
    else:
        assert response.mimetype == "text/html"
        assert "Service unavailable" in response.text
        assert "try again" in response.text
    for word in private:
        assert word not in response.text, f"{word!r} leaked into the 503 answer"


def _signed_event(app: Flask) -> tuple[bytes, dict[str, str]]:
    event = sandbox_event("checkout.session.completed", {"id": "cs_test_sbx_x", "metadata": {}})
    payload = json.dumps(event).encode()
    with app.app_context():
        header = sign_payload(payload, webhook_secret(app))
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


# --- PostgreSQL that is not there --------------------------------------------------------------


def test_postgresql_at_a_closed_port_answers_503_everywhere() -> None:
    port = _closed_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}"
    private = _private_words(url, port)
    with _app(url) as app:
        client = app.test_client()
        for path in PAGES:
            _assert_clean_503(client.get(path), private, json_body=False)
        _assert_clean_503(client.get("/cases/six-survivors/progress.json"), private, json_body=True)
        health = client.get("/healthz")
        assert health.status_code == 503 and health.headers["Retry-After"]

        payload, headers = _signed_event(app)
        hook = client.post("/webhooks/stripe", data=payload, headers=headers)
        _assert_clean_503(hook, private, json_body=True)


def test_a_signed_in_user_gets_the_503_page_not_a_500() -> None:
    """The signed-in user cannot be loaded either: the error page must not try again."""
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/{DB_NAME}"
    with _app(url) as app:
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = "1:1"
            session["signed_in_at"] = session["seen_at"] = int(time.time())
        for path in ("/staff", "/", "/reports"):
            response = client.get(path)
            _assert_clean_503(response, _private_words(url), json_body=False)
            assert "Sign out" not in response.text


def test_a_server_that_never_answers_fails_fast_with_503() -> None:
    """A listening socket that accepts but never speaks: the connect timeout ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}"
        with _app(url, TRACKER_DB_CONNECT_TIMEOUT=2) as app:
            assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 2}
            started = time.monotonic()
            response = app.test_client().get("/")
            waited = time.monotonic() - started
    _assert_clean_503(response, _private_words(url, port), json_body=False)
    assert waited < 10, f"the request waited {waited:.1f}s for a database that never answered"


# --- SQLite that cannot be opened --------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing folder", "a folder, not a file"])
def test_sqlite_that_cannot_be_opened_answers_503(tmp_path: Path, where: str) -> None:
    if where == "missing folder":
        path = tmp_path / "missing" / "tracker.sqlite3"
    else:
        path = tmp_path / "is-a-directory"
        path.mkdir()
    url = f"sqlite:///{path}"
    with _app(url) as app:
        client = app.test_client()
        for page in PAGES:
            _assert_clean_503(client.get(page), _private_words(url), json_body=False)
        _assert_clean_503(client.get("/cases/x/progress.json"), _private_words(url), json_body=True)
        payload, headers = _signed_event(app)
        _assert_clean_503(client.post("/webhooks/stripe", data=payload, headers=headers),
                          _private_words(url), json_body=True)


# --- which errors count as "unavailable" -------------------------------------------------------


def _dbapi(cls: type[sa.exc.DBAPIError], *, invalidated: bool = False) -> sa.exc.DBAPIError:
    return cls("SELECT 1", {}, Exception("boom"), connection_invalidated=invalidated)


RAISED = {
    "OperationalError": (lambda: _dbapi(sa.exc.OperationalError), 503),
    "InterfaceError": (lambda: _dbapi(sa.exc.InterfaceError), 503),
    "DBAPIError, connection invalidated": (lambda: _dbapi(sa.exc.DatabaseError, invalidated=True), 503),
    "pool timeout": (lambda: sa.exc.TimeoutError("QueuePool limit reached"), 503),
    "disconnection": (lambda: sa.exc.DisconnectionError("gone"), 503),
    "psycopg OperationalError": (lambda: psycopg.OperationalError("server closed the connection"), 503),
    "connection lost in a transaction not rolled back yet": (
        lambda: sa.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled"
                                            " back", code="8s2b"), 503),
    "session rolled back by a failed flush (a bug)": (
        lambda: sa.exc.PendingRollbackError("This Session's transaction has been rolled back",
                                            code="7s2a"), 500),
    "IntegrityError (a bug, not an outage)": (lambda: _dbapi(sa.exc.IntegrityError), 500),
    "ProgrammingError (a bug, not an outage)": (lambda: _dbapi(sa.exc.ProgrammingError), 500),
}


@pytest.fixture
def raising_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a working SQLite file with a route that writes a row, then raises."""
    url = f"sqlite:///{tmp_path / 'ok.sqlite3'}"
    with _app(url) as app:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE scratch (note TEXT)"))
        app.extensions["raise_next"] = None

        @public
        def boom() -> str:
            db.session.execute(sa.text("INSERT INTO scratch (note) VALUES ('half-done')"))
            raise app.extensions["raise_next"]()

        @public
        def boom_json() -> str:
            return boom()

        app.add_url_rule("/boom", "boom", boom)
        app.add_url_rule("/boom.json", "boom_json", boom_json)
        yield app


@pytest.mark.parametrize(("make", "status"), RAISED.values(), ids=RAISED.keys())
def test_connection_errors_are_503_and_bugs_stay_500(raising_app: Flask, make, status: int) -> None:  # noqa: ANN001
    raising_app.extensions["raise_next"] = make
    client = raising_app.test_client()

    page = client.get("/boom")
    data = client.get("/boom.json")

    assert page.status_code == data.status_code == status
    if status == 503:
        assert page.headers["Retry-After"] == data.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "Service unavailable" in page.text and data.get_json()["error"] == "Service unavailable"
        assert database_unavailable(make())
    else:
        assert "Retry-After" not in page.headers
        assert "Something went wrong" in page.text
        assert not database_unavailable(make())
    # The half-done write was rolled back, and the app carries on.
    with raising_app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM scratch")).scalar_one() == 0
    assert client.get("/healthz").status_code == 200


# --- engine options ----------------------------------------------------------------------------


def test_postgresql_pre_pings_and_has_a_connect_timeout(tmp_path: Path) -> None:
    with _app("postgresql://postgres@127.0.0.1:1/x") as app:
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        assert options["pool_pre_ping"] is True
        assert options["connect_args"] == {"connect_timeout": 5}
        assert options["hide_parameters"] is True
        with app.app_context():
            assert db.engine.pool._pre_ping is True
    with _app(f"sqlite:///{tmp_path / 'x.sqlite3'}") as app:
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        assert "pool_pre_ping" not in options and "connect_args" not in options
        assert options["hide_parameters"] is True


def test_connect_timeout_setting(tmp_path: Path) -> None:
    from tracker import config

    def read(env: dict[str, str]) -> int:
        return config.from_env(env, str(tmp_path))["TRACKER_DB_CONNECT_TIMEOUT"]

    assert read({"TRACKER_DB_CONNECT_TIMEOUT": "7"}) == 7
    assert read({}) == 5
    with pytest.raises(ConfigError, match="TRACKER_DB_CONNECT_TIMEOUT"):
        read({"TRACKER_DB_CONNECT_TIMEOUT": "soon"})
    for bad in (0, 301):
        with pytest.raises(ConfigError, match="TRACKER_DB_CONNECT_TIMEOUT"):
            make_app("postgresql://postgres@127.0.0.1:1/x", TRACKER_DB_CONNECT_TIMEOUT=bad)


def test_connection_lost_at_the_closing_rollback_does_not_fail_the_request(
    raising_app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server goes away after the last query and before the session's closing rollback (a
    restart at the wrong moment): the finished request is still answered, the connection is
    discarded, the next request gets a new one."""
    @public
    def read() -> str:
        return str(db.session.execute(sa.text("SELECT count(*) FROM scratch")).scalar_one())

    raising_app.add_url_rule("/read", "read", read)
    with raising_app.app_context():
        dialect = db.engine.dialect
    original = dialect.do_rollback
    lost = []

    def rollback_once_lost(dbapi_connection) -> None:  # noqa: ANN001
        if not lost:
            lost.append(True)
            raise sqlite3.OperationalError("terminating connection due to administrator command")
        original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_rollback", rollback_once_lost)
    client = raising_app.test_client()

    assert client.get("/read").status_code == 200
    assert lost == [True]
    assert client.get("/read").status_code == 200
