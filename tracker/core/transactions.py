"""The one way a request (or a command) ends its transaction, and work that must wait for it.

Services only flush; the caller decides when their work is kept. Views wrap the service call
they make in ``with transaction():`` (kept when the block ends, rolled back on any error, a
``DomainError`` included, which the view then shows), so no view writes its own ``commit``
and ``rollback`` pairs; ``commit()`` ends a transaction that has nothing to roll back.

``after_commit(callback)`` remembers ``callback`` in the session (``Session.info``) of the
transaction under way. When that transaction commits, the callback becomes ready; when it
rolls back (or the session is closed without committing), the callback is dropped.

Ready callbacks run:

* at once, when the transaction is ended with ``commit()`` (the way to end a transaction
  that may have queued such work);
* otherwise, after a plain ``db.session.commit()``, at the end of the request (before the
  response is sent) or of the app context (a CLI command, a script), whichever comes first.

Each callback runs in a transaction of its own (committed after it; rolled back if it fails),
so one callback cannot undo the caller's commit or another callback's work. A failing
callback is logged and the others still run. A callback may queue more callbacks: they run
after it, in the same way.

SQL cannot be emitted inside SQLAlchemy's own ``after_commit`` event, which is why the
session listener only marks callbacks ready and the running happens afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from tracker.extensions import db

#: ``Session.info`` key: callbacks waiting for the transaction under way to commit
_PENDING = "tracker_after_commit_pending"
#: ``Session.info`` key: callbacks whose transaction committed, waiting to run
_READY = "tracker_after_commit_ready"

logger = logging.getLogger(__name__)


def after_commit(callback: Callable[[], Any]) -> None:
    """Run ``callback`` (no arguments) once the current transaction has committed; never if
    it rolls back."""
    db.session.info.setdefault(_PENDING, []).append(callback)


def commit() -> None:
    """Commit the current transaction, then run the callbacks waiting for it (each in its own
    new transaction). Raises what ``db.session.commit()`` raises (nothing runs then)."""
    db.session.commit()
    run_ready()


@contextmanager
def transaction() -> Iterator[None]:
    """Commit the work done in the block (then run what waited for it, see ``commit``); on
    any exception roll it back, drop what waited for it, and re-raise."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    commit()


def run_ready() -> None:
    """Run every callback whose transaction has committed, and any they queue in turn."""
    session = db.session
    while True:
        ready = session.info.pop(_READY, None)
        if not ready:
            return
        for callback in ready:
            try:
                callback()
                session.commit()
            except Exception:  # noqa: BLE001 - the caller's commit stands whatever happens here
                session.rollback()
                logger.exception("after-commit callback %r failed", callback)


# --------------------------------------------------------------------------- session events


def _mark_ready(session: Session) -> None:
    # A savepoint's release also fires after_commit: only the outermost commit counts.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_READY, []).extend(pending)


def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # Whatever is still pending when the outermost transaction ends was not committed.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


_listening: list[bool] = []


def _listen_to_sessions() -> None:
    """Once per process: every session's commit and transaction end (cheap when unused)."""
    if _listening:
        return
    _listening.append(True)
    event.listen(Session, "after_commit", _mark_ready)
    event.listen(Session, "after_transaction_end", _drop_uncommitted)


def _run_ready_if_any() -> None:
    if not db.session.registry.has():
        return
    session = db.session
    if not session.info.get(_READY):
        return
    # Whatever is left uncommitted now would be rolled back by the session's removal anyway;
    # it must not be committed by a callback's transaction.
    session.rollback()
    run_ready()


def init_app(app: Flask) -> None:
    """Run the callbacks left ready by a plain ``db.session.commit()`` at the end of the
    request or app context. Call after ``db.init_app`` (teardown functions run in reverse
    order, so this one runs before the session is removed) and after ``outbox.init_app``
    (so that mail queued by a callback is still sent)."""
    if app.extensions.get("tracker_transactions"):
        return
    app.extensions["tracker_transactions"] = True
    _listen_to_sessions()

    @app.after_request
    def _after_request(response: Response) -> Response:
        _run_ready_if_any()
        return response

    @app.teardown_appcontext
    def _teardown(_exc: BaseException | None) -> None:
        try:
            _run_ready_if_any()
        except Exception:  # noqa: BLE001 - a teardown must not fail
            logger.exception("after-commit callbacks at teardown failed")
