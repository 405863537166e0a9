"""Leases for periodic jobs: one row per job in ``worker_jobs``, so that any number of
workers on any number of machines start each run of a job once.

A worker claims a run with one conditional UPDATE (``last_started_at`` older than the job's
interval), which is atomic on PostgreSQL (the second UPDATE waits for the first and then
re-checks the condition) and on SQLite (one writer at a time): of two workers claiming at
the same moment exactly one wins. A worker that dies mid-run leaves the lease to expire
after one interval, and the next claim starts the job again.

It lives here (not in ``tracker.worker``) so that any layer may read when a job last ran:
``last_run("stripe-reconcile")`` for the metrics, for instance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.database import upsert_insert
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db


class WorkerJob(db.Model):
    """When a periodic job last started, finished, and finished without an error."""

    __tablename__ = "worker_jobs"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the end of the last run that did its work (a run that failed leaves it as it was)
    last_succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last failure (class and message, never private data); None after a success
    last_error: Mapped[str | None] = mapped_column(String(500))


def _ensure_row(name: str) -> None:
    """INSERT the job's row unless it exists (race-free on both engines)."""
    db.session.execute(upsert_insert(WorkerJob).values(name=name).on_conflict_do_nothing(
        index_elements=["name"]))


def claim(name: str, interval: timedelta, now: datetime | None = None) -> bool:
    """Start a run of job ``name`` if none started within ``interval``: True for the one
    caller that may run it now. Commits (call it outside a unit of work)."""
    now = now or utcnow()
    _ensure_row(name)
    db.session.commit()
    won = db.session.execute(
        update(WorkerJob)
        .where(WorkerJob.name == name,
               (WorkerJob.last_started_at.is_(None)) | (WorkerJob.last_started_at <= now - interval))
        .values(last_started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.commit()
    return won


def finish(name: str, error: str | None = None, now: datetime | None = None) -> None:
    """Record the end of a run (``error``: why it failed, never private data). Commits."""
    now = now or utcnow()
    values: dict[str, object] = {"last_finished_at": now, "last_error": error}
    if error is None:
        values["last_succeeded_at"] = now
    db.session.execute(update(WorkerJob).where(WorkerJob.name == name).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def last_run(name: str) -> datetime | None:
    """When job ``name`` last finished a run without an error (UTC), or None if never."""
    return db.session.scalar(select(WorkerJob.last_succeeded_at).where(WorkerJob.name == name))


def next_start(name: str, interval: timedelta) -> datetime | None:
    """When job ``name`` may next be claimed (its last start plus ``interval``); None: now."""
    started = db.session.scalar(select(WorkerJob.last_started_at).where(WorkerJob.name == name))
    return None if started is None else started + interval
