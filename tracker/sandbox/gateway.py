"""The offline sandbox gateway: Stripe's shape, no money moves.

``SandboxGateway`` implements ``tracker.payments.gateway.Gateway`` with its own tables
(``tracker.sandbox.models``) and its own checkout page ("TEST MODE — no money moves",
``tracker.sandbox.views``). Like Stripe, it reports what happened as Stripe-shaped events,
signed with the webhook secret by the real stripe library and handed to the same receiver
as ``POST /webhooks/stripe`` (``tracker.payments.webhooks.receive``), and like Stripe it
sends them by itself: each event is queued with ``tracker.core.transactions.after_commit``
and delivered once the caller's transaction has committed (never if it rolls back).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import current_app, url_for

from tracker.core import transactions
from tracker.core.money import Money, Settlement, settle_at_rate
from tracker.core.time import utcnow
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift, add_months
from tracker.payments import webhooks
from tracker.payments.gateway import (
    BANK_TRANSFER,
    KONBINI,
    KONBINI_DAYS,
    CheckoutRequest,
    CheckoutStart,
    GatewayError,
    PaymentInstructions,
    SessionFacts,
    SubscriptionCheckoutRequest,
    later_methods,
    session_facts,
    sign_payload,
    webhook_secret,
)
from tracker.sandbox.models import (
    PAID,
    SESSION_COMPLETE,
    SESSION_EXPIRED,
    SESSION_OPEN,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_INCOMPLETE,
    SUB_PAST_DUE,
    UNPAID,
    SandboxClock,
    SandboxSession,
    SandboxSubscription,
)

SANDBOX_OK_CARD = "4242424242424242"
SANDBOX_DECLINE_CARD = "4000000000000002"
#: failed tries of one invoice before the sandbox cancels the subscription (like Stripe's
#: default "cancel after all retries fail")
SANDBOX_MAX_ATTEMPTS = 4
#: how long a sandbox bank transfer may take before it ends unpaid (a konbini voucher lasts
#: KONBINI_DAYS, as on Stripe)
TRANSFER_DAYS = 7
#: the pretend bank account a sandbox transfer is paid into (TEST MODE: no such account)
SANDBOX_BANK = (("bank_name", "テスト銀行"), ("branch_name", "サンドボックス支店"),
                ("account_type", "普通"), ("account_number", "0000000"),
                ("account_holder_name", "テスト用口座"))
#: the stores a sandbox voucher names (as Stripe's voucher lists them)
SANDBOX_STORES = ("familymart", "lawson", "ministop", "seicomart")


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
            cancel_url=request.cancel_url, description=request.description[:200],
            fee_cover_minor=request.fee_cover.amount_minor if request.fee_cover else 0,
        )
        db.session.add(session)
        db.session.flush()
        return CheckoutStart(session.id, url_for("sandbox.checkout", session_id=session.id))

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
        return session_facts(self.session_object(session))

    def expire_checkout(self, session_id: str) -> SessionFacts:
        """End an open sandbox session (like Stripe's expire): its page takes no card any
        more, and checkout.session.expired is sent once the caller commits. A paid session
        stays complete; either way the session as it is afterwards."""
        session = db.session.scalar(
            db.select(SandboxSession).where(SandboxSession.id == session_id).with_for_update()
            .execution_options(populate_existing=True))
        if session is None:
            raise GatewayError("no such sandbox session")
        if session.status == SESSION_OPEN:
            session.status = SESSION_EXPIRED
            db.session.flush()
            send_after_commit([sandbox_event("checkout.session.expired",
                                             self.session_object(session))])
        return session_facts(self.session_object(session))

    def settlement(self, payment_intent_id: str, facts: SessionFacts) -> Settlement:
        """Settle at the configured rate, with the configured sandbox fee."""

        charge_id = db.session.scalar(
            db.select(SandboxSession.charge_id).where(SandboxSession.payment_intent_id == payment_intent_id)
        )
        return _configured_settlement(facts.amount_minor, facts.currency, charge_id)

    def invoice_settlement(self, invoice: dict[str, Any]) -> Settlement:
        """A sandbox invoice settles like a sandbox session: configured rate and fee."""
        return _configured_settlement(int(invoice.get("amount_paid") or 0),
                                      str(invoice.get("currency") or "").upper(),
                                      invoice.get("charge"))

    def list_completed_sessions(self, since: datetime) -> list[SessionFacts]:

        rows = db.session.scalars(
            db.select(SandboxSession).where(SandboxSession.status == SESSION_COMPLETE,
                                            SandboxSession.created_at >= since)
        )
        return [session_facts(self.session_object(s)) for s in rows]

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
        the card is declined. The event is not sent: the checkout page sends it (tests use
        this to stand for a payment whose event has not arrived yet)."""

        # locked and read afresh: a session the worker expires meanwhile is never paid
        session = db.session.scalar(
            db.select(SandboxSession).where(SandboxSession.id == session_id).with_for_update()
            .execution_options(populate_existing=True))
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if session is None or digits != SANDBOX_OK_CARD or session.status == SESSION_EXPIRED:
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

    # --- ways to pay that complete later (konbini, bank transfer) ---

    def pay_later(self, session_id: str, method: str) -> dict[str, Any] | None:
        """Finish a sandbox checkout with a convenience-store voucher or a bank transfer: the
        session completes unpaid (as Stripe's does) with a voucher number or transfer
        reference valid for a few days of sandbox time. Returns checkout.session.completed
        (payment_status "unpaid"), not sent; None when the session cannot take ``method``."""
        session = self._locked_session(session_id)
        if session is None or session.status != SESSION_OPEN:
            return None
        if method not in later_methods(Money(session.amount_minor, session.currency)):
            return None
        session.status = SESSION_COMPLETE
        session.payment_status = UNPAID
        session.payment_method = method
        session.payment_intent_id = f"pi_sbx_{secrets.token_hex(10)}"
        session.voucher_number = (f"{secrets.randbelow(10**11):011d}" if method == KONBINI
                                  else f"{secrets.randbelow(10**8):08d}")
        days = KONBINI_DAYS if method == KONBINI else TRANSFER_DAYS
        session.voucher_expires_at = self.now() + timedelta(days=days)
        session.completed_at = utcnow()
        db.session.flush()
        return sandbox_event("checkout.session.completed", self.session_object(session))

    def settle_later(self, session_id: str, *, paid: bool) -> dict[str, Any] | None:
        """The donor pays the voucher or transfer (``paid``), or it runs out unpaid: returns
        checkout.session.async_payment_succeeded or _failed, not sent; None when the session
        is not waiting for such a payment (already paid or ended)."""
        session = self._locked_session(session_id)
        if (session is None or session.payment_method not in (KONBINI, BANK_TRANSFER)
                or session.payment_status != UNPAID or session.voucher_expires_at is None):
            return None
        if paid:
            session.payment_status = PAID
            session.charge_id = f"ch_sbx_{secrets.token_hex(10)}"
            kind = "checkout.session.async_payment_succeeded"
        else:
            kind = "checkout.session.async_payment_failed"
        session.voucher_expires_at = None  # settled either way: nothing more to pay
        db.session.flush()
        return sandbox_event(kind, self.session_object(session))

    def expire_vouchers(self) -> list[dict[str, Any]]:
        """Every voucher or transfer past its time on the sandbox clock ends unpaid (its
        events are sent once the caller commits, and returned)."""
        due = db.session.scalars(
            db.select(SandboxSession.id).where(SandboxSession.payment_status == UNPAID,
                                               SandboxSession.voucher_expires_at <= self.now())
            .order_by(SandboxSession.voucher_expires_at)).all()
        events = [e for e in (self.settle_later(sid, paid=False) for sid in due) if e]
        send_after_commit(events)
        return events

    def payment_instructions(self, payment_intent_id: str) -> PaymentInstructions | None:
        """The voucher or transfer details of a sandbox session waiting for its payment."""
        session = db.session.scalar(
            db.select(SandboxSession).where(SandboxSession.payment_intent_id == payment_intent_id))
        if session is None or session.payment_method not in (KONBINI, BANK_TRANSFER):
            return None
        url = url_for("sandbox.voucher", session_id=session.id, _external=True)
        if session.payment_method == KONBINI:
            details = tuple((f"store:{store}", session.voucher_number or "") for store in SANDBOX_STORES)
        else:
            details = (*SANDBOX_BANK, ("reference", session.voucher_number or ""))
        return PaymentInstructions(session.payment_method, session.voucher_expires_at, url, details)

    @staticmethod
    def _locked_session(session_id: str) -> SandboxSession | None:
        return db.session.scalar(
            db.select(SandboxSession).where(SandboxSession.id == session_id).with_for_update()
            .execution_options(populate_existing=True))

    # --- subscriptions (monthly gifts) ---
    #
    # A sandbox subscription is a row (any worker can serve it). Its first invoice is paid on
    # the checkout page; later ones fall due on the sandbox clock, which only ``advance``
    # moves (``flask sandbox advance``). Every change is sent as the Stripe-shaped events
    # Stripe would send, once the caller's transaction commits (``send_after_commit``).

    def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutStart:
        """Open a sandbox subscription waiting for its first payment, and its checkout page."""
        gift_id = db.session.scalar(
            db.select(RecurringGift.id).where(RecurringGift.public_id == request.recurring_gift_id))
        sub = SandboxSubscription(
            id="sub_sbx_" + _sandbox_token(), checkout_session_id="cs_test_sbx_" + _sandbox_token(),
            recurring_gift_id=gift_id, customer_id="cus_sbx_" + _sandbox_token(),
            amount_minor=request.amount.amount_minor, currency=request.amount.currency,
            success_url=request.success_url, cancel_url=request.cancel_url,
            description=request.description[:200],
        )
        db.session.add(sub)
        db.session.flush()
        return CheckoutStart(sub.checkout_session_id,
                             url_for("sandbox.checkout", session_id=sub.checkout_session_id))

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
        first invoice is paid at once. Returns the events (not sent: the checkout page sends
        them), or None if the card is declined."""
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
        card set to decline. The events are sent once the caller commits; they are returned
        for counting."""
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
        send_after_commit(events)
        return events + self.expire_vouchers()

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

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Cancel now; returns the subscription, and sends customer.subscription.deleted after
        the caller's commit (nothing if it had already ended)."""
        sub = db.session.get(SandboxSubscription, subscription_id)
        if sub is None:
            raise GatewayError("no such sandbox subscription")
        if sub.status == SUB_CANCELED:
            return self.subscription_object(sub)
        sub.status, sub.canceled_at = SUB_CANCELED, utcnow()
        db.session.flush()
        obj = self.subscription_object(sub)
        send_after_commit([sandbox_event("customer.subscription.deleted", obj)])
        return obj

    def change_subscription_amount(self, subscription_id: str, amount: Money) -> dict[str, Any]:
        """Take ``amount`` from the next month on; returns the subscription, and sends
        customer.subscription.updated after the caller's commit."""
        sub = db.session.get(SandboxSubscription, subscription_id)
        if sub is None or sub.status == SUB_CANCELED:
            raise GatewayError("no such sandbox subscription")
        if amount.currency != sub.currency:
            raise GatewayError("a subscription keeps its currency")
        sub.amount_minor = amount.amount_minor
        db.session.flush()
        obj = self.subscription_object(sub)
        send_after_commit([sandbox_event("customer.subscription.updated", obj)])
        return obj


def _configured_settlement(amount_minor: int, currency: str, charge_id: str | None) -> Settlement:
    config = current_app.config
    base = config["TRACKER_BASE_CURRENCY"]
    rate = config["TRACKER_EXCHANGE_RATES"].get(currency)
    if rate is None:
        raise GatewayError(f"no exchange rate configured for {currency}")
    return settle_at_rate(Money(amount_minor, currency), base, rate,
                          fee_percent=config["TRACKER_SANDBOX_FEE_PERCENT"], charge_id=charge_id)



def sandbox_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A Stripe-shaped event around ``obj``."""
    return {
        "id": "evt_sbx_" + secrets.token_hex(12), "object": "event", "api_version": "2025-09-30",
        "type": event_type, "livemode": False, "created": int(time.time()),
        "data": {"object": obj},
    }



def deliver_sandbox_event(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Deliver one event as Stripe would: sign it with the webhook secret and hand the raw
    bytes to the same receiver the HTTP endpoint uses (in-process, so a single worker cannot
    deadlock), applied at once even when webhooks are queued for the worker: the sandbox's
    checkout page hands its donor straight to the thank-you page. Returns the receiver's
    (status, body)."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    return webhooks.receive(payload, sign_payload(payload, webhook_secret(current_app)),
                            queue=False)


def send_after_commit(events: list[dict[str, Any]]) -> None:
    """Queue ``events`` for delivery once the caller's transaction commits, in order."""
    for event in events:
        transactions.after_commit(partial(deliver_sandbox_event, event))
