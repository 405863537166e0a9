"""The payment gateway interface, Stripe's gateway, and the only module that imports ``stripe``.

``Gateway`` is the interface, shaped like Stripe's API: ``StripeGateway`` (hosted Checkout,
test keys by default) implements it here. Other gateways (the offline sandbox,
``tracker.sandbox``) implement it elsewhere and are found through ``register_gateway``: this
package never imports them. Like Stripe, a gateway reports what happened through signed
events to the webhook (``tracker.payments.webhooks``); no caller delivers anything.
Everything sent to a gateway is built from the donation's opaque public id, the amount and
the case's public title: never a name or a place of a person in a case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import stripe
from flask import Flask, current_app

from tracker.core.money import Money, Settlement

#: how old a signed event may be (seconds): Stripe's own default tolerance
SIGNATURE_TOLERANCE = 300


class GatewayError(RuntimeError):
    """The gateway could not be reached or refused a request; nothing was charged."""


class SignatureError(ValueError):
    """A webhook's signature is missing, malformed, stale or wrong."""


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """What we ask a gateway to collect."""

    donation_id: str  # the donation's opaque public id
    amount: Money  # everything charged: the gift and any fee cover
    description: str  # a public title
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    #: the donor's language ("en"/"ja"): Stripe's page speaks it; None lets Stripe choose
    locale: str | None = None
    #: the part of ``amount`` the donor added to cover the payment fee, shown as its own line
    #: named ``fee_cover_label``
    fee_cover: Money | None = None
    fee_cover_label: str = "Payment fee"

    def lines(self) -> list[tuple[str, Money]]:
        """What the checkout lists: the gift (named by ``description``), then the fee cover."""
        if self.fee_cover is None or not self.fee_cover.amount_minor:
            return [(self.description, self.amount)]
        return [(self.description, self.amount - self.fee_cover),
                (self.fee_cover_label, self.fee_cover)]


@dataclass(frozen=True, slots=True)
class SubscriptionCheckoutRequest:
    """What we ask a gateway to collect every month (a monthly gift)."""

    recurring_gift_id: str  # the monthly gift's opaque public id
    amount: Money  # each month's amount
    description: str  # a public title
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutStart:
    """Where to send the donor, and the session to remember."""

    session_id: str
    url: str


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """A checkout session as the gateway reports it."""

    session_id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    donation_id: str | None
    amount_minor: int
    currency: str  # upper-case ISO code
    livemode: bool
    payment_intent_id: str | None
    created: datetime


def session_facts(obj: dict[str, Any]) -> SessionFacts:
    """SessionFacts from a Checkout Session object (dict or StripeObject as dict)."""
    metadata = obj.get("metadata") or {}
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return SessionFacts(
        session_id=obj["id"],
        status=obj.get("status") or "open",
        payment_status=obj.get("payment_status") or "unpaid",
        donation_id=metadata.get("donation_id") or obj.get("client_reference_id"),
        amount_minor=int(obj.get("amount_total") or 0),
        currency=str(obj.get("currency") or "").upper(),
        livemode=bool(obj.get("livemode")),
        payment_intent_id=intent,
        created=datetime.fromtimestamp(int(obj.get("created") or 0), UTC),
    )


#: ways to pay yen that complete after the checkout: a convenience-store voucher (konbini) and a
#: bank transfer to a virtual account (Stripe's customer balance, ``jp_bank_transfer``)
KONBINI, BANK_TRANSFER = "konbini", "bank_transfer"
ASYNC_METHODS = (KONBINI, BANK_TRANSFER)
#: Stripe's limits for a konbini payment, in yen
KONBINI_MIN_JPY, KONBINI_MAX_JPY = 120, 300_000
#: how long a konbini voucher can be paid (Stripe's default is 3 days)
KONBINI_DAYS = 3


def later_methods(amount: Money) -> tuple[str, ...]:
    """The ways to pay that complete later offered beside cards for a one-off gift of
    ``amount``: only yen, only those configured (TRACKER_JAPANESE_PAYMENT_METHODS), konbini
    only within Stripe's limits for it."""
    if amount.currency != "JPY":
        return ()
    configured = current_app.config.get("TRACKER_JAPANESE_PAYMENT_METHODS", ASYNC_METHODS)
    offered = []
    for method in ASYNC_METHODS:
        if method not in configured:
            continue
        if method == KONBINI and not KONBINI_MIN_JPY <= amount.amount_minor <= KONBINI_MAX_JPY:
            continue
        offered.append(method)
    return tuple(offered)


@dataclass(frozen=True, slots=True)
class PaymentInstructions:
    """How a donor finishes a payment that completes later, as the gateway gives it: the
    voucher or transfer details to show on the thank-you page. ``details`` are (key, value)
    pairs whose keys the page names in words (store, confirmation number, bank, account...)."""

    method: str
    expires_at: datetime | None
    hosted_url: str | None
    details: tuple[tuple[str, str], ...]


