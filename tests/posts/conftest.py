"""Fixtures for the post tests: a signed-in staff member, and mail kept out of the instance
folder (the payments tests' autouse ``mail_dir``)."""

from __future__ import annotations

import pytest

from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)


@pytest.fixture
def staff(client, auth, make_user):
    """A staff member signed in on ``client``."""
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user
