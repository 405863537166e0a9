"""The worker's periodic jobs, in-process: the lease that lets one of many workers start
each run, ending checkouts abandoned for a day (never one paid meanwhile), Stripe's expiry,
and one round of ``flask worker --once``. On SQLite and PostgreSQL (except the Stripe gateway
on its own, which needs no database)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.stripe_fakes import RecordingHTTPClient, checkout_session, error
from tracker import ConfigError, create_app
from tracker.cases import workflow
from tracker.core import jobruns
from tracker.core.money import Money
from tracker.core.time import utcnow
from tracker.donations import services as donation_services
from tracker.donations import upkeep
from tracker.donations.models import EXPIRED, PENDING, SUCCEEDED, Donation
from tracker.extensions import db
from tracker.payments.gateway import GatewayError, StripeGateway, get_gateway
from tracker.payments.models import PaymentEvent
from tracker.sandbox.models import SandboxSession
from tracker.worker import jobs

HOUR = timedelta(hours=1)


# --- the lease --------------------------------------------------------------------------------


def test_of_two_claims_at_the_same_moment_exactly_one_wins(app: Flask):
    barrier = threading.Barrier(2)
    results: list[object] = []

    def claim() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(jobruns.claim("test-job", timedelta(minutes=15)))
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results, key=str) == [False, True]
    assert jobruns.last_run("test-job") is None  # started, not finished
    assert not jobruns.claim("test-job", timedelta(minutes=15))  # still leased


def test_a_job_is_claimed_again_once_its_interval_has_passed(app: Flask):
    now = utcnow()
    assert jobruns.claim("test-job", HOUR, now=now)
    jobruns.finish("test-job", now=now + timedelta(seconds=5))
    assert jobruns.last_run("test-job") == now + timedelta(seconds=5)
    assert jobruns.next_start("test-job", HOUR) == now + HOUR

    assert not jobruns.claim("test-job", HOUR, now=now + timedelta(minutes=59))
    assert jobruns.claim("test-job", HOUR, now=now + HOUR)
    jobruns.finish("test-job", error="GatewayError: down", now=now + HOUR)
    # a failed run leaves the last good one as it was
    assert jobruns.last_run("test-job") == now + timedelta(seconds=5)
    assert jobruns.last_run("never-ran") is None


# --- ending abandoned checkouts ---------------------------------------------------------------


def _checkout(app: Flask, case, age: timedelta) -> Donation:  # noqa: ANN001
    """A card gift whose sandbox checkout started ``age`` ago and was never paid (committed)."""
    with app.test_request_context():
        donation = donation_services.start_donation(case, donation_services.GiftInput(
            amount=Money(5000, "JPY"), email="donor@example.org"), "sandbox")
        start = get_gateway().create_checkout(_request(donation))
        donation_services.checkout_started(donation.id, start.session_id)
        donation.created_at = utcnow() - age
        db.session.commit()
    return donation


def _request(donation: Donation):  # noqa: ANN202
    from tracker.payments.gateway import CheckoutRequest

    return CheckoutRequest(donation_id=donation.public_id, amount=Money(5000, "JPY"),
                           description="Six survivors", success_url="http://x/ok",
                           cancel_url="http://x/no")


def _state(donation: Donation) -> tuple[str, str]:
    db.session.expire_all()
    session = db.session.get(SandboxSession, donation.gateway_session_id)
    return db.session.get(Donation, donation.id).status, session.status


def test_a_day_old_checkout_is_expired_and_a_young_or_paid_one_is_not(app: Flask):
    case = make_case(status=workflow.FUNDRAISING)
    abandoned = _checkout(app, case, age=25 * HOUR)
    young = _checkout(app, case, age=23 * HOUR)
    paid_meanwhile = _checkout(app, case, age=25 * HOUR)
    recorded = _checkout(app, case, age=25 * HOUR)
    gateway = get_gateway()
    gateway.pay(paid_meanwhile.gateway_session_id, "4242 4242 4242 4242")  # its event not yet in
    event = gateway.pay(recorded.gateway_session_id, "4242 4242 4242 4242")
    db.session.commit()
    from tracker.payments import webhooks

    webhooks.ingest(event, "{}", gateway)  # recorded as paid
    assert _state(recorded) == (SUCCEEDED, "complete")

    counts = upkeep.expire_abandoned_checkouts(gateway, timedelta(hours=24))

    assert counts == {"expired": 1, "paid meanwhile": 1}
    assert _state(abandoned) == (EXPIRED, "expired")
    assert _state(young) == (PENDING, "open")
    assert _state(paid_meanwhile) == (PENDING, "complete")  # left for the webhook / reconcile
    assert _state(recorded) == (SUCCEEDED, "complete")
    # like Stripe, the sandbox reported the expiry with a signed event, which changed nothing more
    assert db.session.scalar(db.select(db.func.count()).select_from(PaymentEvent)
                             .where(PaymentEvent.type == "checkout.session.expired")) == 1
    # an expired sandbox checkout takes no card any more
    assert gateway.pay(abandoned.gateway_session_id, "4242 4242 4242 4242") is None

    assert upkeep.expire_abandoned_checkouts(gateway, timedelta(hours=24)) == {"paid meanwhile": 1}


def test_one_worker_round_runs_every_job_once_and_records_the_last_reconcile(app: Flask):
    case = make_case(status=workflow.FUNDRAISING)
    abandoned = _checkout(app, case, age=25 * HOUR)
    paid_meanwhile = _checkout(app, case, age=25 * HOUR)
    get_gateway().pay(paid_meanwhile.gateway_session_id, "4242 4242 4242 4242")
    db.session.commit()
    assert jobs.last_run(jobs.RECONCILE) is None

    result = app.test_cli_runner().invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    # reconcile (first) recorded the payment whose event never came; expiry ended the other
    assert _state(paid_meanwhile) == (SUCCEEDED, "complete")
    assert _state(abandoned) == (EXPIRED, "expired")
    last = jobs.last_run(jobs.RECONCILE)
    assert last is not None and utcnow() - last < timedelta(minutes=1)
    assert {name for name in db.session.scalars(db.select(jobruns.WorkerJob.name))} == {
        jobs.RECONCILE, jobs.EXPIRE_CHECKOUTS, jobs.PRUNE_SIGN_INS, jobs.PRUNE_FOLLOWS}
    # the leases hold: a second round right away runs nothing again
    started = dict(db.session.execute(db.select(jobruns.WorkerJob.name,
                                                jobruns.WorkerJob.last_started_at)).all())
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    db.session.expire_all()
    assert dict(db.session.execute(db.select(jobruns.WorkerJob.name,
                                             jobruns.WorkerJob.last_started_at)).all()) == started


# --- Stripe's expiry (the gateway on its own) -------------------------------------------------


def test_stripe_expires_an_open_session_with_an_idempotency_key() -> None:
    fake = RecordingHTTPClient()
    sid = "cs_test_open"
    fake.on("POST", f"/v1/checkout/sessions/{sid}/expire", checkout_session(
        amount_total=5000, currency="jpy", session_id=sid, status="expired",
        metadata={"donation_id": "don_x"}))

    facts = StripeGateway("sk_test_123", http_client=fake).expire_checkout(sid)

    assert (facts.status, facts.donation_id) == ("expired", "don_x")
    assert [c.idempotency_key for c in fake.calls("POST")] == [f"expire-{sid}"]


def test_stripe_refusing_to_expire_a_completed_session_says_it_is_complete() -> None:
    fake = RecordingHTTPClient()
    sid = "cs_test_paid"
    fake.on("POST", f"/v1/checkout/sessions/{sid}/expire", error(
        400, "invalid_request_error",
        "Only Checkout Sessions with a status in [\"open\"] can be expired."))
    fake.sessions[sid] = checkout_session(amount_total=5000, currency="jpy", session_id=sid,
                                          status="complete", payment_status="paid")

    facts = StripeGateway("sk_test_123", http_client=fake).expire_checkout(sid)

    assert (facts.status, facts.payment_status) == ("complete", "paid")


def test_stripe_refusing_the_key_is_a_gateway_error() -> None:
    fake = RecordingHTTPClient()
    fake.on("POST", "/v1/checkout/sessions/cs_x/expire",
            error(401, "invalid_request_error", "Invalid API Key provided"))
    with pytest.raises(GatewayError):
        StripeGateway("sk_test_123", http_client=fake).expire_checkout("cs_x")


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [
    {"TRACKER_OUTBOX_DELIVERY": "cron"},
    {"TRACKER_RECONCILE_MINUTES": 0},
    {"TRACKER_CHECKOUT_EXPIRE_HOURS": "24"},
])
def test_wrong_worker_settings_are_refused_at_start(setting: dict, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError):
        create_app({"TESTING": True, "SECRET_KEY": "x",
                    "DATABASE_URL": f"sqlite:///{tmp_path}/t.sqlite3", **setting})


def test_a_failing_job_is_recorded_and_the_round_goes_on(app: Flask, caplog):  # noqa: ANN001
    from tracker.worker.runner import Worker

    ran: list[str] = []

    def boom() -> str:
        raise GatewayError("Stripe refused the request (APIConnectionError)")

    def fine() -> str:
        ran.append("fine")
        return "done"

    with caplog.at_level("INFO", logger="tracker.worker"):
        Worker(app, [jobs.Job("boom", HOUR, boom), jobs.Job("fine", HOUR, fine)]).run(once=True)

    assert ran == ["fine"]
    row = db.session.get(jobruns.WorkerJob, "boom")
    assert row.last_error == "GatewayError: Stripe refused the request (APIConnectionError)"
    assert jobruns.last_run("boom") is None and jobruns.last_run("fine") is not None
    assert any("job boom failed" in r.getMessage() for r in caplog.records)


def test_a_worker_round_applies_the_webhook_events_stored_for_it(app: Flask, client):  # noqa: ANN001
    """TRACKER_WEBHOOK_PROCESSING=queued: the endpoint stores the event; one worker round
    records the gift (once, with its receipt), and a second round finds nothing to do."""
    from tests.payments.helpers import (
        completion_event,
        event_bytes,
        ledger_kinds,
        pay_without_delivery,
        post_webhook,
        receipts_for,
        reload,
        signature,
        start_gift,
    )

    make_case("six-survivors", people=2, status=workflow.FUNDRAISING)
    donation, session_id = start_gift(client, "six-survivors", email="queued@example.org")
    pay_without_delivery(session_id)
    payload = event_bytes(completion_event(session_id))
    app.config["TRACKER_WEBHOOK_PROCESSING"] = "queued"
    try:
        answer = post_webhook(client, payload, signature(app, payload))
        assert answer.get_json()["note"] == "queued"
        assert reload(donation).status == PENDING
        assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
        assert reload(donation).status == SUCCEEDED
        assert ledger_kinds(donation)["gift"] == 1 and len(receipts_for(donation)) == 1
        assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
        assert ledger_kinds(donation)["gift"] == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(PaymentEvent)
                                 .where(PaymentEvent.processed_at.is_(None))) == 0
    finally:
        app.config["TRACKER_WEBHOOK_PROCESSING"] = "inline"
