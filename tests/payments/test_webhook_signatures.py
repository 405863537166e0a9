"""POST /webhooks/stripe trusts nothing but a valid signature on the raw body.

Every refused request answers 400 and leaves no trace: no payment event, no change to the
donation, no ledger entry, no receipt, no email queued. The same donation then gets recorded
by a correctly signed event, so the refusals were not refusing an event that would have done
nothing anyway. And the webhook is the only view without CSRF protection.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import (
    event_bytes,
    gift_form,
    ledger_kinds,
    pay_without_delivery,
    post_webhook,
    reload,
    signature,
    start_gift,
    table_counts,
)
from tracker.donations.models import Donation
from tracker.extensions import csrf
from tracker.payments.gateway import SIGNATURE_TOLERANCE, webhook_secret
from tracker.sandbox.gateway import sandbox_event

SLUG = "six-survivors"


@pytest.fixture
def paid(app: Flask, client) -> tuple[Donation, dict[str, Any]]:  # noqa: ANN001
    """A donation whose sandbox session is paid, and the completion event not yet delivered."""
    make_case(SLUG, people=2, status="fundraising")
    donation, session_id = start_gift(client, SLUG, email="donor@example.org", name="Aiko")
    event = pay_without_delivery(session_id)
    return donation, event


def _tampered(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    """Signed, then the amount changed after signing."""
    payload = event_bytes(event)
    header = signature(app, payload)
    changed = json.loads(payload)
    changed["data"]["object"]["amount_total"] = 1
    return event_bytes(changed), header


def _tampered_one_byte(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    """Signed, then one byte of whitespace added (the raw body is what is signed)."""
    payload = event_bytes(event)
    return payload + b" ", signature(app, payload)


def _wrong_secret(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    payload = event_bytes(event)
    return payload, signature(app, payload, secret="whsec_not_the_right_one")


def _stale(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    """Correctly signed, but more than five minutes ago."""
    payload = event_bytes(event)
    return payload, signature(app, payload, timestamp=int(time.time()) - SIGNATURE_TOLERANCE - 30)


def _missing_header(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    return event_bytes(event), None


def _empty_header(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    return event_bytes(event), ""


def _garbage_header(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    return event_bytes(event), "this is not a signature"


def _header_without_v1(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    payload = event_bytes(event)
    good = signature(app, payload)
    return payload, good.split(",")[0]  # only "t=..."


def _header_bad_timestamp(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    payload = event_bytes(event)
    good = signature(app, payload)
    return payload, "t=yesterday," + good.split(",", 1)[1]


def _signed(body: bytes) -> Callable[[Flask, dict[str, Any]], tuple[bytes, str | None]]:
    """A correctly signed body that is not a usable event."""
    def build(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
        return body, signature(app, body)
    return build


def _signed_non_utf8(app: Flask, event: dict[str, Any]) -> tuple[bytes, str | None]:
    """A body that is not UTF-8, with a correct HMAC over its raw bytes."""
    body = b'{"id":"evt_x","type":"checkout.session.completed","x":"\xff"}'
    ts = int(time.time())
    mac = hmac.new(webhook_secret(app).encode(), f"{ts}.".encode() + body, hashlib.sha256)
    return body, f"t={ts},v1={mac.hexdigest()}"


def _signed_json(obj: Any) -> Callable[[Flask, dict[str, Any]], tuple[bytes, str | None]]:
    return _signed(json.dumps(obj).encode())


BAD_REQUESTS = {
    "tampered body": _tampered,
    "one byte appended": _tampered_one_byte,
    "wrong secret": _wrong_secret,
    "older than five minutes": _stale,
    "missing header": _missing_header,
    "empty header": _empty_header,
    "garbage header": _garbage_header,
    "header without v1": _header_without_v1,
    "header with a bad timestamp": _header_bad_timestamp,
    "non-JSON body": _signed(b"this is not json"),
    "empty body": _signed(b""),
    "non-UTF-8 body": _signed_non_utf8,
    "JSON array": _signed_json([1, 2, 3]),
    "JSON without id or type": _signed_json({"object": "event", "data": {"object": {}}}),
    "JSON without type": _signed_json({"id": "evt_no_type", "data": {"object": {}}}),
    "JSON without id": _signed_json({"type": "checkout.session.completed", "data": {"object": {}}}),
    "id that is not a string": _signed_json({"id": 12, "type": "checkout.session.completed",
                                             "data": {"object": {}}}),
    "event without data": _signed_json({"id": "evt_no_data", "type": "checkout.session.completed"}),
    "data.object not an object": _signed_json({"id": "evt_bad_obj", "type": "charge.refunded",
                                               "data": {"object": "ch_1"}}),
}


@pytest.mark.parametrize("build", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_refused_request_is_400_and_stores_nothing(app: Flask, client, paid, build) -> None:  # noqa: ANN001
    donation, event = paid
    before = table_counts()
    payload, header = build(app, event)

    response = post_webhook(client, payload, header)

    assert response.status_code == 400
    assert response.is_json and "error" in response.get_json()
    assert "received" not in response.get_json()
    assert table_counts() == before
    assert reload(donation).status == "pending"
    assert ledger_kinds(donation) == {}


def test_correctly_signed_event_is_accepted_and_recorded(app: Flask, client, paid) -> None:  # noqa: ANN001
    donation, event = paid
    before = table_counts()
    payload = event_bytes(event)

    response = post_webhook(client, payload, signature(app, payload))

    assert response.status_code == 200
    assert response.get_json() == {"received": True, "duplicate": False, "note": "recorded"}
    after = table_counts()
    assert after["payment_events"] == before["payment_events"] + 1
    assert after["receipts"] == before["receipts"] + 1
    assert reload(donation).status == "succeeded"
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1}


def test_signature_just_inside_the_tolerance_is_accepted(app: Flask, client, paid) -> None:  # noqa: ANN001
    donation, event = paid
    payload = event_bytes(event)
    header = signature(app, payload, timestamp=int(time.time()) - SIGNATURE_TOLERANCE + 30)

    assert post_webhook(client, payload, header).status_code == 200
    assert reload(donation).status == "succeeded"


def test_configured_webhook_secret_replaces_the_derived_one(
    app: Flask, client, paid, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """With STRIPE_WEBHOOK_SECRET set, the sandbox-derived secret no longer verifies."""
    donation, event = paid
    payload = event_bytes(event)
    derived = signature(app, payload)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_configured_for_test")

    assert post_webhook(client, payload, derived).status_code == 400
    assert reload(donation).status == "pending"
    assert post_webhook(client, payload, signature(app, payload)).status_code == 200
    assert reload(donation).status == "succeeded"


def test_unhandled_event_type_is_stored_and_ignored(app: Flask, client, paid) -> None:  # noqa: ANN001
    donation, _ = paid
    event = sandbox_event("customer.created", {"id": "cus_1", "object": "customer"})
    payload = event_bytes(event)

    response = post_webhook(client, payload, signature(app, payload))

    assert response.status_code == 200
    assert response.get_json()["note"].startswith("ignored")
    counts = table_counts()
    assert counts["payment_events"] == 1 and counts["ledger_entries"] == 0
    assert reload(donation).status == "pending"


# --- CSRF ------------------------------------------------------------------------------------


def test_only_the_webhook_and_the_one_click_unsubscribe_are_csrf_exempt(app: Flask) -> None:
    """Flask-WTF keeps exempt views as "module.function" names (and exempt blueprints apart).
    Besides Stripe's webhook (signed), only a follower's unsubscribe link is exempt: RFC 8058
    has a mail client POST it with no page and no token (the link's own signed token is the
    proof, and it can only remove a follow)."""
    assert app.extensions["csrf"] is csrf
    assert app.config["WTF_CSRF_ENABLED"] is True
    assert app.config["WTF_CSRF_CHECK_DEFAULT"] is True
    assert not csrf._exempt_blueprints
    exempt = {
        endpoint for endpoint, view in app.view_functions.items()
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views
    }
    assert exempt == {"payments.stripe_webhook", "follow.unsubscribe"}
    # ...and nothing in the exempt set names a view that is not registered (a stale entry
    # would silently exempt whatever later takes that name).
    registered = {f"{v.__module__}.{v.__name__}" for v in app.view_functions.values()}
    assert csrf._exempt_views <= registered


def test_donation_form_without_csrf_token_is_400(app: Flask, client) -> None:  # noqa: ANN001
    make_case(SLUG, status="fundraising")
    before = table_counts()

    response = client.post(f"/cases/{SLUG}/donate", data=gift_form(None))

    assert response.status_code == 400
    assert table_counts() == before


def test_donation_form_with_forged_csrf_token_is_400(app: Flask, client) -> None:  # noqa: ANN001
    make_case(SLUG, status="fundraising")
    client.get(f"/cases/{SLUG}/donate")  # a session cookie, but not this token
    before = table_counts()

    response = client.post(f"/cases/{SLUG}/donate", data=gift_form("forged.token.value"))

    assert response.status_code == 400
    assert table_counts() == before


def test_sandbox_payment_without_csrf_token_is_400(app: Flask, client) -> None:  # noqa: ANN001
    make_case(SLUG, status="fundraising")
    donation, session_id = start_gift(client, SLUG)

    response = client.post(f"/sandbox/checkout/{session_id}", data={"card_number": "4242424242424242"})

    assert response.status_code == 400
    assert reload(donation).status == "pending"
    assert table_counts()["payment_events"] == 0
