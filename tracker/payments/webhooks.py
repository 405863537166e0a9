"""The webhook boundary: verify, store the event once, apply it, commit.

The event row (UNIQUE gateway + event id) is written in the same transaction as its effects,
so an event is either stored and applied, or neither. A second delivery of the same event
finds the row and changes nothing; a concurrent one waits on the unique index and then does
the same.

What an event *means* is not decided here: each domain registers the handlers for the event
types it owns (``handles``): gifts and their refunds and disputes in
``tracker.donations.recording``, monthly gifts in ``tracker.monthly.services``. The payments
package so depends on nothing above it, as Stripe's own library knows nothing of our books.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tracker.core.database import upsert_insert
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.payments.gateway import (
    Gateway,
    GatewayError,
    SignatureError,
    get_gateway,
    verify_event,
    webhook_secret,
)
from tracker.payments.models import PaymentEvent

#: sent once per event handed to ``receive`` (the webhook endpoint, the sandbox's deliveries),
#: with keywords ``type`` (the event's type, or "" when it was refused before it could be read)
#: and ``outcome``: "processed", "flagged", "ignored", "queued" (stored for the worker),
#: "duplicate", "invalid_signature", "malformed", "unavailable" or "error" (an exception
#: escaped). The operations metrics count them (``tracker.ops.metrics``).
event_received = Namespace().signal("webhook-event-received")

HANDLED_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


# --- the shape a handled event must have ------------------------------------------------------
#
# Stripe's objects have fixed JSON types. A signed event that breaks them (an amount written as
# a string or a float, a missing id, a list where an object belongs, text PostgreSQL cannot
# store) is refused before anything is stored: it can neither count money nor end in a 500.

#: the longest id stored or compared (the id columns hold 255; a refund reference built from a
#: charge id adds a suffix)
MAX_ID_LENGTH = 200
#: amounts and timestamps are 64-bit integers, timestamps no later than the year 9999
_MAX_INT = 2**63 - 1
_MAX_TIMESTAMP = 253_402_300_799


def _text(value: Any, limit: int | None = None) -> bool:
    """A string the database can store: no NUL, no lone surrogate, at most ``limit`` long."""
    if not isinstance(value, str) or "\x00" in value or (limit is not None and len(value) > limit):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional(check):  # noqa: ANN001, ANN202
    return lambda value: value is None or check(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INT


def _timestamp(value: Any) -> bool:
    return _integer(value) and 0 <= value <= _MAX_TIMESTAMP


def _id(value: Any) -> bool:
    return _text(value, MAX_ID_LENGTH) and value != ""


def _reference(value: Any) -> bool:
    """An optional id: absent, null, empty or an id."""
    return value is None or _text(value, MAX_ID_LENGTH)


def _metadata(value: Any) -> bool:
    return (isinstance(value, dict) and _reference(value.get("donation_id"))
            and _reference(value.get("recurring_gift_id")))


def _object_ref(value: Any) -> bool:
    """An id, or an expanded object with one."""
    return _reference(value) or (isinstance(value, dict) and _reference(value.get("id")))


def _list_of(check):  # noqa: ANN001, ANN202  # pragma: no mutate block (runs only at import)
    """A Stripe list object whose ``data`` items each pass ``check``."""
    def valid(value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        data = value.get("data")
        return data is None or (isinstance(data, list) and all(check(v) for v in data))
    return valid


def _fields(shape: dict[str, Any]):  # noqa: ANN202  # pragma: no mutate block (runs only at import)
    """A nested object whose fields each pass their check."""
    return lambda value: isinstance(value, dict) and all(c(value.get(k)) for k, c in shape.items())


def _refund(value: Any) -> bool:
    return (isinstance(value, dict) and _id(value.get("id")) and _integer(value.get("amount"))
            and _optional(_text)(value.get("status")) and _optional(_integer)(value.get("created")))


def _refunds(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    data = value.get("data")
    return data is None or (isinstance(data, list) and all(_refund(r) for r in data))


_SESSION = {
    "id": _id, "status": _optional(_text), "payment_status": _optional(_text),
    "metadata": _optional(_metadata), "client_reference_id": _reference,
    "amount_total": _optional(_integer), "currency": _optional(_text),
    "payment_intent": lambda v: _reference(v) or (isinstance(v, dict) and _reference(v.get("id"))),
    "created": _optional(_timestamp),
}
_CHARGE = {
    "id": _reference, "payment_intent": _reference, "metadata": _optional(_metadata),
    "amount": _optional(_integer), "amount_refunded": _optional(_integer),
    "currency": _optional(_text), "refunds": _optional(_refunds),
}
_DISPUTE = {
    "id": _id, "charge": _reference, "payment_intent": _reference,
    "metadata": _optional(_metadata), "amount": _optional(_integer), "status": _optional(_text),
    # Stripe sends a dispute's balance transactions expanded, as a plain array
    "balance_transactions": _optional(lambda v: isinstance(v, list) and all(
        isinstance(t, dict) and _id(t.get("id")) and _optional(_integer)(t.get("fee"))
        and _optional(_text)(t.get("currency")) for t in v)),
}
_SESSION = {**_SESSION, "mode": _optional(_text), "subscription": _object_ref,
            "customer": _object_ref}
_INVOICE = {
    "id": _id, "subscription": _object_ref, "customer": _object_ref,
    "amount_paid": _optional(_integer), "currency": _optional(_text),
    "payment_intent": _object_ref, "charge": _object_ref,
    "parent": _optional(_fields({"subscription_details": _optional(_fields({
        "subscription": _object_ref, "metadata": _optional(_metadata)}))})),
    "subscription_details": _optional(_fields({"metadata": _optional(_metadata)})),
    "lines": _optional(_list_of(_fields({"period": _optional(_fields({
        "start": _optional(_timestamp), "end": _optional(_timestamp)}))}))),
}
_SUBSCRIPTION = {
    "id": _id, "status": _optional(_text), "customer": _object_ref,
    "metadata": _optional(_metadata), "currency": _optional(_text),
    "current_period_end": _optional(_timestamp),
    "items": _optional(_list_of(_fields({
        "current_period_end": _optional(_timestamp),
        "price": _optional(_fields({"unit_amount": _optional(_integer),
                                    "currency": _optional(_text)}))}))),
}
_SHAPES = {
    "checkout.session.completed": _SESSION,
    "checkout.session.async_payment_succeeded": _SESSION,
    "checkout.session.async_payment_failed": _SESSION,
    "checkout.session.expired": _SESSION,
    "charge.refunded": _CHARGE,
    "charge.dispute.created": _DISPUTE,
    "charge.dispute.closed": _DISPUTE,
    "invoice.paid": _INVOICE,
    "invoice.payment_failed": _INVOICE,
    "customer.subscription.updated": _SUBSCRIPTION,
    "customer.subscription.deleted": _SUBSCRIPTION,
}


def malformed(event: dict[str, Any]) -> str | None:
    """What makes a verified event unusable (its id, type, or a field its handler reads has
    the wrong type), or None. Types we do not handle are checked for their id and type only."""
    if not _id(event.get("id")):
        return "event id"
    if not _text(event.get("type")):
        return "event type"
    obj = event["data"]["object"]
    for name, check in _SHAPES.get(event["type"], {}).items():
        if not check(obj.get(name)):
            return f"{event['type']} field {name!r}"
    return None


#: a handler gets the verified event and the gateway, applies it and says what it did
Handler = Callable[[dict[str, Any], Gateway], str]
#: (event type, "subscription" for a monthly gift's checkout or "") -> its handler
_HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(*types: str, subscription: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of these event ``types`` (for a
    checkout session, of the one-off kind or, with ``subscription``, of a monthly gift's).
    Registering a type again replaces its handler."""
    unknown = [kind for kind in types if kind not in HANDLED_TYPES]
    if unknown:
        raise ValueError(f"not an event type we take: {unknown}")

    def register(handler: Handler) -> Handler:
        for kind in types:
            _HANDLERS[(kind, "subscription" if subscription else "")] = handler
        return handler

    return register


