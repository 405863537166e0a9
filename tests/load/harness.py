"""Tools for the load and fault tests: the real app under gunicorn, fresh databases, a private
PostgreSQL cluster, HTTP clients that count every answer, and the exactly-once checks.

Everything runs on 127.0.0.1. Servers run in a process group of their own and are killed with
it on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask

from tests.conftest import csrf_from
from tracker import create_app
from tracker.config import normalize_database_url
from tracker.extensions import db
from tracker.payments.gateway import sign_payload
from tracker.sandbox.gateway import SandboxGateway, sandbox_event
from tracker.sandbox.models import SandboxSession

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "load-test-secret-key-not-for-production"
WEBHOOK_SECRET = "whsec_load_test_not_for_production"
OK_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
#: the Redis database number these tests may flush and use for the rate limits
REDIS_DB = 5
#: generous limits: the limiter runs (and talks to Redis) but never refuses these tests
GENEROUS_LIMIT = "100000 per minute"
#: no single request may take longer than this (a hang counts as an error)
REQUEST_TIMEOUT = 30.0


def load_seconds(default: float = 60.0) -> float:
    """How long the load test runs (TRACKER_LOAD_SECONDS; 60 s unless set)."""
    raw = os.environ.get("TRACKER_LOAD_SECONDS")
    return float(raw) if raw else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_result(name: str, text: str, tmp_path: Path) -> Path:
    """Keep a summary in the test's tmp folder and under test-results/load/ (gitignored)."""
    (tmp_path / f"{name}.txt").write_text(text + "\n")
    folder = ROOT / "test-results" / "load"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(text + "\n")
    return path


# --- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str = "tracker_load") -> Iterator[str]:
    """A new, empty database on ``server_url``'s server, dropped (WITH FORCE) afterwards."""
    url = sa.make_url(normalize_database_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def sqlite_path(database_url: str) -> str | None:
    return database_url.removeprefix("sqlite:///") if database_url.startswith("sqlite:///") else None


def redis_url() -> str | None:
    """redis://127.0.0.1:6379/5, flushed, or None when Redis does not answer."""
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            client.flushdb()
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no Redis here: the limiter keeps its counts in memory
        return None
    return url


def server_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for the app's processes: this database, test secrets, the sandbox
    gateway, mail to files, the rate limits on (but out of reach) and Redis when there is one.
    Settings from the caller's environment (a developer's Stripe key) are left out."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLASK_", "STRIPE_", "TRACKER_", "MAIL_", "RATELIMIT_"))
           and k not in {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"}}
    env.update({
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SESSION_COOKIE_SECURE": "false",
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "TRACKER_RATELIMIT_CHECKOUT": GENEROUS_LIMIT,
        "TRACKER_RATELIMIT_LOGIN": GENEROUS_LIMIT,
        "PYTHONUNBUFFERED": "1",
    })
    redis = redis_url()
    if redis:
        env["REDIS_URL"] = redis
    env.update(extra)
    return env


def flask_cli(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run ``flask --app tracker ARGS`` and return its output; fail the test if it fails."""
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=timeout, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"flask {' '.join(args)} failed ({result.returncode}):\n{output}"
    return output


def prepare_database(env: dict[str, str]) -> None:
    """Migrate and load the demo cases (two open cases, a rescued one, a closed one...)."""
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "seed-demo")


def local_app(database_url: str, tmp_path: Path) -> Flask:
    """An app object in this process on the server's database, for reading what the server
    wrote and for the sandbox's "paid on the hosted page" step. Dispose its engine when done."""
    return create_app({
        "SECRET_KEY": SECRET_KEY, "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": None, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MAIL_FILE_DIR": str(tmp_path / "mail"), "MAIL_SERVER": None, "REDIS_URL": None,
        "RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False,
    })


def dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


# --- gunicorn ------------------------------------------------------------------------------------


def _no_control_socket() -> list[str]:
    """gunicorn 24+ opens a control socket at one fixed path per user: servers started at the
    same time would take it from each other (and it slows the shutdown), so it is turned off."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


_NO_CONTROL_SOCKET = _no_control_socket()


class Gunicorn:
    """``gunicorn -k gthread 'tracker:create_app()'`` on a free loopback port.

    The server runs in a new session (its own process group), so ``stop()`` can always kill
    the master and every worker together. Its output goes to ``log_path``.
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 4, threads: int = 4) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Gunicorn:
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
               "--worker-class", "gthread", "--threads", str(self.threads),
               "--bind", f"127.0.0.1:{self.port}", "--chdir", str(ROOT),
               "--graceful-timeout", "5", "--timeout", "60", "--log-level", "info",
               *_NO_CONTROL_SOCKET, "tracker:create_app()"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200 \
                        and len(self.worker_pids()) == self.workers:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer within {timeout}s:\n{self.log_tail()}")

    def worker_pids(self) -> set[int]:
        """The master's live children (its workers), read from /proc."""
        if self.proc is None:
            return set()
        return {pid for pid in _children(self.pid) if _alive(pid)}

    def wait_for_workers(self, *, gone: set[int] = frozenset(), timeout: float = 30) -> set[int]:
        """Wait until the master runs its full count of workers again, none of them in ``gone``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == self.workers and not pids & gone:
                return pids
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not replace its workers in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGQUIT (gunicorn's quick shutdown: the checks are done), then SIGKILL to the whole
        process group, whatever is left of it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no gunicorn log)"
        return "\n".join(text.splitlines()[-lines:])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found |= {int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
        return found
    except OSError:
        pass
    for entry in os.listdir("/proc"):  # kernels without the children file
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tcp_socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the established IPv4 loopback socket local_port <-> remote_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
        if (state == "01" and int(local.split(":")[1], 16) == local_port
                and int(remote.split(":")[1], 16) == remote_port and inode):
            return inode
    return None


def socket_owner(pids: set[int], local_port: int, remote_port: int) -> int | None:
    """Which of ``pids`` holds the socket local_port <-> remote_port (from /proc)."""
    inode = _tcp_socket_inode(local_port, remote_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    return None


# --- a private PostgreSQL cluster -------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries here (TRACKER_PG_BINDIR overrides), or None."""
    candidates: list[Path] = []
    if os.environ.get("TRACKER_PG_BINDIR"):
        candidates.append(Path(os.environ["TRACKER_PG_BINDIR"]))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).parent)  # type: ignore[arg-type]
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


