"""The one way a request (or a command) ends its transaction.

Services only flush; the caller decides when their work is kept. Views wrap the service call
they make in ``with transaction():`` — kept when the block ends, rolled back on any error (a
``DomainError`` included, which the view then shows) — so no view writes its own
``commit`` and ``rollback`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tracker.extensions import db


def commit() -> None:
    """Keep the session's work."""
    db.session.commit()


@contextmanager
def transaction() -> Iterator[None]:
    """Commit the work done in the block; on any exception roll it back and re-raise."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    commit()