def _route(event: dict[str, Any]) -> tuple[str, str]:
    """An event's key in the handlers: a checkout session of a monthly gift (mode
    "subscription") goes to monthly giving, every other event by its type alone."""
    kind = event["type"]
    obj = event["data"]["object"]
    subscription = kind.startswith("checkout.session.") and obj.get("mode") == "subscription"
    return kind, "subscription" if subscription else ""


def _apply(event: dict[str, Any], gateway: Gateway) -> str:
    livemode = bool(event.get("livemode"))
    if livemode != gateway.livemode:
        return f"ignored: livemode {livemode} event on a livemode {gateway.livemode} gateway"
    handler = _HANDLERS.get(_route(event))
    if handler is None:
        return "ignored: not a type we handle"
    return handler(event, gateway)


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


# --------------------------------------------------------------------------- queued events

#: the setting's value that stores events for the worker instead of applying them at once
QUEUED = "queued"


def queues_events() -> bool:
    """Whether verified events are stored for ``flask worker`` (TRACKER_WEBHOOK_PROCESSING)."""
    return current_app.config.get("TRACKER_WEBHOOK_PROCESSING") == QUEUED


def enqueue(event: dict[str, Any], raw: str, gateway: Gateway) -> bool:
    """Store a verified event unapplied and commit, in one statement; False when it was stored
    before (a retry, or the same event at the same time on another server)."""
    stmt = (
        upsert_insert(PaymentEvent)
        .values(gateway=gateway.name, event_id=event["id"], type=str(event["type"])[:80],
                livemode=bool(event.get("livemode")), payload=raw, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["gateway", "event_id"])
        .returning(PaymentEvent.id)
    )
    new = db.session.execute(stmt).scalar() is not None
    db.session.commit()
    return new


