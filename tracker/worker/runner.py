"""The worker's loop: send the mail that is due, run the jobs that are due, sleep ``poll``
seconds, again, until asked to stop.

``stop()`` (the command wires SIGTERM and SIGINT to it) lets the message or job in hand
finish, then the loop ends: a batch of mail is sent a few messages at a time so that the
stop is seen within a few seconds. A failure (the database restarting, a job's error) is
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
from tracker.worker.jobs import Job

logger = logging.getLogger("tracker.worker")

#: messages sent between two looks at the stop flag
MAIL_BATCH = 10
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
                self.send_mail()
                self.run_due_jobs()
            except Exception as exc:  # noqa: BLE001 - keep running; say why once per round
                logger.error("worker: round failed: %s", describe_error(exc))
            if once:
                break
            self._stopping.wait(self.poll)
        logger.info("worker: stopped")

    def send_mail(self) -> int:
        """Send what is due, a batch at a time, until nothing is due or a stop is asked."""
        total = 0
        while not self.stopping:
            with self.app.app_context():
                sent, failed = deliver_pending(MAIL_BATCH)
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
