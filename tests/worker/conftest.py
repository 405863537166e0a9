"""Fixtures for the worker's tests: mail they send goes to a temporary folder or to a real
SMTP server on a loopback port, never to the instance folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.test_outbox import SMTPServer


@pytest.fixture(autouse=True)
def mail_dir(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Mail sent in-process during a test is written here (only tests using the app)."""
    directory = tmp_path / "mail"
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
        monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return directory


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    try:
        yield server
    finally:
        server.stop()
