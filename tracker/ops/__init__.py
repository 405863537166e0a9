"""Operations: what the people who run the app see of it (issue 17).

* ``/readyz`` (``readiness``): database reachable, schema at the newest migration, Redis
  when ``REDIS_URL`` is set; ``/healthz`` (``tracker.web.views``) stays the liveness check;
* ``/metrics`` (``metrics``): Prometheus text behind ``TRACKER_METRICS_TOKEN``;
* ``X-Request-ID`` on every response and in every log record (``requestid``);
* ``TRACKER_LOG_FORMAT=json`` (``logs``);
* error reports to ``SENTRY_DSN``, scrubbed of personal data (``sentry``).

It sits in the top layer with the other packages that wire things together: it reads the
mail outbox and the ledger and counts what the webhook receiver reports
(``tracker.payments.webhooks.event_received``); nothing below imports it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire it all into ``app``. Call last in the app factory: the request id and the request
    metrics wrap the whole WSGI app (ProxyFix included), and their ``before_request`` hooks
    go first."""
    from tracker.ops import logs, metrics, readiness, requestid, sentry

    logs.configure(app)
    sentry.init_app(app)
    metrics.init_app(app)
    requestid.init_app(app)  # outermost: the header is on every answer, the metrics' too
    app.register_blueprint(readiness.bp)
