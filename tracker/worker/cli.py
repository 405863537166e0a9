"""``flask --app tracker worker``: run the worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.worker.jobs import default_jobs
from tracker.worker.runner import Worker


@click.command("worker")
@click.option("--once", is_flag=True,
              help="One round: send the mail that is due, run the jobs that are due, exit.")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between two looks at the outbox.")
@with_appcontext
def worker_cli(once: bool, poll: float) -> None:
    """Send queued mail within seconds and run the periodic jobs (reconcile with the payment
    service, end checkouts abandoned for a day, delete old donor sign-in links).

    Runs until SIGTERM or Ctrl-C, then finishes the message or job in hand and exits 0. Any
    number of workers may run on any number of machines: each message is sent once and each
    job run is started by one of them. Set TRACKER_OUTBOX_DELIVERY=worker for the web
    processes so that they only queue mail.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tracker.worker").setLevel(logging.INFO)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = Worker(app, default_jobs(app), poll=poll)
    previous = {sig: signal.signal(sig, worker.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
