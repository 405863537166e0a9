"""/metrics: absent without TRACKER_METRICS_TOKEN, 401 without the right bearer token, and
Prometheus text whose counters move with requests, webhook events and gifts, with the
outbox and reconcile gauges read from the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_app
from tests.factories import make_case
from tests.payments.helpers import deliver, pay_without_delivery, post_webhook, start_gift
from tracker.core.time import utcnow
from tracker.donations import services as donation_services
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.ops.metrics import RECONCILE_JOB, authorized, last_reconcile

TOKEN = "metrics-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def scrape(app: Flask, client, monkeypatch, tmp_path: Path):  # noqa: ANN001, ANN201
    """GET /metrics with the token: {(name, labels as sorted tuple): value}."""
    monkeypatch.setitem(app.config, "TRACKER_METRICS_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)

    def read() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", headers=AUTH)
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.text) for s in family.samples}

    return read


def test_absent_without_the_token_setting(app: Flask, client, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(app.config, "TRACKER_METRICS_TOKEN", None)
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_refused_without_the_right_token(app: Flask, client, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(app.config, "TRACKER_METRICS_TOKEN", TOKEN)
    for header in (None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer "):
        response = client.get("/metrics", headers={"Authorization": header} if header else {})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "tracker_" not in response.text


def test_token_comparison() -> None:
    assert authorized(f"Bearer {TOKEN}", TOKEN) and authorized(f"bearer {TOKEN}", TOKEN)
    assert not authorized(None, TOKEN) and not authorized(f"Bearer  {TOKEN} x", TOKEN)


def test_requests_counted_by_endpoint_and_status(scrape, client) -> None:  # noqa: ANN001
    healthz = ("tracker_http_requests_total", (("endpoint", "core.healthz"), ("method", "GET"),
                                               ("status", "200")))
    unmatched = ("tracker_http_requests_total", (("endpoint", "none"), ("method", "GET"),
                                                 ("status", "404")))
    latency = ("tracker_http_request_duration_seconds_count", (("endpoint", "core.healthz"),))
    before = scrape()
    assert client.get("/healthz").status_code == 200
    assert client.get("/cases/a-slug-that-is-no-route/x/y").status_code == 404
    after = scrape()
    assert after[healthz] == before.get(healthz, 0) + 1
    assert after[unmatched] == before.get(unmatched, 0) + 1
    assert after[latency] == before.get(latency, 0) + 1
    # never the raw path
    assert not any("a-slug-that-is-no-route" in str(labels) for _, labels in after)


def test_webhook_events_and_gifts_counted(app: Flask, client, scrape) -> None:  # noqa: ANN001
    make_case("six-survivors", status="fundraising")
    completed = ("tracker_webhook_events_total", (("outcome", "processed"),
                                                  ("type", "checkout.session.completed")))
    duplicate = ("tracker_webhook_events_total", (("outcome", "duplicate"),
                                                  ("type", "checkout.session.completed")))
    refused = ("tracker_webhook_events_total", (("outcome", "invalid_signature"), ("type", "unknown")))
    gifts = ("tracker_gifts_recorded_total", ())
    before = scrape()

    _, session_id = start_gift(client, "six-survivors")
    event = pay_without_delivery(session_id)
    assert deliver(client, app, event).get_json()["duplicate"] is False
    middle = scrape()
    assert middle[completed] == before.get(completed, 0) + 1
    assert middle[gifts] == before[gifts] + 1

    assert deliver(client, app, event).get_json()["duplicate"] is True
    assert post_webhook(client, b"{}", "t=1,v1=forged").status_code == 400
    after = scrape()
    assert after[duplicate] == before.get(duplicate, 0) + 1
    assert after[refused] == before.get(refused, 0) + 1
    assert after[gifts] == middle[gifts]


def test_gifts_count_only_when_committed(app: Flask, scrape) -> None:  # noqa: ANN001
    from tests.factories import RECEIVED_ON
    from tracker.core.money import Money

    case = make_case("six-survivors", status="fundraising")
    gift = donation_services.OfflineGift(amount=Money(5000, "JPY"), channel="cash", received_on=RECEIVED_ON,
                                         donor_name="", donor_email=None, reference="")
    before = scrape()[("tracker_gifts_recorded_total", ())]
    donation_services.record_offline_gift(case, gift)
    db.session.rollback()
    assert scrape()[("tracker_gifts_recorded_total", ())] == before
    donation_services.record_offline_gift(case, gift)
    db.session.commit()
    assert scrape()[("tracker_gifts_recorded_total", ())] == before + 1


def test_outbox_and_reconcile_gauges(app: Flask, scrape) -> None:  # noqa: ANN001
    figures = scrape()
    assert figures[("tracker_outbox_pending_messages", ())] == 0
    assert figures[("tracker_outbox_oldest_pending_age_seconds", ())] == 0
    assert figures[("tracker_metrics_database_up", ())] == 1
    now = utcnow()
    for i, (age, sent) in enumerate([(600, False), (60, False), (3600, True)]):
        db.session.add(OutboxMessage(kind="receipt", dedupe_key=f"k{i}", to_address="donor@example.org",
                                     subject="s", body_text="b", created_at=now - timedelta(seconds=age),
                                     next_attempt_at=now + timedelta(hours=1),
                                     sent_at=now if sent else None, attempts=0))
    db.session.commit()
    figures = scrape()
    assert figures[("tracker_outbox_pending_messages", ())] == 2
    assert 600 <= figures[("tracker_outbox_oldest_pending_age_seconds", ())] < 900
    # never reconciled: the gauge says 0
    assert last_reconcile() is None
    assert figures[("tracker_last_reconcile_timestamp_seconds", ())] == 0


def test_last_reconcile_is_the_worker_jobs(app: Flask, scrape) -> None:  # noqa: ANN001
    from tracker.core import jobruns
    from tracker.worker.jobs import RECONCILE

    assert RECONCILE_JOB == RECONCILE
    when = utcnow().replace(microsecond=0) - timedelta(minutes=7)
    assert jobruns.claim(RECONCILE, timedelta(minutes=10), now=when)
    jobruns.finish(RECONCILE, "GatewayError: down", now=when)  # a failed run is no reconcile
    assert last_reconcile() is None
    jobruns.finish(RECONCILE, now=when)
    assert last_reconcile() == when
    assert scrape()[("tracker_last_reconcile_timestamp_seconds", ())] == when.timestamp()


def test_scrape_survives_an_unreachable_database(tmp_path) -> None:  # noqa: ANN001
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/nope.sqlite3", TRACKER_METRICS_TOKEN=TOKEN)
    response = app.test_client().get("/metrics", headers=AUTH)
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 200
    assert "tracker_metrics_database_up 0.0" in response.text
    assert "tracker_outbox_pending_messages" not in response.text


def test_multiprocess_mode_reads_the_shared_directory(scrape, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """With PROMETHEUS_MULTIPROC_DIR set, a scrape adds up the workers' files there (none yet in
    this test's empty directory: only the database gauges), not this process's memory."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    figures = scrape()
    assert figures[("tracker_metrics_database_up", ())] == 1
    assert not any(name.startswith("tracker_http_requests") for name, _ in figures)


def test_queued_webhook_events_counted(app: Flask, client, scrape, monkeypatch) -> None:  # noqa: ANN001
    """With TRACKER_WEBHOOK_PROCESSING=queued the endpoint only stores the event: "queued"."""
    from tracker.sandbox.gateway import sandbox_event

    monkeypatch.setitem(app.config, "TRACKER_WEBHOOK_PROCESSING", "queued")
    queued = ("tracker_webhook_events_total", (("outcome", "queued"), ("type", "charge.refunded")))
    before = scrape().get(queued, 0)
    event = sandbox_event("charge.refunded", {"id": "ch_x", "payment_intent": "pi_x", "amount": 5000,
                                              "amount_refunded": 5000, "currency": "jpy",
                                              "refunds": {"data": []}})
    assert deliver(client, app, event).get_json() == {"received": True, "duplicate": False, "note": "queued"}
    assert scrape()[queued] == before + 1
