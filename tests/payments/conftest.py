"""Fixtures for the payment tests: mail goes to a temporary folder, never the instance folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def mail_dir(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Receipts emailed during a test are written here (the file transport).

    Only tests that use the app (directly or through ``client``/``runner``) get it configured,
    so tests that need no database are not pulled onto both backends by this fixture.
    """
    directory = tmp_path / "mail"
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
        monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return directory