def instructions_from_intent(intent: dict[str, Any]) -> PaymentInstructions | None:
    """PaymentInstructions from a PaymentIntent's ``next_action`` (None when it has none)."""
    action = intent.get("next_action") or {}
    if action.get("type") == "konbini_display_details":
        shown = action.get("konbini_display_details") or {}
        details = []
        for store, numbers in sorted((shown.get("stores") or {}).items()):
            if isinstance(numbers, dict) and numbers.get("confirmation_number"):
                details.append((f"store:{store}", str(numbers["confirmation_number"])))
        expires = shown.get("expires_at")
        return PaymentInstructions(KONBINI, _from_epoch(expires), shown.get("hosted_voucher_url"),
                                   tuple(details))
    if action.get("type") == "display_bank_transfer_instructions":
        shown = action.get("display_bank_transfer_instructions") or {}
        details = []
        for address in shown.get("financial_addresses") or []:
            zengin = (address or {}).get("zengin") or {}
            for key in ("bank_name", "branch_name", "account_type", "account_number",
                        "account_holder_name"):
                if zengin.get(key):
                    details.append((key, str(zengin[key])))
        if shown.get("reference"):
            details.append(("reference", str(shown["reference"])))
        return PaymentInstructions(BANK_TRANSFER, None, shown.get("hosted_instructions_url"),
                                   tuple(details))
    return None


def _from_epoch(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | float) else None


def session_facts_from_event(event: dict[str, Any]) -> SessionFacts:
    """The session carried by a checkout.session.* event."""
    return session_facts(event["data"]["object"])


def verify_event(payload: bytes, sig_header: str | None, secret: str) -> dict[str, Any]:
    """Check a webhook signature on the raw body; return the event as a plain dict.

    Raises SignatureError for a missing, malformed, stale (older than five minutes) or wrong
    signature, or a body that is not an event.
    """
    if not sig_header:
        raise SignatureError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), sig_header, secret, SIGNATURE_TOLERANCE
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise SignatureError(str(exc).splitlines()[0][:200]) from None
    except RecursionError:
        raise SignatureError("nested too deeply to be an event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
        raise SignatureError("not an event")
    return event


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``payload`` (the sandbox and the tests sign with this)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{ts}.{payload.decode('utf-8')}", secret)
    return f"t={ts},v1={signature}"


class Gateway(Protocol):
    """What the payment code needs from a gateway."""

    name: str
    livemode: bool

    def create_checkout(self, request: CheckoutRequest) -> CheckoutStart: ...
    def retrieve_session(self, session_id: str) -> SessionFacts: ...
    def expire_checkout(self, session_id: str) -> SessionFacts: ...
    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> Settlement: ...
    def list_completed_sessions(self, since: datetime) -> list[SessionFacts]: ...
    def list_events(self, since: datetime, types: list[str]) -> list[dict[str, Any]]: ...
    def refund(self, payment_intent_id: str, amount_minor: int, *, key: str) -> str: ...
    def list_refunds(self, charge_id: str) -> list[dict[str, Any]]: ...
    def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutStart: ...
    def invoice_settlement(self, invoice: dict[str, Any]) -> Settlement: ...
    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]: ...
    def change_subscription_amount(self, subscription_id: str, amount: Money) -> dict[str, Any]: ...
    def payment_instructions(self, payment_intent_id: str) -> PaymentInstructions | None: ...


# --- Stripe ----------------------------------------------------------------------------------


