"""The Stripe path, offline: the real stripe library, with its HTTP client replaced by a
recording fake that answers like Stripe (``tests/payments/stripe_fakes.py``).

What is checked is what goes over the wire (method, path, every form parameter, the
Idempotency-Key) and what the app makes of Stripe's answers: the donation form hands off to
Checkout with only public fields; errors leave the donor told that nothing was charged; the
thank-you page, a signed webhook and ``flask stripe reconcile`` each record a payment from the
charge's balance transaction, once.

Tests using ``sapp`` run on SQLite and on PostgreSQL; the others need no database.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func

from tests.conftest import csrf_from, empty_all_tables
from tests.factories import make_case
from tests.payments.stripe_fakes import (
    TEST_WEBHOOK_SECRET,
    RecordingHTTPClient,
    balance_transaction,
    error,
    event,
    list_object,
    payment_intent,
    refund,
    stripe_app,
    stripe_id,
)
from tracker import ConfigError
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.payments import webhooks
from tracker.payments.gateway import GatewayError, StripeGateway, get_gateway, sign_payload
from tracker.payments.models import PaymentEvent

SLUG = "six-survivors"
TITLE = "Six survivors"
#: what the case and the donor hold that must never reach Stripe
PRIVATE_NOTES = "Hiding at the Sato farm near Hakodate"
PRIVATE_CONTACT = "+81 90 1234 5678"
DONOR_NAME = "Keiko Tanaka"
DONOR_MESSAGE = "Stay strong, Person A."
GATEWAY_DOWN = "The payment service did not answer. Nothing was charged"


@pytest.fixture(autouse=True)
def mail_dir(tmp_path: Path) -> Path:
    """Overrides tests/payments/conftest.py's: these tests build their own app (``sapp``),
    whose receipts go to this folder by its config; and the tests here that need no
    database do not pull in the database fixtures."""
    return tmp_path / "mail"


@pytest.fixture
def fake() -> RecordingHTTPClient:
    return RecordingHTTPClient()


@pytest.fixture
def sapp(_session_app: Flask, database_url: str, fake: RecordingHTTPClient,
         mail_dir: Path) -> Iterator[Flask]:
    """An app for this backend (migrated by ``_session_app``) whose Stripe is ``fake``,
    inside an app context; every table is emptied afterwards."""
    app = stripe_app(database_url, fake, MAIL_FILE_DIR=str(mail_dir), MAIL_SERVER=None)
    try:
        with app.app_context():
            try:
                yield app
            finally:
                db.session.remove()
                empty_all_tables()
    finally:
        # only once the test's app context has ended: its teardown sends the mail the test
        # committed in it (a new pooled connection). Disposed inside, that connection would
        # stay open in a pool nobody closes, and PostgreSQL's connection would be collected
        # (a ResourceWarning) during some later test.
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def case(sapp: Flask):  # noqa: ANN201
    return make_case(SLUG, people=2, status="fundraising", public_title=TITLE,
                     private_notes=PRIVATE_NOTES, private_contact=PRIVATE_CONTACT)


# --- helpers ---------------------------------------------------------------------------------


def fresh() -> None:
    """End the test's transaction so the next read sees what the requests committed."""
    db.session.rollback()


def give(client: FlaskClient, **fields: str):
    """GET the case's donation form, then POST it (¥5,000, anonymous, unless ``fields``)."""
    page = client.get(f"/cases/{SLUG}/donate")
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "currency": "JPY", "preset": "JPY:5000",
            "amount": "", "name": "", "email": "", "message": "", "wall": "anonymous"}
    data.update(fields)
    return client.post(f"/cases/{SLUG}/donate", data=data)


def only_donation() -> Donation:
    fresh()
    [donation] = db.session.scalars(db.select(Donation)).all()
    return donation


