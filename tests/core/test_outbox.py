"""The outbox: email queued in the caller's transaction, delivered after the commit.

Delivery goes to a real SMTP server (aiosmtpd on a loopback port) or to files; a mail server
that is down is a port with nothing listening. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextvars
import email
import socket
import threading
import time
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tests.conftest import make_app
from tracker.core.access import public
from tracker.core.time import as_utc, utcnow
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.cli import outbox_cli
from tracker.mail.outbox import OutboxMessage

SENDER = "Rescue Tracker <receipts@ngo.example>"
REFUSED = "refused@example.org"


def free_port() -> int:
    """A loopback port nothing listens on (the OS picked it, then it was released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collector:
    """aiosmtpd handler: keeps every message it accepts; refuses one recipient."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address == REFUSED:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class SMTPServer:
    """A real SMTP server on 127.0.0.1 for one test."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = _Collector()
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=policy.default)
            for e in self.handler.envelopes
        ]


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def down_port():
    """A port that refuses connections: bound (so no one else takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def use_smtp(app: Flask, monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Point the app at an SMTP server for this test (restored afterwards)."""
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", None)
    monkeypatch.setitem(app.config, "MAIL_FROM", SENDER)


def queued(key: str = "test:1", to: str = "donor@example.org", body: str = "Hello there.\n",
           subject: str = "Your receipt RT-000001") -> OutboxMessage:
    message = outbox.queue("test", key, to, subject, body)
    assert message is not None
    db.session.commit()
    return message


def row(key: str = "test:1") -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()


def test_message_is_delivered_over_smtp(app, monkeypatch, smtp_server):
    use_smtp(app, monkeypatch, smtp_server.port)
    body = "Thank you for your gift of ¥5,000.\nReceipt number: RT-000001\n"
    queued(body=body)

    assert outbox.deliver_pending() == (1, 0)

    [envelope] = smtp_server.handler.envelopes
    assert envelope.mail_from == "receipts@ngo.example"
    assert envelope.rcpt_tos == ["donor@example.org"]
    [message] = smtp_server.messages
    assert message["To"] == "donor@example.org"
    assert message["From"] == SENDER
    assert message["Subject"] == "Your receipt RT-000001"
    assert message["Message-ID"].endswith("@ngo.example>")
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    # CRLF on the wire; the closing line and the organization's signature end every mail
    assert message.get_content().replace("\r\n", "\n") == (
        body + "\nWith warm regards,\n\n-- \nRescue Tracker\n")
    sent = row()
    assert sent.sent_at is not None and sent.attempts == 0 and sent.last_error is None
    assert outbox.deliver_pending() == (0, 0)
    assert len(smtp_server.handler.envelopes) == 1


def test_smtp_down_then_up_delivers_exactly_once(app, monkeypatch, down_port):
    port = down_port.getsockname()[1]
    use_smtp(app, monkeypatch, port)
    queued(body="SECRET-BODY-TEXT\n")

    assert outbox.deliver_pending() == (0, 1)
    pending = row()
    assert pending.sent_at is None
    assert pending.attempts == 1
    assert pending.last_error.startswith("ConnectionRefusedError")
    assert "SECRET-BODY-TEXT" not in pending.last_error
    assert as_utc(pending.next_attempt_at) > utcnow() + timedelta(minutes=1)
    # not due yet: nothing is tried again
    assert outbox.deliver_pending() == (0, 0)
    assert row().attempts == 1

    down_port.close()
    server = SMTPServer(port).start()
    try:
        pending = row()
        pending.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()

        assert outbox.deliver_pending() == (1, 0)
        assert outbox.deliver_pending() == (0, 0)
        assert [m["Subject"] for m in server.messages] == ["Your receipt RT-000001"]
        assert "SECRET-BODY-TEXT" in server.messages[0].get_content()
        assert row().sent_at is not None
        assert row().attempts == 1
    finally:
        server.stop()


def test_retry_delay_doubles_up_to_an_hour():
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 5, 6, 7, 40)] == [
        timedelta(minutes=m) for m in (2, 4, 8, 32, 60, 60, 60)
    ]


def test_one_refused_message_does_not_stop_the_others(app, monkeypatch, smtp_server):
    use_smtp(app, monkeypatch, smtp_server.port)
    queued("test:refused", to=REFUSED, body="BODY-OF-REFUSED\n")
    queued("test:fine", to="fine@example.org")

    assert outbox.deliver_pending() == (1, 1)

    refused = row("test:refused")
    assert refused.sent_at is None and refused.attempts == 1
    assert refused.last_error.startswith("SMTPRecipientsRefused")
    assert "BODY-OF-REFUSED" not in refused.last_error
    assert row("test:fine").sent_at is not None
    assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["fine@example.org"]]


