"""Offline Stripe for tests: an HTTP client for the stripe library that records every request
and answers from a table of Stripe-shaped JSON responses.

``StripeGateway`` takes any ``stripe.HTTPClient`` (the app passes ``STRIPE_HTTP_CLIENT``), so
the real stripe library builds, encodes, retries and parses every call; only the socket is
replaced. The response shapes follow Stripe's API reference (Checkout Session, PaymentIntent
with ``latest_charge.balance_transaction`` expanded, list objects, events, error bodies).

Routes are looked up in this order: ones a test set with ``on`` (exact path), then the
built-in Checkout Session create/retrieve, then a Stripe-style 404. Objects are written fully
expanded and answered as Stripe would for the request's ``expand[]`` (a related object not
asked for comes back as its id). A POST that succeeded with an Idempotency-Key is answered
again from memory when the key comes back with the same parameters, and refused with an
``idempotency_error`` when it comes back with other ones, as Stripe documents.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

from tests.conftest import make_app

TEST_SECRET_KEY = "sk_test_123"
TEST_WEBHOOK_SECRET = "whsec_test_123"

_ALNUM = string.ascii_letters + string.digits


def stripe_id(prefix: str, length: int = 24) -> str:
    """An id shaped like Stripe's: ``cs_test_a1B2...``, ``pi_3Q...``."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


# --- recorded requests -----------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the stripe library sent, as the server would have seen it."""

    method: str  # upper-case
    url: str
    path: str
    #: form body (POST) or query string (GET/DELETE), with stripe's bracket keys kept as-is:
    #: ``{"line_items[0][price_data][currency]": ["jpy"], ...}``
    form: dict[str, list[str]]
    headers: dict[str, str]
    body: str = ""
    status: int | None = None  # what the fake (or the real server behind it) answered

    @property
    def params(self) -> dict[str, str]:
        """The parameters as a flat dict; stripe sends each bracket key once."""
        repeated = [k for k, v in self.form.items() if len(v) != 1]
        assert not repeated, f"parameters sent more than once: {repeated}"
        return {k: v[0] for k, v in self.form.items()}

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def idempotency_key(self) -> str | None:
        return self.header("Idempotency-Key")


Response = tuple[int, Mapping[str, Any]]
#: what a route answers: a body (status 200), (status, body), or a function of the request
Answer = Mapping[str, Any] | Response | Callable[[RecordedRequest], Response]


