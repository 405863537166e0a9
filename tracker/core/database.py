"""Database setup: per-database connection settings, the end of each context's session, and
telling an unreachable database (``database_unavailable``) from a bug.

The 503 page a visitor then sees is the web layer's (``tracker.web.unavailable``)."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

#: seconds to wait for a PostgreSQL connection before giving up (TRACKER_DB_CONNECT_TIMEOUT)
DEFAULT_CONNECT_TIMEOUT = 5


def engine_options(database_url: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT) -> dict[str, Any]:
    """SQLAlchemy engine options for ``database_url``.

    * hide_parameters: a failed statement's values (a private name, a donor's email) never
      reach an exception message or a log line.
    * PostgreSQL: ``pool_pre_ping`` tests a pooled connection before a request uses it (one
      cheap round trip), so after a database restart or failover no request fails on a
      connection the server already closed; and ``connect_timeout`` makes a request fail fast
      (a clean 503) instead of hanging while the server does not answer.
    """
    options: dict[str, Any] = {"pool_recycle": 3600, "hide_parameters": True}
    if database_url.startswith(("postgresql", "postgres:")):
        options["pool_pre_ping"] = True
        options["connect_args"] = {"connect_timeout": connect_timeout}
    return options


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite ignores foreign keys unless asked on every connection; WAL lets page views read
    # while a gift is being written; busy_timeout waits for a writer instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _driver_errors() -> tuple[type[Exception], ...]:
    """The drivers' own connection errors, for the rare path that does not wrap them."""
    import sqlite3

    errors: list[type[Exception]] = [sqlite3.OperationalError, sqlite3.InterfaceError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    else:
        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (or was lost) rather than that a
    statement was wrong: connection refused or dropped, the server shutting down or starting
    up, a locked SQLite file, an exhausted connection pool."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    if isinstance(exc, sa_exc.PendingRollbackError):
        # "8s2b": the connection was lost (invalidated) inside a transaction that something
        # caught the error of without rolling back; the next query meets this instead of the
        # outage itself. (Other pending rollbacks, after a failed flush, are bugs.)
        return exc.code == "8s2b"
    return isinstance(exc, _driver_errors())



def _end_session(exc: BaseException | None) -> None:
    """``teardown_appcontext``, before Flask-SQLAlchemy's: end the context's session, and if
    the server dropped the connection under us (a restart between the last query and the
    closing rollback), discard the connection instead of failing a finished request."""
    from tracker.extensions import db

    try:
        db.session.remove()
    except Exception as error:
        if not database_unavailable(error):
            raise
        with contextlib.suppress(Exception):
            db.session.invalidate()
        db.session.remove()


def init_app(app: Flask) -> None:
    """Install connection hooks on the app's engine and a session teardown that survives a
    lost connection. Call after ``db.init_app``."""
    from tracker.extensions import db

    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
    # Teardown functions run last-registered first: this one before Flask-SQLAlchemy's, which
    # then finds nothing left to close.
    app.teardown_appcontext(_end_session)


def upsert_insert(table: Any) -> Any:
    """``INSERT`` for the session's database with ``ON CONFLICT`` (PostgreSQL's or SQLite's
    ``insert()``, which both have ``on_conflict_do_nothing``/``_do_update``)."""
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from tracker.extensions import db

    dialect = db.session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
