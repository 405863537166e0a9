"""``tracker.core.transactions``: work queued with ``after_commit`` runs once, only after the
transaction that queued it has committed, each callback in a transaction of its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.conftest import make_app
from tracker.core import transactions
from tracker.core.access import public
from tracker.core.counters import Counter
from tracker.extensions import db


def _count(name: str) -> int | None:
    """The counter as the database has it (a fresh read, not the session's copy)."""
    with db.engine.connect() as conn:
        return conn.scalar(db.select(Counter.value).where(Counter.name == name))


def _add(name: str, value: int = 1) -> None:
    db.session.add(Counter(name=name, value=value))
    db.session.flush()


def test_commit_runs_each_callback_once_after_the_commit(app: Flask) -> None:
    seen: list[int | None] = []
    _add("caller")
    transactions.after_commit(lambda: seen.append(_count("caller")))
    assert seen == []
    transactions.commit()
    assert seen == [1]  # ran after the caller's row was committed
    transactions.commit()
    db.session.commit()
    assert seen == [1]


def test_a_rollback_drops_the_callbacks(app: Flask) -> None:
    seen: list[str] = []
    _add("caller")
    transactions.after_commit(lambda: seen.append("ran"))
    db.session.rollback()
    transactions.commit()
    assert seen == [] and _count("caller") is None
    # and a session closed without committing forgets them too
    transactions.after_commit(lambda: seen.append("ran"))
    _add("caller")
    db.session.close()
    transactions.commit()
    assert seen == []


def test_a_failing_callback_is_logged_and_undoes_nothing_else(app: Flask, caplog) -> None:  # noqa: ANN001
    def fails() -> None:
        _add("failed")
        raise RuntimeError("the callback broke")

    _add("caller")
    transactions.after_commit(fails)
    transactions.after_commit(lambda: _add("after"))  # not committed by itself: commit() does
    with caplog.at_level(logging.ERROR, logger="tracker.core.transactions"):
        transactions.commit()
    assert _count("caller") == 1  # the caller's commit stands
    assert _count("failed") is None  # the failed callback's own work is rolled back
    assert _count("after") == 1  # the next callback still ran, in its own transaction
    assert "the callback broke" in caplog.text


def test_a_callback_may_queue_more(app: Flask) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        transactions.after_commit(lambda: seen.append("second"))

    transactions.after_commit(first)
    transactions.commit()
    assert seen == ["first", "second"]


def test_a_savepoint_is_not_the_commit(app: Flask) -> None:
    seen: list[str] = []
    with db.session.begin_nested():
        _add("inner")
        transactions.after_commit(lambda: seen.append("ran"))
    assert seen == []
    transactions.commit()
    assert seen == ["ran"]


def test_a_plain_commit_runs_them_when_the_app_context_ends(app: Flask) -> None:
    seen: list[int | None] = []
    with app.app_context():  # a CLI command or a script: a context (and a session) of its own
        _add("script")
        transactions.after_commit(lambda: seen.append(_count("script")))
        db.session.commit()
        assert seen == []
        _add("uncommitted")  # left over at the end: rolled back, never committed by a callback
    assert seen == [1]
    assert _count("uncommitted") is None


@pytest.fixture
def web(app: Flask, database_url: str) -> Iterator[tuple[Flask, list[str]]]:
    """A fresh app (same database) with a route that queues a callback and commits plainly."""
    seen: list[str] = []
    web = make_app(database_url, WTF_CSRF_ENABLED=False)

    @web.post("/_test/plain-commit")
    @public
    def plain_commit():
        _add("request")
        transactions.after_commit(lambda: seen.append(f"ran, committed {_count('request')}"))
        db.session.commit()
        return "done"

    yield web, seen
    with web.app_context():
        db.engine.dispose()


def test_a_plain_commit_in_a_request_runs_them_before_the_response(web) -> None:  # noqa: ANN001
    app, seen = web
    response = app.test_client().post("/_test/plain-commit")
    assert response.status_code == 200
    assert seen == ["ran, committed 1"]
