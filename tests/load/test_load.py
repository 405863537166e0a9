"""Load: the real app under gunicorn (4 workers x 4 gthread threads) on a fresh database, for
TRACKER_LOAD_SECONDS (60 s unless set), with the rate limits on (Redis db 5 when Redis answers)
but set out of reach.

Three kinds of client run at once, each a thread with its own cookie jar:

* donors go through the sandbox flow end to end: a case page, the donation form, POST with
  its CSRF token, the TEST MODE checkout page, a test card (some are declined first and try
  again), the thank-you page. Some leave at the checkout page: for those the test plays the
  hosted checkout, marking the session paid without delivering the event;
* webhook senders deliver Stripe-signed checkout.session.completed events: for donations paid
  on the hosted page the event is the only report, sent twice at the same moment, then the
  donor opens the thank-you page (a third recorder); for donations paid on the sandbox page
  "Stripe's" own event arrives after the sandbox's; and old events are redelivered at random;
* visitors read the home page, case pages, progress.json, the transparency page and posts,
  half of them revalidating with If-None-Match.

At the end: no 5xx and no failed request; every payment made is recorded exactly once (one
gift entry per paid donation, succeeded donations = payments made = paid checkouts, each
event stored once and reported new exactly once); every case's public total moved by exactly
the gifts made to it; ``flask reports check`` passes. A summary line is printed, attached to
the report (``record_property``) and written to test-results/load/.
"""

from __future__ import annotations

import json
import queue
import random
import re
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask

from tests.load import harness
from tests.load.harness import Checkout, Client, Tally

DONORS = 6
WEBHOOK_SENDERS = 3
VISITORS = 4
#: share of donors who leave the sandbox page and "pay on the hosted page" instead
HOSTED_SHARE = 0.25
#: share of page-paying donors whose first card is declined
DECLINED_SHARE = 0.1
#: after the run, webhook senders may take this long to send Stripe's events still queued
DRAIN_SECONDS = 15
GIFTS = [
    {"preset": "JPY:3000"}, {"preset": "JPY:5000"}, {"preset": "JPY:10000"},
    {"preset": "USD:2500", "currency": "USD"},
    {"preset": "other", "currency": "JPY", "amount": "1,234"},
    {"preset": "other", "currency": "USD", "amount": "12.50"},
]
DONOR_DETAILS = [
    {},
    {"name": "Aiko Tanaka", "wall": "name", "message": "Stay safe"},
    {"email": "donor@example.org", "wall": "hidden"},
]


class Worker:
    """One client thread: its random choices, its visitors (cookie jars) and the ETags it saw."""

    def __init__(self, name: str, clients: list[Client]) -> None:
        self.rng = random.Random(name)  # noqa: S311 - test traffic, not secrets
        self.client, *self.more = clients
        self.etags: dict[str, str] = {}
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-copy")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for client in (self.client, *self.more):
            client.close()


