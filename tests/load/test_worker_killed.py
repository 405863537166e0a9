"""A gunicorn worker SIGKILLed in the middle of a webhook, then the event redelivered (as Stripe
retries any delivery that got no 2xx): the gift is recorded exactly once.

How a worker is caught mid-webhook without a test hook in the app: the test holds a lock the
webhook needs. The webhook stores its event row and then locks the donation row
(``tracker.payments.webhooks.store_and_apply`` -> ``record_payment`` -> ``lock_donation``), all in
one transaction.

* PostgreSQL: the test holds ``SELECT ... FROM donations WHERE ... FOR UPDATE``. The worker inserts
  the event row (uncommitted) and blocks on the donation row; pg_stat_activity shows its backend
  waiting on a Lock, and that backend's client port leads (through /proc) to the worker's pid.
* SQLite: the test holds the write lock (BEGIN IMMEDIATE). The worker blocks inserting the event
  row, inside SQLite's busy timeout (10 s, tracker/core/db_setup.py).

In both cases the worker serving the request is the one holding the request's TCP connection
(found through /proc/net/tcp and /proc/<pid>/fd). It is killed with SIGKILL while the request is
still unanswered; the arbiter starts a new worker; the lock is released; the event is delivered
again, twice.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from tests.load import harness
from tests.load.harness import Client, Tally
from tracker.config import normalize_database_url


@contextlib.contextmanager
def holding_the_donation(database_url: str, public_id: str) -> Iterator[sa.Connection | None]:
    """Hold the lock the webhook will wait for, until the block ends."""
    path = harness.sqlite_path(database_url)
    if path is not None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield None
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    engine = sa.create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as conn:
            locked = conn.execute(sa.text("SELECT id FROM donations WHERE public_id = :p FOR UPDATE"),
                                  {"p": public_id}).scalar_one()
            assert locked
            yield conn
            conn.rollback()
    finally:
        engine.dispose()


def _blocked_backend(conn: sa.Connection) -> tuple[int, str, bool] | None:
    """(client port, query, whether it has written payment_events) of a backend of this
    database waiting on a lock, if there is one."""
    # Activity is read once per transaction unless the snapshot is cleared (we are in one).
    conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    row = conn.execute(sa.text(
        "SELECT pid, client_port, query FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).first()
    if row is None:
        return None
    wrote_event = conn.execute(sa.text(
        "SELECT count(*) FROM pg_locks WHERE pid = :pid AND mode = 'RowExclusiveLock'"
        " AND relation = 'payment_events'::regclass"), {"pid": row[0]}).scalar_one() > 0
    return int(row[1]), " ".join(str(row[2]).split()), wrote_event


def test_worker_killed_mid_webhook_then_redelivered(database_url: str, app_here: Flask, gunicorn,  # noqa: ANN001
                                                     tmp_path: Path, record_property) -> None:  # noqa: ANN001
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    server = gunicorn(harness.server_env(database_url, tmp_path), workers=2, threads=4)
    master = server.pid
    tally = Tally()
    donor = Client(server.base, tally)
    try:
        checkout = harness.start_checkout(donor, "six-flood-survivors", {"preset": "JPY:5000"})
    finally:
        donor.close()
    assert checkout is not None, tally.samples
    # Paid on the hosted page; its completion event has not been delivered yet.
    event = harness.pay_without_delivery(app_here, checkout.session_id)
    public_id = event["data"]["object"]["metadata"]["donation_id"]
    payload = json.dumps(event, separators=(",", ":")).encode()
    since = harness.max_donation_id(app_here) - 1

    outcome: dict[str, object] = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.connect()
    client_port = conn.sock.getsockname()[1]

    def deliver() -> None:
        try:
            conn.request("POST", "/webhooks/stripe", body=payload, headers=harness.signed(payload))
            response = conn.getresponse()
            outcome["status"] = response.status
            outcome["body"] = response.read()[:300]
        except (OSError, http.client.HTTPException) as exc:
            outcome["error"] = type(exc).__name__

    started = time.monotonic()
    with contextlib.closing(conn), holding_the_donation(database_url, public_id) as lock:
        sender = threading.Thread(target=deliver, name="doomed-delivery", daemon=True)
        sender.start()
        workers = server.worker_pids()
        victim = None
        evidence = ""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (victim is None or not evidence):
            victim = victim or harness.socket_owner(workers, server.port, client_port)
            if lock is not None:  # PostgreSQL: wait until its backend waits on our lock
                blocked = _blocked_backend(lock)
                if blocked and victim:
                    db_port = sa.make_url(normalize_database_url(database_url)).port or 5432
                    owner = harness.socket_owner(workers, blocked[0], db_port)
                    assert owner == victim, f"the blocked backend belongs to {owner}, not {victim}"
                    assert "FROM donations" in blocked[1] and "FOR UPDATE" in blocked[1], blocked
                    assert blocked[2], "the blocked webhook has not written its event row"
                    evidence = ("its backend has inserted the event row and waits for the donation's row "
                                "lock (SELECT ... FROM donations ... FOR UPDATE)")
            elif victim and time.monotonic() - started > 1.5:
                evidence = "the request is unanswered 1.5 s into SQLite's 10 s busy timeout"
            time.sleep(0.05)
        assert victim is not None and evidence, f"no worker caught mid-webhook ({outcome})"
        assert sender.is_alive() and not outcome, f"answered while the lock was held: {outcome}"

        os.kill(victim, signal.SIGKILL)
        sender.join(timeout=30)
        assert not sender.is_alive()
        # The killed request got no answer at all (Stripe would retry), certainly not a 2xx.
        assert "status" not in outcome or not 200 <= int(outcome["status"]) < 300, outcome
        replacements = server.wait_for_workers(gone={victim})
    # The lock is released; nothing of the killed request was kept.
    found = harness.recorded(app_here, since)
    assert found.statuses == {"pending": 1} and found.events_by_id[event["id"]] == 0

    # Stripe redelivers, and once more for good measure.
    again = Client(server.base, tally)
    try:
        first = again.post("/webhooks/stripe", "redelivery", data=payload, headers=harness.signed(payload))
        second = again.post("/webhooks/stripe", "redelivery", data=payload, headers=harness.signed(payload))
        thanks = again.get(f"/donations/{public_id}/thanks", "thanks")
    finally:
        again.close()
    recovered = time.monotonic() - started

    assert first is not None and first.status_code == 200, (first and first.text, server.log_tail())
    assert first.json() == {"received": True, "duplicate": False, "note": "recorded"}
    assert second is not None and second.status_code == 200 and second.json()["duplicate"] is True
    assert thanks is not None and thanks.status_code == 200 and "confirmed and recorded" in thanks.text
    found = harness.recorded(app_here, since)
    assert found.statuses == {"succeeded": 1}
    assert found.gift_entries == {public_id: 1}
    assert found.events_by_id[event["id"]] == 1
    assert harness.exactly_once_problems(found, {public_id}) == []
    assert server.pid == master and server.proc.poll() is None

    summary = (f"worker-killed[{backend}]: worker {victim} SIGKILLed mid-webhook ({evidence}); "
               f"the request got {outcome.get('error') or outcome.get('status')}; arbiter started "
               f"{sorted(replacements - workers)}; redelivery recorded the gift once "
               f"({found.gift_entries[public_id]} gift entry, event stored once), "
               f"{recovered:.1f} s from the delivery to the checks")
    print("\n" + summary)
    record_property("worker_killed_summary", summary)
    harness.write_result(f"worker-killed-{backend}", summary, tmp_path)
