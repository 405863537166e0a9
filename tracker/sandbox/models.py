"""The sandbox's own tables: its checkout sessions, its subscriptions and its clock, shaped
like Stripe's objects. They live in the same database as everything else (so the sandbox works
with several workers) but belong to the sandbox alone: nothing outside ``tracker.sandbox``
reads or writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

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
    #: what the page calls the gift (the case's public title), as Stripe's line item name
    description: Mapped[str | None] = mapped_column(String(200))
    #: the part of the amount that covers the card fee (shown as its own line)
    fee_cover_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default=SESSION_OPEN)
    payment_status: Mapped[str] = mapped_column(String(16), default=UNPAID)
    payment_intent_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    success_url: Mapped[str] = mapped_column(String(500))
    cancel_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: card, or a way to pay that completes later (konbini, bank_transfer): then the session
    #: completes unpaid with a voucher (or transfer reference) valid until voucher_expires_at
    payment_method: Mapped[str | None] = mapped_column(String(24))
    voucher_number: Mapped[str | None] = mapped_column(String(32))
    voucher_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    #: what the page calls the gift (the case's public title), as Stripe's line item name
    description: Mapped[str | None] = mapped_column(String(200))
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
