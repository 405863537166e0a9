"""X-Request-ID on every response (a sane incoming one kept, anything else replaced), the same
id as ``g.request_id`` and on log records; TRACKER_LOG_FORMAT=json writes one JSON object per
line with it. These need no schema: an empty SQLite file will do."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask, g, request_finished
from flask.logging import default_handler

from tests.conftest import make_app
from tracker.extensions import db
from tracker.ops import logs
from tracker.ops.requestid import choose

HEX_ID = re.compile(r"[0-9a-f]{32}")


def _bare_app(tmp_path, **overrides) -> Flask:  # noqa: ANN001
    return make_app(f"sqlite:///{tmp_path}/empty.sqlite3", **overrides)


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = _bare_app(tmp_path_factory.mktemp("bare"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("sent", "kept"), [
    ("abcd1234", True), ("req-2026.12.03_A", True), ("x" * 128, True),
    (None, False), ("", False), ("short", False), ("x" * 129, False), ("has space in it", False),
    ("semi;colon;id", False), ("ünïcödé-id", False),
])
def test_incoming_id_kept_only_when_sane(bare_app: Flask, sent: str | None, kept: bool) -> None:
    seen: list[str] = []

    def remember(_sender, response, **_):  # noqa: ANN001, ANN202
        seen.append(g.request_id)

    headers = {} if sent is None else {"X-Request-ID": sent}
    with request_finished.connected_to(remember, bare_app):
        response = bare_app.test_client().get("/healthz", headers=headers)
    rid = response.headers["X-Request-ID"]
    assert rid == sent if kept else HEX_ID.fullmatch(rid)
    assert seen == [rid]
    assert response.headers.getlist("X-Request-ID") == [rid]


def test_every_answer_carries_an_id(bare_app: Flask) -> None:
    client = bare_app.test_client()
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/no/such/page", "/healthz", "/readyz")}
    assert len(ids) == 3
    assert client.post("/healthz").headers["X-Request-ID"]  # 405


def test_choose() -> None:
    assert choose("abcdefgh") == "abcdefgh"
    assert choose("abc\ndefgh") != "abc\ndefgh"


def test_plain_format_is_the_default(bare_app: Flask) -> None:
    assert bare_app.config["TRACKER_LOG_FORMAT"] == "plain"
    assert logs.installed_handler() is None


def test_json_lines_carry_the_request_id(tmp_path) -> None:  # noqa: ANN001
    had_default = default_handler in logging.getLogger("tracker").handlers
    app = _bare_app(tmp_path, TRACKER_LOG_FORMAT="json")
    handler = logs.installed_handler()
    stream = io.StringIO()
    try:
        assert handler is not None and default_handler not in app.logger.handlers
        handler.setStream(stream)
        response = app.test_client().post("/webhooks/stripe", data=b"{}",
                                          headers={"Stripe-Signature": "t=1,v1=forged",
                                                   "X-Request-ID": "trace-me-0001"})
        assert response.status_code == 400
        logging.getLogger("tracker.ops.test").error("outside a request\nsecond line")
    finally:
        logs.uninstall()
        with app.app_context():
            db.engine.dispose()
    assert logs.installed_handler() is None
    assert (default_handler in app.logger.handlers) == had_default
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    [refused] = [e for e in entries if e["message"].startswith("webhook refused")]
    assert refused["request_id"] == "trace-me-0001"
    assert refused["level"] == "WARNING" and refused["logger"] == "tracker"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", refused["time"])
    outside = entries[-1]
    assert outside["message"] == "outside a request\nsecond line" and outside["request_id"] == "-"


def test_json_lines_carry_the_exception() -> None:
    formatter = logs.JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                                   __import__("sys").exc_info())
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "failed here" and entry["request_id"] == "-"
    assert "ValueError: boom" in entry["exception"] and "Traceback" in entry["exception"]
