"""Shared fixtures: every database test runs on SQLite and, when TEST_DATABASE_URL is set,
on PostgreSQL too. The schema is built through the migrations, once per backend per session;
tables are emptied after each test.

Set TRACKER_REQUIRE_ALL_TESTS=1 (CI does) to make any skipped test fail the run, so that a
PostgreSQL run that silently skipped cannot pass.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections import Counter
from collections.abc import Iterator

import flask_migrate
import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tracker import create_app
from tracker.extensions import db

BACKENDS = ("sqlite", "postgresql")
TEST_SECRET = "test-secret-key-not-for-production"


def postgres_url() -> str | None:
    """The PostgreSQL server for tests, or None to skip its half of the suite."""
    return os.environ.get("TEST_DATABASE_URL") or None


def reset_postgres_schema(url: str) -> None:
    """Drop everything in the test database so the migrations start from nothing."""
    from tracker.config import normalize_database_url

    engine = sa.create_engine(normalize_database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated-to-nothing database URL for one backend."""
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "tracker-test.sqlite3")
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    reset_postgres_schema(url)
    return url


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    Flask reuses an already pushed app context for requests, so a test holding one (to call
    services) would share ``g`` and the database session with the requests it makes, hiding
    bugs. Running each request in an empty ``contextvars.Context`` gives it a fresh one.
    """

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(database_url: str, **overrides) -> Flask:
    """An app configured for tests on ``database_url``."""
    config = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "SERVER_NAME": None,
        # Many tests sign in and start checkouts from 127.0.0.1 in quick succession; the rate
        # limits have their own tests (tests/core/test_rate_limits.py), which turn them on.
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def _session_app(database_url: str) -> Iterator[Flask]:
    app = make_app(database_url)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def empty_all_tables() -> None:
    """Delete every row (children first) and restart id sequences."""
    engine = db.engine
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            for (name,) in conn.execute(sa.text(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = 'public'"
            )):
                conn.execute(sa.text(f'ALTER SEQUENCE "{name}" RESTART WITH 1'))
        else:
            # SQLite has no TRUNCATE and the ledger's append-only triggers refuse DELETE:
            # lift them for the clean-up and put the same ones back.
            triggers = conn.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
            # Rows pointing at rows of their own table (a reversal at what it reverses):
            # check foreign keys once, at commit, when everything is gone.
            conn.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))  # noqa: S608  (our table names)
            if _has_sqlite_sequence(conn):
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))
            for _, sql in triggers:
                conn.execute(sa.text(sql))


def _has_sqlite_sequence(conn: sa.Connection) -> bool:
    return conn.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
    ).first() is not None


@pytest.fixture
def app(_session_app: Flask) -> Iterator[Flask]:
    """The app for this backend, inside an app context; tables are emptied afterwards."""
    with _session_app.app_context():
        try:
            yield _session_app
        finally:
            db.session.remove()
            empty_all_tables()


@pytest.fixture
def backend(app: Flask) -> str:
    """'sqlite' or 'postgresql'."""
    return db.engine.dialect.name


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token from a rendered form."""
    match = _CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


class Auth:
    """Sign a test client in and out through the real forms."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str):
        """Sign in; for a user with the second factor on (admins from ``make_user``) the code
        step follows, typed as their authenticator app would, and its response is returned."""
        page = self.client.get("/login")
        response = self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        )
        if response.status_code == 302 and response.headers["Location"].startswith("/login/code"):
            response = self.enter_code(email, response.headers["Location"])
        return response

    def enter_code(self, email: str, url: str = "/login/code"):
        """The second step of signing in, with the code ``email``'s authenticator app shows."""
        page = self.client.get(url)
        return self.client.post(
            url, data={"code": totp_code(email), "csrf_token": csrf_from(page.text)}
        )

    def logout(self):
        page = self.client.get("/logout")
        return self.client.post("/logout", data={"csrf_token": csrf_from(page.text)})


def totp_code(email: str) -> str:
    """The code an authenticator app holding ``email``'s secret shows, for a time step the app
    has not accepted yet: three steps are valid at once (now and one either side); a test that
    signs one admin in more than three times within 30 seconds has the last used one forgotten."""
    from tracker.accounts import totp
    from tracker.accounts.models import User

    where = User.email == email.strip().lower()
    with db.engine.begin() as conn:  # not the test's session: leave its state alone
        secret, last = conn.execute(sa.select(User.totp_secret, User.totp_last_step).where(where)).one()
        assert secret is not None, f"{email} has no second factor"
        now = totp.current_step()
        steps = [s for s in range(now - totp.VALID_WINDOW, now + totp.VALID_WINDOW + 1)
                 if last is None or s > last]
        if not steps:
            conn.execute(sa.update(User).where(where).values(totp_last_step=None))
            steps = [now - totp.VALID_WINDOW]
    return pyotp.TOTP(secret).generate_otp(steps[0])


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def make_user(app: Flask):
    """Create a committed user: make_user("staff") -> (user, password).

    Admins come with the second factor already on (admins must have it), as if they had
    enrolled, so that ``Auth.login`` can sign them in; ``totp=False`` makes one without it.
    """
    from tracker.accounts import services
    from tracker.core.time import utcnow

    counter = iter(range(1, 10_000))

    def make(role: str = "staff", email: str | None = None, password: str = "correct horse battery",
             *, totp: bool | None = None):
        user = services.create_user(email or f"{role}{next(counter)}@example.org", password, role)
        if role == "admin" if totp is None else totp:
            user.totp_secret = pyotp.random_base32()
            user.totp_enabled_at = utcnow()
        db.session.commit()
        return user, password

    return make


# --- reporting and the no-skips rule ----------------------------------------------------------


#: folders whose tests share fixed resources (Redis databases they flush, gunicorn fleets) and
#: so stay in one shard whatever their database
_ONE_SHARD_FOLDERS = ("tests/load/", "tests/production/")


def _shard(item: pytest.Item, backend: str) -> str:
    """Which half of a sharded run (dev.py test, TRACKER_TEST_SHARD) runs ``item``."""
    path = item.nodeid.replace("\\", "/")
    if path.startswith(_ONE_SHARD_FOLDERS):
        return "rest"  # the PostgreSQL half is the longer one (measured: about 4:3)
    return "postgresql" if backend == "postgresql" else "rest"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = os.environ.get("TRACKER_TEST_SHARD")
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        item.user_properties.append(("backend", backend or "none"))
        (kept if shard is None or _shard(item, backend or "none") == shard else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


_outcomes: Counter[tuple[str, str]] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        backend = dict(report.user_properties).get("backend", "none")
        _outcomes[(backend, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    terminalreporter.section("tests per database")
    for backend in ("sqlite", "postgresql", "none"):
        counts = {o: n for (b, o), n in _outcomes.items() if b == backend}
        label = "no database" if backend == "none" else backend
        terminalreporter.write_line(
            f"{label:<12} passed={counts.get('passed', 0)} failed={counts.get('failed', 0)} "
            f"skipped={counts.get('skipped', 0)}"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    skipped = sum(n for (_, outcome), n in _outcomes.items() if outcome == "skipped")
    if os.environ.get("TRACKER_REQUIRE_ALL_TESTS") == "1" and skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nTRACKER_REQUIRE_ALL_TESTS=1 and {skipped} tests were skipped: failing the run.")