class LoadRun:
    """The shared state of one run: what was paid, what is waiting for its event."""

    def __init__(self, server: harness.Gunicorn, app: Flask, seconds: float) -> None:
        self.server = server
        self.app = app
        self.tally = Tally()
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.paid_on_page: set[str] = set()
        self.paid_hosted: set[str] = set()
        self.hosted: queue.Queue[Checkout] = queue.Queue()
        self.page_paid: queue.Queue[str] = queue.Queue()
        self.old_events: list[tuple[str, bytes]] = []
        self.reported_new: Counter[str] = Counter()
        self.deliveries = 0
        self.donors_done = threading.Event()
        self.crashes: list[str] = []
        self.slugs: list[str] = []
        self.open_slugs: list[str | None] = [None]
        self.pages: list[str] = []

    @property
    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def paid(self) -> set[str]:
        return self.paid_on_page | self.paid_hosted

    # --- the site as a visitor first sees it ---

    def discover(self) -> None:
        client = Client(self.server.base, Tally())
        try:
            home = client.get("/", "home")
            assert home is not None and home.status_code == 200
            self.slugs = sorted(set(re.findall(r'href="/cases/([a-z0-9-]+)"', home.text)))
            posts = sorted(set(re.findall(r'href="/posts/([a-z0-9-]+)"', home.text)))
            assert self.slugs, "the home page lists no cases"
            for slug in self.slugs:
                form = client.get(harness.give_path(slug), "donate form")
                if form is not None and form.status_code == 200 and "not taking gifts" not in form.text:
                    self.open_slugs.append(slug)
            assert len(self.open_slugs) >= 3, f"expected open demo cases, found {self.open_slugs}"
            year = client.get("/transparency", "transparency")
            assert year is not None and year.status_code == 302
            self.pages = (["/", harness.location_path(year)]
                          + [f"/cases/{s}" for s in self.slugs]
                          + [f"/cases/{s}/progress.json" for s in self.slugs]
                          + [f"/posts/{p}" for p in posts])
        finally:
            client.close()

    def raised(self) -> dict[str, int]:
        client = Client(self.server.base, Tally())
        try:
            totals = {}
            for slug in self.open_slugs:
                if slug is not None:
                    response = client.get(f"/cases/{slug}/progress.json", "progress")
                    assert response is not None and response.status_code == 200
                    totals[slug] = int(response.json()["raised"]["amount_minor"])
            return totals
        finally:
            client.close()

    # --- the clients ---

    def draining(self) -> bool:
        """Webhook senders go on after the run until Stripe's events for every donation paid
        on the sandbox page have been sent (within DRAIN_SECONDS)."""
        return ((not self.donors_done.is_set() or not self.page_paid.empty())
                and time.monotonic() < self.deadline + DRAIN_SECONDS)

    def _loop(self, name: str, step: Any, drain: bool = False) -> None:
        me = Worker(name, [Client(self.server.base, self.tally) for _ in range(3)])
        try:
            while self.running or (drain and self.draining()):
                try:
                    step(me)
                except Exception:  # noqa: BLE001 - a bug in the test: report it, keep going
                    with self.lock:
                        self.crashes.append(f"{name}: {traceback.format_exc()}")
                    time.sleep(0.1)
        finally:
            me.close()

    def donor(self, me: Worker) -> None:
        client, rng = me.client, me.rng
        client.new_visitor()
        slug = rng.choice(self.open_slugs)
        if slug is not None:
            client.get(f"/cases/{slug}", "case page")
        checkout = harness.start_checkout(client, slug, {**rng.choice(GIFTS), **rng.choice(DONOR_DETAILS)})
        if checkout is None:
            return
        if rng.random() < HOSTED_SHARE:
            self.hosted.put(checkout)  # the donor pays on the hosted page: see webhook_sender
            return
        if rng.random() < DECLINED_SHARE:
            declined = harness.pay_on_page(client, checkout, harness.DECLINED_CARD)
            if declined is not None and declined.status_code != 402:
                client.tally.note(f"a declined card answered {declined.status_code}")
        paid = harness.pay_on_page(client, checkout)
        if paid is None or paid.status_code != 303:
            if paid is not None and paid.status_code < 500:
                client.tally.note(f"paying answered {paid.status_code}: {paid.text[:200]}")
            return
        public_id = harness.thanks_public_id(paid)
        if public_id is None:
            client.tally.note(f"paying sent the donor to {paid.headers.get('Location')!r}")
            return
        with self.lock:
            self.paid_on_page.add(public_id)
        self.page_paid.put(checkout.session_id)
        self._thanks(client, public_id)

    def _thanks(self, client: Client, public_id: str) -> None:
        thanks = client.get(f"/donations/{public_id}/thanks", "thanks page")
        if thanks is not None and thanks.status_code == 200 and "confirmed and recorded" not in thanks.text:
            client.tally.note(f"the thank-you page of a paid gift does not confirm it: {public_id}")

    def _deliver(self, client: Client, event_id: str, payload: bytes) -> None:
        response = client.post("/webhooks/stripe", "webhook", data=payload, headers=harness.signed(payload))
        with self.lock:
            self.deliveries += 1
        if response is None or response.status_code >= 500:
            return
        body = response.json() if response.status_code == 200 else {}
        if response.status_code != 200 or body.get("received") is not True:
            client.tally.note(f"webhook answered {response.status_code}: {response.text[:200]}")
            return
        with self.lock:
            self.reported_new[event_id] += 0 if body["duplicate"] else 1

    def webhook_sender(self, me: Worker) -> None:
        client, rng = me.client, me.rng
        try:
            checkout = self.hosted.get_nowait() if self.running else None
        except queue.Empty:
            checkout = None
        if checkout is not None:
            # Paid on the hosted page; the event is the first report. Stripe may send it twice at
            # once; the donor comes back to the thank-you page at the same time.
            event = harness.pay_without_delivery(self.app, checkout.session_id)
            public_id = event["data"]["object"]["metadata"]["donation_id"]
            with self.lock:
                self.paid_hosted.add(public_id)
            payload = json.dumps(event, separators=(",", ":")).encode()
            copies = [me.pool.submit(self._deliver, sender, event["id"], payload)
                      for sender in (client, me.more[0])]
            donor = me.more[1]
            donor.new_visitor()
            self._thanks(donor, public_id)
            for copy in copies:
                copy.result()
            self.old_events.append((event["id"], payload))
            return
        try:
            session_id = self.page_paid.get_nowait()
        except queue.Empty:
            session_id = None
        if session_id is not None:
            # Paid on the sandbox page, which delivered its own event: Stripe's arrives too.
            event = harness.completion_event(self.app, session_id)
            payload = json.dumps(event, separators=(",", ":")).encode()
            self._deliver(client, event["id"], payload)
            self.old_events.append((event["id"], payload))
            return
        if self.running and self.old_events and rng.random() < 0.5:
            event_id, payload = rng.choice(self.old_events)  # a redelivery, signed afresh
            self._deliver(client, event_id, payload)
            time.sleep(0.05)
            return
        time.sleep(0.02)

    def visitor(self, me: Worker) -> None:
        client, rng, etags = me.client, me.rng, me.etags
        path = rng.choice(self.pages)
        headers = {"If-None-Match": etags[path]} if path in etags and rng.random() < 0.5 else {}
        response = client.get(path, "page view", headers=headers)
        if response is None:
            return
        if response.status_code == 200 and response.headers.get("ETag"):
            etags[path] = response.headers["ETag"]
        elif response.status_code not in (200, 304) and response.status_code < 500:
            client.tally.note(f"GET {path} answered {response.status_code}")

    def run(self) -> float:
        donors = [threading.Thread(target=self._loop, args=(f"donor{i}", self.donor)) for i in range(DONORS)]
        threads = (
            donors
            + [threading.Thread(target=self._loop, args=(f"webhooks{i}", self.webhook_sender, True))
               for i in range(WEBHOOK_SENDERS)]
            + [threading.Thread(target=self._loop, args=(f"visitor{i}", self.visitor))
               for i in range(VISITORS)]
        )
        started = time.monotonic()
        self.deadline = started + self.seconds
        for thread in threads:
            thread.start()
        for thread in donors:
            thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + 2 * harness.REQUEST_TIMEOUT)
        self.donors_done.set()
        for thread in threads:
            thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + DRAIN_SECONDS
                        + 2 * harness.REQUEST_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a client thread did not finish"
        return time.monotonic() - started


