"""Outgoing email, written to an outbox table in the same transaction as the change that
causes it and delivered after the commit, with retries while the mail server is down.

Queued mail goes out by itself within seconds: the commit of a transaction that queued a
message wakes this process's courier, a background thread that delivers what is due (see
``wake``). A CLI command that queued mail waits for it before it exits. ``flask outbox
deliver`` sends what is due by hand. ``TRACKER_OUTBOX_DELIVERY`` chooses how: ``"background"``
(the default), ``"worker"`` (web processes and commands only queue; ``flask --app tracker
worker``, which any number of machines may run, sends everything within a second or two, see
``tracker.worker``) or ``"after-response"`` (tests: a request delivers its own mail once its
response is closed, a CLI command before it exits, and nothing runs behind the test's back).
Whatever the mode, ``deliver_pending`` claims each message first, so no message goes twice.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, has_request_context
from sqlalchemy import CheckConstraint, Index, String, Text, event, func, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tracker.core.database import upsert_insert
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db


class OutboxMessage(db.Model):
    """One email waiting to go out (or gone)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_messages_pending", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what it is, e.g. "receipt"; with ``dedupe_key`` it makes resending impossible
    kind: Mapped[str] = mapped_column(String(40))
    #: UNIQUE: the same receipt is never queued twice
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    #: the last delivery error (class and message; never the body)
    last_error: Mapped[str | None] = mapped_column(String(500))
    #: the language the body is written in: the signature and the sender's name follow it
    #: (None: the default language)
    locale: Mapped[str | None] = mapped_column(String(5))
    #: extra headers as a JSON object, e.g. ``List-Unsubscribe`` (RFC 8058) on a follower's mail
    headers_json: Mapped[str | None] = mapped_column(Text)

    @property
    def headers(self) -> dict[str, str]:
        """The extra headers this message is sent with (none: an empty dict)."""
        return dict(json.loads(self.headers_json)) if self.headers_json else {}


# --------------------------------------------------------------------------- queueing

#: flag in ``flask.g``: this request queued mail, deliver it once the response has gone out
_G_FLAG = "tracker_outbox_pending"
#: flag in ``flask.g``: this app context (a CLI command, a script) committed mail to send
_G_COMMITTED = "tracker_outbox_committed"
#: ``Session.info`` key: the app whose mail this transaction queued (wake it on commit)
_INFO_APP = "tracker_outbox_app"

#: the ways of delivering (``TRACKER_OUTBOX_DELIVERY``)
BACKGROUND, AFTER_RESPONSE, WORKER = "background", "after-response", "worker"
#: how long a CLI command waits, on its way out, for the mail it queued
EXIT_WAIT_SECONDS = 60

#: on SQLite a claimed message is left alone this long by other workers (longer than any
#: SMTP conversation; a worker that dies mid-send is retried after it)
CLAIM_LEASE = timedelta(minutes=10)

logger = logging.getLogger(__name__)


