"""``flask --app tracker worker`` as a real process: two of them (one on SQLite) beside a web
app that only queues mail (``TRACKER_OUTBOX_DELIVERY=worker``) send every queued message
exactly once to a real SMTP server (aiosmtpd), a web request's mail within seconds, and each
stops cleanly on SIGTERM. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from flask import Flask

from tests.conftest import TEST_SECRET, make_app
from tests.core.test_outbox import SENDER, SMTPServer
from tracker.core.access import public
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]
QUEUED = 20


class WorkerProcess:
    """One ``flask --app tracker worker`` with its output collected as it comes."""

    def __init__(self, database_url: str, smtp_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "TRACKER_"))}
        env.update(DATABASE_URL=database_url, SECRET_KEY=TEST_SECRET, MAIL_SERVER="127.0.0.1",
                   MAIL_PORT=str(smtp_port), MAIL_FROM=SENDER, TRACKER_OUTBOX_DELIVERY="worker",
                   PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "tracker", "worker", "--poll", "0.2"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_started(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while "worker: started" not in self.output:
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.05)

    def terminate(self) -> None:
        self.sent_sigterm = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> tuple[int, float]:
        """(exit code, seconds from SIGTERM to exit)."""
        code = self.proc.wait(timeout=30)
        took = time.monotonic() - self.sent_sigterm
        self._reader.join(timeout=5)
        return code, took

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _web_app(database_url: str, mail_dir: Path) -> Flask:
    """A web process in the worker mode, with a route that queues one message."""
    web = make_app(database_url, TRACKER_OUTBOX_DELIVERY=outbox.WORKER, MAIL_SERVER=None,
                   MAIL_FILE_DIR=str(mail_dir), WTF_CSRF_ENABLED=False)

    @web.post("/_test/thanks")
    @public
    def thanks():
        outbox.queue("test", "test:web", "web@example.org", "Thanks from the web", "web body\n")
        db.session.commit()
        return "queued"

    return web


def _arrived(smtp_server: SMTPServer, count: int, seconds: float) -> float | None:
    """Seconds until ``count`` messages arrived, or None when they did not within ``seconds``."""
    started = time.monotonic()
    while len(smtp_server.handler.envelopes) < count:
        if time.monotonic() - started > seconds:
            return None
        time.sleep(0.02)
    return time.monotonic() - started


def test_workers_send_each_message_once_and_stop_on_sigterm(
        app: Flask, backend: str, database_url: str, smtp_server: SMTPServer, monkeypatch,  # noqa: ANN001
        tmp_path: Path):
    """Two workers on PostgreSQL (row locks: FOR UPDATE SKIP LOCKED); one on SQLite, whose
    claims across processes the outbox's own tests cover (and each start costs seconds)."""
    monkeypatch.setitem(app.config, "TRACKER_OUTBOX_DELIVERY", outbox.WORKER)  # the test only queues
    count = 2 if backend == "postgresql" else 1
    workers = [WorkerProcess(database_url, smtp_server.port) for _ in range(count)]
    web = _web_app(database_url, tmp_path / "web-mail")
    try:
        for worker in workers:
            worker.wait_started()

        response = web.test_client().post("/_test/thanks")
        response.close()
        assert response.status_code == 200
        web_mail_took = _arrived(smtp_server, 1, 10)
        assert web_mail_took is not None and web_mail_took < 5, "a web request's mail waited"
        assert not (tmp_path / "web-mail").exists()  # the web process sent nothing itself

        for i in range(QUEUED):
            outbox.queue("test", f"test:{i}", f"donor{i}@example.org", f"Receipt {i}", "Thank you.\n")
        db.session.commit()
        assert _arrived(smtp_server, 1 + QUEUED, 20) is not None
        time.sleep(0.6)  # three more polls: nothing is sent a second time

        subjects = Counter(m["Subject"] for m in smtp_server.messages)
        assert subjects == Counter(["Thanks from the web", *(f"Receipt {i}" for i in range(QUEUED))])
        db.session.expire_all()
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.sent_at.is_(None))) == 0

        for worker in workers:
            worker.terminate()
        for worker in workers:
            code, took = worker.wait_stopped()
            assert code == 0, worker.output
            assert took < 5, f"took {took:.1f}s to stop"
            assert "worker: stopped" in worker.output
            assert "@example.org" not in worker.output  # no address in any log line
        sent_lines = [line for w in workers for line in w.lines if "mail sent" in line]
        assert sum(int(line.split("mail sent ")[1].split(",")[0]) for line in sent_lines) == 1 + QUEUED
    finally:
        for worker in workers:
            worker.kill()
        with web.app_context():
            db.engine.dispose()
