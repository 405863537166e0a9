"""The worker's loop: apply the webhook events stored for it (TRACKER_WEBHOOK_PROCESSING=
queued), send the mail that is due, run the jobs that are due, sleep ``poll`` seconds, again,
until asked to stop.

``stop()`` (the command wires SIGTERM and SIGINT to it) lets the message or job in hand
finish, then the loop ends: mail is sent one message at a time, so the stop is seen within
one SMTP conversation. A failure (the database restarting, a job's error) is
logged and the loop goes on; the worker runs for as long as it is left running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from flask import Flask

from tracker.core import jobruns, transactions
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.mail.outbox import deliver_pending, describe_error
from tracker.payments.webhooks import apply_stored
from tracker.worker.jobs import Job

logger = logging.getLogger("tracker.worker")

#: at most this many messages per log line
MAIL_BATCH = 20
#: at most this many webhook events per log line (a stop is seen between batches)
EVENT_BATCH = 100
#: at most this long between two looks at a job another worker ran (its lease may be freed)
JOB_RECHECK_SECONDS = 60.0


class Worker:
    """One worker process's loop over the outbox and ``jobs``."""

    def __init__(self, app: Flask, jobs: Sequence[Job], poll: float = 1.0) -> None:
        self.app = app
        self.jobs = list(jobs)
        self.poll = poll
        self._stopping = threading.Event()
        #: monotonic time before which a job is not claimed again (it ran, or another worker's did)
        self._not_before: dict[str, float] = {}
        #: the last failure logged, and when (monotonic)
        self._last_failure: tuple[str, float] = ("", 0.0)

    def stop(self, *_args: object) -> None:
        """Finish what is in hand, then leave the loop (safe from a signal handler)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, once: bool = False) -> None:
        """Loop until ``stop()``; with ``once``, one round (mail, then the due jobs)."""
        logger.info("worker: started (poll %.1fs, jobs: %s)", self.poll,
                    ", ".join(job.name for job in self.jobs) or "none")
        while not self.stopping:
            try:
                self.apply_events()
                self.send_mail()
                self.run_due_jobs()
            except Exception as exc:  # noqa: BLE001 - keep running (the database restarting)
                self._log_failure(describe_error(exc))
            if once:
                break
            self._stopping.wait(self.poll)
        logger.info("worker: stopped")

    def _log_failure(self, error: str) -> None:
        """Log a failed round; the same failure again at most once a minute."""
        now = time.monotonic()
        if error != self._last_failure[0] or now - self._last_failure[1] >= 60:
            logger.error("worker: round failed: %s", error)
            self._last_failure = (error, now)

    def apply_events(self) -> int:
        """Apply the stored webhook events, oldest first, in batches (each event in its own
        transaction); returns how many were applied. Nothing is stored unless webhooks are
        queued, and then other workers share the work (SKIP LOCKED)."""
        total = 0
        while not self.stopping:
            with self.app.app_context():
                applied, failed = apply_stored(EVENT_BATCH)
            if applied or failed:
                logger.info("worker: webhook events applied %d, failed %d", applied, failed)
            total += applied
            if failed or applied < EVENT_BATCH:
                break
        return total

    def send_mail(self) -> int:
        """Send what is due, one message at a time (a stop is seen after each), logging one
        line per batch of up to ``MAIL_BATCH``; returns how many were sent."""
        total = 0
        while not self.stopping:
            sent = failed = 0
            with self.app.app_context():
                while sent + failed < MAIL_BATCH and not self.stopping:
                    one_sent, one_failed = deliver_pending(1)
                    if not one_sent and not one_failed:
                        break
                    sent, failed = sent + one_sent, failed + one_failed
            if sent or failed:
                logger.info("worker: mail sent %d, failed %d", sent, failed)
            total += sent
            if sent + failed < MAIL_BATCH:
                break
        return total

    def run_due_jobs(self) -> None:
        for job in self.jobs:
            if self.stopping:
                return
            if time.monotonic() < self._not_before.get(job.name, 0.0):
                continue
            with self.app.app_context():
                self._run_if_claimed(job)

    def _run_if_claimed(self, job: Job) -> None:
        if not jobruns.claim(job.name, job.interval):
            self._wait_for_lease(job)
            return
        started = time.monotonic()
        error = None
        try:
            summary = job.run()
            transactions.commit()
        except Exception as exc:  # noqa: BLE001 - recorded on the job and logged; next run retries
            db.session.rollback()
            error = describe_error(exc)
        jobruns.finish(job.name, error)
        took = time.monotonic() - started
        if error is None:
            logger.info("worker: job %s done in %.1fs: %s", job.name, took, summary)
        else:
            logger.warning("worker: job %s failed after %.1fs: %s", job.name, took, error)
        self._wait_for_lease(job)

    def _wait_for_lease(self, job: Job) -> None:
        """Look at the job again when its lease runs out (at most a minute from now)."""
        due = jobruns.next_start(job.name, job.interval)
        wait = 0.0 if due is None else (due - utcnow()).total_seconds()
        self._not_before[job.name] = time.monotonic() + max(0.0, min(wait, JOB_RECHECK_SECONDS))
