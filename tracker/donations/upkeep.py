"""Periodic upkeep of gifts, run by ``flask stripe reconcile`` and by the worker
(``tracker.worker``): recording what the gateway has and we missed, and ending checkouts
that donors abandoned.

Each function commits as it goes (one donation per transaction), so call it outside a unit
of work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from tracker.core import transactions
from tracker.core.time import utcnow
from tracker.donations import recording
from tracker.donations.models import EXPIRED, PENDING, Donation
from tracker.donations.services import lock_donation
from tracker.extensions import db
from tracker.payments import webhooks
from tracker.payments.gateway import Gateway, GatewayError


@dataclass
class Reconciled:
    """What a reconcile found: checkouts by outcome, and events listed and new."""

    since: datetime
    sessions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    events: int = 0
    new_events: int = 0

    def summary(self) -> str:
        outcomes = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items())) or "none"
        return (f"Checkouts since {self.since:%Y-%m-%d %H:%M} UTC: {self.sessions} ({outcomes}). "
                f"Events: {self.events} listed, {self.new_events} new.")


def reconcile(gateway: Gateway, since: timedelta) -> Reconciled:
    """Record the completed checkouts and the events of the last ``since`` that never reached
    us, each once (safe to run again, and beside the webhook). Raises GatewayError when the
    gateway cannot be asked (what was recorded before stays)."""
    result = Reconciled(since=utcnow() - since)
    try:
        sessions = gateway.list_completed_sessions(result.since)
        for facts in sessions:
            outcome = recording.record_payment(facts, gateway)
            db.session.commit()
            result.outcomes[str(outcome)] = result.outcomes.get(str(outcome), 0) + 1
        events = gateway.list_events(result.since, list(webhooks.HANDLED_TYPES))
    except GatewayError:
        db.session.rollback()
        raise
    result.sessions, result.events = len(sessions), len(events)
    for event in events:
        new, _ = webhooks.ingest(event, json.dumps(event, separators=(",", ":")), gateway)
        result.new_events += new
    return result


#: what ending one abandoned checkout did
EXPIRED_NOW, PAID_MEANWHILE = "expired", "paid meanwhile"
NOT_PENDING, STILL_OPEN = "not pending", "still open"


def abandoned_checkouts(gateway: Gateway, older_than: timedelta, limit: int = 200) -> list[str]:
    """Public ids of card gifts through ``gateway`` still pending ``older_than`` after their
    checkout started (the donation is made when its checkout starts), oldest first. A monthly
    gift's checkout is a RecurringGift's, not a donation's: it is not among them."""
    cutoff = utcnow() - older_than
    return list(db.session.scalars(
        select(Donation.public_id)
        .where(Donation.status == PENDING, Donation.channel == "card",
               Donation.gateway == gateway.name, Donation.recurring_gift_id.is_(None),
               Donation.awaiting_method.is_(None),  # a voucher ends by its own expiry
               Donation.created_at < cutoff)
        .order_by(Donation.created_at, Donation.id)
        .limit(limit)
    ))


def expire_checkout(public_id: str, gateway: Gateway) -> str:
    """End one abandoned checkout: the gateway expires its session first (so it can no
    longer be paid), then the donation, locked and read again in the same transaction, is
    marked expired only if it is still pending. A session the gateway reports paid is left
    for the webhook or reconcile to record. Flushes; the caller commits.

    Not audited, like the other ends of a checkout that was never paid (a declined payment,
    the gateway's own expiry): nothing was counted, nothing changes in any total.
    """
    session_id = db.session.scalar(
        select(Donation.gateway_session_id).where(Donation.public_id == public_id))
    if session_id:
        facts = gateway.expire_checkout(session_id)
        if facts.status == "complete":
            return PAID_MEANWHILE
        if facts.status != "expired":
            return STILL_OPEN
    donation = lock_donation(public_id)
    if donation is None or donation.status != PENDING:
        return NOT_PENDING
    donation.status = EXPIRED
    db.session.flush()
    return EXPIRED_NOW


def expire_abandoned_checkouts(gateway: Gateway, older_than: timedelta) -> dict[str, int]:
    """End every checkout abandoned for ``older_than``, one per transaction; counts by
    outcome ("expired", "paid meanwhile", ..., "gateway error" for one the gateway could not
    answer about, tried again next time)."""
    counts: dict[str, int] = {}
    for public_id in abandoned_checkouts(gateway, older_than):
        try:
            outcome = expire_checkout(public_id, gateway)
            transactions.commit()  # then the gateway's expiry events, if it sends any
        except GatewayError:
            db.session.rollback()
            outcome = "gateway error"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