class RecordingHTTPClient(stripe.HTTPClient):
    """A stripe HTTP client that records requests and answers from a table.

    With ``delegate`` (another ``stripe.HTTPClient``, e.g. ``stripe.RequestsClient()``) the
    request goes to a real server (localstripe) instead and is still recorded.
    """

    name = "recording"

    def __init__(self, *, delegate: stripe.HTTPClient | None = None) -> None:
        super().__init__()
        self.delegate = delegate
        self.requests: list[RecordedRequest] = []
        self.routes: dict[tuple[str, str], Answer] = {}
        #: Checkout Sessions created through the fake, by id (the built-in routes use them)
        self.sessions: dict[str, dict[str, Any]] = {}
        #: Idempotency-Key -> (params, path, status, body) of the first successful POST
        self._replays: dict[str, tuple[dict[str, list[str]], str, int, str]] = {}

    # -- the table --

    def on(self, method: str, path: str, answer: Answer) -> None:
        """Answer ``method path`` (exact path, no query) with ``answer`` from now on."""
        self.routes[(method.upper(), path)] = answer

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally only those with this method and/or exact path."""
        return [r for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or r.path == path)]

    # -- stripe.HTTPClient --

    def request(self, method: str, url: str, headers: Mapping[str, str] | None,
                post_data: Any = None) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        query = body if method.lower() == "post" else parts.query
        recorded = RecordedRequest(
            method=method.upper(), url=url, path=parts.path,
            form=parse_qs(query, keep_blank_values=True), headers=dict(headers or {}), body=body,
        )
        self.requests.append(recorded)
        if self.delegate is not None:
            content, status, rheaders = self.delegate.request(method, url, headers, post_data)
            recorded.status = status
            return content, status, rheaders
        status, payload = self._answer(recorded)
        recorded.status = status
        response_headers = CaseInsensitiveDict({
            "Content-Type": "application/json",
            "Request-Id": stripe_id("req_", 14),
        })
        if recorded.idempotency_key:
            response_headers["Idempotency-Key"] = recorded.idempotency_key
        return json.dumps(payload), status, response_headers

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None,
                       post_data: Any = None) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("the Stripe calls under test do not stream")

    def close(self) -> None:
        if self.delegate is not None:
            self.delegate.close()

    def _sleep_time_seconds(self, num_retries: int) -> float:
        """The library's retries happen at once in tests (Stripe would back off 0.5 s+)."""
        return 0.0

    # -- answering --

    def _answer(self, request: RecordedRequest) -> Response:
        key = request.idempotency_key if request.method == "POST" else None
        if key and key in self._replays:
            form, path, status, saved = self._replays[key]
            if (form, path) != (request.form, request.path):
                return error(400, "idempotency_error",
                             "Keys for idempotent requests can only be used with the same "
                             "parameters they were first used with.")
            return status, json.loads(saved)
        status, payload = self._route(request)
        if key and 200 <= status < 300:
            self._replays[key] = (request.form, request.path, status, json.dumps(payload))
        return status, payload

    def _route(self, request: RecordedRequest) -> Response:
        answer = self.routes.get((request.method, request.path))
        if answer is None:
            answer = self._builtin(request)
        if callable(answer):
            status, payload = answer(request)
        elif isinstance(answer, tuple):
            status, payload = answer
        else:
            status, payload = 200, answer
        if 200 <= status < 300 and payload.get("object") not in (None, "list", "event"):
            expand = [v for k, v in request.params.items() if k.startswith("expand[")]
            payload = collapse_unexpanded(payload, expand)
        return status, payload

    def _builtin(self, request: RecordedRequest) -> Answer:
        if (request.method, request.path) == ("POST", "/v1/checkout/sessions"):
            return self._create_session
        prefix = "/v1/checkout/sessions/"
        if request.method == "GET" and request.path.startswith(prefix):
            session = self.sessions.get(request.path[len(prefix):])
            if session is None:
                return error(404, "invalid_request_error",
                             f"No such checkout.session: '{request.path[len(prefix):]}'",
                             code="resource_missing", param="session")
            return session
        return error(404, "invalid_request_error",
                     f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                     "https://stripe.com/docs or we can help at https://support.stripe.com/.")

    def _create_session(self, request: RecordedRequest) -> Response:
        p = request.params
        metadata = {k[len("metadata["):-1]: v for k, v in p.items() if k.startswith("metadata[")}
        session = checkout_session(
            amount_total=int(p["line_items[0][price_data][unit_amount]"])
            * int(p.get("line_items[0][quantity]", "1")),
            currency=p["line_items[0][price_data][currency]"],
            client_reference_id=p.get("client_reference_id"),
            metadata=metadata,
            success_url=p.get("success_url"),
            cancel_url=p.get("cancel_url"),
            customer_email=p.get("customer_email"),
            mode=p.get("mode", "payment"),
            submit_type=p.get("submit_type"),
        )
        self.sessions[session["id"]] = session
        return 200, session

    def complete_session(self, session_id: str, payment_intent: str | None = None) -> dict[str, Any]:
        """What Stripe reports once the donor has paid: complete, paid, with its PaymentIntent."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid",
                       payment_intent=payment_intent or stripe_id("pi_3"))
        return session


# --- Stripe-shaped objects -------------------------------------------------------------------


def collapse_unexpanded(obj: Mapping[str, Any], expand: list[str], prefix: str = "") -> dict[str, Any]:
    """``obj`` as Stripe returns it for ``expand``: a related object (a nested dict with an
    ``id`` and an ``object``) stays whole only when its path was asked for, else it is its id.

    The builders below write objects fully expanded; ``latest_charge.balance_transaction``
    in ``expand`` keeps both the charge and its balance transaction.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and "id" in value and "object" in value:
            if not any(e == path or e.startswith(path + ".") for e in expand):
                out[key] = value["id"]
                continue
            out[key] = collapse_unexpanded(value, expand, path + ".")
        else:
            out[key] = value
    return out