class PrivateCluster:
    """A throwaway PostgreSQL cluster in /tmp on a free port, run by the ``postgres`` OS user
    when we are root (PostgreSQL refuses to run as root). Never the shared server."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not pytest's tmp_path: its folders are private to root and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        cmd = [str(self.bindir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=timeout,
                                check=False)
        assert result.returncode == 0, (f"{tool} failed ({result.returncode}):\n{result.stdout}"
                                        f"{result.stderr}\n{self.log_tail()}")
        return result.stdout

    def init(self) -> PrivateCluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-locale", "--no-sync", timeout=120)
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        """Stop (immediately) if running, and remove every file."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- HTTP clients that count every answer ------------------------------------------------------


@dataclass
class Tally:
    """Every request: its status (or the exception it raised), its latency and its label."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    by_label: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    events: list[tuple[float, float, str, int | str, dict[str, str]]] = field(default_factory=list)
    keep_events: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label: str, started: float, outcome: int | str, body: str = "",
            headers: dict[str, str] | None = None) -> None:
        ended = time.monotonic()
        with self.lock:
            if isinstance(outcome, int):
                self.statuses[outcome] += 1
                if outcome == 503 and not clean_503(body, headers or {}):
                    self.errors["unclean 503"] += 1
            self.by_label[(label, outcome)] += 1
            self.latencies.append(ended - started)
            problem = not isinstance(outcome, int) or outcome > 503 or outcome in (500, 501, 502)
            # Samples of what went wrong, keeping room for real problems among many 503s.
            if len(self.samples) < 20 and (problem or (
                    outcome == 503 and sum(s.startswith(f"{label}: 503") for s in self.samples) < 2)):
                self.samples.append(f"{label}: {outcome} {body[:300]!r}")
            if self.keep_events:
                self.events.append((started, ended, label, outcome, dict(headers or {})))

    def note(self, text: str) -> None:
        """Something unexpected that is not a status of its own (a wrong page, a 4xx)."""
        with self.lock:
            self.errors["unexpected"] += 1
            if len(self.samples) < 20:
                self.samples.append(text[:400])

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, q: float) -> float:
        with self.lock:
            values = sorted(self.latencies)
        if not values:
            return 0.0
        if q == 50:
            return statistics.median(values)
        return values[min(len(values) - 1, int(len(values) * q / 100))]


def clean_503(body: str, headers: dict[str, str]) -> bool:
    """A 503 as the app means it: Retry-After, and its own page or JSON (not a proxy's or a
    traceback)."""
    return bool(headers.get("Retry-After")) and (
        "Service unavailable" in body or "temporarily unavailable" in body) and "Traceback" not in body


class Client:
    """One visitor (a cookie jar with keep-alive connections) against the server."""

    def __init__(self, base: str, tally: Tally, timeout: float = REQUEST_TIMEOUT) -> None:
        self.base = base
        self.tally = tally
        self.timeout = timeout
        self.http = requests.Session()

    def new_visitor(self) -> None:
        self.http.cookies.clear()

    def request(self, method: str, path: str, label: str, **kwargs: Any) -> requests.Response | None:
        started = time.monotonic()
        try:
            response = self.http.request(method, self.base + path, timeout=self.timeout,
                                         allow_redirects=False, **kwargs)
            body = response.text
        except requests.RequestException as exc:
            self.tally.add(label, started, type(exc).__name__, str(exc))
            return None
        self.tally.add(label, started, response.status_code, body if response.status_code >= 500 else "",
                       dict(response.headers))
        return response

    def get(self, path: str, label: str, **kwargs: Any) -> requests.Response | None:
        return self.request("GET", path, label, **kwargs)

    def post(self, path: str, label: str, **kwargs: Any) -> requests.Response | None:
        return self.request("POST", path, label, **kwargs)

    def close(self) -> None:
        self.http.close()


def location_path(response: requests.Response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def give_path(slug: str | None) -> str:
    return f"/cases/{slug}/donate" if slug else "/donate"


@dataclass(frozen=True)
class Checkout:
    """A donation that reached the sandbox checkout page."""

    slug: str | None
    session_id: str
    csrf: str


def start_checkout(client: Client, slug: str | None, fields: dict[str, str]) -> Checkout | None:
    """GET the donation form, POST it with its CSRF token, GET the checkout page it sends to.
    None (with a note in the tally) if any step answers otherwise than a donor expects."""
    form = client.get(give_path(slug), "donate form")
    if form is None or form.status_code != 200:
        return None
    data = {"csrf_token": csrf_from(form.text), "currency": "JPY", "preset": "JPY:5000", "amount": "",
            "name": "", "email": "", "message": "", "wall": "anonymous", **fields}
    posted = client.post(give_path(slug), "donate post", data=data)
    if posted is None or posted.status_code != 303:
        if posted is not None and posted.status_code < 500:
            client.tally.note(f"donate post answered {posted.status_code}: {posted.text[:300]}")
        return None
    path = location_path(posted)
    if not path.startswith("/sandbox/checkout/"):
        client.tally.note(f"donate post sent the donor to {path!r}")
        return None
    page = client.get(path, "checkout page")
    if page is None or page.status_code != 200:
        return None
    return Checkout(slug, path.rsplit("/", 1)[1], csrf_from(page.text))


def pay_on_page(client: Client, checkout: Checkout, card: str = OK_CARD) -> requests.Response | None:
    return client.post(f"/sandbox/checkout/{checkout.session_id}", "pay",
                       data={"csrf_token": checkout.csrf, "card_number": card})


THANKS = re.compile(r"^/donations/([^/]+)/thanks$")


def thanks_public_id(response: requests.Response) -> str | None:
    match = THANKS.match(location_path(response))
    return match.group(1) if match else None


# --- the sandbox's side: paid sessions and their signed events ----------------------------------


def pay_without_delivery(app: Flask, session_id: str) -> dict[str, Any]:
    """The donor pays on the hosted page (the sandbox session is committed as paid) but no event
    has been delivered yet: returns the checkout.session.completed event Stripe would send."""
    with app.app_context():
        event = SandboxGateway().pay(session_id, OK_CARD)
        assert event is not None, f"no such sandbox session {session_id}"
        db.session.commit()
        return event


def completion_event(app: Flask, session_id: str) -> dict[str, Any]:
    """A new checkout.session.completed event for a session as it stands now."""
    with app.app_context():
        session = db.session.get(SandboxSession, session_id)
        assert session is not None
        event = sandbox_event("checkout.session.completed", SandboxGateway.session_object(session))
        db.session.rollback()
        return event


def signed(payload: bytes) -> dict[str, str]:
    """Headers of one delivery: each attempt is signed afresh, as Stripe does."""
    return {"Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET), "Content-Type": "application/json"}


# --- what the database holds -------------------------------------------------------------------


def max_donation_id(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(sa.text("SELECT coalesce(max(id), 0) FROM donations")).scalar_one())


@dataclass
class Recorded:
    """The donations made after ``since_id``, as the database holds them."""

    statuses: Counter[str]
    succeeded: dict[str, tuple[int | None, int]]  # public id -> (case id, gross in base currency)
    gift_entries: dict[str, int]  # public id -> number of gift ledger entries
    gift_sum_by_case: dict[int | None, int]
    complete_sessions: set[str]  # public ids whose sandbox checkout was paid
    duplicated_anywhere: int  # donations (of any time) with more than one gift entry
    events_by_id: Counter[str]


def recorded(app: Flask, since_id: int) -> Recorded:
    with app.app_context():
        conn = db.session.connection()
        rows = conn.execute(sa.text(
            "SELECT d.public_id, d.status, d.case_id, d.gross_minor,"
            " (SELECT count(*) FROM ledger_entries l WHERE l.donation_id = d.id AND l.kind = 'gift')"
            " FROM donations d WHERE d.id > :since"), {"since": since_id}).all()
        sums = conn.execute(sa.text(
            "SELECT l.case_id, sum(l.amount_minor) FROM ledger_entries l JOIN donations d"
            " ON d.id = l.donation_id WHERE d.id > :since AND l.kind = 'gift' GROUP BY l.case_id"),
            {"since": since_id}).all()
        complete = set(conn.execute(sa.text(
            "SELECT d.public_id FROM sandbox_sessions s JOIN donations d ON d.id = s.donation_id"
            " WHERE s.status = 'complete' AND d.id > :since"), {"since": since_id}).scalars())
        duplicated = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT donation_id FROM ledger_entries WHERE kind = 'gift'"
            " AND donation_id IS NOT NULL GROUP BY donation_id HAVING count(*) > 1) AS twice")).scalar_one()
        events = Counter(dict(conn.execute(sa.text(
            "SELECT event_id, count(*) FROM payment_events GROUP BY event_id")).all()))
        db.session.rollback()
    return Recorded(
        statuses=Counter(status for _, status, _, _, _ in rows),
        succeeded={pid: (case_id, int(gross or 0)) for pid, status, case_id, gross, _ in rows
                   if status == "succeeded"},
        gift_entries={pid: int(n) for pid, _, _, _, n in rows},
        gift_sum_by_case={case_id: int(total) for case_id, total in sums},
        complete_sessions=complete,
        duplicated_anywhere=int(duplicated),
        events_by_id=events,
    )


def case_ids(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT slug, id FROM rescue_cases")).all()
        db.session.rollback()
    return dict(rows)


def exactly_once_problems(found: Recorded, paid: set[str]) -> list[str]:
    """Every payment made recorded once, nothing else recorded, no gift twice anywhere."""
    problems = []
    succeeded = set(found.succeeded)
    if paid - succeeded:
        problems.append(f"{len(paid - succeeded)} payments not recorded: {sorted(paid - succeeded)[:5]}")
    if succeeded - paid:
        problems.append(f"{len(succeeded - paid)} donations succeeded that nobody paid: "
                        f"{sorted(succeeded - paid)[:5]}")
    wrong = {pid: n for pid, n in found.gift_entries.items() if n != (1 if pid in succeeded else 0)}
    if wrong:
        problems.append(f"gift entries per donation not 1 (or 0 if unpaid): {dict(list(wrong.items())[:5])}")
    if found.complete_sessions != succeeded:
        problems.append(f"paid checkouts {len(found.complete_sessions)} != succeeded donations "
                        f"{len(succeeded)}")
    if found.duplicated_anywhere:
        problems.append(f"{found.duplicated_anywhere} donations have more than one gift entry")
    stored_twice = {e: n for e, n in found.events_by_id.items() if n != 1}
    if stored_twice:
        problems.append(f"events stored more than once: {stored_twice}")
    return problems
