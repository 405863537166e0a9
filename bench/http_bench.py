"""HTTP benchmark: the case page and webhook ingestion against a bare Flask endpoint.

Everything runs in one go on this machine: gunicorn (same workers and threads) serves a bare
Flask app, then the real app on PostgreSQL with demo data. A Python load generator with
keep-alive connections measures requests per second and latency for each; the figures are
printed as ratios to the bare endpoint measured in the same run, so they compare across
machines. Webhook ingestion posts signed checkout.session.completed events (each sent twice,
the copies concurrently) and checks that every gift was recorded exactly once.

    .venv/bin/python bench/http_bench.py [--seconds 10] [--workers 2] [--concurrency 8]

Needs PostgreSQL (TEST_DATABASE_URL's server, or 127.0.0.1:5432 as postgres); it creates
and drops its own database.
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
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-key"


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
    deadline = time.time() + 30
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


class Load:
    """Requests from ``concurrency`` threads with keep-alive until ``seconds`` pass."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.concurrency = concurrency

    def run(self, next_request, seconds: float) -> dict[str, float]:  # noqa: ANN001
        latencies: list[float] = []
        errors = [0]
        self.samples: list[str] = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
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
                    if response.status >= 400:
                        bad += 1
                        if len(self.samples) < 5:
                            self.samples.append(f"{response.status} {data[:200]!r}")
                except (OSError, http.client.HTTPException) as exc:
                    bad += 1
                    if len(self.samples) < 5:
                        self.samples.append(f"{type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
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
            "rps": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0,
            "errors": errors[0],
        }


def get(path: str):  # noqa: ANN201
    return lambda: ("GET", path, None, {})


def prepare_database(admin_url: str, name: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def pending_sessions(app, count: int) -> list[dict]:  # noqa: ANN001
    """Paid sandbox checkouts whose completion event has not been delivered yet."""
    from tracker.cases.models import RescueCase
    from tracker.core.money import Money
    from tracker.donations import services
    from tracker.extensions import db
    from tracker.payments.gateway import CheckoutRequest
    from tracker.sandbox.gateway import SandboxGateway
    from tracker.sandbox.models import SandboxSession

    gateway = SandboxGateway()
    events = []
    with app.test_request_context():
        case = db.session.scalar(db.select(RescueCase).where(RescueCase.slug == "six-flood-survivors"))
        for i in range(count):
            donation = services.start_donation(
                case, services.GiftInput(Money(5000, "JPY"), email=f"bench{i}@example.org"), "sandbox"
            )
            start = gateway.create_checkout(CheckoutRequest(
                donation.public_id, Money(5000, "JPY"), "Gift", "http://x/ok", "http://x/no"))
            donation.gateway_session_id = start.session_id
            events.append(gateway.pay(start.session_id, "4242424242424242"))
        db.session.commit()
        assert db.session.scalar(db.select(db.func.count()).select_from(SandboxSession)) >= count
    return events


def count_rows(app) -> dict[str, int]:  # noqa: ANN001
    from tracker.donations.models import Donation
    from tracker.extensions import db
    from tracker.ledger.models import LedgerEntry
    from tracker.payments.models import PaymentEvent

    with app.app_context():
        return {
            "events": db.session.scalar(db.select(db.func.count()).select_from(PaymentEvent)),
            "gifts": db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry)
                                       .where(LedgerEntry.kind == "gift")),
            "succeeded": db.session.scalar(db.select(db.func.count()).select_from(Donation)
                                           .where(Donation.status == "succeeded")),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--events", type=int, default=1500)
    args = parser.parse_args()

    server = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin_url = "postgresql+psycopg://" + urlsplit(server).netloc + "/postgres"
    name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    url = prepare_database(admin_url, name)
    mail_dir = tempfile.mkdtemp(prefix="tracker-bench-mail-")
    env = {**os.environ, "SECRET_KEY": SECRET, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
           "MAIL_FILE_DIR": mail_dir}
    env.pop("STRIPE_SECRET_KEY", None)
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", "db", "upgrade"],
                       env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", "seed-demo",
                        "--donations", "5000"], env=env, cwd=ROOT, check=True, capture_output=True)
        from tracker import create_app
        from tracker.payments.gateway import sign_payload, webhook_secret

        app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": url, "MAIL_FILE_DIR": mail_dir})
        secret = webhook_secret(app)
        events = pending_sessions(app, args.events)
        bodies = [json.dumps(e, separators=(",", ":")).encode() for e in events]

        results: dict[str, dict[str, float]] = {}
        bare_port = free_port()
        procs.append(start_gunicorn("bench.bare_app:app", bare_port, env, args.workers))
        load = Load(bare_port, args.concurrency)
        load.run(get("/"), 1.0)  # warm up
        results["bare endpoint"] = load.run(get("/"), args.seconds)
        stop(procs.pop())

        port = free_port()
        procs.append(start_gunicorn("wsgi:app", port, env, args.workers))
        load = Load(port, args.concurrency)
        load.run(get("/cases/six-flood-survivors"), 1.0)
        results["case page"] = load.run(get("/cases/six-flood-survivors"), args.seconds)
        results["progress.json"] = load.run(get("/cases/six-flood-survivors/progress.json"),
                                            args.seconds)

        # Each event is sent twice, the copies next to each other in the queue, so two threads
        # usually hold the same event at once: duplicates must be found, not recorded.
        queue = [b for body in bodies for b in (body, body)]
        position = [0]
        lock = threading.Lock()

        def next_event():  # noqa: ANN202
            with lock:
                if position[0] >= len(queue):
                    return None
                body = queue[position[0]]
                position[0] += 1
            return ("POST", "/webhooks/stripe", body,
                    {"Stripe-Signature": sign_payload(body, secret),
                     "Content-Type": "application/json"})

        before = count_rows(app)
        results["webhook ingestion"] = load.run(next_event, 10 * args.seconds)
        for sample in load.samples:
            print("webhook error sample:", sample)
        after = count_rows(app)
        rows = {k: after[k] - before[k] for k in after}
        log_tail = stop(procs.pop())
        if load.samples:
            print(log_tail)
    finally:
        for proc in procs:
            stop(proc)
        drop_database(admin_url, name)
        shutil.rmtree(mail_dir, ignore_errors=True)

    bare = results["bare endpoint"]["rps"]
    print(f"\nHTTP benchmark: gunicorn gthread, {args.workers} workers x 4 threads, "
          f"{args.concurrency} client threads, PostgreSQL, {os.cpu_count()} cores")
    print(f"{'endpoint':<20} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, r in results.items():
        print(f"{label:<20} {r['rps']:>9.1f} {r['rps'] / bare:>6.2f}x {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {int(r['errors']):>7}")
    sent = results["webhook ingestion"]["requests"]
    duplicates_found = int(sent) - rows["events"]
    print(f"\nwebhooks: {int(sent)} deliveries of {len(bodies)} events; {rows['events']} stored, "
          f"{duplicates_found} duplicates found; {rows['gifts']} gifts recorded, "
          f"{rows['succeeded']} donations succeeded")
    page_ok = results["case page"]["rps"] / bare >= 0.5
    hook_ok = results["webhook ingestion"]["rps"] / bare >= 0.2
    exact = rows["events"] == rows["gifts"] == rows["succeeded"] == len(bodies)
    print(f"targets: case page >= 0.5x: {'met' if page_ok else 'MISSED'}; "
          f"webhooks >= 0.2x: {'met' if hook_ok else 'MISSED'}; "
          f"each gift once: {'yes' if exact else 'NO'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
