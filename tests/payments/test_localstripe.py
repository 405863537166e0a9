"""StripeGateway against localstripe, a real stateful fake Stripe server (PyPI), fully offline.

One localstripe server runs for the test session, on a free loopback port. Its ``localstripe``
command has no ``--host`` option (it binds every interface, ``::``) and pickles its state to
/tmp/localstripe.pickle on every change, so the fixture starts the same aiohttp server app from
``localstripe.server`` on 127.0.0.1 with that pickling switched off.

What localstripe 1.15 covers, and these tests use: PaymentIntents created and confirmed with a
test card, charges with balance transactions (``expand`` works), refunds by payment intent,
the event log (one ``type`` and ``created`` filters, pagination) and signed ``payment_intent.*``
webhooks. What it lacks: Checkout Sessions, ``charge.refunded`` events, idempotent requests
(it books a retried refund twice) and the ``types[]`` event filter (it answers 400), so
``StripeGateway.list_events`` cannot run against it; those are covered by the recording fake in
``test_stripe_gateway.py``.

No database is needed.
"""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.payments.stripe_fakes import RecordingHTTPClient
from tracker.payments.gateway import (
    GatewayError,
    SessionFacts,
    SignatureError,
    StripeGateway,
    verify_event,
)

API_KEY = "sk_test_12345"
STARTUP_SECONDS = 20

#: localstripe's server app, on loopback only, its state kept in memory
LAUNCH = textwrap.dedent("""
    import sys
    from aiohttp import web
    from localstripe.resources import store
    from localstripe.server import app
    store.dump_to_disk = lambda: None
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
""")


@pytest.fixture(autouse=True)
def mail_dir() -> None:
    """Overrides tests/payments/conftest.py's, which needs the database app: these don't."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(base: str) -> bool:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    request = urllib.request.Request(f"{base}/v1/events?limit=1", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 (loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a localstripe server for this session."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("localstripe") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", LAUNCH, str(port)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("localstripe did not start:\n"
                                + log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def wire() -> Iterator[RecordingHTTPClient]:
    """Records what the gateway sends; the requests go on to localstripe."""
    client = RecordingHTTPClient(delegate=stripe.RequestsClient())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def gateway(localstripe: str, wire: RecordingHTTPClient) -> StripeGateway:
    return StripeGateway(API_KEY, api_base=localstripe, http_client=wire)


def paid_intent(gateway: StripeGateway, amount: int = 5000, currency: str = "jpy") -> Any:
    """A PaymentIntent created and confirmed with Stripe's test card: it succeeds at once."""
    intent = gateway.client.v1.payment_intents.create(params={
        "amount": amount, "currency": currency, "payment_method": "pm_card_visa",
        "confirm": True, "metadata": {"donation_id": "don_localstripe_test"},
    })
    assert intent.status == "succeeded"
    return intent


def facts_for(intent: Any) -> SessionFacts:
    return SessionFacts(
        session_id="cs_test_not_on_localstripe", status="complete", payment_status="paid",
        donation_id="don_localstripe_test", amount_minor=intent.amount,
        currency=intent.currency.upper(), livemode=False, payment_intent_id=intent.id,
        created=datetime.now(UTC),
    )


# --- payment and settlement ------------------------------------------------------------------


def test_a_confirmed_payment_settles_from_its_balance_transaction(gateway: StripeGateway,
                                                                  wire: RecordingHTTPClient) -> None:
    intent = paid_intent(gateway)
    assert intent.id.startswith("pi_")
    assert intent.to_dict()["metadata"] == {"donation_id": "don_localstripe_test"}

    settled = gateway.settlement(intent.id, facts_for(intent))

    assert settled.gross_minor == 5000
    assert settled.fee_minor == 0  # localstripe charges no fees
    assert settled.currency == "JPY"
    assert settled.rate == Decimal(1)
    assert settled.charge_id is not None and settled.charge_id.startswith("ch_")
    retrieve = wire.requests[-1]
    assert (retrieve.method, retrieve.path) == ("GET", f"/v1/payment_intents/{intent.id}")
    assert retrieve.params == {"expand[0]": "latest_charge.balance_transaction"}
    assert retrieve.status == 200


def test_settlement_of_an_unknown_payment_is_a_gateway_error(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError, match="InvalidRequestError"):
        gateway.settlement("pi_doesnotexist0", facts_for(paid_intent(gateway)))


# --- refunds ---------------------------------------------------------------------------------


