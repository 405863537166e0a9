"""Asking for a sign-in link does the same work whether or not the address is a donor's
(issue 15, Medium 5: known addresses answered measurably slower).

The SQL statements a ``POST /my/sign-in`` runs while it is handled (read from the engine's
own ``before_cursor_execute`` event, up to Flask's ``request_finished``) are compared, in
order and as text, for a known donor, an unknown address, an anonymized donor and a donor with
too many links waiting; so are the calls of the outbox (an email is written and queued every
time; the stand-in for nobody is deleted before the commit) and the mail sent during the
request (none: the outbox sends after the response). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from flask import Flask, request_finished

from tests.conftest import csrf_from
from tests.donors.helpers import sign_in_mails
from tracker.core.time import utcnow
from tracker.donations.models import Donor
from tracker.donors import services
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage

KNOWN, UNKNOWN, GONE, BUSY = ("known@example.org", "nobody.here@example.org",
                              "gone@example.org", "busy@example.org")


@dataclass
class Work:
    statements: list[str] = field(default_factory=list)
    queued: int = 0
    sent_in_request: int = 0
    finished: bool = False


def _shape(sql: str) -> str:
    """The statement without what differs between runs of it (numbered placeholders)."""
    return re.sub(r"\s+", " ", re.sub(r"(%\(\w+?)_\d+(\)s)|(:\w+?)_\d+\b", r"\1\2\3", sql)).strip()


@contextmanager
def watched(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Work]:
    """Record the statements and mail work of the requests made inside."""
    work = Work()

    def on_statement(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if not work.finished:
            work.statements.append(_shape(statement))

    def on_finished(sender, response, **extra) -> None:  # noqa: ANN001, ANN003
        work.finished = True
        work.sent_in_request = int(db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.sent_at.is_not(None))) or 0)

    real_queue = outbox.queue

    def counting_queue(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        work.queued += 1
        return real_queue(*args, **kwargs)

    monkeypatch.setattr(services.outbox, "queue", counting_queue)
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    request_finished.connect(on_finished, app)
    try:
        yield work
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)
        request_finished.disconnect(on_finished, app)
        monkeypatch.setattr(services.outbox, "queue", real_queue)


def ask(app: Flask, monkeypatch: pytest.MonkeyPatch, email: str) -> Work:
    client = app.test_client()
    page = client.get("/my/sign-in")
    token = csrf_from(page.text)
    db.session.rollback()
    with watched(app, monkeypatch) as work:
        response = client.post("/my/sign-in", data={"email": email, "csrf_token": token})
    assert response.status_code == 200
    assert "sign-in link" in response.text.lower() or "link" in response.text.lower()
    return work


@pytest.fixture
def donors(app: Flask) -> None:
    db.session.add_all([Donor(email=KNOWN, name="Aiko", locale="ja"),
                        Donor(email=GONE.replace("@", ".was@"), name="", anonymized_at=utcnow()),
                        Donor(email=BUSY, name="Ben")])
    db.session.commit()


def test_known_and_unknown_addresses_do_the_same_work(app: Flask, monkeypatch, donors) -> None:  # noqa: ANN001
    # Warm both paths (first-use caches), and fill the busy donor's waiting links.
    for _ in range(services.MAX_OPEN_LINKS):
        ask(app, monkeypatch, BUSY)
    ask(app, monkeypatch, UNKNOWN)
    sent_before = len(sign_in_mails())

    known = ask(app, monkeypatch, KNOWN)
    unknown = ask(app, monkeypatch, UNKNOWN)
    anonymized = ask(app, monkeypatch, GONE)
    busy = ask(app, monkeypatch, BUSY)

    assert known.statements, "no statement was recorded"
    for other in (unknown, anonymized, busy):
        assert other.statements == known.statements
        assert other.queued == known.queued == 1
    # Exactly one email was left to send: the known donor's, and none was sent while the
    # request was being handled.
    mails = sign_in_mails()
    assert [m.to_address for m in mails[sent_before:]] == [KNOWN]
    assert known.sent_in_request == unknown.sent_in_request
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.to_address == services.NOBODY)) == 0


def LINK_FOR(token: str, _locale: str) -> str:
    return f"https://give.example.org/my/sign-in/{token}"


def test_request_link_still_sends_only_to_a_known_live_donor(app: Flask, donors) -> None:
    assert services.request_link(KNOWN, LINK_FOR) is True
    assert services.request_link(UNKNOWN, LINK_FOR) is False
    assert services.request_link(GONE, LINK_FOR) is False
    db.session.commit()
    assert [m.to_address for m in sign_in_mails()] == [KNOWN]
