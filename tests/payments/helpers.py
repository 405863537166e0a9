"""Helpers for the payment tests: giving through the real form, paying on the sandbox,
signing and delivering webhook events, and reading back what the database holds.

The tests hold an app context of their own (the ``app`` fixture) while the test client runs
each request in a fresh one, so everything read here first ends the test session's
transaction (``fresh``) to see what the requests committed.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func

from tests.conftest import csrf_from
from tracker.donations.models import Donation, Receipt
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.mail.outbox import OutboxMessage
from tracker.payments.gateway import get_gateway, sign_payload, webhook_secret
from tracker.payments.models import PaymentEvent
from tracker.sandbox.gateway import SandboxGateway, sandbox_event
from tracker.sandbox.models import SandboxSession

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def fresh() -> None:
    """End the test session's transaction so the next read sees what requests committed."""
    db.session.rollback()


# --- giving through the form -----------------------------------------------------------------


def give_path(slug: str | None) -> str:
    return f"/cases/{slug}/donate" if slug else "/donate"


def gift_form(token: str, **fields: Any) -> dict[str, Any]:
    """The donation form's fields: ¥5,000 anonymously unless ``fields`` say otherwise.

    A field given as None is left out of the POST altogether.
    """
    data: dict[str, Any] = {
        "csrf_token": token, "currency": "JPY", "preset": "JPY:5000", "amount": "",
        "name": "", "email": "", "message": "", "wall": "anonymous",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def post_gift(client: FlaskClient, slug: str | None = None, **fields: Any):
    """GET the donation form, then POST it with its CSRF token and ``fields``."""
    page = client.get(give_path(slug))
    assert page.status_code == 200, page.status_code
    return client.post(give_path(slug), data=gift_form(csrf_from(page.text), **fields))


def checkout_path(response) -> str:  # noqa: ANN001
    """The sandbox checkout path a donation form redirected to."""
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    path = urlsplit(response.headers["Location"]).path
    assert path.startswith("/sandbox/checkout/cs_test_sbx_"), path
    return path


def start_gift(client: FlaskClient, slug: str | None = None, **fields: Any) -> tuple[Donation, str]:
    """Give through the form up to the checkout: (the pending donation, its session id)."""
    path = checkout_path(post_gift(client, slug, **fields))
    session_id = path.rsplit("/", 1)[1]
    fresh()
    donation = db.session.scalar(db.select(Donation).where(Donation.gateway_session_id == session_id))
    assert donation is not None and donation.status == "pending"
    return donation, session_id


def pay_on_page(client: FlaskClient, session_id: str, card: str = OK_CARD):
    """Pay on the sandbox checkout page as a donor would."""
    path = f"/sandbox/checkout/{session_id}"
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.text), "card_number": card})


def thanks_path(donation: Donation) -> str:
    return f"/donations/{donation.public_id}/thanks"


# --- the sandbox gateway and events ----------------------------------------------------------


def gateway() -> SandboxGateway:
    found = get_gateway()
    assert isinstance(found, SandboxGateway), "these tests need the sandbox gateway"
    return found


def pay_without_delivery(session_id: str) -> dict[str, Any]:
    """The card is charged (session paid, committed) but the completion event is not sent."""
    event = gateway().pay(session_id, OK_CARD)
    assert event is not None
    db.session.commit()
    return event


def sandbox_session(session_id: str) -> SandboxSession:
    fresh()
    session = db.session.get(SandboxSession, session_id)
    assert session is not None
    return session


def completion_event(session_id: str, **changes: Any) -> dict[str, Any]:
    """A checkout.session.completed event for the session as it stands, with ``changes``
    applied to the session object."""
    obj = SandboxGateway.session_object(sandbox_session(session_id))
    obj.update(changes)
    return sandbox_event("checkout.session.completed", obj)


def event_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def signature(app: Flask, payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    return sign_payload(payload, secret or webhook_secret(app), timestamp=timestamp)


def post_webhook(client: FlaskClient, payload: bytes, header: str | None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post("/webhooks/stripe", data=payload, headers=headers)


def deliver(client: FlaskClient, app: Flask, event: dict[str, Any]):
    """POST a correctly signed event to /webhooks/stripe; return the response."""
    payload = event_bytes(event)
    return post_webhook(client, payload, signature(app, payload))


# --- reading back ----------------------------------------------------------------------------


def table_counts() -> dict[str, int]:
    """Rows per table that payments write to, and donations per status."""
    fresh()
    counts = {
        model.__tablename__: int(db.session.scalar(db.select(func.count()).select_from(model)) or 0)
        for model in (PaymentEvent, LedgerEntry, Receipt, OutboxMessage, Donation)
    }
    for status, n in db.session.execute(
        db.select(Donation.status, func.count()).group_by(Donation.status)
    ):
        counts[f"donations:{status}"] = int(n)
    return counts


def reload(donation: Donation) -> Donation:
    fresh()
    found = db.session.get(Donation, donation.id)
    assert found is not None
    return found


def ledger_kinds(donation: Donation) -> Counter[str]:
    fresh()
    return Counter(db.session.scalars(
        db.select(LedgerEntry.kind).where(LedgerEntry.donation_id == donation.id)
    ))


def ledger_amounts(donation: Donation, kind: str) -> list[int]:
    fresh()
    return sorted(db.session.scalars(
        db.select(LedgerEntry.amount_minor).where(LedgerEntry.donation_id == donation.id,
                                                  LedgerEntry.kind == kind)
    ))


def receipts_for(donation: Donation) -> list[Receipt]:
    fresh()
    return list(db.session.scalars(db.select(Receipt).where(Receipt.donation_id == donation.id)))


def receipt_messages() -> list[OutboxMessage]:
    fresh()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "receipt")))


def payment_events() -> list[PaymentEvent]:
    fresh()
    return list(db.session.scalars(db.select(PaymentEvent).order_by(PaymentEvent.id)))


def raised(client: FlaskClient, slug: str) -> int:
    """Money raised for a case as the public progress.json reports it."""
    response = client.get(f"/cases/{slug}/progress.json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["raised"]["currency"] == "JPY"
    return int(body["raised"]["amount_minor"])