def test_refunds(gateway: StripeGateway, wire: RecordingHTTPClient) -> None:
    intent = paid_intent(gateway)

    first = gateway.refund(intent.id, 2000, key="r1")

    assert first.startswith("re_")
    listed = gateway.client.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert [(r.id, r.amount, r.currency, r.status) for r in listed] == [(first, 2000, "jpy", "succeeded")]
    rest = gateway.refund(intent.id, 3000, key="r2")
    charge = gateway.client.v1.charges.retrieve(intent.latest_charge.id)
    assert charge.amount_refunded == 5000
    assert charge.refunded is True
    assert rest not in (first, None)

    # A retry of the first refund sends the very same request with the same key. Real Stripe
    # answers it with the first refund (see test_stripe_gateway.py); localstripe does not
    # implement idempotent requests and books a second refund, which this records.
    retried = gateway.refund(intent.id, 2000, key="r1")
    posts = wire.calls("POST", "/v1/refunds")
    assert [(p.params, p.idempotency_key) for p in posts] == [
        ({"payment_intent": intent.id, "amount": "2000"}, "refund-r1"),
        ({"payment_intent": intent.id, "amount": "3000"}, "refund-r2"),
        ({"payment_intent": intent.id, "amount": "2000"}, "refund-r1"),
    ]
    listed = gateway.client.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert retried != first
    assert {r.id for r in listed} == {first, rest, retried}


def test_a_refund_of_an_unknown_payment_is_a_gateway_error(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError, match=r"Stripe refused the request \(InvalidRequestError\)"):
        gateway.refund("pi_doesnotexist0", 100, key="nope")


# --- the event log ---------------------------------------------------------------------------


def test_events_are_listed_through_the_stripe_library(gateway: StripeGateway,
                                                      wire: RecordingHTTPClient) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    intents = [paid_intent(gateway, 5000), paid_intent(gateway, 3000)]
    ours = {i.id for i in intents}

    # localstripe filters events by one `type`, and pages with limit/starting_after.
    page = gateway.client.v1.events.list(params={
        "type": "payment_intent.succeeded", "created": {"gte": int(since.timestamp())}, "limit": 1,
    })
    events = [e.to_dict() for e in page.auto_paging_iter()]
    found = [e for e in events if e["data"]["object"]["id"] in ours]
    assert len(found) == 2
    for listed in found:
        assert listed["id"].startswith("evt_")
        assert listed["type"] == "payment_intent.succeeded"
        assert listed["livemode"] is False
        assert listed["data"]["object"]["object"] == "payment_intent"
        assert type(listed["data"]["object"]) is dict  # plain dicts, as webhooks.ingest takes
    assert len(wire.calls("GET", "/v1/events")) >= 2  # more than one page

    # The gateway asks with types[] (several types in one listing); localstripe refuses that.
    with pytest.raises(GatewayError, match="InvalidRequestError") as refused:
        gateway.list_events(since, ["payment_intent.succeeded"])
    assert "types" in str(refused.value.__cause__)
    asked = wire.calls("GET", "/v1/events")[-1]
    assert asked.params == {"created[gte]": str(int(since.timestamp())), "limit": "100",
                            "types[0]": "payment_intent.succeeded"}
    assert asked.status == 400


# --- webhooks --------------------------------------------------------------------------------


class _Inbox(BaseHTTPRequestHandler):
    received: queue.Queue[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.put((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def inbox() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    """A loopback HTTP endpoint collecting the webhooks POSTed to it: (url, queue)."""
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _register_webhook(base: str, url: str, secret: str) -> None:
    body = json.dumps({"url": url, "secret": secret, "events": ["payment_intent.succeeded"]}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(  # noqa: S310 (loopback URL)
        f"{base}/_config/webhooks/tracker-tests", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback URL)
        assert response.status == 200


def test_localstripes_signed_webhooks_verify_with_our_verification(localstripe: str,
                                                                   gateway: StripeGateway,
                                                                   inbox) -> None:  # noqa: ANN001
    url, received = inbox
    secret = "whsec_localstripe_tests"
    _register_webhook(localstripe, url, secret)
    intent = paid_intent(gateway)

    deadline = time.monotonic() + 10
    while True:  # localstripe waits a second before it sends
        headers, payload = received.get(timeout=max(0.1, deadline - time.monotonic()))
        if json.loads(payload)["data"]["object"]["id"] == intent.id:
            break

    verified = verify_event(payload, headers.get("Stripe-Signature"), secret)
    assert verified["type"] == "payment_intent.succeeded"
    assert verified["data"]["object"]["id"] == intent.id
    assert verified["data"]["object"]["metadata"] == {"donation_id": "don_localstripe_test"}
    with pytest.raises(SignatureError):
        verify_event(payload, headers.get("Stripe-Signature"), "whsec_someone_else")
    with pytest.raises(SignatureError):
        verify_event(payload.replace(b"5000", b"50"), headers.get("Stripe-Signature"), secret)
