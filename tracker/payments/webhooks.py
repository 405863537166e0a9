"""The webhook boundary: verify, store the event once, apply it, commit.

The event row (UNIQUE gateway + event id) is written in the same transaction as its effects,
so an event is either stored and applied, or neither. A second delivery of the same event
finds the row and changes nothing; a concurrent one waits on the unique index and then does
the same.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tracker.core.time import utcnow
from tracker.donations.models import EXPIRED, FAILED
from tracker.extensions import db
from tracker.payments import services
from tracker.payments.gateway import (
    Gateway,
    SignatureError,
    get_gateway,
    session_facts_from_event,
    sign_payload,
    verify_event,
    webhook_secret,
)
from tracker.payments.models import PaymentEvent

HANDLED_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
)


def _apply(event: dict[str, Any], gateway: Gateway) -> str:
    kind = event["type"]
    obj = event["data"]["object"]
    livemode = bool(event.get("livemode"))
    if livemode != gateway.livemode:
        return f"ignored: livemode {livemode} event on a livemode {gateway.livemode} gateway"
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return str(services.record_payment(session_facts_from_event(event), gateway))
    if kind == "checkout.session.async_payment_failed":
        services.mark_failed(session_facts_from_event(event), FAILED)
        return "payment failed"
    if kind == "checkout.session.expired":
        services.mark_failed(session_facts_from_event(event), EXPIRED)
        return "session expired"
    if kind == "charge.refunded":
        return f"{services.book_refunds(obj, gateway, livemode)} refunds booked"
    if kind == "charge.dispute.created":
        return "dispute booked" if services.book_dispute(obj, gateway, livemode) else "no change"
    if kind == "charge.dispute.closed":
        return "dispute reversed" if services.close_dispute(obj, gateway, livemode) else "no change"
    return "ignored: not a type we handle"


def store_and_apply(event: dict[str, Any], raw: str, gateway: Gateway) -> PaymentEvent:
    """Store the event (flush: IntegrityError if it is already stored) and apply it."""
    row = PaymentEvent(gateway=gateway.name, event_id=event["id"], type=str(event["type"])[:80],
                       livemode=bool(event.get("livemode")), payload=raw)
    db.session.add(row)
    db.session.flush()
    row.note = _apply(event, gateway)[:500]
    row.processed_at = utcnow()
    db.session.flush()
    return row


def already_stored(gateway: Gateway, event_id: str) -> bool:
    """Whether an event id has been stored before."""
    return db.session.scalar(
        db.select(PaymentEvent.id).where(PaymentEvent.gateway == gateway.name,
                                         PaymentEvent.event_id == event_id)
    ) is not None


def ingest(event: dict[str, Any], raw: str, gateway: Gateway) -> tuple[bool, str]:
    """Store and apply one verified event, and commit. Returns (new, note).

    Safe to call with an event seen before, or at the same time as another worker.
    """
    if already_stored(gateway, event["id"]):
        return False, "duplicate"
    try:
        row = store_and_apply(event, raw, gateway)
        note = row.note or ""
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if already_stored(gateway, event["id"]):
            return False, "duplicate"
        raise
    return True, note


def receive(payload: bytes, sig_header: str | None) -> tuple[int, dict[str, Any]]:
    """Handle one POST to /webhooks/stripe: 400 and nothing stored unless the signature holds."""
    gateway = get_gateway()
    try:
        event = verify_event(payload, sig_header, webhook_secret(current_app))
    except SignatureError as exc:
        current_app.logger.warning("webhook refused: %s", exc)
        return 400, {"error": "invalid signature"}
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        return 400, {"error": "not an event"}
    try:
        new, note = ingest(event, payload.decode("utf-8"), gateway)
    except SQLAlchemyError:
        # Nothing was stored (the transaction rolled back): ask the sender to try again.
        db.session.rollback()
        current_app.logger.exception("webhook %s not stored; the sender will retry", event["id"])
        return 503, {"error": "temporarily unavailable; retry"}
    return 200, {"received": True, "duplicate": not new, "note": note if new else "duplicate"}


def deliver_sandbox_event(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The sandbox's delivery: sign the event with the webhook secret and hand the raw bytes to
    the same receiver the HTTP endpoint uses (in-process, so a single worker cannot deadlock)."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    return receive(payload, sign_payload(payload, webhook_secret(current_app)))
