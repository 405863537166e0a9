"""HTTP benchmark: every public page and webhook ingestion against a bare Flask endpoint.

For each database (PostgreSQL, SQLite or both) it builds a fresh database, loads
``flask seed-demo --donations N`` once (default one million gifts; the time is printed), then,
on this machine, under the same gunicorn settings (gthread, 2 workers x 4 threads):

* the bare endpoint (bench/bare_app.py), the baseline, measured again right before each
  endpoint (before and after each webhook run), so a ratio is to the bare figure of the same
  moment on a machine whose other load comes and goes;
* the public pages, each warmed up for a second and then measured: the home page, a case
  page, its ``progress.json`` answered 200 (no If-None-Match) and 304 (the ETag of a first
  answer sent back), a published post, the transparency page of the year under way (found
  by following ``/transparency``), the donate form (a form with a CSRF token and a session,
  so never cached) and ``/healthz`` (for information);
* webhook ingestion twice: "viral", every gift to one case, and "spread", gifts round-robin
  over every open public case. Each signed checkout.session.completed event is sent twice,
  the copies next to each other in the queue, so two threads usually hold the same event at
  once; every gift must be recorded exactly once (events stored == gifts recorded ==
  donations succeeded == events), and ``flask reports check`` must find the rollups exact.

A Python load generator with keep-alive connections measures requests per second and latency;
each figure is printed as a ratio to the bare endpoint measured just before it, so figures
compare across machines and hold on a machine busy with other work. Targets: public pages
>= 0.5x, the donate form >= 0.15x, webhook ingestion >= 0.1x.

    .venv/bin/python bench/http_bench.py [--database postgresql|sqlite|both]
        [--donations 1000000] [--seconds 8] [--events 1500] [--strict]

Exit status 1 when a gift was not recorded exactly once or the rollups are not exact; a
missed target is printed as MISSED and fails the run only with ``--strict``. PostgreSQL is
TEST_DATABASE_URL's server, or 127.0.0.1:5432 as postgres; the bench creates and drops its own
database there. SQLite is a file in a temporary folder (WAL, busy timeout: see
tracker/core/database.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-key"
CASE = "six-flood-survivors"
PAGE_TARGET = 0.5
FORM_TARGET = 0.15
WEBHOOK_TARGET = 0.1
#: events sent (each twice) before webhook ingestion is measured, to warm every worker up
WEBHOOK_WARMUP_EVENTS = 40


def say(*parts: object) -> None:
    print(*parts, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(module: str, port: int, env: dict[str, str], workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
           str(workers), "--threads", "4", "--worker-class", "gthread", "--log-level",
           "warning", "--chdir", str(ROOT), module]
    log = tempfile.TemporaryFile()  # noqa: SIM115  (a file, not a pipe: a full pipe stalls workers)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(stop(proc)) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def stop(proc: subprocess.Popen) -> str:
    """Stop a server; return the tail of what it wrote to stderr."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.seek(0)  # type: ignore[attr-defined]
    tail = proc.log.read().decode(errors="replace")[-3000:]  # type: ignore[attr-defined]
    proc.log.close()  # type: ignore[attr-defined]
    return tail


Request = tuple[str, str, bytes | None, dict[str, str]]


