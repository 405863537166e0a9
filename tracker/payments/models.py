"""Gateway events, stored once each under a UNIQUE event id with their raw payload."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

#: who took a payment: a gateway, or staff recording an offline gift
GATEWAYS: tuple[str, ...] = ("stripe", "sandbox", "offline")


class PaymentEvent(db.Model):
    """A webhook event as received: stored in the same transaction as its effects, or (with
    TRACKER_WEBHOOK_PROCESSING=queued) stored first and applied by the worker, which sets
    ``processed_at``."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("gateway", "event_id", name="uq_payment_events_gateway_event_id"),
        CheckConstraint(f"gateway IN {sql_in(GATEWAYS)}", name="gateway"),
        # the few events waiting for the worker, oldest first, among all ever received
        Index("ix_payment_events_unapplied", "id", postgresql_where=sa_text("processed_at IS NULL"),
              sqlite_where=sa_text("processed_at IS NULL")),
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