def _insert_if_new(values: dict[str, object]) -> int | None:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING; the new id, or None for a duplicate.

    Race-free: on PostgreSQL a concurrent transaction queueing the same key makes this wait
    for its outcome instead of failing the caller's transaction with a unique violation.
    """
    stmt = (
        upsert_insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    return db.session.execute(stmt).scalar()


def queue(kind: str, dedupe_key: str, to: str, subject: str, body: str, *,
          locale: str | None = None, headers: dict[str, str] | None = None) -> OutboxMessage | None:
    """Queue an email in the caller's transaction (flushed, not committed).

    ``locale`` is the language ``body`` is written in: the closing line and the organization's
    signature added when it is sent, and the sender's display name, are in it.

    ``headers`` are extra headers the message is sent with (``List-Unsubscribe`` and
    ``List-Unsubscribe-Post`` on mail a reader can stop with one click); a value holding a
    line break is refused here, before anything is queued (ValueError).

    Returns the new message, or None (adding nothing) when a message with ``dedupe_key``
    already exists. Within a request the message is delivered after the response has been
    sent (see ``init_app``); otherwise by ``flask outbox deliver`` or the next delivery run.
    Only public information may go in ``subject`` and ``body``.
    """
    for name, value in (headers or {}).items():
        if any(c in f"{name}{value}" for c in "\r\n") or ":" in name:
            raise ValueError(f"header {name!r} may not hold a line break")
    db.session.flush()
    now = utcnow()
    new_id = _insert_if_new({
        "kind": kind, "dedupe_key": dedupe_key, "to_address": to, "subject": subject,
        "body_text": body, "created_at": now, "next_attempt_at": now, "attempts": 0,
        "locale": locale,
        "headers_json": json.dumps(headers, sort_keys=True) if headers else None,
    })
    if new_id is None:
        return None
    if has_app_context():
        setattr(g, _G_FLAG, True)
        # Deliver once this transaction commits (a rollback takes the message away again).
        db.session().info[_INFO_APP] = current_app._get_current_object()
    return db.session.get(OutboxMessage, new_id)


# --------------------------------------------------------------------------- delivery


def describe_error(exc: BaseException) -> str:
    """``"ClassName: message"`` (at most 500 characters) for logs and ``last_error``.

    For database errors only the driver's message is kept: SQLAlchemy's text would include
    the statement's parameters, which could hold a message body.
    """
    detail = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    return f"{type(exc).__name__}: {detail}"[:500]


def _due(now: datetime):  # noqa: ANN202 - a SQL expression
    return (OutboxMessage.sent_at.is_(None)) & (OutboxMessage.next_attempt_at <= now)


def _claim_next(now: datetime) -> OutboxMessage | None:
    """Take the oldest due message so that no other worker sends it meanwhile.

    PostgreSQL: the row stays locked (FOR UPDATE SKIP LOCKED) until our commit; other
    workers skip it. SQLite has no row locks: the message is claimed by pushing its
    ``next_attempt_at`` past a lease in one short UPDATE (which takes SQLite's write lock, so
    two workers cannot claim the same row), committed before the slow SMTP conversation so
    the app's other writers are not held up.
    """
    oldest_first = (OutboxMessage.created_at, OutboxMessage.id)
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalars(
            select(OutboxMessage)
            .where(_due(now))
            .order_by(*oldest_first)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).first()
    oldest_due = select(OutboxMessage.id).where(_due(now)).order_by(*oldest_first).limit(1)
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == oldest_due.scalar_subquery(), _due(now))
        .values(next_attempt_at=now + CLAIM_LEASE)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    if claimed is None:
        return None
    return db.session.get(OutboxMessage, claimed, populate_existing=True)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 2, 4, 8 ... minutes, at most an hour."""
    return timedelta(minutes=min(2 ** min(attempts, 6), 60))


def deliver_pending(limit: int = 50) -> tuple[int, int]:
    """Send up to ``limit`` due messages, oldest first; return ``(sent, failed)``.

    Each message is sent and marked in its own transaction (committed), so call this outside
    a unit of work. A failure is recorded on the message (attempts, ``last_error`` without
    the body, a later ``next_attempt_at``) and delivery continues with the next one; mail
    server errors are never raised from here.
    """
    from tracker.mail.send import send_email

    sent = failed = 0
    while sent + failed < limit:
        message = _claim_next(utcnow())
        if message is None:
            break
        try:
            send_email(message.to_address, message.subject, message.body_text,
                       locale=message.locale, headers=message.headers)
        except Exception as exc:  # noqa: BLE001 - any failure: record it and retry later
            message.attempts += 1
            message.last_error = describe_error(exc)
            message.next_attempt_at = utcnow() + retry_delay(message.attempts)
            db.session.commit()
            logger.warning("outbox: message %s (%s) not sent, attempt %s: %s",
                           message.id, message.kind, message.attempts, message.last_error)
            failed += 1
        else:
            message.sent_at = utcnow()
            db.session.commit()
            sent += 1
    db.session.commit()  # end the (possibly read-only) transaction; hold no locks
    return sent, failed


def count_waiting() -> int:
    """Messages not sent yet, due now or waiting for a retry."""
    return int(db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    ) or 0)


# --------------------------------------------------------------------------- the courier


