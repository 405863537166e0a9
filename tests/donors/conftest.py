"""Fixtures for the donor's page tests: mail kept out of the instance folder (the payments
tests' autouse ``mail_dir``)."""

from __future__ import annotations

from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
