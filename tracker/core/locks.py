"""Row locks that work on both databases: the one way services hold a row until commit."""

from __future__ import annotations

from typing import Any, TypeVar

from tracker.extensions import db

T = TypeVar("T")


def lock_row(model: type[T], *criteria: Any, touch: Any) -> T | None:
    """The row of ``model`` matching ``criteria``, held until commit so that concurrent
    writers serialize; None when there is none.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks: a no-op UPDATE of ``touch``
    (a column set to itself) takes the database's write lock first, so the read that follows
    sees the latest committed state. Either way the row is read again over what the session
    held (``populate_existing``).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            db.update(model).where(*criteria).values({touch: touch})
            .execution_options(synchronize_session=False)
        )
    return db.session.scalar(
        db.select(model).where(*criteria).with_for_update()
        .execution_options(populate_existing=True)
    )
