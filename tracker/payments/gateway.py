"""The one home of payment gateways, and the only module that imports ``stripe``.

Two gateways share one interface: ``StripeGateway`` (hosted Checkout, test keys by default)
and ``SandboxGateway`` (an offline checkout page, "TEST MODE — no money moves", that signs
Stripe-shaped events with the real stripe library and feeds them to the same webhook code).
Everything sent to a gateway is built here from the donation's opaque public id, the amount
and the case's public title: never a name or a place of a person in a case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import stripe
from flask import Flask, current_app, url_for

from tracker.core.money import Money, convert
from tracker.core.time import utcnow
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift, add_months
from tracker.payments.models import (
    PAID,
    SESSION_COMPLETE,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_INCOMPLETE,
    SUB_PAST_DUE,
    SandboxClock,
    SandboxSession,
    SandboxSubscription,
)

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
    amount: Money
    description: str  # a public title
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    #: the donor's language ("en"/"ja"): Stripe's page speaks it; None lets Stripe choose
    locale: str | None = None


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


@dataclass(frozen=True, slots=True)
class GatewaySettlement:
    """What the NGO's account received for a payment (from the balance transaction)."""

    charge_id: str | None
    gross_minor: int
    fee_minor: int
    currency: str
    rate: Decimal


def _session_facts(obj: dict[str, Any]) -> SessionFacts:
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