def started(client: FlaskClient, fake: RecordingHTTPClient, **fields: str) -> tuple[Donation, str]:
    """Give through the form up to the hand-off: (the pending donation, its session id)."""
    before = len(fake.sessions)
    response = give(client, **fields)
    assert response.status_code == 303, response.text[:2000]
    assert len(fake.sessions) == before + 1
    session_id = list(fake.sessions)[-1]
    assert response.headers["Location"] == fake.sessions[session_id]["url"]
    fresh()
    donation = db.session.scalar(db.select(Donation).where(Donation.gateway_session_id == session_id))
    assert donation is not None and donation.status == "pending"
    return donation, session_id


def settles(fake: RecordingHTTPClient, donation: Donation, *, amount: int, fee: int,
            rate: float | None = None) -> dict[str, Any]:
    """Stripe's PaymentIntent for ``donation``, paid and settled in JPY (``amount`` gross)."""
    intent = payment_intent(
        amount=donation.amount_minor, currency=donation.currency.lower(),
        metadata={"donation_id": donation.public_id},
        txn=balance_transaction(amount=amount, fee=fee, currency="jpy", exchange_rate=rate),
    )
    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    return intent


def post_event(client: FlaskClient, evt: dict[str, Any], secret: str = TEST_WEBHOOK_SECRET):
    payload = json.dumps(evt).encode()
    return client.post("/webhooks/stripe", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": sign_payload(payload, secret)})


def gifts(donation: Donation) -> list[int]:
    fresh()
    return list(db.session.scalars(db.select(LedgerEntry.amount_minor).where(
        LedgerEntry.donation_id == donation.id, LedgerEntry.kind == "gift")))


def count(model: type) -> int:
    fresh()
    return int(db.session.scalar(db.select(func.count()).select_from(model)))


def expand_params() -> dict[str, str]:
    # stripe 16 encodes every list with indices: expand[0]=..., never expand[]=...
    return {"expand[0]": "latest_charge.balance_transaction"}


def run_cli(app: Flask, *args: str):  # noqa: ANN201
    """Invoke a CLI command in a fresh context, so it gets its own app context and session
    (as ``flask`` run from a shell would), not the test's."""
    return contextvars.Context().run(app.test_cli_runner().invoke, args=list(args))


# --- the hand-off to Checkout ----------------------------------------------------------------


def test_the_donation_form_creates_one_checkout_session_with_only_public_fields(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    client = sapp.test_client()
    response = give(client, name=DONOR_NAME, email="Donor@Example.org", message=DONOR_MESSAGE,
                    wall="anonymous", wants_updates="y")

    assert response.status_code == 303
    donation = only_donation()
    pid = donation.public_id
    [call] = fake.requests
    assert (call.method, call.url) == ("POST", "https://api.stripe.com/v1/checkout/sessions")
    assert call.params == {
        "mode": "payment",
        "submit_type": "donate",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "jpy",
        "line_items[0][price_data][unit_amount]": "5000",
        "line_items[0][price_data][product_data][name]": f"Gift: {TITLE}",
        "client_reference_id": pid,
        "metadata[donation_id]": pid,
        "payment_intent_data[metadata][donation_id]": pid,
        "success_url": f"http://localhost/donations/{pid}/thanks",
        "cancel_url": f"http://localhost/cases/{SLUG}/donate",
        # yen: cards, a convenience-store voucher and a bank transfer (both complete later)
        "payment_method_types[0]": "card",
        "payment_method_types[1]": "konbini",
        "payment_method_types[2]": "customer_balance",
        "payment_method_options[konbini][expires_after_days]": "3",
        "payment_method_options[customer_balance][funding_type]": "bank_transfer",
        "payment_method_options[customer_balance][bank_transfer][type]": "jp_bank_transfer",
        "customer_creation": "always",
        "customer_email": "donor@example.org",
        "locale": "en",
    }
    assert call.idempotency_key == f"checkout-{pid}"
    assert call.header("Authorization") == "Bearer sk_test_123"
    assert call.header("Content-Type") == "application/x-www-form-urlencoded"

    sent = unquote_plus(call.body + " " + call.url).lower()
    for private in (PRIVATE_NOTES, "Hakodate", PRIVATE_CONTACT, DONOR_NAME, "Tanaka",
                    DONOR_MESSAGE, "Person A", "Person B", "Northeast China"):
        assert private.lower() not in sent, private

    [session_id] = fake.sessions
    session = fake.sessions[session_id]
    assert response.headers["Location"] == session["url"]
    assert session["url"].startswith(f"https://checkout.stripe.com/c/pay/{session_id}")
    assert donation.gateway_session_id == session_id

    assert (donation.status, donation.gateway, donation.channel) == ("pending", "stripe", "card")
    assert (donation.amount_minor, donation.currency) == (5000, "JPY")


def test_a_covered_gift_reaches_stripe_as_the_case_gift_and_the_fee_cover(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    """Issue 18: "cover the card fee" is its own line item; the gift's line names the case by
    its public title; the session's total is gift + fee."""
    client = sapp.test_client()
    donation, _session_id = started(client, fake, preset="JPY:30000", cover_fee="y")
    [call] = fake.requests
    lines = {k: v for k, v in call.params.items() if k.startswith("line_items")}
    assert lines == {
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "jpy",
        "line_items[0][price_data][unit_amount]": "30000",
        "line_items[0][price_data][product_data][name]": f"Gift: {TITLE}",
        "line_items[1][quantity]": "1",
        "line_items[1][price_data][currency]": "jpy",
        "line_items[1][price_data][unit_amount]": "1080",
        "line_items[1][price_data][product_data][name]": "Payment fee covered",
    }
    assert (donation.amount_minor, donation.fee_cover_minor) == (31_080, 1_080)
    sent = unquote_plus(call.body).lower()
    for private in (PRIVATE_NOTES, "Hakodate", PRIVATE_CONTACT):
        assert private.lower() not in sent, private


def test_a_japanese_donor_gets_stripes_page_in_japanese(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    client = sapp.test_client()
    client.get(f"/cases/{SLUG}/donate?lang=ja")  # picks Japanese (remembered in a cookie)
    response = give(client)
    assert response.status_code == 303
    [call] = fake.requests
    assert call.params["locale"] == "ja"
    assert call.params["line_items[0][price_data][product_data][name]"].startswith("ご寄付")
    assert only_donation().locale == "ja"


@pytest.mark.parametrize(
    ("currency", "preset", "amount", "minor", "shown"),
    [
        pytest.param("JPY", "JPY:5000", "", 5000, "¥5,000", id="yen-preset"),
        pytest.param("JPY", "other", "5,000", 5000, "¥5,000", id="yen-typed"),
        pytest.param("USD", "other", "50.00", 5000, "$50.00", id="dollars-typed"),
        pytest.param("USD", "USD:2500", "", 2500, "$25.00", id="dollars-preset"),
    ],
)
def test_amounts_reach_stripe_in_minor_units(sapp: Flask, case, fake: RecordingHTTPClient,  # noqa: ANN001
                                             currency: str, preset: str, amount: str,
                                             minor: int, shown: str) -> None:
    client = sapp.test_client()
    donation, session_id = started(client, fake, currency=currency, preset=preset, amount=amount)

    [call] = fake.requests
    assert call.params["line_items[0][price_data][unit_amount]"] == str(minor)
    assert call.params["line_items[0][price_data][currency]"] == currency.lower()
    assert (donation.amount_minor, donation.currency) == (minor, currency)
    assert fake.sessions[session_id]["amount_total"] == minor

    # Not paid yet: the thank-you page asks Stripe, shows the amount and keeps waiting.
    page = client.get(f"/donations/{donation.public_id}/thanks")
    assert page.status_code == 200
    assert f"We are confirming your gift of <strong>{shown}</strong>" in page.text
    assert [(r.method, r.path) for r in fake.requests[1:]] == [
        ("GET", f"/v1/checkout/sessions/{session_id}")]
    assert only_donation().status == "pending"


@pytest.mark.parametrize(("currency", "amount", "smallest"), [
    pytest.param("JPY", "49", "¥50", id="yen-49"), pytest.param("USD", "0.49", "$0.50", id="dollars-0.49")])
def test_amounts_under_stripes_minimum_never_reach_stripe(sapp: Flask, case,  # noqa: ANN001
                                                          fake: RecordingHTTPClient, currency: str,
                                                          amount: str, smallest: str) -> None:
    response = give(sapp.test_client(), currency=currency, preset="other", amount=amount)

    assert response.status_code == 422
    assert f"The smallest gift we can take in {currency} is {smallest}." in response.text
    assert fake.requests == []
    assert count(Donation) == 0


def _refuse_connection(request) -> Any:  # noqa: ANN001
    raise stripe.APIConnectionError("Could not connect to Stripe (Connection refused)",
                                    should_retry=True)


@pytest.mark.parametrize(
    ("answer", "attempts"),
    [
        pytest.param(error(500, "api_error", "An unknown error occurred"), 3, id="500-retried"),
        pytest.param(error(402, "card_error", "Your card was declined.", code="card_declined"), 1,
                     id="402"),
        pytest.param(error(400, "invalid_request_error", "Invalid currency: jpy",
                           param="line_items[0][price_data][currency]"), 1, id="400"),
        pytest.param(_refuse_connection, 3, id="no-connection"),
    ],
)
def test_a_stripe_error_tells_the_donor_nothing_was_charged(sapp: Flask, case,  # noqa: ANN001
                                                            fake: RecordingHTTPClient,
                                                            answer: Any, attempts: int) -> None:
    fake.on("POST", "/v1/checkout/sessions", answer)

    response = give(sapp.test_client(), email="donor@example.org")

    assert response.status_code in (200, 422)
    assert GATEWAY_DOWN in response.text
    assert "Location" not in response.headers
    donation = only_donation()
    assert donation.status == "failed"
    assert donation.gateway_session_id is None
    # The library retries what may succeed later (5xx, no connection) with the same key, so
    # Stripe can never create two sessions for one donation.
    calls = fake.calls("POST", "/v1/checkout/sessions")
    assert len(calls) == attempts
    assert {c.idempotency_key for c in calls} == {f"checkout-{donation.public_id}"}
    assert len(fake.requests) == attempts
    assert gifts(donation) == []


# --- recording a payment ---------------------------------------------------------------------


def test_the_thanks_page_asks_stripe_about_the_donations_own_session(sapp: Flask, case,  # noqa: ANN001
                                                                     fake: RecordingHTTPClient) -> None:
    client = sapp.test_client()
    donation, session_id = started(client, fake, currency="USD", preset="other", amount="50.00")
    # $50.00 settled at 149.5 yen per dollar: ¥7,475 gross, ¥290 fee.
    intent = settles(fake, donation, amount=7475, fee=290, rate=149.5)
    fake.complete_session(session_id, intent["id"])
    # A forged session id in the URL, paid for far less: the app must not even ask about it.
    fake.sessions["cs_forged"] = {**fake.sessions[session_id], "id": "cs_forged", "amount_total": 50}
    fake.requests.clear()

    page = client.get(f"/donations/{donation.public_id}/thanks?session_id=cs_forged")

    assert page.status_code == 200
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", f"/v1/checkout/sessions/{session_id}"),
        ("GET", f"/v1/payment_intents/{intent['id']}"),
    ]
    assert fake.requests[0].params == {}
    assert fake.requests[1].params == expand_params()
    assert not any("cs_forged" in r.url for r in fake.requests)

    assert "is confirmed and recorded" in page.text
    assert "<strong>$50.00</strong>" in page.text
    recorded = only_donation()
    assert recorded.status == "succeeded"
    assert (recorded.amount_minor, recorded.currency) == (5000, "USD")
    assert (recorded.gross_minor, recorded.fee_minor, recorded.net_minor) == (7475, 290, 7185)
    assert recorded.settled_currency == "JPY"
    assert recorded.exchange_rate == Decimal("149.5")
    assert recorded.gateway_payment_intent_id == intent["id"]
    assert recorded.gateway_charge_id == intent["latest_charge"]["id"]
    assert recorded.livemode is False
    assert gifts(recorded) == [7475]

    # Recorded: a refresh asks Stripe nothing more and books nothing more.
    fake.requests.clear()
    again = client.get(f"/donations/{donation.public_id}/thanks")
    assert "is confirmed and recorded" in again.text
    assert fake.requests == []
    assert gifts(recorded) == [7475]


def test_the_thanks_page_waits_while_the_charge_has_no_balance_transaction(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    client = sapp.test_client()
    donation, session_id = started(client, fake)
    intent = payment_intent(amount=5000, currency="jpy", status="processing", txn=None)
    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    fake.complete_session(session_id, intent["id"])

    page = client.get(f"/donations/{donation.public_id}/thanks")

    assert page.status_code == 200
    assert "We are confirming your gift of <strong>¥5,000</strong>" in page.text
    assert only_donation().status == "pending"
    assert gifts(donation) == []


def test_a_signed_checkout_completed_webhook_records_the_gift_once(sapp: Flask, case,  # noqa: ANN001
                                                                  fake: RecordingHTTPClient) -> None:
    client = sapp.test_client()
    donation, session_id = started(client, fake, email="donor@example.org")
    intent = settles(fake, donation, amount=5000, fee=180)
    completed = event("checkout.session.completed", fake.complete_session(session_id, intent["id"]))
    fake.requests.clear()

    forged = post_event(client, completed, secret="whsec_not_ours")
    assert forged.status_code == 400
    assert fake.requests == []
    assert count(PaymentEvent) == 0

    first = post_event(client, completed)
    second = post_event(client, completed)

    assert first.status_code == second.status_code == 200
    assert first.get_json() == {"received": True, "duplicate": False, "note": "recorded"}
    assert second.get_json()["duplicate"] is True
    assert [(r.method, r.path, r.params) for r in fake.requests] == [
        ("GET", f"/v1/payment_intents/{intent['id']}", expand_params())]
    recorded = only_donation()
    assert recorded.status == "succeeded"
    assert (recorded.gross_minor, recorded.fee_minor, recorded.net_minor) == (5000, 180, 4820)
    assert recorded.exchange_rate == Decimal(1)
    assert gifts(recorded) == [5000]
    fresh()
    assert db.session.scalars(db.select(PaymentEvent.event_id)).all() == [completed["id"]]


def test_a_webhook_during_a_stripe_outage_is_a_503_and_the_retry_records_it_once(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    """The settlement lookup fails (Stripe answers 500): nothing is stored and the answer is a
    503, so Stripe delivers again; once Stripe answers, the gift is recorded once."""
    client = sapp.test_client()
    donation, session_id = started(client, fake)
    intent = settles(fake, donation, amount=5000, fee=180)
    completed = event("checkout.session.completed", fake.complete_session(session_id, intent["id"]))
    fake.on("GET", f"/v1/payment_intents/{intent['id']}",
            error(500, "api_error", "Something went wrong on Stripe's end."))

    during = post_event(client, completed)
    assert during.status_code == 503
    assert count(PaymentEvent) == 0
    assert only_donation().status == "pending"

    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    after = post_event(client, completed)
    assert after.status_code == 200 and after.get_json()["duplicate"] is False
    assert post_event(client, completed).get_json()["duplicate"] is True
    assert only_donation().status == "succeeded"
    assert gifts(only_donation()) == [5000]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({"livemode": True}, "pending", id="live-event-on-test-key"),
        pytest.param({"session": {"amount_total": 500}}, "flagged", id="amount-mismatch"),
        pytest.param({"session": {"currency": "usd"}}, "flagged", id="currency-mismatch"),
    ],
)
def test_a_webhook_that_does_not_match_the_donation_is_not_counted(
        sapp: Flask, case, fake: RecordingHTTPClient, change: dict[str, Any],  # noqa: ANN001
        status: str) -> None:
    client = sapp.test_client()
    donation, session_id = started(client, fake)
    intent = settles(fake, donation, amount=5000, fee=180)
    session = {**fake.complete_session(session_id, intent["id"]), **change.get("session", {})}
    completed = event("checkout.session.completed", session, livemode=change.get("livemode", False))
    fake.requests.clear()

    response = post_event(client, completed)

    assert response.status_code == 200
    assert fake.requests == []  # nothing was fetched for a payment we will not count
    assert only_donation().status == status
    assert gifts(donation) == []


def test_reconcile_records_a_missed_checkout_exactly_once(sapp: Flask, case,  # noqa: ANN001
                                                          fake: RecordingHTTPClient) -> None:
    client = sapp.test_client()
    first_gift, first_sid = started(client, fake)
    second_gift, second_sid = started(client, fake, preset="JPY:3000")
    first_intent = settles(fake, first_gift, amount=5000, fee=180)
    second_intent = settles(fake, second_gift, amount=3000, fee=108)
    first_session = fake.complete_session(first_sid, first_intent["id"])
    second_session = fake.complete_session(second_sid, second_intent["id"])

    def sessions_page(request) -> tuple[int, dict[str, Any]]:  # noqa: ANN001
        """Two pages, newest first, as Stripe lists them."""
        if request.params.get("starting_after") == second_sid:
            return 200, list_object("/v1/checkout/sessions", [first_session])
        return 200, list_object("/v1/checkout/sessions", [second_session], has_more=True)

    fake.on("GET", "/v1/checkout/sessions", sessions_page)
    # The webhook for the second gift was lost, but Stripe still lists the event.
    fake.on("GET", "/v1/events", list_object("/v1/events", [
        event("checkout.session.completed", second_session)]))
    fake.requests.clear()

    first_run = run_cli(sapp, "stripe", "reconcile", "--since", "72h")
    since = int(time.time()) - 72 * 3600

    assert first_run.exit_code == 0, first_run.output
    assert "Checkouts since" in first_run.output
    assert ": 2 (2 recorded). Events: 1 listed, 1 new." in first_run.output
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths == [
        ("GET", "/v1/checkout/sessions"),
        ("GET", "/v1/checkout/sessions"),
        ("GET", f"/v1/payment_intents/{second_intent['id']}"),
        ("GET", f"/v1/payment_intents/{first_intent['id']}"),
        ("GET", "/v1/events"),
    ]
    page_one, page_two, *_, events_call = fake.requests
    assert abs(int(page_one.params["created[gte]"]) - since) <= 60
    assert page_one.params == {"created[gte]": page_one.params["created[gte]"], "status": "complete",
                               "limit": "100"}
    assert page_two.params == {**page_one.params, "starting_after": second_sid}
    assert events_call.params == {
        "created[gte]": page_one.params["created[gte]"], "limit": "100",
        **{f"types[{i}]": kind for i, kind in enumerate(webhooks.HANDLED_TYPES)},
    }
    assert "types[0]" in events_call.params and "type" not in events_call.params
    assert gifts(first_gift) == [5000]
    assert gifts(second_gift) == [3000]

    fake.requests.clear()
    second_run = run_cli(sapp, "stripe", "reconcile", "--since", "72h")

    assert second_run.exit_code == 0, second_run.output
    assert ": 2 (2 already recorded). Events: 1 listed, 0 new." in second_run.output
    assert not [r for r in fake.requests if r.path.startswith("/v1/payment_intents/")]
    assert gifts(first_gift) == [5000]
    assert gifts(second_gift) == [3000]
    assert count(PaymentEvent) == 1
    fresh()
    assert {d.status for d in db.session.scalars(db.select(Donation))} == {"succeeded"}


def test_reconcile_reports_a_stripe_outage_without_recording_anything(
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001
    fake.on("GET", "/v1/checkout/sessions", error(401, "invalid_request_error",
                                                  "Invalid API Key provided: sk_test_***123"))

    result = run_cli(sapp, "stripe", "reconcile", "--since", "3d")

    assert result.exit_code == 1
    assert "Stripe refused the request (AuthenticationError)" in result.output
    assert "sk_test" not in result.output
    assert count(PaymentEvent) == 0


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk_live_123", "rk_live_123"])
def test_a_live_key_is_refused_at_start(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match="live"):
        stripe_app(f"sqlite:///{tmp_path}/live.sqlite3", RecordingHTTPClient(), STRIPE_SECRET_KEY=key)
    with pytest.raises(GatewayError, match="live"):
        StripeGateway(key, http_client=RecordingHTTPClient())


def test_a_live_key_starts_when_explicitly_allowed(tmp_path: Path) -> None:
    fake = RecordingHTTPClient()
    app = stripe_app(f"sqlite:///{tmp_path}/live.sqlite3", fake, STRIPE_SECRET_KEY="sk_live_123",
                     STRIPE_ALLOW_LIVE=True)
    with app.app_context():
        try:
            gateway = get_gateway(app)
            assert isinstance(gateway, StripeGateway)
            assert gateway.livemode is True
        finally:
            db.engine.dispose()
    assert fake.requests == []


# --- the gateway on its own (no database) ----------------------------------------------------


def test_refunds_carry_an_idempotency_key_per_refund() -> None:
    fake = RecordingHTTPClient()
    fake.on("POST", "/v1/refunds", lambda request: (200, refund(
        payment_intent_id=request.params["payment_intent"], amount=int(request.params["amount"]))))
    gateway = StripeGateway("sk_test_123", http_client=fake)

    first = gateway.refund("pi_3abc", 2000, key="r1")
    retried = gateway.refund("pi_3abc", 2000, key="r1")
    other = gateway.refund("pi_3abc", 1000, key="r2")

    assert first == retried != other
    assert first.startswith("re_")
    calls = fake.calls("POST", "/v1/refunds")
    assert [c.params for c in calls] == [
        {"payment_intent": "pi_3abc", "amount": "2000"},
        {"payment_intent": "pi_3abc", "amount": "2000"},
        {"payment_intent": "pi_3abc", "amount": "1000"},
    ]
    assert [c.idempotency_key for c in calls] == ["refund-r1", "refund-r1", "refund-r2"]


def test_list_events_pages_through_and_returns_plain_dicts_oldest_first() -> None:
    fake = RecordingHTTPClient()
    now = int(time.time())
    newest = event("charge.refunded", {"id": stripe_id("ch_3"), "object": "charge"}, created=now)
    middle = event("checkout.session.completed", {"id": "cs_test_b", "object": "checkout.session"},
                   created=now - 60)
    oldest = event("checkout.session.completed", {"id": "cs_test_a", "object": "checkout.session"},
                   created=now - 120)

    def events_page(request) -> tuple[int, dict[str, Any]]:  # noqa: ANN001
        if request.params.get("starting_after") == middle["id"]:
            return 200, list_object("/v1/events", [oldest])
        return 200, list_object("/v1/events", [newest, middle], has_more=True)

    fake.on("GET", "/v1/events", events_page)
    gateway = StripeGateway("sk_test_123", http_client=fake)
    since = datetime.now(UTC) - timedelta(hours=1)
    listed = gateway.list_events(since, ["checkout.session.completed", "charge.refunded"])

    assert [e["id"] for e in listed] == [oldest["id"], middle["id"], newest["id"]]
    assert all(type(e) is dict and type(e["data"]["object"]) is dict for e in listed)
    assert listed[0] == oldest
    first_page, second_page = fake.requests
    assert first_page.params == {"created[gte]": str(int(since.timestamp())), "limit": "100",
                                 "types[0]": "checkout.session.completed",
                                 "types[1]": "charge.refunded"}
    assert second_page.params == {**first_page.params, "starting_after": middle["id"]}


def test_settlement_needs_a_balance_transaction() -> None:
    fake = RecordingHTTPClient()
    intent = payment_intent(amount=5000, currency="jpy", status="processing", txn=None)
    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    gateway = StripeGateway("sk_test_123", http_client=fake)

    with pytest.raises(GatewayError, match="no balance transaction"):
        gateway.settlement(intent["id"], None)  # type: ignore[arg-type]
    assert fake.requests[0].params == expand_params()