def test_same_dedupe_key_is_queued_once(app):
    first = outbox.queue("receipt", "receipt:RT-000001", "a@example.org", "First", "one\n")
    second = outbox.queue("receipt", "receipt:RT-000001", "b@example.org", "Second", "two\n")
    db.session.commit()

    assert first is not None and second is None
    rows = db.session.scalars(db.select(OutboxMessage)).all()
    assert [(r.to_address, r.subject) for r in rows] == [("a@example.org", "First")]
    assert outbox.queue("receipt", "receipt:RT-000001", "c@example.org", "Third", "3\n") is None
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 1


def test_queued_message_is_gone_when_the_transaction_rolls_back(app):
    outbox.queue("test", "test:rolled-back", "a@example.org", "Subject", "body\n")
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 0
    # the key is free again
    assert outbox.queue("test", "test:rolled-back", "a@example.org", "Subject", "body\n") is not None


def test_file_transport_writes_one_eml_file(app, monkeypatch, tmp_path):
    mail_dir = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(mail_dir))
    queued(subject="Your receipt RT-000042", body="Amount: ¥5,000\n")

    assert outbox.deliver_pending() == (1, 0)

    files = list(mail_dir.iterdir())
    assert [f.suffix for f in files] == [".eml"]  # and no temp file left behind
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "Your receipt RT-000042"
    assert message["To"] == "donor@example.org"
    assert message.get_content() == "Amount: ¥5,000\n\nWith warm regards,\n\n-- \nRescue Tracker\n"
    assert row().sent_at is not None
    assert outbox.deliver_pending() == (0, 0)
    assert len(list(mail_dir.iterdir())) == 1


def test_a_message_being_sent_by_one_worker_is_skipped_by_another(app, monkeypatch, smtp_server):
    use_smtp(app, monkeypatch, smtp_server.port)
    queued()
    results: list[object] = []

    def other_worker() -> None:
        try:
            with app.app_context():
                results.append(outbox.deliver_pending())
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    with app.app_context():  # worker A: its own session, holding the message
        claimed = outbox._claim_next(utcnow())
        assert claimed is not None
        worker_b = threading.Thread(target=other_worker)
        worker_b.start()
        worker_b.join(timeout=30)
        db.session.rollback()

    assert results == [(0, 0)]
    assert smtp_server.handler.envelopes == []


# --- after the response -----------------------------------------------------------------------


@pytest.fixture
def web_app(app, database_url):
    """A fresh app (same database, already migrated) with a route that queues mail."""
    created: list[Flask] = []

    def make(port: int) -> Flask:
        web = make_app(database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_FROM=SENDER,
                       WTF_CSRF_ENABLED=False)
        outbox.init_app(web)
        outbox.init_app(web)  # idempotent: still one hook

        @web.post("/_test/thanks")
        @public
        def thanks():
            outbox.queue("test", "test:web", "web@example.org", "Thanks from the web", "web body\n")
            db.session.commit()
            return "queued"

        @web.get("/_test/nothing")
        @public
        def nothing():
            return "nothing queued"

        created.append(web)
        return web

    yield make
    for web in created:
        with web.app_context():
            db.engine.dispose()


def test_mail_queued_by_a_request_goes_after_the_response(app, web_app, smtp_server):
    web = web_app(smtp_server.port)
    client = web.test_client()

    response = client.post("/_test/thanks")
    assert response.status_code == 200 and response.text == "queued"
    # the response is in the client's hands; delivery waits until the server closes it
    assert row("test:web").sent_at is None
    assert smtp_server.handler.envelopes == []

    response.close()

    assert [m["Subject"] for m in smtp_server.messages] == ["Thanks from the web"]
    assert smtp_server.messages[0]["To"] == "web@example.org"
    assert row("test:web").sent_at is not None
    hooks = [f for f in web.after_request_funcs[None] if f.__name__ == "_schedule_delivery"]
    assert len(hooks) == 1


def test_a_request_that_queues_nothing_sends_nothing(app, web_app, smtp_server):
    web = web_app(smtp_server.port)
    queued("test:earlier")  # due, but not this request's business

    response = web.test_client().get("/_test/nothing")
    response.close()

    assert response.text == "nothing queued"
    assert smtp_server.handler.envelopes == []
    assert row("test:earlier").sent_at is None


def test_after_response_delivery_failure_does_not_break_the_request(app, web_app, down_port):
    web = web_app(down_port.getsockname()[1])

    response = web.test_client().post("/_test/thanks")
    response.close()  # must not raise

    assert response.status_code == 200
    failed = row("test:web")
    assert failed.sent_at is None and failed.attempts == 1
    assert failed.last_error.startswith("ConnectionRefusedError")


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_deliver_reports_counts_and_fails_while_smtp_is_down(app, runner, monkeypatch, down_port):
    use_smtp(app, monkeypatch, down_port.getsockname()[1])
    queued("test:1")
    queued("test:2")

    result = runner.invoke(outbox_cli, ["deliver"])

    assert result.exit_code == 1
    assert result.output.strip() == "Sent 0, failed 2, waiting 2."
    assert row("test:1").attempts == 1


