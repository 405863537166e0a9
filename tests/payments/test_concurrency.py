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
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.factories import make_case
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
TIMEOUT = 60


class QuietHandler(WSGIRequestHandler):
    """No access log lines for the many requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a threaded werkzeug server on a free port; yields its base URL.

    Request threads are joined on the way out (including the receipt email each response
    may send after it has gone out), so nothing still writes when the test's tables are
    emptied.
    """
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    server.daemon_threads = False  # server_close() then waits for every request thread
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def _request(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
             ) -> tuple[int, bytes]:
    """GET (or POST ``data`` to) our own live server; (status, body) for any status."""
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=data, headers=headers or {},  # noqa: S310
                                     method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _post_event(base: str, payload: bytes, header: str) -> Callable[[], tuple[int, bytes]]:
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    return lambda: _request(f"{base}/webhooks/stripe", data=payload, headers=headers)


def _get(url: str) -> Callable[[], tuple[int, bytes]]:
    return lambda: _request(url)


def _all_at_once(calls: list[Callable[[], tuple[int, bytes]]]) -> list[tuple[int, bytes]]:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)

    def run(call: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls, timeout=TIMEOUT * 2))


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
