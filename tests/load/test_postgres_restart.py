"""PostgreSQL restarted under load: while it is down every answer is a clean 503 (Retry-After,
the app's own page or JSON; never a 500, never a hang), and once it is back the same gunicorn
(same master, no restart) serves pages and takes donations again, each recorded once.

The server is a private cluster made for this test (initdb in /tmp as the postgres OS user, a
free port, its socket in its own folder), never the shared one: it is stopped with
``pg_ctl stop -m fast`` (in-flight transactions are cut off), left down for a few seconds, and
started again. The page cache is off (TRACKER_PAGE_CACHE_SECONDS=0) so that every page view
asks the database, and the connect timeout is 2 s.

Payments whose confirmation failed during the outage (the card was taken but the webhook got
a 503) are what Stripe's retries and ``flask stripe reconcile`` are for: the test runs the
reconciliation, then checks that every paid checkout is recorded exactly once.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_url
from tests.load import harness
from tests.load.harness import Client, Tally
from tracker.config import normalize_database_url

WARM_SECONDS = 4.0
OUTAGE_SECONDS = 3.0
AFTER_SECONDS = 6.0
#: after PostgreSQL answers again, requests started this much later must all succeed
RECOVERY_GRACE = 2.0
#: a request taking longer than this is a hang
HANG_SECONDS = 10.0
OPEN_CASES = ["six-flood-survivors", "deportation-hearing-appeal", None]
PAGES = ["/", "/cases/six-flood-survivors", "/cases/deportation-hearing-appeal",
         "/cases/mother-and-son", "/cases/six-flood-survivors/progress.json",
         "/cases/mother-and-son/progress.json"]


@pytest.fixture
def private_cluster() -> Iterator[harness.PrivateCluster]:
    """A PostgreSQL cluster of this test's own, stopped and removed afterwards."""
    if postgres_url() is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    bindir = harness.postgres_bindir()
    if bindir is None:
        pytest.skip("the PostgreSQL restart test needs the server binaries (initdb, pg_ctl)")
    cluster = harness.PrivateCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


