"""Gateway events, stored once each under a UNIQUE event id with their raw payload."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.donations.models import GATEWAYS
from tracker.extensions import db


class PaymentEvent(db.Model):
    """A webhook event as received; stored in the same transaction as its effects."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("gateway", "event_id", name="uq_payment_events_gateway_event_id"),
        CheckConstraint(f"gateway IN {sql_in(GATEWAYS)}", name="gateway"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    #: the gateway's event id (evt_...), the deduplication key
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80))
    livemode: Mapped[bool] = mapped_column(default=False)
    #: the raw body exactly as signed, kept for audits and replays
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id", ondelete="SET NULL"))
    #: what went wrong or was flagged while processing, staff-only
    note: Mapped[str | None] = mapped_column(String(500))


SESSION_OPEN, SESSION_COMPLETE, SESSION_EXPIRED = "open", "complete", "expired"
PAID, UNPAID = "paid", "unpaid"


class SandboxSession(db.Model):
    """A checkout session of the offline sandbox gateway, shaped like Stripe's.

    Kept in the database (not in memory) so that the sandbox works with several workers.
    """

    __tablename__ = "sandbox_sessions"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_in((SESSION_OPEN, SESSION_COMPLETE, SESSION_EXPIRED))}",
                        name="status"),
        CheckConstraint(f"payment_status IN {sql_in((PAID, UNPAID))}", name="payment_status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    #: "cs_test_sbx_..." like a Stripe Checkout Session id
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id", ondelete="CASCADE"),
                                             unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=SESSION_OPEN)
    payment_status: Mapped[str] = mapped_column(String(16), default=UNPAID)
    payment_intent_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    success_url: Mapped[str] = mapped_column(String(500))
    cancel_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


SUB_INCOMPLETE, SUB_ACTIVE, SUB_PAST_DUE, SUB_CANCELED = "incomplete", "active", "past_due", "canceled"


class SandboxSubscription(db.Model):
    """A subscription of the offline sandbox gateway, shaped like Stripe's, with the checkout
    session that starts it. Renewals fall due on the sandbox clock (``SandboxClock``)."""

    __tablename__ = "sandbox_subscriptions"
    __table_args__ = (
        CheckConstraint(
            f"status IN {sql_in((SUB_INCOMPLETE, SUB_ACTIVE, SUB_PAST_DUE, SUB_CANCELED))}",
            name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("periods >= 0 AND attempt_count >= 0", name="counts_nonnegative"),
    )

    #: "sub_sbx_..." like a Stripe subscription id
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    #: "cs_test_sbx_...": the checkout page that starts the subscription
    checkout_session_id: Mapped[str] = mapped_column(String(80), unique=True)
    recurring_gift_id: Mapped[int] = mapped_column(
        ForeignKey("recurring_gifts.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str] = mapped_column(String(80))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=SUB_INCOMPLETE)
    #: a test switch: the card on file declines every payment while this is set
    card_declines: Mapped[bool] = mapped_column(default=False)
    #: the billing anchor (first payment); period n ends n calendar months after it
    anchor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: periods paid for so far; the next payment falls due at anchor + ``periods`` months
    periods: Mapped[int] = mapped_column(default=0)
    #: the invoice being collected (kept across retries, like Stripe's), and its attempts
    open_invoice_id: Mapped[str | None] = mapped_column(String(80))
    attempt_count: Mapped[int] = mapped_column(default=0)
    success_url: Mapped[str] = mapped_column(String(500))
    cancel_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SandboxClock(db.Model):
    """The sandbox's own time: real time plus an offset that ``flask sandbox advance`` moves.

    One row, in the database so that every worker reads the same clock.
    """

    __tablename__ = "sandbox_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    offset_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
