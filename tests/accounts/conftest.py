"""Fixtures for the account tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.conftest import Auth


@pytest.fixture
def new_auth(app: Flask) -> Callable[[], Auth]:
    """Make another independent browser: new_auth() -> Auth around a new client."""
    return lambda: Auth(app.test_client())