class Traffic:
    """Visitors and donors until ``stop`` is set; what donors saw paid, and when."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tally = Tally(keep_events=True)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.paid: dict[str, float] = {}  # public id -> when the donor started giving
        self.crashes: list[str] = []

    def _loop(self, name: str, step) -> None:  # noqa: ANN001
        rng = random.Random(name)  # noqa: S311 - test traffic, not secrets
        client = Client(self.base, self.tally, timeout=HANG_SECONDS)
        try:
            while not self.stop.is_set():
                try:
                    step(client, rng)
                except Exception:  # noqa: BLE001 - a bug in the test: report it, keep going
                    with self.lock:
                        self.crashes.append(f"{name}: {traceback.format_exc()}")
                    time.sleep(0.1)
        finally:
            client.close()

    def visitor(self, client: Client, rng: random.Random) -> None:
        client.get(rng.choice(PAGES), "page view")
        time.sleep(0.01)

    def donor(self, client: Client, rng: random.Random) -> None:
        client.new_visitor()
        started = time.monotonic()
        checkout = harness.start_checkout(client, rng.choice(OPEN_CASES), {"preset": "JPY:3000"})
        if checkout is None:
            time.sleep(0.1)
            return
        paid = harness.pay_on_page(client, checkout)
        if paid is not None and paid.status_code == 303:
            public_id = harness.thanks_public_id(paid)
            if public_id:
                with self.lock:
                    self.paid[public_id] = started
                client.get(f"/donations/{public_id}/thanks", "thanks page")
        elif paid is not None and paid.status_code < 500:
            client.tally.note(f"paying answered {paid.status_code}")

    def start(self, visitors: int = 3, donors: int = 2) -> list[threading.Thread]:
        threads = ([threading.Thread(target=self._loop, args=(f"visitor{i}", self.visitor))
                    for i in range(visitors)]
                   + [threading.Thread(target=self._loop, args=(f"donor{i}", self.donor))
                      for i in range(donors)])
        for thread in threads:
            thread.start()
        return threads


@pytest.mark.postgresql
def test_postgresql_restart_under_load(private_cluster: harness.PrivateCluster, gunicorn,  # noqa: ANN001
                                       tmp_path: Path, record_property) -> None:  # noqa: ANN001
    cluster = private_cluster
    admin = sa.create_engine(normalize_database_url(cluster.url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text('CREATE DATABASE "tracker"'))
    admin.dispose()
    url = cluster.url("tracker")
    env = harness.server_env(url, tmp_path, TRACKER_PAGE_CACHE_SECONDS="0", TRACKER_DB_CONNECT_TIMEOUT="2")
    harness.prepare_database(env)
    server = gunicorn(env, workers=2, threads=4)
    master, workers = server.pid, server.worker_pids()
    app = harness.local_app(url, tmp_path)
    try:
        since = harness.max_donation_id(app)
        harness.dispose(app)  # no connection of ours stays open across the restart

        traffic = Traffic(server.base)
        threads = traffic.start()
        try:
            t0 = time.monotonic()
            time.sleep(WARM_SECONDS)
            t_stop = time.monotonic()
            cluster.stop("fast")
            t_down = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            t_start = time.monotonic()
            cluster.start()
            t_up = time.monotonic()
            time.sleep(AFTER_SECONDS)
        finally:
            traffic.stop.set()
            for thread in threads:
                thread.join(timeout=2 * HANG_SECONDS)
        assert not any(t.is_alive() for t in threads), "a client thread hung"

        # A donation from start to finish, now that the database is back.
        tally = Tally()
        donor = Client(server.base, tally, timeout=HANG_SECONDS)
        try:
            checkout = harness.start_checkout(donor, "six-flood-survivors", {"preset": "JPY:5000"})
            assert checkout is not None, tally.samples
            paid = harness.pay_on_page(donor, checkout)
            assert paid is not None and paid.status_code == 303, tally.samples
            final_id = harness.thanks_public_id(paid)
            thanks = donor.get(f"/donations/{final_id}/thanks", "thanks")
            assert thanks is not None and "confirmed and recorded" in thanks.text
        finally:
            donor.close()

        pending_paid = _paid_but_pending(app, since)
        reconcile = harness.flask_cli(env, "stripe", "reconcile", "--since", "1h")
        found = harness.recorded(app, since)
        check = harness.flask_cli(env, "reports", "check")
    finally:
        harness.dispose(app)

    events = traffic.tally.events
    failures = [e for e in events if isinstance(e[3], int) and e[3] >= 500 and e[3] != 503]
    unavailable = [e for e in events if e[3] == 503]
    early = [e for e in unavailable if e[1] < t_stop]  # answered before the stop began
    late = [e for e in unavailable if e[0] > t_up + RECOVERY_GRACE]
    slow = [e for e in events if e[1] - e[0] > HANG_SECONDS]
    after = [e for e in events if e[0] > t_up + RECOVERY_GRACE]
    first_ok = min((e[1] for e in events if e[0] >= t_start and e[3] == 200), default=None)
    last_503 = max((e[1] for e in unavailable), default=None)
    paid_after = [p for p, started in traffic.paid.items() if started > t_up + RECOVERY_GRACE]
    statuses = dict(sorted(traffic.tally.statuses.items()))

    def at(t: float | None) -> str:
        return "never" if t is None else f"{t - t_up:+.2f} s"

    summary = (
        f"postgres-restart: {len(events)} requests over {time.monotonic() - t0:.1f} s, statuses {statuses}, "
        f"errors {dict(traffic.tally.errors) or 0}; pg_ctl stop -m fast took {t_down - t_stop:.1f} s, down "
        f"{t_start - t_down:.1f} s, start took {t_up - t_start:.1f} s; {len(unavailable)} clean 503s; "
        f"relative to PostgreSQL answering again: first 200 {at(first_ok)}, last 503 ended {at(last_503)}; "
        f"after +{RECOVERY_GRACE:.0f} s: {len(after)} requests, "
        f"{sum(1 for e in after if not (isinstance(e[3], int) and e[3] < 500))} failed; "
        f"{len(traffic.paid)} donations paid by donors ({len(paid_after)} after recovery), "
        f"{pending_paid} paid during the outage left for reconciliation; gifts recorded "
        f"{len(found.succeeded)} for {len(found.complete_sessions)} paid checkouts; gunicorn master "
        f"{'unchanged' if server.pid == master else 'CHANGED'}, workers "
        f"{'unchanged' if server.worker_pids() == workers else 'replaced'}"
    )
    print("\n" + summary + "\n" + reconcile.strip().splitlines()[-1])
    record_property("postgres_restart_summary", summary)
    harness.write_result("postgres-restart", summary, tmp_path)

    assert not traffic.crashes, "client threads failed:\n" + "\n".join(traffic.crashes[:3])
    assert not failures, f"5xx other than 503: {traffic.tally.samples}"
    assert not traffic.tally.errors, f"failed requests: {dict(traffic.tally.errors)} {traffic.tally.samples}"
    assert unavailable, "no request saw the outage: nothing was tested"
    assert not early, f"{len(early)} 503s answered before PostgreSQL was stopped"
    assert not late, f"{len(late)} 503s more than {RECOVERY_GRACE}s after PostgreSQL was back"
    assert not slow, f"{len(slow)} requests took longer than {HANG_SECONDS}s"
    assert after and all(isinstance(e[3], int) and e[3] < 500 for e in after)
    assert paid_after, "no donation went through after the restart"
    assert server.pid == master and server.proc.poll() is None, "gunicorn itself was restarted"
    assert set(traffic.paid) | {final_id} <= set(found.succeeded)
    assert harness.exactly_once_problems(found, found.complete_sessions) == []
    assert "match the ledger" in check


def _paid_but_pending(app, since: int) -> int:  # noqa: ANN001
    """Checkouts paid whose donation is still pending (its confirmation failed in the outage)."""
    found = harness.recorded(app, since)
    return len(found.complete_sessions - set(found.succeeded))