def test_load(database_url: str, app_here: Flask, gunicorn, tmp_path: Path,  # noqa: ANN001
              record_property) -> None:  # noqa: ANN001
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    env = harness.server_env(database_url, tmp_path)
    server = gunicorn(env, workers=4, threads=4)
    master = server.pid
    run = LoadRun(server, app_here, harness.load_seconds())
    run.discover()
    before_raised = run.raised()
    since = harness.max_donation_id(app_here)
    cases = harness.case_ids(app_here)

    duration = run.run()

    time.sleep(1.2)  # past the page cache's second, so every worker asks the database again
    after_raised = run.raised()
    found = harness.recorded(app_here, since)
    paid = run.paid()
    check = harness.flask_cli(env, "reports", "check")
    tally = run.tally
    summary = (
        f"load[{backend}]: {duration:.1f} s, {tally.requests} requests "
        f"({tally.requests / duration:.1f} req/s), "
        f"statuses {dict(sorted(tally.statuses.items()))}, errors {sum(tally.errors.values())}"
        f"{' ' + str(dict(tally.errors)) if tally.errors else ''}, 5xx {tally.server_errors}; "
        f"payments made {len(paid)} (sandbox page {len(run.paid_on_page)}, hosted page + webhook "
        f"{len(run.paid_hosted)}), gifts expected {len(paid)} found "
        f"{sum(found.gift_entries.get(p, 0) for p in paid)} (donations {dict(found.statuses)}); "
        f"webhook deliveries {run.deliveries} of {len(run.reported_new)} events "
        f"({run.page_paid.qsize()} left unsent); "
        f"latency p50 {1000 * tally.percentile(50):.0f} ms p95 {1000 * tally.percentile(95):.0f} ms "
        f"p99 {1000 * tally.percentile(99):.0f} ms; redis {'yes' if 'REDIS_URL' in env else 'no'}; "
        f"gunicorn 4x4 gthread, {harness.load_seconds():.0f} s asked"
    )
    print("\n" + summary)
    record_property("load_summary", summary)
    path = harness.write_result(f"load-{backend}", summary, tmp_path)
    print(f"(summary written to {path})")

    assert not run.crashes, "client threads failed:\n" + "\n".join(run.crashes[:3])
    assert tally.server_errors == 0, f"5xx answers: {tally.samples}"
    assert not tally.errors, f"failed requests: {dict(tally.errors)}: {tally.samples}"
    assert server.pid == master and server.proc.poll() is None
    assert paid, "no donation was paid during the run"
    assert run.paid_on_page and run.paid_hosted
    assert harness.exactly_once_problems(found, paid) == []
    assert all(n == 1 for n in run.reported_new.values()), (
        f"events reported new other than once: {[e for e, n in run.reported_new.items() if n != 1][:5]}")
    by_case: Counter[int | None] = Counter()
    for case_id, gross in found.succeeded.values():
        by_case[case_id] += gross
    assert found.gift_sum_by_case == {k: v for k, v in by_case.items() if v}
    for slug, before in before_raised.items():
        assert after_raised[slug] - before == by_case.get(cases[slug], 0), slug
    assert "match the ledger" in check