class Load:
    """Requests from ``concurrency`` threads with keep-alive until ``seconds`` pass (or the
    requests run out). An answer whose status is not ``expect`` counts as an error."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.concurrency = concurrency
        self.samples: list[str] = []

    def run(self, next_request: Callable[[], Request | None], seconds: float,
            expect: int = 200) -> dict[str, float]:
        latencies: list[float] = []
        errors = [0]
        self.samples = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            mine: list[float] = []
            bad = 0
            while time.perf_counter() < stop_at:
                request = next_request()
                if request is None:
                    break
                method, path, body, headers = request
                started = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    if response.status != expect:
                        bad += 1
                        if len(self.samples) < 5:
                            self.samples.append(f"{response.status} {data[:200]!r}")
                except (OSError, http.client.HTTPException) as exc:
                    bad += 1
                    if len(self.samples) < 5:
                        self.samples.append(f"{type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                mine.append(time.perf_counter() - started)
            conn.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "requests": len(latencies),
            "seconds": elapsed,
            "rps": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
            "p99_ms": 1000 * latencies[max(int(len(latencies) * 0.99) - 1, 0)] if latencies else 0.0,
            "errors": errors[0],
        }


def get(path: str, headers: dict[str, str] | None = None) -> Callable[[], Request]:
    return lambda: ("GET", path, None, headers or {})


def fetch_once(port: int, path: str, headers: dict[str, str] | None = None
               ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --- databases --------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    server = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return "postgresql+psycopg://" + urlsplit(server).netloc + "/postgres"


def create_postgres(admin_url: str, name: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_postgres(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def flask_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``flask --app tracker ARGS``; return its exit status and output."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    return done.returncode, (done.stdout + done.stderr).strip()


def analyze(url: str) -> None:
    """Fresh planner statistics after the bulk load, as autovacuum (PostgreSQL) would soon
    give a running server; SQLite has no autovacuum, so a deployment runs ANALYZE itself."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()


# --- events -----------------------------------------------------------------------------------


def open_public_cases(app) -> list[str]:  # noqa: ANN001
    """Slugs of the cases the public sees and may give to."""
    from tracker.cases import public as public_view
    from tracker.extensions import db

    with app.app_context():
        slugs = [case.slug for case in public_view.public_cases()]
        db.session.remove()
    return slugs


def pending_sessions(app, slugs: list[str], count: int, label: str) -> list[dict]:  # noqa: ANN001
    """Paid sandbox checkouts whose completion event has not been delivered yet, the gifts
    going round-robin to ``slugs``."""
    from tracker.cases.models import RescueCase
    from tracker.core.money import Money
    from tracker.donations import services
    from tracker.extensions import db
    from tracker.payments.gateway import CheckoutRequest
    from tracker.sandbox.gateway import SandboxGateway

    gateway = SandboxGateway()
    events = []
    started = time.perf_counter()
    tag = uuid.uuid4().hex[:6]
    with app.test_request_context():
        cases = [db.session.scalar(db.select(RescueCase).where(RescueCase.slug == slug))
                 for slug in slugs]
        for i in range(count):
            case = cases[i % len(cases)]
            donation = services.start_donation(
                case, services.GiftInput(Money(5000, "JPY"), email=f"bench-{tag}-{i}@example.org"),
                "sandbox")
            start = gateway.create_checkout(CheckoutRequest(
                donation.public_id, Money(5000, "JPY"), "Gift", "http://x/ok", "http://x/no"))
            donation.gateway_session_id = start.session_id
            events.append(gateway.pay(start.session_id, "4242424242424242"))
            if (i + 1) % 500 == 0:
                db.session.commit()
                say(f"    {label}: {i + 1}/{count} checkouts made "
                    f"({time.perf_counter() - started:.1f} s)")
        db.session.commit()
        db.session.remove()
    say(f"    {label}: {count} checkouts to {len(cases)} case(s) made in "
        f"{time.perf_counter() - started:.1f} s")
    return events


def count_rows(app) -> dict[str, int]:  # noqa: ANN001
    from tracker.donations.models import Donation
    from tracker.extensions import db
    from tracker.ledger.models import LedgerEntry
    from tracker.payments.models import PaymentEvent

    with app.app_context():
        rows = {
            "events": db.session.scalar(db.select(db.func.count()).select_from(PaymentEvent)),
            "gifts": db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry)
                                       .where(LedgerEntry.kind == "gift")),
            "succeeded": db.session.scalar(db.select(db.func.count()).select_from(Donation)
                                           .where(Donation.status == "succeeded")),
        }
        db.session.remove()
    return rows