class _Courier:
    """This process's delivery thread for one app: sleeps until woken, then sends what is due.

    Started on first use (so after a server forks its workers). Deliveries of several
    processes or threads never send a message twice: each claims its message first.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._cond = threading.Condition()
        self._wanted = False
        self._busy = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        with self._cond:
            self._wanted = True
            self._cond.notify_all()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-courier",
                                                daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is asked and nothing is being sent; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._wanted and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted)
                self._wanted, self._busy = False, True
            try:
                _deliver_all(self.app)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _deliver_all(app: Flask) -> None:
    """Send everything due, in an app context of its own; never raises."""
    batch = 50
    try:
        with app.app_context():
            while sum(deliver_pending(batch)) == batch:
                pass
    except Exception as exc:  # noqa: BLE001 - never let mail break the caller
        app.logger.error("outbox: delivery failed: %s", describe_error(exc))


_couriers_lock = threading.Lock()


def _courier(app: Flask) -> _Courier:
    with _couriers_lock:
        courier = app.extensions.get("tracker_outbox_courier")
        if courier is None:
            courier = app.extensions["tracker_outbox_courier"] = _Courier(app)
        return courier


def _mode(app: Flask) -> str:
    return app.config.get("TRACKER_OUTBOX_DELIVERY") or (AFTER_RESPONSE if app.testing else BACKGROUND)


def wake(app: Flask | None = None) -> None:
    """Ask for the mail that is due to be sent now, without waiting for it.

    Returns at once; the courier thread of ``app`` (default: the current app) delivers in the
    background. Safe to call often, from any thread. Call it after committing: mail that is
    not committed yet is not due. With ``TRACKER_OUTBOX_DELIVERY = "after-response"`` it does
    nothing (requests and commands then deliver their own mail), nor with ``"worker"`` (the
    worker polls the outbox).
    """
    app = app or current_app._get_current_object()
    if _mode(app) == BACKGROUND:
        _courier(app).wake()


def wait_for_delivery(app: Flask | None = None, timeout: float = EXIT_WAIT_SECONDS) -> bool:
    """Wait until the courier has nothing left to do (True), or ``timeout`` seconds (False)."""
    app = app or current_app._get_current_object()
    if _mode(app) != BACKGROUND:
        return True
    return _courier(app).wait_idle(timeout)


def _after_commit(session: Session) -> None:
    app = session.info.pop(_INFO_APP, None)
    if app is None:
        return
    wake(app)
    if has_app_context() and not has_request_context():
        setattr(g, _G_COMMITTED, True)


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_APP, None)


def _deliver_before_exit(_exc: BaseException | None) -> None:
    """A CLI command (or a script's app context) that committed mail sends it before the
    context ends: in the background mode by waiting for the courier, in the after-response
    mode here; in the worker mode the worker sends it."""
    if has_request_context() or not g.pop(_G_COMMITTED, False):
        return
    app = current_app._get_current_object()
    if _mode(app) == WORKER:
        return
    if _mode(app) == BACKGROUND:
        if not wait_for_delivery(app, EXIT_WAIT_SECONDS):
            app.logger.warning("outbox: mail still being sent on exit; `flask outbox deliver` "
                               "or the next delivery will send it")
        return
    _deliver_all(app)


_session_events: dict[str, Any] = {}


def _listen_to_sessions() -> None:
    """Once per process: every session's commit and rollback (cheap when nothing was queued)."""
    if _session_events:
        return
    _session_events["after_commit"] = _after_commit
    _session_events["after_rollback"] = _after_rollback
    for name, fn in _session_events.items():
        event.listen(Session, name, fn)


# --------------------------------------------------------------------------- after the response


def _deliver_after_response(app: Flask) -> None:
    """Run after the response has been sent, in an app context of its own."""
    try:
        with app.app_context():
            deliver_pending()
    except Exception as exc:  # noqa: BLE001 - never let mail break the server
        app.logger.error("outbox: delivery after the response failed: %s", describe_error(exc))


def init_app(app: Flask) -> None:
    """Deliver queued mail by itself (idempotent): a commit that queued mail wakes the
    courier; a CLI command waits for its mail on the way out. In the after-response mode a
    request delivers its own mail once its response has been sent instead.

    Either way the client (a donor's browser, Stripe's webhook) never waits for the mail server.
    """
    if app.extensions.get("tracker_outbox"):
        return
    app.extensions["tracker_outbox"] = True
    _listen_to_sessions()
    app.teardown_appcontext(_deliver_before_exit)

    @app.after_request
    def _schedule_delivery(response: Response) -> Response:
        # In the background mode the commit has already woken the courier.
        if g.pop(_G_FLAG, False) and _mode(app) == AFTER_RESPONSE:
            response.call_on_close(partial(_deliver_after_response, app))
        return response
