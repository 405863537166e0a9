"""``GET /metrics``: Prometheus text for the operators, behind a bearer token.

Absent (404) while ``TRACKER_METRICS_TOKEN`` is unset; with it set, a request without
``Authorization: Bearer <token>`` (compared in constant time) gets 401. What it serves:

* ``tracker_http_requests_total{endpoint, method, status}`` and
  ``tracker_http_request_duration_seconds{endpoint}`` (histogram): by Flask endpoint name
  ("none" when no route matched), never the raw path (slugs, tokens, unbounded);
* ``tracker_webhook_events_total{type, outcome}``: each event handed to the webhook receiver
  (``tracker.payments.webhooks.event_received``); types we do not take are "other";
* read from the database at scrape time: ``tracker_gifts_recorded_total`` (gift entries on
  the ledger, booked by any process: the web, the worker, a command),
  ``tracker_outbox_pending_messages``,
  ``tracker_outbox_oldest_pending_age_seconds`` (0 when none wait),
  ``tracker_last_reconcile_timestamp_seconds`` (0 when never) and
  ``tracker_metrics_database_up`` (0 when those could not be read).

gunicorn runs several worker processes, each with its own counters. Set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory the workers may write (before they start;
wipe it at each start) and prometheus-client keeps the counters in files there, which any
worker's ``/metrics`` adds up (its multiprocess mode). Without it the counters are the
answering process's own.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from tracker.core import jobruns
from tracker.core.access import public
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.ledger.models import GIFT
from tracker.ledger.rollups import CaseTotal
from tracker.mail.outbox import OutboxMessage
from tracker.payments import webhooks

bp = Blueprint("ops_metrics", __name__)

#: the counters of this process (in multiprocess mode their values live in files instead)
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("tracker_http_requests", "HTTP requests answered, by Flask endpoint, method and status",
                   ["endpoint", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("tracker_http_request_duration_seconds",
                    "Time to answer an HTTP request (until the response starts), by Flask endpoint",
                    ["endpoint"], registry=REGISTRY)
WEBHOOK_EVENTS = Counter("tracker_webhook_events", "Webhook events received, by type and outcome",
                         ["type", "outcome"], registry=REGISTRY)

#: the WSGI environ key where a request's Flask endpoint is left for the middleware
ENDPOINT_KEY = "tracker.endpoint"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- requests --------------------------------------------------------------------------------


class MetricsMiddleware:
    """WSGI middleware: count and time each request by its endpoint (left in the environ by
    ``_note_endpoint``) and status."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["500"]

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            endpoint = environ.get(ENDPOINT_KEY) or "none"
            method = environ.get("REQUEST_METHOD", "")
            REQUESTS.labels(endpoint, method if method in _METHODS else "other", status[0]).inc()
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)


def _note_endpoint() -> None:
    request.environ[ENDPOINT_KEY] = request.endpoint


# --- webhook events and gifts ----------------------------------------------------------------


def _count_webhook_event(_sender: Any, type: str, outcome: str, **_: Any) -> None:  # noqa: A002
    kind = type if type in webhooks.HANDLED_TYPES else ("unknown" if not type else "other")
    WEBHOOK_EVENTS.labels(kind, outcome).inc()


_listening: list[bool] = []


def _listen() -> None:
    """Once per process: the webhook receiver's signal."""
    if _listening:
        return
    _listening.append(True)
    webhooks.event_received.connect(_count_webhook_event, weak=False)


# --- read at scrape time ---------------------------------------------------------------------


#: the worker's reconcile job (``tracker.worker.jobs.RECONCILE``, a sibling layer: named here)
RECONCILE_JOB = "stripe-reconcile"


def last_reconcile() -> datetime | None:
    """When the worker's reconcile job last finished without an error, or None when it never
    has (``worker_jobs``)."""
    return jobruns.last_run(RECONCILE_JOB)


def gifts_recorded() -> int:
    """Gift entries on the ledger, whichever process booked them (the web, the worker applying
    queued events, a command): the sum of the trigger-kept per-case counts, a few rows."""
    return int(db.session.scalar(select(func.coalesce(func.sum(CaseTotal.entries), 0))
                                 .where(CaseTotal.kind == GIFT)) or 0)


def outbox_state() -> tuple[int, float]:
    """(messages waiting to be sent, age in seconds of the oldest of them; 0 when none)."""
    count, oldest = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.sent_at.is_(None))
    ).one()
    if not count or oldest is None:
        return 0, 0.0
    if isinstance(oldest, str):  # pragma: no cover - an aggregate may skip the column's type
        oldest = datetime.fromisoformat(oldest)
    return int(count), max(0.0, (utcnow() - oldest).total_seconds())


class DatabaseCollector(Collector):
    """The gauges read from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tracker_metrics_database_up",
                               "1 when the database figures below could be read")
        try:
            pending, age = outbox_state()
            gifts = gifts_recorded()
            reconciled = last_reconcile()
            db.session.rollback()
        except Exception:  # noqa: BLE001 - a scrape must not fail with the database
            with contextlib.suppress(Exception):
                db.session.rollback()
            current_app.logger.warning("metrics: database figures not read", exc_info=False)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily("tracker_gifts_recorded", "Gifts booked on the ledger", value=gifts)
        yield GaugeMetricFamily("tracker_outbox_pending_messages", "Mail waiting to be sent", value=pending)
        yield GaugeMetricFamily("tracker_outbox_oldest_pending_age_seconds",
                                "Age of the oldest mail waiting to be sent (0 when none)", value=age)
        yield GaugeMetricFamily("tracker_last_reconcile_timestamp_seconds",
                                "When the payments were last reconciled (Unix time; 0: never)",
                                value=reconciled.timestamp() if reconciled else 0)


def scrape() -> bytes:
    """The Prometheus text: this process's counters, or every worker's in multiprocess mode,
    and the database gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Counters())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class _Counters(Collector):
    """This process's counters, added to a scrape's registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def authorized(header: str | None, token: str) -> bool:
    """Whether ``header`` is ``Bearer <token>`` (the comparison takes the same time either way)."""
    scheme, _, given = (header or "").partition(" ")
    return hmac.compare_digest(given.strip().encode(), token.encode()) and scheme.lower() == "bearer"


@bp.route("/metrics")
@public
def metrics():
    token = current_app.config.get("TRACKER_METRICS_TOKEN")
    if not token:
        abort(404)
    if not authorized(request.headers.get("Authorization"), token):
        return Response("unauthorized\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"})
    return Response(scrape(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count every request and webhook event; serve /metrics (its blueprint)."""
    _listen()
    app.wsgi_app = MetricsMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _note_endpoint)
    app.register_blueprint(bp)