def published_post(app) -> str | None:  # noqa: ANN001
    """The newest post the public may read."""
    from tracker.extensions import db
    from tracker.posts.models import PUBLISHED, Post

    with app.app_context():
        slug = db.session.scalar(db.select(Post.slug).where(Post.status == PUBLISHED)
                                 .order_by(Post.published_at.desc()).limit(1))
        db.session.remove()
    return slug


# --- one database -----------------------------------------------------------------------------


class Section:
    """Results of one database: rows of the table, and whether the money stayed exact."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.rows: list[tuple[str, dict[str, float], float | None, float]] = []
        self.notes: list[str] = []
        self.exact = True
        self.missed: list[str] = []
        self.timings: list[tuple[str, float]] = []

    def add(self, name: str, result: dict[str, float], target: float | None, bare: float) -> None:
        """One row; ``bare`` is the bare endpoint's req/s measured right before (and, for
        webhooks, after) it, so a machine whose load drifts during the section still gives
        fair ratios."""
        self.rows.append((name, result, target, bare))
        ratio = result["rps"] / bare if bare else 0.0
        met = target is None or (ratio >= target and not result["errors"])
        if not met:
            self.missed.append(name)
        say(f"  {name:<34} {result['rps']:>8.1f} req/s {ratio:>6.2f}x  p50 {result['p50_ms']:7.1f} ms"
            f"  p99 {result['p99_ms']:7.1f} ms  errors {int(result['errors'])}"
            f"  (bare {bare:.0f} req/s; load average {os.getloadavg()[0]:.1f})")

    def table(self) -> list[str]:
        lines = [f"{'endpoint':<34} {'req/s':>9} {'bare':>7} {'ratio':>7} {'p50 ms':>8} "
                 f"{'p99 ms':>8} {'errors':>7} {'target':>7}  result"]
        for name, r, target, bare in self.rows:
            ratio = r["rps"] / bare if bare else 0.0
            if target is None:
                verdict, shown = "(info)", "-"
            else:
                ok = ratio >= target and not r["errors"]
                verdict, shown = ("met" if ok else "MISSED"), f">={target:g}x"
                if r["errors"] and ratio >= target:
                    verdict = "MISSED (errors)"
            lines.append(f"{name:<34} {r['rps']:>9.1f} {bare:>7.0f} {ratio:>6.2f}x {r['p50_ms']:>8.1f} "
                         f"{r['p99_ms']:>8.1f} {int(r['errors']):>7} {shown:>7}  {verdict}")
        return lines


def timed_step(section: Section, name: str, started: float) -> None:
    seconds = time.perf_counter() - started
    section.timings.append((name, seconds))
    say(f"  [{name}: {seconds:.1f} s]")


def bench_database(kind: str, args: argparse.Namespace) -> Section:
    label = "PostgreSQL" if kind == "postgresql" else "SQLite"
    section = Section(label)
    section_started = time.perf_counter()
    say(f"\n=== {label}: {args.donations:,} demo gifts ===")
    tmp = tempfile.mkdtemp(prefix=f"tracker-bench-{kind}-")
    mail_dir = os.path.join(tmp, "mail")
    admin_url = postgres_admin_url() if kind == "postgresql" else ""
    pg_name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    url = (create_postgres(admin_url, pg_name) if kind == "postgresql"
           else f"sqlite:///{tmp}/bench.sqlite3")
    env = {**os.environ, "SECRET_KEY": SECRET, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
           "MAIL_FILE_DIR": mail_dir, "TRACKER_OUTBOX_DELIVERY": "worker",
           "TRACKER_RECONCILE_MINUTES": "600"}
    env.pop("STRIPE_SECRET_KEY", None)
    queued_env = {**env, "TRACKER_WEBHOOK_PROCESSING": "queued"}
    inline_env = {**env, "TRACKER_WEBHOOK_PROCESSING": "inline"}
    procs: list[subprocess.Popen] = []
    app = None
    try:
        started = time.perf_counter()
        status, output = flask_cli(env, "db", "upgrade")
        if status:
            raise RuntimeError(f"flask db upgrade failed:\n{output}")
        timed_step(section, "schema (flask db upgrade)", started)
        started = time.perf_counter()
        status, output = flask_cli(env, "seed-demo", "--donations", str(args.donations))
        if status:
            raise RuntimeError(f"flask seed-demo failed:\n{output}")
        say("  " + output.replace("\n", "\n  "))
        timed_step(section, f"seed-demo --donations {args.donations}", started)
        started = time.perf_counter()
        analyze(url)
        timed_step(section, "ANALYZE", started)
        # The worker's periodic jobs run once now, before the bench makes its paid checkouts:
        # a reconcile during a webhook run would rightly record those "missed" payments itself
        # and the run's own count would be off (TRACKER_RECONCILE_MINUTES keeps it from
        # running again during the bench).
        status, output = flask_cli(env, "worker", "--once")
        if status:
            raise RuntimeError(f"flask worker --once failed:\n{output}")

        from tracker import create_app
        from tracker.payments.gateway import sign_payload, webhook_secret

        app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": url, "MAIL_FILE_DIR": mail_dir})
        secret = webhook_secret(app)
        slugs = open_public_cases(app)
        post = published_post(app)
        if CASE not in slugs:
            raise RuntimeError(f"the demo case {CASE} is not open to gifts")
        say(f"  {len(slugs)} open public cases; published post: {post}")

        started = time.perf_counter()
        say(f"  making {args.events} + {args.events} paid sandbox checkouts in-process")
        runs = []
        for processing in args.webhooks:
            runs.append((processing, "viral", pending_sessions(app, [CASE], args.events, "viral")))
            runs.append((processing, "spread", pending_sessions(app, slugs, args.events, "spread")))
        timed_step(section, "checkouts for the webhook runs", started)

        # -- the baseline --
        started = time.perf_counter()
        # The bare server stays up (idle, it costs nothing) and is measured again right before
        # each endpoint: other work on the machine comes and goes, and a ratio is only fair
        # to a baseline taken at the same moment.
        bare_port = free_port()
        procs.append(start_gunicorn("bench.bare_app:app", bare_port, env, args.workers))
        bare_load = Load(bare_port, args.concurrency)
        bare_load.run(get("/"), 1.0)

        def bare() -> float:
            return bare_load.run(get("/"), args.seconds)["rps"]

        first = bare_load.run(get("/"), args.seconds)
        section.add("bare endpoint (baseline)", first, None, first["rps"])

        # -- the pages --
        port = free_port()
        procs.append(start_gunicorn("wsgi:app", port, queued_env, args.workers))
        load = Load(port, args.concurrency)
        status, headers, _ = fetch_once(port, "/transparency")
        if status not in (301, 302, 303, 307, 308):
            raise RuntimeError(f"/transparency answered {status}, not a redirect")
        transparency = urlsplit(headers["location"]).path
        status, headers, _ = fetch_once(port, f"/cases/{CASE}/progress.json")
        etag = headers.get("etag")
        if status != 200 or not etag:
            raise RuntimeError(f"progress.json answered {status} with ETag {etag!r}")
        pages: list[tuple[str, Callable[[], Request], float | None, int]] = [
            ("home /", get("/"), PAGE_TARGET, 200),
            ("case page", get(f"/cases/{CASE}"), PAGE_TARGET, 200),
            ("progress.json 200", get(f"/cases/{CASE}/progress.json"), PAGE_TARGET, 200),
            ("progress.json 304", get(f"/cases/{CASE}/progress.json", {"If-None-Match": etag}),
             PAGE_TARGET, 304),
        ]
        if post:
            pages.append((f"post /posts/{post}", get(f"/posts/{post}"), PAGE_TARGET, 200))
        else:
            section.notes.append("no published post was found: the post page was not measured")
        pages += [
            (transparency, get(transparency), PAGE_TARGET, 200),
            ("donate form (GET)", get(f"/cases/{CASE}/donate"), FORM_TARGET, 200),
            ("/healthz", get("/healthz"), None, 200),
        ]
        for name, request, target, expect in pages:
            baseline = bare()
            load.run(request, 1.0, expect)
            result = load.run(request, args.seconds, expect)
            section.add(name, result, target, baseline)
            for sample in load.samples:
                section.notes.append(f"{name}: unexpected answer: {sample}")
        timed_step(section, "bare endpoint and pages", started)

        # -- webhook ingestion: queued (the app server stores, `flask worker`s apply) and
        # inline (the app server applies before answering), each viral and spread --
        servers = {"queued": (port, load)}
        if "inline" in args.webhooks:
            inline_port = free_port()
            procs.append(start_gunicorn("wsgi:app", inline_port, inline_env, args.workers))
            servers["inline"] = (inline_port, Load(inline_port, args.concurrency))
        for processing, mode, events in runs:
            started = time.perf_counter()
            workers = ([start_workers(queued_env, args.apply_workers)]
                       if processing == "queued" else [])
            try:
                ok = ingest(section, app, servers[processing][1], f"{processing} {mode}", events,
                            secret, sign_payload, args, bare, applied_by=workers)
            finally:
                for group in workers:
                    for proc in group:
                        stop(proc)
            section.exact = section.exact and ok
            timed_step(section, f"webhook {processing} {mode}", started)
        started = time.perf_counter()
        status, output = flask_cli(env, "reports", "check")
        exact = status == 0
        say(f"  flask reports check after the webhook runs: {'exact' if exact else 'NOT EXACT'}: "
            f"{output.splitlines()[-1] if output else ''}")
        section.notes.append(f"rollups after the webhook runs (flask reports check): "
                             f"{'exact' if exact else 'NOT EXACT'}: {output[-300:]}")
        section.exact = section.exact and exact
        timed_step(section, "reports check", started)
        if "inline" in servers:
            stop(procs.pop())  # the inline app server
        log_tail = stop(procs.pop())  # the app's server (the bare one is stopped below)
        if any("unexpected answer" in note for note in section.notes) or not section.exact:
            section.notes.append("app server's log (tail):\n" + log_tail)
    finally:
        for proc in procs:
            stop(proc)
        if app is not None:
            from tracker.extensions import db

            with app.app_context():
                db.engine.dispose()
        if kind == "postgresql":
            drop_postgres(admin_url, pg_name)
        shutil.rmtree(tmp, ignore_errors=True)
    section.timings.append(("whole section", time.perf_counter() - section_started))
    return section


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen]:
    """``count`` `flask worker` processes (they apply queued webhook events and send mail)."""
    procs = []
    for _ in range(count):
        log = tempfile.TemporaryFile()  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "tracker", "worker",
                                 "--poll", "0.2"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log)
        proc.log = log  # type: ignore[attr-defined]
        procs.append(proc)
    return procs


def unapplied(app) -> int:  # noqa: ANN001
    from tracker.payments.webhooks import count_unapplied

    with app.app_context():
        return count_unapplied()


def ingest(section: Section, app, load: Load, mode: str, events: list[dict], secret: str,  # noqa: ANN001
           sign_payload, args: argparse.Namespace, bare: Callable[[], float],  # noqa: ANN001
           applied_by: list | None = None) -> bool:
    """Send every event twice (the copies adjacent); True when each gift was recorded once.

    With ``applied_by`` (queued webhooks: the workers' processes) the gifts are recorded by
    the workers: after the last delivery this waits until none is left unapplied and prints
    the end-to-end rate (events applied per second, from the first delivery to the last gift)."""
    bodies = [json.dumps(e, separators=(",", ":")).encode() for e in events]
    warm = min(WEBHOOK_WARMUP_EVENTS, len(bodies) // 10)
    before = count_rows(app)

    def sender(chosen: list[bytes]) -> Callable[[], Request | None]:
        queue = [b for body in chosen for b in (body, body)]
        position = [0]
        lock = threading.Lock()

        def next_event() -> Request | None:
            with lock:
                if position[0] >= len(queue):
                    return None
                body = queue[position[0]]
                position[0] += 1
            return ("POST", "/webhooks/stripe", body,
                    {"Stripe-Signature": sign_payload(body, secret),
                     "Content-Type": "application/json"})
        return next_event

    baseline = bare()
    if warm:
        load.run(sender(bodies[:warm]), args.webhook_limit)
    warm_samples = list(load.samples)
    first_sent = time.perf_counter()
    result = load.run(sender(bodies[warm:]), args.webhook_limit)
    name = f"webhook {mode}"
    if applied_by:
        deadline = time.perf_counter() + args.webhook_limit
        while unapplied(app) and time.perf_counter() < deadline:
            time.sleep(0.1)
        drained = time.perf_counter() - first_sent
        waiting = unapplied(app)
        workers = sum(len(group) for group in applied_by)
        applied_note = (f"{name}: {len(bodies) - warm} events applied by {workers} worker "
                        f"processes in {drained:.1f} s from the first delivery: "
                        f"{(len(bodies) - warm) / drained:.0f} events/s end to end"
                        + (f"; {waiting} STILL WAITING" if waiting else ""))
        say("  " + applied_note)
        section.notes.append(applied_note)
    baseline = (baseline + bare()) / 2  # a long run: the bare endpoint before and after it
    section.add(name, result, WEBHOOK_TARGET, baseline)
    for sample in warm_samples + load.samples:
        section.notes.append(f"{name}: unexpected answer: {sample}")
    after = count_rows(app)
    rows = {k: after[k] - before[k] for k in after}
    sent = 2 * warm + int(result["requests"])
    exact = rows["events"] == rows["gifts"] == rows["succeeded"] == len(bodies)
    note = (f"{name}: {sent} deliveries of {len(bodies)} events ({warm} of them, sent twice, to "
            f"warm up); {rows['events']} stored, {sent - rows['events']} duplicates found; "
            f"{rows['gifts']} gifts recorded, {rows['succeeded']} donations succeeded: "
            f"each gift once: {'yes' if exact else 'NO'}")
    if 2 * len(bodies) - 2 * warm > result["requests"]:
        note += f" (stopped at the --webhook-limit of {args.webhook_limit:g} s)"
    say("  " + note)
    section.notes.append(note)
    return exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--donations", type=int, default=1_000_000,
                        help="demo gifts loaded by seed-demo (default 1000000)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per page")
    parser.add_argument("--events", type=int, default=1500,
                        help="checkout events per webhook run (each sent twice)")
    parser.add_argument("--webhook-limit", type=float, default=600.0,
                        help="at most this many seconds per webhook run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--webhooks", default="queued,inline",
                        help="webhook processing to measure: queued, inline or both (queued,inline)")
    parser.add_argument("--apply-workers", type=int, default=2,
                        help="`flask worker` processes applying queued events during a run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed too")
    args = parser.parse_args()
    args.webhooks = [w for w in args.webhooks.replace(" ", "").split(",") if w]
    if not args.webhooks or set(args.webhooks) - {"queued", "inline"}:
        parser.error("--webhooks takes queued, inline or queued,inline")

    kinds = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    sections = [bench_database(kind, args) for kind in kinds]

    failed = False
    for section in sections:
        say(f"\nHTTP benchmark, {section.label}: {args.donations:,} demo gifts; gunicorn gthread, "
            f"{args.workers} workers x 4 threads; {args.concurrency} client threads; "
            f"{args.seconds:g} s per page; {os.cpu_count()} cores")
        for line in section.table():
            say(line)
        for note in section.notes:
            say("  " + note)
        say("  times: " + "; ".join(f"{name} {seconds:.0f} s" for name, seconds in section.timings))
        say(f"  every gift recorded exactly once and rollups exact: "
            f"{'yes' if section.exact else 'NO'}; targets: "
            f"{'all met' if not section.missed else 'MISSED: ' + ', '.join(section.missed)}")
        failed = failed or not section.exact or (args.strict and bool(section.missed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
