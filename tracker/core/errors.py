"""Domain errors: raised by services, turned into form errors or 4xx pages by views."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused an action.

    ``field`` names the form field the problem belongs to (or None for the whole form) and
    ``reason`` is a sentence a user can act on.
    """

    status_code = 400

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def form_status(exc: DomainError) -> int:
    """The HTTP status of a form refused by a service: 409 for a clash with the current state,
    404 for something gone, 422 for bad input."""
    return 422 if exc.status_code == DomainError.status_code else exc.status_code


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible to this user)."""

    status_code = 404


class Conflict(DomainError):
    """The action clashes with the current state (duplicate slug, wrong case status...)."""

    status_code = 409


class IllegalTransition(Conflict):
    """A status change that the workflow's transition table does not allow."""
