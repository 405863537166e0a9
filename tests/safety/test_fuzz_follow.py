"""Fuzzing the public routes of following a case (``tracker.site.follow``), with the helpers
of ``test_fuzz``: random addresses, tokens, fields and bodies never answer 5xx, never confirm
or end a follow they do not name, and store nothing but one follow and its mail."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.factories import make_case
from tests.safety.test_fuzz import (
    SLUG,
    _quote,
    counts,
    delta,
    email_value,
    field_text,
    fuzz,
    mostly,
    occurrences,
    odd_text,
    post_fields,
    post_form,
    token_for,
)
from tracker.cases import workflow
from tracker.cases.follows import CaseFollow
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage


def _follows() -> list[tuple[str, object]]:
    db.session.rollback()
    found = list(db.session.execute(db.select(CaseFollow.email, CaseFollow.confirmed_at)
                                    .order_by(CaseFollow.id)))
    db.session.rollback()
    return found


def _one_follow(client: FlaskClient) -> tuple[str, str]:
    """A follow of the case, confirmed, and its (confirm path, unsubscribe path)."""
    from tests.conftest import csrf_from

    page = client.get(f"/cases/{SLUG}/follow")
    post_form(client, f"/cases/{SLUG}/follow", [("email", "real@example.org"),
                                                 ("csrf_token", csrf_from(page.text))])
    db.session.rollback()
    body = db.session.scalar(db.select(OutboxMessage.body_text))
    confirm = re.search(r"https?://[^/\s]+(/follow/confirm/[^\s?]+)", body).group(1)
    from tracker.cases import follows

    follow = db.session.scalar(db.select(CaseFollow))
    unsubscribe = "/unsubscribe/" + follows.unsubscribe_token(follow)
    db.session.rollback()
    return confirm, unsubscribe


def test_follow_form_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random addresses, with and without a CSRF token, as a form or not: never a 5xx; the
    same page (200) or a form error (422); without a token 400. Nothing is stored but one
    follow and its confirmation mail for an address the form accepts."""
    make_case(SLUG, status=workflow.FUNDRAISING)
    token = token_for(client, f"/cases/{SLUG}/follow")

    @fuzz(40)
    @given(email=occurrences(email_value), with_token=st.sampled_from([True, True, False]),
           as_form=mostly(st.just(True), st.just(False)))
    def attempt(email: list[str], with_token: bool, as_form: bool) -> None:
        before = counts()
        response = post_fields(client, f"/cases/{SLUG}/follow", [("email", e) for e in email],
                               token if with_token else None, as_form)
        assert response.status_code < 500, response.status_code
        expected = (200, 422) if with_token else (400,)
        assert response.status_code in expected, (with_token, response.status_code)
        change = delta(before, counts())
        if change:
            assert change in ({"case_follows": 1, "outbox_messages": 1}, {"outbox_messages": 1}), change
            assert as_form and response.status_code == 200
        assert all(confirmed is None for _, confirmed in _follows())

    attempt()


def test_confirm_link_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random tokens and fields: never a 5xx, nothing confirmed or stored; the real link
    still confirms afterwards."""
    make_case(SLUG, status=workflow.FUNDRAISING)
    real, _ = _one_follow(client)
    token = token_for(client, real)

    @fuzz(40)
    @given(link=st.one_of(field_text, st.sampled_from([
               real.rsplit("/", 1)[1][:-1], real.rsplit("/", 1)[1] + "x", "..", "%2F", "\x00"])),
           extra=st.lists(st.tuples(odd_text, odd_text), max_size=3),
           with_token=st.sampled_from([True, False]))
    def run(link: str, extra: list[tuple[str, str]], with_token: bool) -> None:
        assume(link != real.rsplit("/", 1)[1])
        pairs = list(extra) + ([("csrf_token", token)] if with_token else [])
        before = counts()
        response = post_form(client, "/follow/confirm/" + _quote(link), pairs)
        assert response.status_code < 500, (link, response.status_code)
        assert response.status_code in (400, 404, 405, 308, 410), response.status_code
        assert counts() == before
        assert _follows()[0][1] is None

    run()
    assert post_form(client, real, [("csrf_token", token)]).status_code == 200
    assert _follows()[0][1] is not None


def test_unsubscribe_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random tokens, fields and bodies (no CSRF token needed: RFC 8058): never a 5xx, the
    follow stays; the real link still ends it."""
    make_case(SLUG, status=workflow.FUNDRAISING)
    _, real = _one_follow(client)

    @fuzz(40)
    @given(link=st.one_of(field_text, st.sampled_from([
               real.rsplit("/", 1)[1][:-1], real.rsplit("/", 1)[1] + "x", "..", "%2F", "\x00"])),
           extra=st.lists(st.tuples(odd_text, odd_text), max_size=3),
           one_click=st.booleans())
    def run(link: str, extra: list[tuple[str, str]], one_click: bool) -> None:
        assume(link != real.rsplit("/", 1)[1])
        pairs = list(extra) + ([("List-Unsubscribe", "One-Click")] if one_click else [])
        before = counts()
        response = post_form(client, "/unsubscribe/" + _quote(link), pairs)
        assert response.status_code < 500, (link, response.status_code)
        assert response.status_code in (400, 404, 405, 308), response.status_code
        assert counts() == before

    run()
    assert len(_follows()) == 1
    assert post_form(client, real, [("List-Unsubscribe", "One-Click")]).status_code == 200
    assert _follows() == []