class StripeGateway:
    """Stripe Checkout through the real stripe library (``STRIPE_API_BASE`` honoured)."""

    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 http_client: Any = None, allow_live: bool = False) -> None:
        if api_key.startswith(("sk_live_", "rk_live_")) and not allow_live:
            raise GatewayError("a live Stripe key is refused unless STRIPE_ALLOW_LIVE is set")
        self.livemode = api_key.startswith(("sk_live_", "rk_live_"))
        kwargs: dict[str, Any] = {"max_network_retries": 2}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base}
        if http_client is not None:
            kwargs["http_client"] = http_client
        self.client = stripe.StripeClient(api_key, **kwargs)

    def _call(self, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            # The message names the Stripe error type only: no request data is logged.
            raise GatewayError(f"Stripe refused the request ({type(exc).__name__})") from exc

    def create_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        """Create a hosted Checkout Session; the Idempotency-Key is derived from the donation."""
        params: dict[str, Any] = {
            "mode": "payment",
            "submit_type": "donate",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": amount.currency.lower(),
                    "unit_amount": amount.amount_minor,
                    "product_data": {"name": name},
                },
            } for name, amount in request.lines()],
            "client_reference_id": request.donation_id,
            "metadata": {"donation_id": request.donation_id},
            "payment_intent_data": {"metadata": {"donation_id": request.donation_id}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        later = later_methods(request.amount)
        if later:
            # Cards, and for yen the ways to pay that complete later: the session completes
            # unpaid and checkout.session.async_payment_succeeded (or _failed) follows.
            params["payment_method_types"] = ["card", *(
                "customer_balance" if m == BANK_TRANSFER else m for m in later)]
            options: dict[str, Any] = {}
            if KONBINI in later:
                options["konbini"] = {"expires_after_days": KONBINI_DAYS}
            if BANK_TRANSFER in later:
                options["customer_balance"] = {
                    "funding_type": "bank_transfer",
                    "bank_transfer": {"type": "jp_bank_transfer"},
                }
                params["customer_creation"] = "always"  # a transfer is paid into a customer
            params["payment_method_options"] = options
        if request.customer_email:
            params["customer_email"] = request.customer_email
        params["locale"] = request.locale or "auto"
        session = self._call(
            self.client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": f"checkout-{request.donation_id}"},
        )
        return CheckoutStart(session_id=session.id, url=session.url)

    def retrieve_session(self, session_id: str) -> SessionFacts:
        """Fetch a session server-side (never trusting URL parameters)."""
        session = self._call(self.client.v1.checkout.sessions.retrieve, session_id)
        return session_facts(session.to_dict())

    def payment_instructions(self, payment_intent_id: str) -> PaymentInstructions | None:
        """The voucher or transfer details of a payment that completes later (from the
        PaymentIntent's next_action), or None when it has none."""
        intent = self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)
        return instructions_from_intent(intent.to_dict())

    def expire_checkout(self, session_id: str) -> SessionFacts:
        """End an open Checkout Session so it can no longer be paid; the session as it is
        afterwards. A session that was completed (paid) meanwhile cannot be expired: Stripe
        refuses, and its facts (status "complete") are returned for the caller to leave it to
        the webhook or reconcile. Stripe reports an expiry with checkout.session.expired."""
        try:
            session = self.client.v1.checkout.sessions.expire(
                session_id, options={"idempotency_key": f"expire-{session_id}"})
        except stripe.InvalidRequestError:
            # not open any more (complete, or expired already): say how it is
            return self.retrieve_session(session_id)
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe refused the request ({type(exc).__name__})") from exc
        return session_facts(session.to_dict())

    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> Settlement:
        """Gross, fee and rate from the charge's balance transaction."""
        intent = self._call(
            self.client.v1.payment_intents.retrieve, payment_intent_id,
            params={"expand": ["latest_charge.balance_transaction"]},
        ).to_dict()
        charge = intent.get("latest_charge") or {}
        txn = charge.get("balance_transaction") if isinstance(charge, dict) else None
        if not isinstance(txn, dict):
            raise GatewayError("the payment has no balance transaction yet")
        rate = txn.get("exchange_rate")
        return Settlement(
            charge_id=charge.get("id"),
            gross_minor=int(txn["amount"]),
            fee_minor=int(txn.get("fee") or 0),
            currency=str(txn["currency"]).upper(),
            rate=Decimal(str(rate)) if rate is not None else Decimal(1),
        )

    def refund(self, payment_intent_id: str, amount_minor: int, *, key: str) -> str:
        """Refund part or all of a payment; ``key`` makes a retried request a no-op."""
        refund = self._call(
            self.client.v1.refunds.create,
            params={"payment_intent": payment_intent_id, "amount": amount_minor},
            options={"idempotency_key": f"refund-{key}"},
        )
        return refund.id

    def list_refunds(self, charge_id: str) -> list[dict[str, Any]]:
        """Every refund of a charge (charges stopped embedding them in 2022)."""
        page = self._call(self.client.v1.refunds.list, params={"charge": charge_id, "limit": 100})
        return [r.to_dict() for r in page.auto_paging_iter()]

    def list_completed_sessions(self, since: datetime) -> list[SessionFacts]:
        """Completed Checkout Sessions created since ``since`` (auto-paginated)."""
        page = self._call(
            self.client.v1.checkout.sessions.list,
            params={"created": {"gte": int(since.timestamp())}, "status": "complete", "limit": 100},
        )
        return [session_facts(s.to_dict()) for s in page.auto_paging_iter()]

    def list_events(self, since: datetime, types: list[str]) -> list[dict[str, Any]]:
        """Events of the given types created since ``since``, oldest first."""
        page = self._call(
            self.client.v1.events.list,
            params={"created": {"gte": int(since.timestamp())}, "types": types, "limit": 100},
        )
        events = [e.to_dict() for e in page.auto_paging_iter()]
        return sorted(events, key=lambda e: e.get("created") or 0)

    # --- subscriptions (monthly gifts) ---

    def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutStart:
        """A hosted Checkout Session in subscription mode: a monthly price made on the fly.

        The subscription's metadata carries the gift's opaque id, so its invoices trace back
        even before the session's completion event arrives."""
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": request.amount.currency.lower(),
                    "unit_amount": request.amount.amount_minor,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": request.description},
                },
            }],
            "client_reference_id": request.recurring_gift_id,
            "metadata": {"recurring_gift_id": request.recurring_gift_id},
            "subscription_data": {"metadata": {"recurring_gift_id": request.recurring_gift_id}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "locale": request.locale or "auto",
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        session = self._call(
            self.client.v1.checkout.sessions.create, params=params,
            options={"idempotency_key": f"subscribe-{request.recurring_gift_id}"},
        )
        return CheckoutStart(session_id=session.id, url=session.url)

    def invoice_settlement(self, invoice: dict[str, Any]) -> Settlement:
        """What a paid invoice brought in: its payment intent's balance transaction (older API
        versions name the intent on the invoice, newer ones list it as an invoice payment)."""
        intent = invoice_payment_intent(invoice)
        if not intent:
            page = self._call(self.client.v1.invoice_payments.list,
                              params={"invoice": invoice["id"], "limit": 10})
            for row in page.data:
                payment = row.to_dict().get("payment") or {}
                if row.get("status") == "paid" and payment.get("payment_intent"):
                    found = payment["payment_intent"]
                    intent = found.get("id") if isinstance(found, dict) else found
        if not intent:
            raise GatewayError("the invoice has no payment yet")
        return self.settlement(intent, None)  # type: ignore[arg-type]

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Cancel now; returns the cancelled subscription. Stripe reports it with
        customer.subscription.deleted."""
        sub = self._call(self.client.v1.subscriptions.cancel, subscription_id,
                         options={"idempotency_key": f"cancel-{subscription_id}"})
        return sub.to_dict()

    def change_subscription_amount(self, subscription_id: str, amount: Money) -> dict[str, Any]:
        """Charge ``amount`` from the next month on (no proration); Stripe reports it with
        customer.subscription.updated."""
        sub = self._call(self.client.v1.subscriptions.retrieve, subscription_id).to_dict()
        item = sub["items"]["data"][0]
        product = item["price"]["product"]
        updated = self._call(
            self.client.v1.subscriptions.update, subscription_id,
            params={
                "items": [{"id": item["id"], "price_data": {
                    "currency": amount.currency.lower(), "unit_amount": amount.amount_minor,
                    "product": product.get("id") if isinstance(product, dict) else product,
                    "recurring": {"interval": "month"},
                }}],
                "proration_behavior": "none",
            },
            options={"idempotency_key": f"amount-{subscription_id}-{amount.currency}-{amount.amount_minor}"},
        )
        return updated.to_dict()


def invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The payment intent an invoice names (older API versions), or None."""
    intent = invoice.get("payment_intent")
    return intent.get("id") if isinstance(intent, dict) else intent


def webhook_secret(app: Flask) -> str:
    """STRIPE_WEBHOOK_SECRET, or for the sandbox a secret derived from SECRET_KEY."""
    configured = app.config.get("STRIPE_WEBHOOK_SECRET")
    if configured:
        return configured
    digest = hmac.new(app.config["SECRET_KEY"].encode(), b"sandbox-webhook", hashlib.sha256)
    return "whsec_sandbox_" + digest.hexdigest()


#: ``app.extensions`` key: gateway factories by name (``register_gateway``)
_FACTORIES = "tracker_gateway_factories"


def register_gateway(app: Flask, name: str, factory: Callable[[Flask], Gateway]) -> None:
    """Make a gateway other than Stripe available to ``app`` under ``name``: ``factory(app)``
    builds it the first time it is needed. The offline sandbox registers itself as "sandbox"
    (``tracker.sandbox.init_app``); it is used when no STRIPE_SECRET_KEY is set."""
    app.extensions.setdefault(_FACTORIES, {})[name] = factory


def get_gateway(app: Flask | None = None) -> Gateway:
    """The app's gateway: Stripe when STRIPE_SECRET_KEY is set, the sandbox otherwise."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    gateway = app.extensions.get("tracker_gateway")
    if gateway is None:
        key = app.config.get("STRIPE_SECRET_KEY")
        if key:
            gateway = StripeGateway(
                key, api_base=app.config.get("STRIPE_API_BASE"),
                http_client=app.config.get("STRIPE_HTTP_CLIENT"),
                allow_live=bool(app.config.get("STRIPE_ALLOW_LIVE")),
            )
        else:
            factory = app.extensions.get(_FACTORIES, {}).get("sandbox")
            if factory is None:
                raise GatewayError("no payment gateway: set STRIPE_SECRET_KEY or register the sandbox")
            gateway = factory(app)
        app.extensions["tracker_gateway"] = gateway
    return gateway
