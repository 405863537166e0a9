"""The periodic jobs the worker runs, each under a lease so that one worker runs it at a time.

A job is a name, an interval (from the settings) and a function returning a one-line
summary for the log: counts only, never a donor's address or any private field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from tracker.cases import follows
from tracker.core.jobruns import last_run
from tracker.donations import upkeep
from tracker.donors.services import prune_sign_ins
from tracker.extensions import db
from tracker.payments.gateway import get_gateway

__all__ = ["RECONCILE", "Job", "default_jobs", "last_run"]

#: job names (the rows of ``worker_jobs``; ``last_run(RECONCILE)`` is the last reconcile)
RECONCILE, EXPIRE_CHECKOUTS, PRUNE_SIGN_INS = "stripe-reconcile", "expire-checkouts", "prune-sign-ins"
PRUNE_FOLLOWS = "prune-follows"
#: how far back each periodic reconcile looks (as ``flask stripe reconcile``'s default)
RECONCILE_WINDOW = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class Job:
    """One periodic job: run ``run`` (in an app context) every ``interval``."""

    name: str
    interval: timedelta
    run: Callable[[], str]


def _reconcile() -> str:
    return upkeep.reconcile(get_gateway(), RECONCILE_WINDOW).summary()


def _expire_checkouts() -> str:
    hours = current_app.config["TRACKER_CHECKOUT_EXPIRE_HOURS"]
    counts = upkeep.expire_abandoned_checkouts(get_gateway(), timedelta(hours=hours))
    return "checkouts abandoned for %sh: %s" % (  # noqa: UP031 - a log line
        hours, ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none")


def _prune_sign_ins() -> str:
    gone = prune_sign_ins()
    db.session.commit()
    return f"donor sign-in links deleted: {gone}"


def _prune_follows() -> str:
    gone = follows.prune_unconfirmed()
    db.session.commit()
    return f"unconfirmed follows deleted: {gone}"


def default_jobs(app: Flask) -> list[Job]:
    """The jobs every worker runs, with the app's intervals."""
    return [
        Job(RECONCILE, timedelta(minutes=app.config["TRACKER_RECONCILE_MINUTES"]), _reconcile),
        Job(EXPIRE_CHECKOUTS, timedelta(minutes=15), _expire_checkouts),
        Job(PRUNE_SIGN_INS, timedelta(hours=1), _prune_sign_ins),
        Job(PRUNE_FOLLOWS, timedelta(hours=1), _prune_follows),
    ]
