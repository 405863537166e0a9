"""Fixtures for the organization's tests: an admin signed in, mail to a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Auth
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


@pytest.fixture
def admin_client(app, client, make_user):  # noqa: ANN001, ANN201
    """A test client signed in as an admin (second factor included)."""
    user, password = make_user("admin")
    assert Auth(client).login(user.email, password).status_code == 302
    return client
