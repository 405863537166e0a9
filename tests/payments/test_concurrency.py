"""The same payment reported many times at once, against a live threaded server.

A real ``werkzeug`` server runs the app in a background thread; worker threads POST the
signed completion event (and GET the thank-you page) at the same moment. However the race
goes, there is one payment event row per event id, one gift, one fee, one receipt and one
receipt email. On PostgreSQL the racers meet at the UNIQUE event id and the donation's row
lock; on SQLite its single writer lock (with busy_timeout) serializes them.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from tests.factories import make_case
from tests.live import all_at_once as _all_at_once
from tests.live import live_server
from tests.live import request as _request
from tests.payments.helpers import (
    completion_event,
    event_bytes,
    ledger_kinds,
    pay_without_delivery,
    payment_events,
    raised,
    receipt_messages,
    receipts_for,
    reload,
    signature,
    start_gift,
    thanks_path,
)
from tracker.donations.models import Donation

SLUG = "six-survivors"


def _post_event(base: str, payload: bytes, header: str) -> Callable[[], tuple[int, bytes]]:
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    return lambda: _request(f"{base}/webhooks/stripe", data=payload, headers=headers)


def _get(url: str) -> Callable[[], tuple[int, bytes]]:
    return lambda: _request(url)


@pytest.fixture
def paid(app: Flask, client) -> tuple[Donation, str]:  # noqa: ANN001
    """A donation (with an email) whose sandbox session is paid and committed; no event sent."""
    make_case(SLUG, people=2, status="fundraising")
    donation, session_id = start_gift(client, SLUG, email="donor@example.org", name="Aiko")
    pay_without_delivery(session_id)
    return donation, session_id


def _assert_recorded_once(client, donation: Donation, mail_dir: Path) -> None:  # noqa: ANN001
    donation = reload(donation)
    assert donation.status == "succeeded"
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (5000, 180, 4820)
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1}
    assert len(receipts_for(donation)) == 1
    [message] = receipt_messages()
    assert message.to_address == "donor@example.org"
    assert message.sent_at is not None
    assert len(list(mail_dir.glob("*.eml"))) == 1  # the receipt email left exactly once
    assert raised(client, SLUG) == 5000


def test_one_event_delivered_fifty_times_at_once(app: Flask, client, paid, mail_dir: Path) -> None:  # noqa: ANN001
    donation, session_id = paid
    event = completion_event(session_id)
    payload = event_bytes(event)
    header = signature(app, payload)

    with live_server(app) as base:
        results = _all_at_once([_post_event(base, payload, header)] * 50)

    statuses = [status for status, _ in results]
    assert all(200 <= s < 300 for s in statuses), statuses
    bodies = [json.loads(body) for _, body in results]
    assert sum(not b["duplicate"] for b in bodies) == 1
    assert [b["note"] for b in bodies if not b["duplicate"]] == ["recorded"]
    [row] = payment_events()
    assert row.event_id == event["id"]
    _assert_recorded_once(client, donation, mail_dir)


def test_thanks_pages_and_webhooks_racing(app: Flask, client, paid, mail_dir: Path) -> None:  # noqa: ANN001
    """20 thank-you page loads, 10 copies of one event and 10 distinct events, all at once."""
    donation, session_id = paid
    repeated = completion_event(session_id)
    distinct = [completion_event(session_id) for _ in range(10)]  # new event ids, same session

    with live_server(app) as base:
        calls = [_get(base + thanks_path(donation))] * 20
        payload = event_bytes(repeated)
        calls += [_post_event(base, payload, signature(app, payload))] * 10
        for event in distinct:
            body = event_bytes(event)
            calls.append(_post_event(base, body, signature(app, body)))
        results = _all_at_once(calls)

    statuses = [status for status, _ in results]
    assert all(200 <= s < 300 for s in statuses), statuses
    pages = [body.decode() for _, body in results[:20]]
    # Whoever won the race, every thank-you page was rendered after the gift was recorded.
    assert all('class="confirmed"' in page for page in pages)
    hooks = [json.loads(body) for _, body in results[20:]]
    assert sum(not h["duplicate"] for h in hooks[:10]) == 1
    assert not any(h["duplicate"] for h in hooks[10:])
    assert {h["note"] for h in hooks if not h["duplicate"]} <= {"recorded", "already recorded"}
    assert len(payment_events()) == 11  # one row per distinct event id
    _assert_recorded_once(client, donation, mail_dir)