def checkout_session(*, amount_total: int, currency: str, metadata: Mapping[str, str] | None = None,
                     client_reference_id: str | None = None, status: str = "open",
                     payment_status: str = "unpaid", payment_intent: str | None = None,
                     session_id: str | None = None, created: int | None = None,
                     livemode: bool = False, success_url: str | None = None,
                     cancel_url: str | None = None, customer_email: str | None = None,
                     mode: str = "payment", submit_type: str | None = "donate") -> dict[str, Any]:
    """A Checkout Session object (API reference: "The Checkout Session object")."""
    sid = session_id or stripe_id("cs_test_a1", 56)
    created = int(time.time()) if created is None else created
    return {
        "id": sid,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "custom_text": {"shipping_address": None, "submit": None},
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": ({"email": customer_email, "name": None, "phone": None,
                              "address": None, "tax_exempt": "none", "tax_ids": []}
                             if status == "complete" and customer_email else None),
        "customer_email": customer_email,
        "expires_at": created + 24 * 3600,
        "invoice": None,
        "invoice_creation": None,
        "livemode": livemode,
        "locale": None,
        "metadata": dict(metadata or {}),
        "mode": mode,
        "payment_intent": payment_intent,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": status,
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"https://checkout.stripe.com/c/pay/{sid}#fidkdWxOYHwnPyd1blpxYHZxWjA0TmE"
               if status == "open" else None,
    }


def balance_transaction(*, amount: int, fee: int = 0, currency: str = "jpy",
                        exchange_rate: float | None = None, source: str | None = None) -> dict[str, Any]:
    """A balance transaction: what reached the account, in the settlement currency."""
    now = int(time.time())
    return {
        "id": stripe_id("txn_3"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now + 4 * 24 * 3600,
        "created": now,
        "currency": currency,
        "description": None,
        "exchange_rate": exchange_rate,
        "fee": fee,
        "fee_details": ([{"amount": fee, "application": None, "currency": currency,
                          "description": "Stripe processing fees", "type": "stripe_fee"}]
                        if fee else []),
        "net": amount - fee,
        "reporting_category": "charge",
        "source": source,
        "status": "pending",
        "type": "charge",
    }


def payment_intent(*, amount: int, currency: str, metadata: Mapping[str, str] | None = None,
                   intent_id: str | None = None, txn: dict[str, Any] | None = None,
                   status: str = "succeeded", livemode: bool = False) -> dict[str, Any]:
    """A PaymentIntent, written as retrieved with ``expand[]=latest_charge.balance_transaction``
    (the fake collapses what a request did not expand). With ``txn=None`` there is no charge yet.
    """
    pid = intent_id or stripe_id("pi_3")
    now = int(time.time())
    charge = None
    if txn is not None:
        charge_id = stripe_id("ch_3")
        txn = {**txn, "source": charge_id}
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": txn,
            "captured": True,
            "created": now,
            "currency": currency,
            "disputed": False,
            "livemode": livemode,
            "metadata": dict(metadata or {}),
            "paid": True,
            "payment_intent": pid,
            "refunded": False,
            "status": "succeeded",
        }
    return {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": "automatic_async",
        "client_secret": f"{pid}_secret_{stripe_id('', 25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": charge,
        "livemode": livemode,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "payment_method": stripe_id("pm_1"),
        "payment_method_types": ["card"],
        "status": status,
    }


def list_object(url: str, data: list[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    """A list response: ``{"object": "list", "data": [...], "has_more": ..., "url": ...}``."""
    return {"object": "list", "data": list(data), "has_more": has_more, "url": url}


def event(event_type: str, obj: Mapping[str, Any], *, created: int | None = None,
          livemode: bool = False, event_id: str | None = None) -> dict[str, Any]:
    """An Event object around ``obj`` (as delivered to a webhook endpoint or listed)."""
    return {
        "id": event_id or stripe_id("evt_1"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()) if created is None else created,
        "data": {"object": dict(obj)},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def refund(*, payment_intent_id: str, amount: int, currency: str = "jpy") -> dict[str, Any]:
    """A Refund object."""
    return {
        "id": stripe_id("re_3"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": stripe_id("txn_3"),
        "charge": stripe_id("ch_3"),
        "created": int(time.time()),
        "currency": currency,
        "metadata": {},
        "payment_intent": payment_intent_id,
        "reason": None,
        "status": "succeeded",
    }


def error(status: int, error_type: str, message: str, *, code: str | None = None,
          param: str | None = None) -> Response:
    """An error response: ``(status, {"error": {...}})`` as Stripe sends it."""
    body: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        body["code"] = code
        body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        body["param"] = param
    body["request_log_url"] = "https://dashboard.stripe.com/test/logs/" + stripe_id("req_", 14)
    return status, {"error": body}


# --- the app ---------------------------------------------------------------------------------


def stripe_app(database_url: str, client: stripe.HTTPClient, **overrides: Any):  # noqa: ANN201
    """An app on ``database_url`` whose Stripe gateway talks to ``client``."""
    config: dict[str, Any] = {
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "STRIPE_HTTP_CLIENT": client,
    }
    config.update(overrides)
    return make_app(database_url, **config)
