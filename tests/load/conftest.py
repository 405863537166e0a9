"""Fixtures for the load and fault tests: a database of their own per test, the real app under
gunicorn (stopped with its whole process group afterwards, its log tail printed on failure) and
an app object in this process to look at the database.

``database_url`` overrides the suite's session-wide fixture of that name for this folder: here
each test gets a new database (a new SQLite file, or a new ``tracker_load_<random>`` database on
TEST_DATABASE_URL's server, dropped afterwards), migrated with ``flask db upgrade`` and seeded
with ``flask seed-demo`` as an operator would. Keeping the name keeps the suite's per-database
report and its PostgreSQL skip rule (no TEST_DATABASE_URL: the PostgreSQL half skips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import BACKENDS, postgres_url
from tests.load import harness


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Count PostgreSQL-only tests of this folder (marked ``postgresql``, not parametrized by
    backend) under PostgreSQL in the suite's per-database report."""
    here = Path(__file__).parent
    for item in items:
        if (item.path.is_relative_to(here) and item.get_closest_marker("postgresql")
                and ("backend", "none") in item.user_properties):
            item.user_properties.remove(("backend", "none"))
            item.user_properties.append(("backend", "postgresql"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database for this test only, migrated and seeded with the demo cases."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path / "load.sqlite3")
        harness.prepare_database(harness.server_env(url, tmp_path))
        yield url
        return
    server = postgres_url()
    if server is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    with harness.postgres_database(server) as url:
        harness.prepare_database(harness.server_env(url, tmp_path))
        yield url


@pytest.fixture
def app_here(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app in this process, on the test's database."""
    app = harness.local_app(database_url, tmp_path)
    yield app
    harness.dispose(app)


@pytest.fixture
def gunicorn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., harness.Gunicorn]]:
    """Start the app under gunicorn: ``gunicorn(env, workers=4, threads=4)``. Every server is
    stopped afterwards; when the test failed the tail of its log is printed."""
    servers: list[harness.Gunicorn] = []

    def start(env: dict[str, str], *, workers: int = 4, threads: int = 4) -> harness.Gunicorn:
        server = harness.Gunicorn(env, tmp_path / f"gunicorn-{len(servers)}.log", workers=workers,
                                  threads=threads)
        servers.append(server)
        return server.start()

    yield start
    failed = getattr(request.node, "_load_failed", True)
    for server in servers:
        server.stop()
        if failed:
            print(f"\n--- gunicorn log tail ({server.log_path}) ---\n{server.log_tail(80)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """Remember whether the test itself failed, so that fixtures print logs only then."""
    report = yield
    if report.when == "call":
        item._load_failed = report.failed  # type: ignore[attr-defined]
    return report