def test_cli_deliver_sends_with_a_limit(app, runner, monkeypatch, smtp_server):
    use_smtp(app, monkeypatch, smtp_server.port)
    for n in range(3):
        queued(f"test:{n}")

    first = runner.invoke(outbox_cli, ["deliver", "--limit", "2"])
    assert (first.exit_code, first.output.strip()) == (0, "Sent 2, failed 0, waiting 1.")
    second = runner.invoke(outbox_cli, ["deliver"])
    assert (second.exit_code, second.output.strip()) == (0, "Sent 1, failed 0, waiting 0.")
    assert len(smtp_server.handler.envelopes) == 3


def test_cli_help_comes_from_the_docstring(app, runner):
    result = runner.invoke(outbox_cli, ["deliver", "--help"])
    assert result.exit_code == 0
    assert "Send the email that is due now" in result.output
    assert "--limit" in result.output


# --- mail goes out by itself (issue 15, walk 3) -----------------------------------------------
#
# A receipt for an offline gift waited 2 min 22 s for some unrelated request to flush the
# outbox. Now the commit that queued mail wakes this process's courier thread, which sends it
# within seconds with no other traffic; a CLI command waits for its mail before it exits.


def _arrives(smtp_server: SMTPServer, count: int = 1, seconds: float = 10.0) -> list[EmailMessage]:
    """The messages the SMTP server holds once ``count`` have arrived (or the time is up)."""
    deadline = time.monotonic() + seconds
    while len(smtp_server.handler.envelopes) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return smtp_server.messages


@pytest.fixture
def background_app(app, database_url):
    """A fresh app (same database) delivering in the background, as in production."""
    created: list[Flask] = []

    def make(port: int) -> Flask:
        web = make_app(database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_FROM=SENDER,
                       TRACKER_OUTBOX_DELIVERY=outbox.BACKGROUND)
        created.append(web)
        return web

    yield make
    for web in created:  # nothing may still be sending when the tables are emptied
        assert outbox.wait_for_delivery(web, 30)
        with web.app_context():
            db.engine.dispose()


def test_an_offline_gift_receipt_arrives_with_no_other_request(app, background_app, smtp_server,
                                                               make_user):
    from tests.conftest import Auth, csrf_from
    from tests.factories import make_case
    from tracker.core.time import local_today

    make_case("six-survivors", status="fundraising")
    user, password = make_user("staff")
    web = background_app(smtp_server.port)
    client = web.test_client()
    assert Auth(client).login(user.email, password).status_code == 302
    page = client.get("/staff/gifts/new")
    response = client.post("/staff/gifts/new", data={
        "csrf_token": csrf_from(page.text), "case": "six-survivors", "amount": "50,000",
        "currency": "JPY", "channel": "bank_transfer", "received_on": local_today().isoformat(),
        "donor_name": "Aiko Tanaka", "donor_email": "aiko@example.org", "reference": "MUFG 0042",
    })
    assert response.status_code == 302, response.text
    # No other request, and this response is never even closed: the mail goes anyway.
    messages = _arrives(smtp_server)
    assert [m["To"] for m in messages] == ["aiko@example.org"]
    assert "RT-" in messages[0]["Subject"]
    db.session.expire_all()
    assert db.session.scalars(db.select(OutboxMessage.sent_at)).one() is not None


def test_wake_sends_what_is_due_and_returns_at_once(app, background_app, smtp_server):
    web = background_app(smtp_server.port)
    queued("test:woken")
    with web.app_context():
        outbox.wake()
        outbox.wake()  # as often as anyone likes: still sent once
    assert [m["Subject"] for m in _arrives(smtp_server)] == ["Your receipt RT-000001"]
    assert outbox.wait_for_delivery(web, 10)
    time.sleep(0.2)
    assert len(smtp_server.handler.envelopes) == 1
    assert row("test:woken").sent_at is not None


def test_a_rolled_back_message_wakes_nothing_and_sends_nothing(app, background_app, smtp_server):
    web = background_app(smtp_server.port)
    with web.app_context():
        outbox.queue("test", "test:gone", "gone@example.org", "Never", "body\n")
        db.session.rollback()
        db.session.commit()
        assert "tracker_outbox_courier" not in web.extensions  # never woken
    assert smtp_server.handler.envelopes == []


def test_a_cli_command_that_queues_mail_sends_it_before_exiting(app, background_app, smtp_server):
    web = background_app(smtp_server.port)

    @web.cli.command("queue-test-mail")
    def queue_test_mail() -> None:
        """Queue one message and commit, as a real command would."""
        outbox.queue("test", "test:cli", "cli@example.org", "From the command line", "cli\n")
        db.session.commit()

    # a fresh context, as `flask queue-test-mail` has: the command pushes its own app context
    result = contextvars.Context().run(web.test_cli_runner().invoke, args=["queue-test-mail"])

    assert result.exit_code == 0, result.output
    # delivered by the time the command returned: no waiting here
    assert [m["Subject"] for m in smtp_server.messages] == ["From the command line"]
    assert row("test:cli").sent_at is not None