_UNAPPLIED = PaymentEvent.processed_at.is_(None)


def _claim_unapplied() -> PaymentEvent | None:
    """The oldest stored event not applied yet, held so that no other worker applies it.

    PostgreSQL: locked FOR UPDATE SKIP LOCKED until this transaction ends, so workers on any
    number of machines each take a different one. SQLite: marked applied in one UPDATE (which
    takes the database's write lock) inside the same transaction, so a rollback frees it."""
    oldest = db.select(PaymentEvent.id).where(_UNAPPLIED).order_by(PaymentEvent.id).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalars(
            db.select(PaymentEvent).where(_UNAPPLIED).order_by(PaymentEvent.id).limit(1)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True)
        ).first()
    claimed = db.session.execute(
        db.update(PaymentEvent).where(PaymentEvent.id == oldest.scalar_subquery(), _UNAPPLIED)
        .values(processed_at=utcnow()).returning(PaymentEvent.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    return db.session.get(PaymentEvent, claimed, populate_existing=True) if claimed else None


def apply_stored(limit: int = 200) -> tuple[int, int]:
    """Apply up to ``limit`` stored events in the order they arrived, each in its own
    transaction (committed); returns (applied, failed). An event that fails (the database, or
    Stripe itself for a settlement lookup) stays unapplied and this round stops: the next
    round tries it again, as Stripe would have retried it."""
    gateway = get_gateway()
    applied = failed = 0
    while applied + failed < limit:
        row = _claim_unapplied()
        if row is None:
            break
        event_id = row.event_id
        try:
            row.note = _apply(json.loads(row.payload), gateway)[:500]
            row.processed_at = utcnow()
            db.session.commit()
        except Exception:  # noqa: BLE001 - any failure: leave it for the next round
            db.session.rollback()
            current_app.logger.exception("webhook event %s not applied; will retry", event_id)
            failed += 1
            break
        applied += 1
    db.session.commit()  # end the (possibly read-only) transaction; hold no locks
    return applied, failed


def count_unapplied() -> int:
    """Stored events waiting for the worker."""
    return int(db.session.scalar(db.select(func.count()).select_from(PaymentEvent)
                                 .where(_UNAPPLIED)) or 0)


def _outcome(note: str) -> str:
    """The outcome of an applied event, from its handler's note, in a handful of words."""
    if note.startswith("ignored"):
        return "ignored"
    return "flagged" if note == "flagged" else "processed"


def receive(payload: bytes, sig_header: str | None, *, queue: bool | None = None
            ) -> tuple[int, dict[str, Any]]:
    """Handle one POST to /webhooks/stripe: 400 and nothing stored unless the signature holds.

    With ``queue`` (default: TRACKER_WEBHOOK_PROCESSING is "queued") the verified event is
    only stored, and ``apply_stored`` (the worker) applies it. Each call sends
    ``event_received`` with what became of the event."""
    kind, outcome = "", "error"  # what an unexpected exception leaves
    try:
        status, body, kind, outcome = _receive(payload, sig_header, queue)
    finally:
        event_received.send(current_app._get_current_object(), type=kind, outcome=outcome)
    return status, body


def _receive(payload: bytes, sig_header: str | None, queue: bool | None
             ) -> tuple[int, dict[str, Any], str, str]:
    gateway = get_gateway()
    try:
        event = verify_event(payload, sig_header, webhook_secret(current_app))
    except SignatureError as exc:
        current_app.logger.warning("webhook refused: %s", exc)
        return 400, {"error": "invalid signature"}, "", "invalid_signature"
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        return 400, {"error": "not an event"}, "", "malformed"
    problem = malformed(event)
    if problem:
        current_app.logger.warning("webhook refused: malformed %s", problem)
        return 400, {"error": "malformed event"}, "", "malformed"
    kind = event["type"]
    if queues_events() if queue is None else queue:
        try:
            new = enqueue(event, payload.decode("utf-8"), gateway)
        except SQLAlchemyError:
            db.session.rollback()
            current_app.logger.exception("webhook %s not stored; the sender will retry", event["id"])
            return 503, {"error": "temporarily unavailable; retry"}, kind, "unavailable"
        body = {"received": True, "duplicate": not new, "note": "queued" if new else "duplicate"}
        return 200, body, kind, "queued" if new else "duplicate"
    try:
        new, note = ingest(event, payload.decode("utf-8"), gateway)
    except (SQLAlchemyError, GatewayError):
        # Nothing was stored (the transaction rolled back), whether the database or Stripe
        # itself (a settlement lookup) failed: ask the sender to try again.
        db.session.rollback()
        current_app.logger.exception("webhook %s not stored; the sender will retry", event["id"])
        return 503, {"error": "temporarily unavailable; retry"}, kind, "unavailable"
    outcome = _outcome(note) if new else "duplicate"
    return 200, {"received": True, "duplicate": not new, "note": note if new else "duplicate"}, kind, outcome