def session_facts_from_event(event: dict[str, Any]) -> SessionFacts:
    """The session carried by a checkout.session.* event."""
    return _session_facts(event["data"]["object"])


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
    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> GatewaySettlement: ...
    def list_completed_sessions(self, since: datetime) -> list[SessionFacts]: ...
    def list_events(self, since: datetime, types: list[str]) -> list[dict[str, Any]]: ...
    def refund(self, payment_intent_id: str, amount_minor: int, *, key: str) -> str: ...
    def list_refunds(self, charge_id: str) -> list[dict[str, Any]]: ...
    def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutStart: ...
    def invoice_settlement(self, invoice: dict[str, Any]) -> GatewaySettlement: ...
    def cancel_subscription(self, subscription_id: str) -> list[dict[str, Any]]: ...
    def change_subscription_amount(self, subscription_id: str, amount: Money) -> list[dict[str, Any]]: ...


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
                    "currency": request.amount.currency.lower(),
                    "unit_amount": request.amount.amount_minor,
                    "product_data": {"name": request.description},
                },
            }],
            "client_reference_id": request.donation_id,
            "metadata": {"donation_id": request.donation_id},
            "payment_intent_data": {"metadata": {"donation_id": request.donation_id}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
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
        return _session_facts(session.to_dict())

    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> GatewaySettlement:
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
        return GatewaySettlement(
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
        return [_session_facts(s.to_dict()) for s in page.auto_paging_iter()]

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

    def invoice_settlement(self, invoice: dict[str, Any]) -> GatewaySettlement:
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

    def cancel_subscription(self, subscription_id: str) -> list[dict[str, Any]]:
        """Cancel now; Stripe reports it with customer.subscription.deleted."""
        self._call(self.client.v1.subscriptions.cancel, subscription_id,
                   options={"idempotency_key": f"cancel-{subscription_id}"})
        return []

    def change_subscription_amount(self, subscription_id: str, amount: Money) -> list[dict[str, Any]]:
        """Charge ``amount`` from the next month on (no proration); Stripe reports it with
        customer.subscription.updated."""
        sub = self._call(self.client.v1.subscriptions.retrieve, subscription_id).to_dict()
        item = sub["items"]["data"][0]
        product = item["price"]["product"]
        self._call(
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
        return []


# --- Sandbox ---------------------------------------------------------------------------------

SANDBOX_OK_CARD = "4242424242424242"
SANDBOX_DECLINE_CARD = "4000000000000002"
#: failed tries of one invoice before the sandbox cancels the subscription (like Stripe's
#: default "cancel after all retries fail")
SANDBOX_MAX_ATTEMPTS = 4


def _sandbox_token() -> str:
    return secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


class SandboxGateway:
    """An offline stand-in for Stripe Checkout: no money moves, the events are real-shaped."""

    name = "sandbox"
    livemode = False

    def create_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        """Open a sandbox session (a row, so any worker can serve its page)."""

        donation = db.session.scalar(db.select(Donation).where(Donation.public_id == request.donation_id))
        session = SandboxSession(
            id="cs_test_sbx_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"),
            donation_id=donation.id, amount_minor=request.amount.amount_minor,
            currency=request.amount.currency, success_url=request.success_url,
            cancel_url=request.cancel_url,
        )
        db.session.add(session)
        db.session.flush()
        return CheckoutStart(session.id, url_for("payments.sandbox_checkout", session_id=session.id))

    @staticmethod
    def session_object(session: Any) -> dict[str, Any]:
        """The sandbox session as a Stripe Checkout Session object."""

        public_id = db.session.scalar(db.select(Donation.public_id).where(Donation.id == session.donation_id))
        return {
            "id": session.id, "object": "checkout.session", "mode": "payment",
            "status": session.status, "payment_status": session.payment_status,
            "amount_total": session.amount_minor, "currency": session.currency.lower(),
            "client_reference_id": public_id, "metadata": {"donation_id": public_id},
            "payment_intent": session.payment_intent_id, "livemode": False,
            "created": int(session.created_at.timestamp()),
            "success_url": session.success_url, "cancel_url": session.cancel_url,
        }

    def retrieve_session(self, session_id: str) -> SessionFacts:

        session = db.session.get(SandboxSession, session_id)
        if session is None:
            raise GatewayError("no such sandbox session")
        return _session_facts(self.session_object(session))

    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> GatewaySettlement:
        """Settle at the configured rate, with the configured sandbox fee."""

        charge_id = db.session.scalar(
            db.select(SandboxSession.charge_id).where(SandboxSession.payment_intent_id == payment_intent_id)
        )
        return _configured_settlement(facts.amount_minor, facts.currency, charge_id)

    def invoice_settlement(self, invoice: dict[str, Any]) -> GatewaySettlement:
        """A sandbox invoice settles like a sandbox session: configured rate and fee."""
        return _configured_settlement(int(invoice.get("amount_paid") or 0),
                                      str(invoice.get("currency") or "").upper(),
                                      invoice.get("charge"))

    def list_completed_sessions(self, since: datetime) -> list[SessionFacts]:

        rows = db.session.scalars(
            db.select(SandboxSession).where(SandboxSession.status == SESSION_COMPLETE,
                                            SandboxSession.created_at >= since)
        )
        return [_session_facts(self.session_object(s)) for s in rows]

    def list_events(self, since: datetime, types: list[str]) -> list[dict[str, Any]]:
        """The sandbox delivers its events in-process; there is no event log to list."""
        return []

    def list_refunds(self, charge_id: str) -> list[dict[str, Any]]:
        """Sandbox refund events carry their refunds; there is no list to ask."""
        return []

    def refund(self, payment_intent_id: str, amount_minor: int, *, key: str) -> str:
        """A sandbox refund id, the same for the same key (like an idempotent retry)."""
        return "re_sbx_" + hashlib.sha256(f"{payment_intent_id}:{key}".encode()).hexdigest()[:20]

    def pay(self, session_id: str, card_number: str) -> dict[str, Any] | None:
        """Take a test card on a sandbox session; return the completion event, or None if
        the card is declined. The caller commits, then delivers the event."""

        session = db.session.get(SandboxSession, session_id)
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if session is None or digits != SANDBOX_OK_CARD:
            return None
        if session.status != SESSION_COMPLETE:
            token = secrets.token_hex(10)
            session.status = SESSION_COMPLETE
            session.payment_status = PAID
            session.payment_intent_id = f"pi_sbx_{token}"
            session.charge_id = f"ch_sbx_{token}"
            session.completed_at = utcnow()
            db.session.flush()
        return sandbox_event("checkout.session.completed", self.session_object(session))

    # --- subscriptions (monthly gifts) ---
    #
    # A sandbox subscription is a row (any worker can serve it). Its first invoice is paid on
    # the checkout page; later ones fall due on the sandbox clock, which only ``advance``
    # moves (``flask sandbox advance``). Every change comes back as the Stripe-shaped events
    # Stripe would send; the caller commits, then delivers them.

    def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutStart:
        """Open a sandbox subscription waiting for its first payment, and its checkout page."""
        gift_id = db.session.scalar(
            db.select(RecurringGift.id).where(RecurringGift.public_id == request.recurring_gift_id))
        sub = SandboxSubscription(
            id="sub_sbx_" + _sandbox_token(), checkout_session_id="cs_test_sbx_" + _sandbox_token(),
            recurring_gift_id=gift_id, customer_id="cus_sbx_" + _sandbox_token(),
            amount_minor=request.amount.amount_minor, currency=request.amount.currency,
            success_url=request.success_url, cancel_url=request.cancel_url,
        )
        db.session.add(sub)
        db.session.flush()
        return CheckoutStart(sub.checkout_session_id,
                             url_for("payments.sandbox_checkout", session_id=sub.checkout_session_id))

    @staticmethod
    def subscription_for_checkout(session_id: str) -> SandboxSubscription | None:
        """The sandbox subscription a checkout page starts, if ``session_id`` is one."""
        return db.session.scalar(db.select(SandboxSubscription)
                                 .where(SandboxSubscription.checkout_session_id == session_id))

    @staticmethod
    def _gift_public_id(sub: SandboxSubscription) -> str | None:
        return db.session.scalar(
            db.select(RecurringGift.public_id).where(RecurringGift.id == sub.recurring_gift_id))

    def subscription_object(self, sub: SandboxSubscription) -> dict[str, Any]:
        """The sandbox subscription as a Stripe Subscription object."""
        end = self.period_end(sub)
        end_ts = int(end.timestamp()) if end else None
        currency = sub.currency.lower()
        return {
            "id": sub.id, "object": "subscription", "status": sub.status,
            "customer": sub.customer_id, "currency": currency, "livemode": False,
            "metadata": {"recurring_gift_id": self._gift_public_id(sub)},
            "items": {"object": "list", "data": [{
                "id": "si_" + sub.id, "current_period_end": end_ts,
                "price": {"unit_amount": sub.amount_minor, "currency": currency,
                          "recurring": {"interval": "month"}},
            }]},
            "current_period_end": end_ts,
            "canceled_at": int(sub.canceled_at.timestamp()) if sub.canceled_at else None,
            "created": int(sub.created_at.timestamp()),
        }

    def _checkout_object(self, sub: SandboxSubscription) -> dict[str, Any]:
        public_id = self._gift_public_id(sub)
        return {
            "id": sub.checkout_session_id, "object": "checkout.session", "mode": "subscription",
            "status": "complete", "payment_status": "paid", "amount_total": sub.amount_minor,
            "currency": sub.currency.lower(), "client_reference_id": public_id,
            "metadata": {"recurring_gift_id": public_id}, "subscription": sub.id,
            "customer": sub.customer_id, "livemode": False, "created": int(sub.created_at.timestamp()),
        }

    def _invoice_object(self, sub: SandboxSubscription, *, paid: bool, reason: str) -> dict[str, Any]:
        assert sub.anchor_at is not None and sub.open_invoice_id is not None
        start = add_months(sub.anchor_at, sub.periods)
        end = add_months(sub.anchor_at, sub.periods + 1)
        token = sub.open_invoice_id.removeprefix("in_sbx_")
        return {
            "id": sub.open_invoice_id, "object": "invoice", "subscription": sub.id,
            "customer": sub.customer_id, "status": "paid" if paid else "open",
            "billing_reason": reason, "amount_due": sub.amount_minor,
            "amount_paid": sub.amount_minor if paid else 0, "currency": sub.currency.lower(),
            "attempt_count": sub.attempt_count,
            "charge": f"ch_sbx_{token}" if paid else None,
            "payment_intent": f"pi_sbx_{token}" if paid else None,
            "lines": {"object": "list", "data": [{"period": {"start": int(start.timestamp()),
                                                             "end": int(end.timestamp())}}]},
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": sub.id, "metadata": {"recurring_gift_id": self._gift_public_id(sub)}}},
            "livemode": False, "created": int(self.now().timestamp()),
        }

    def _collect(self, sub: SandboxSubscription, reason: str) -> list[dict[str, Any]]:
        """Try to collect the subscription's due invoice once: events for what happened."""
        if sub.open_invoice_id is None:
            sub.open_invoice_id = "in_sbx_" + _sandbox_token()
            sub.attempt_count = 0
        sub.attempt_count += 1
        if sub.card_declines:
            events = [sandbox_event("invoice.payment_failed",
                                    self._invoice_object(sub, paid=False, reason=reason))]
            if sub.attempt_count >= SANDBOX_MAX_ATTEMPTS:
                sub.status, sub.canceled_at = SUB_CANCELED, utcnow()
                events.append(sandbox_event("customer.subscription.deleted",
                                            self.subscription_object(sub)))
            elif sub.status != SUB_PAST_DUE:
                sub.status = SUB_PAST_DUE
                events.append(sandbox_event("customer.subscription.updated",
                                            self.subscription_object(sub)))
            db.session.flush()
            return events
        events = [sandbox_event("invoice.paid", self._invoice_object(sub, paid=True, reason=reason))]
        sub.periods += 1
        sub.open_invoice_id = None
        sub.attempt_count = 0
        if sub.status != SUB_ACTIVE:
            sub.status = SUB_ACTIVE
            events.append(sandbox_event("customer.subscription.updated", self.subscription_object(sub)))
        db.session.flush()
        return events

    def pay_subscription(self, session_id: str, card_number: str) -> list[dict[str, Any]] | None:
        """Take a test card on a subscription's checkout page: the subscription starts and its
        first invoice is paid at once. None if the card is declined."""
        sub = self.subscription_for_checkout(session_id)
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if sub is None or digits != SANDBOX_OK_CARD:
            return None
        gift_status = db.session.scalar(
            db.select(RecurringGift.status).where(RecurringGift.id == sub.recurring_gift_id))
        if gift_status == "canceled":
            return None  # cancelled before it was paid: the page takes nothing
        if sub.status != SUB_INCOMPLETE:
            return [sandbox_event("checkout.session.completed", self._checkout_object(sub))]
        sub.anchor_at = self.now()
        sub.status = SUB_ACTIVE
        events = self._collect(sub, "subscription_create")
        return [sandbox_event("checkout.session.completed", self._checkout_object(sub)), *events]

    @staticmethod
    def period_end(sub: SandboxSubscription) -> datetime | None:
        """When the subscription's next payment falls due (None before the first)."""
        return add_months(sub.anchor_at, sub.periods) if sub.anchor_at else None

    @staticmethod
    def _clock(lock: bool = False) -> SandboxClock:
        query = db.select(SandboxClock).where(SandboxClock.id == 1)
        clock = db.session.scalar(query.with_for_update() if lock else query)
        if clock is None:
            clock = SandboxClock(id=1, offset_seconds=0)
            db.session.add(clock)
            db.session.flush()
        return clock

    def now(self) -> datetime:
        """The sandbox's time: real time plus what ``advance`` added (stored in the database)."""
        offset = db.session.scalar(db.select(SandboxClock.offset_seconds).where(SandboxClock.id == 1))
        return utcnow() + timedelta(seconds=offset or 0)

    def advance(self, seconds: int) -> list[dict[str, Any]]:
        """Move the sandbox clock forward and collect every payment that fell due: each due
        month is one invoice.paid, or one invoice.payment_failed (one try per advance) for a
        card set to decline. The caller commits, then delivers the events."""
        if seconds < 0:
            raise GatewayError("the sandbox clock only moves forward")
        clock = self._clock(lock=True)
        clock.offset_seconds = (clock.offset_seconds or 0) + seconds
        db.session.flush()
        now = self.now()
        events: list[dict[str, Any]] = []
        subs = db.session.scalars(
            db.select(SandboxSubscription)
            .where(SandboxSubscription.status.in_((SUB_ACTIVE, SUB_PAST_DUE)))
            .order_by(SandboxSubscription.created_at, SandboxSubscription.id).with_for_update()
        ).all()
        for sub in subs:
            while sub.status in (SUB_ACTIVE, SUB_PAST_DUE) and self.period_end(sub) <= now:
                got = self._collect(sub, "subscription_cycle")
                events += got
                if got[0]["type"] != "invoice.paid":
                    break
        return events

    @staticmethod
    def find_subscription(ref: str) -> SandboxSubscription | None:
        """A sandbox subscription by its id (sub_sbx_...) or its monthly gift's (rg_...)."""
        sub = db.session.get(SandboxSubscription, ref)
        if sub is None:
            sub = db.session.scalar(
                db.select(SandboxSubscription).join(
                    RecurringGift, RecurringGift.id == SandboxSubscription.recurring_gift_id)
                .where(RecurringGift.public_id == ref))
        return sub

    def set_card(self, subscription_id: str, *, declines: bool) -> None:
        """Make the card on file decline every payment from now on, or pay again."""
        sub = self.find_subscription(subscription_id)
        if sub is None:
            raise GatewayError("no such sandbox subscription")
        sub.card_declines = declines
        db.session.flush()

    def cancel_subscription(self, subscription_id: str) -> list[dict[str, Any]]:
        """Cancel now: customer.subscription.deleted (nothing if it already ended)."""
        sub = db.session.get(SandboxSubscription, subscription_id)
        if sub is None:
            raise GatewayError("no such sandbox subscription")
        if sub.status == SUB_CANCELED:
            return []
        sub.status, sub.canceled_at = SUB_CANCELED, utcnow()
        db.session.flush()
        return [sandbox_event("customer.subscription.deleted", self.subscription_object(sub))]

    def change_subscription_amount(self, subscription_id: str, amount: Money) -> list[dict[str, Any]]:
        """Take ``amount`` from the next month on: customer.subscription.updated."""
        sub = db.session.get(SandboxSubscription, subscription_id)
        if sub is None or sub.status == SUB_CANCELED:
            raise GatewayError("no such sandbox subscription")
        if amount.currency != sub.currency:
            raise GatewayError("a subscription keeps its currency")
        sub.amount_minor = amount.amount_minor
        db.session.flush()
        return [sandbox_event("customer.subscription.updated", self.subscription_object(sub))]


def _configured_settlement(amount_minor: int, currency: str, charge_id: str | None) -> GatewaySettlement:
    config = current_app.config
    base = config["TRACKER_BASE_CURRENCY"]
    rate = config["TRACKER_EXCHANGE_RATES"].get(currency)
    if rate is None:
        raise GatewayError(f"no exchange rate configured for {currency}")
    gross = convert(Money(amount_minor, currency), base, rate)
    percent = config["TRACKER_SANDBOX_FEE_PERCENT"]
    # convert() refuses a zero rate, and 0 % is a valid setting: no fee then.
    fee = convert(gross, base, percent / 100) if percent else Money(0, base)
    return GatewaySettlement(charge_id=charge_id, gross_minor=gross.amount_minor,
                             fee_minor=fee.amount_minor, currency=base, rate=rate)


def invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The payment intent an invoice names (older API versions), or None."""
    intent = invoice.get("payment_intent")
    return intent.get("id") if isinstance(intent, dict) else intent


def sandbox_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A Stripe-shaped event around ``obj``."""
    return {
        "id": "evt_sbx_" + secrets.token_hex(12), "object": "event", "api_version": "2025-09-30",
        "type": event_type, "livemode": False, "created": int(time.time()),
        "data": {"object": obj},
    }


def webhook_secret(app: Flask) -> str:
    """STRIPE_WEBHOOK_SECRET, or for the sandbox a secret derived from SECRET_KEY."""
    configured = app.config.get("STRIPE_WEBHOOK_SECRET")
    if configured:
        return configured
    digest = hmac.new(app.config["SECRET_KEY"].encode(), b"sandbox-webhook", hashlib.sha256)
    return "whsec_sandbox_" + digest.hexdigest()


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
            gateway = SandboxGateway()
        app.extensions["tracker_gateway"] = gateway
    return gateway
