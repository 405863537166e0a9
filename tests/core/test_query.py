"""The typed query-parameter helpers of tracker.core.query (issue 15, item 9).

The hook that refuses control characters is tested through real pages in
tests/safety/test_fuzz.py; these are the helpers views read their parameters with.
"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import make_app
from tracker.core.query import BadQuery, choice_arg, has_control_characters, int_arg, text_arg


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    return make_app("sqlite://")


@pytest.mark.parametrize(("query", "expected"), [
    ("", None), ("before=", None), ("before=%20", None), ("before=42", 42), ("before=%2042%20", 42),
    ("before=2147483647", 2**31 - 1),
])
def test_int_arg_reads_whole_numbers(bare_app: Flask, query: str, expected: int | None) -> None:
    with bare_app.test_request_context(f"/?{query}"):
        assert int_arg("before") == expected


@pytest.mark.parametrize("raw", ["%C2%B2", "%EF%BC%91", "-1", "%2B1", "1.0", "1e3", "0x10",
                                 "2147483648", "9" * 40, "4%202", "%D9%A1"])
def test_int_arg_refuses_everything_else_with_a_400(bare_app: Flask, raw: str) -> None:
    with bare_app.test_request_context(f"/?before={raw}"), pytest.raises(BadQuery) as caught:
        int_arg("before")
    assert caught.value.status_code == 400 and caught.value.field == "before"
    assert "whole number" in caught.value.reason


def test_int_arg_bounds(bare_app: Flask) -> None:
    with bare_app.test_request_context("/?page=0"):
        assert int_arg("page") == 0
        with pytest.raises(BadQuery):
            int_arg("page", minimum=1)


def test_choice_arg(bare_app: Flask) -> None:
    with bare_app.test_request_context("/?status=%20paid%20&other=x"):
        assert choice_arg("status", ["paid", "failed"]) == "paid"
        assert choice_arg("missing", ["a"], default="a") == "a"
        with pytest.raises(BadQuery) as caught:
            choice_arg("other", ["paid"])
    assert caught.value.field == "other"


def test_text_arg(bare_app: Flask) -> None:
    with bare_app.test_request_context("/?q=%20a%20%20b%20"):
        assert text_arg("q", 200) == "a b"
        assert text_arg("q", 1) == "a"


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", False), ("\x00", True), ("a\tb", True), ("\x7f", True), ("\x85", True),
    ("\u202e", False), ("日本", False),
])
def test_control_characters(text: str, expected: bool) -> None:
    assert has_control_characters(text) is expected
