"""Fuzzing the public write routes issue 18 added, with the helpers of ``test_fuzz``: the
contact form, the sandbox's TEST MODE voucher page and a signed-in donor's tax-receipt
addressee. Random fields and bodies never answer 5xx and store nothing but what each route
is for: one mail to the organization, one settled voucher, the donor's own addressee."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from tests.donors.helpers import gift, sign_in
from tests.factories import make_case
from tests.payments.helpers import start_gift
from tests.safety.test_fuzz import (
    SLUG,
    counts,
    delta,
    email_value,
    field_text,
    fuzz,
    mostly,
    occurrences,
    post_fields,
    token_for,
)
from tracker.cases import workflow
from tracker.core.time import local_today
from tracker.donations.models import Donation, Donor
from tracker.extensions import db


def test_contact_form_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random names, addresses and messages: a form error (422) or the thanks (302); without
    a token 400. A message the form takes is one mail, to the organization."""
    token = token_for(client, "/contact")

    @fuzz(40)
    @given(name=occurrences(field_text), email=occurrences(email_value),
           message=occurrences(field_text), with_token=st.sampled_from([True, True, False]),
           as_form=mostly(st.just(True), st.just(False)))
    def attempt(name, email, message, with_token, as_form) -> None:  # noqa: ANN001
        before = counts()
        pairs = ([("name", v) for v in name] + [("email", v) for v in email]
                 + [("message", v) for v in message])
        response = post_fields(client, "/contact", pairs, token if with_token else None, as_form)
        assert response.status_code < 500, response.status_code
        assert response.status_code in ((302, 422) if with_token else (400,)), response.status_code
        change = delta(before, counts())
        assert change == ({"outbox_messages": 1} if response.status_code == 302 else {}), change

    attempt()


def test_sandbox_voucher_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random outcomes and bodies on a waiting konbini voucher, an unknown session and a card
    session: never a 5xx; the waiting gift ends at most once (paid or expired)."""
    make_case(SLUG, status=workflow.FUNDRAISING)
    donation, session_id = start_gift(client, SLUG)
    page = client.get(f"/sandbox/checkout/{session_id}")
    from tests.conftest import csrf_from
    client.post(f"/sandbox/checkout/{session_id}",
                data={"csrf_token": csrf_from(page.text), "method": "konbini"})
    voucher = f"/sandbox/voucher/{session_id}"
    token = token_for(client, voucher)

    @fuzz(30)
    @given(outcome=occurrences(st.one_of(st.sampled_from(["paid", "expired", ""]), field_text)),
           target=st.sampled_from([voucher, "/sandbox/voucher/cs_test_nope"]),
           with_token=st.sampled_from([True, True, False]),
           as_form=mostly(st.just(True), st.just(False)))
    def attempt(outcome, target, with_token, as_form) -> None:  # noqa: ANN001
        response = post_fields(client, target, [("outcome", v) for v in outcome],
                               token if with_token else None, as_form)
        assert response.status_code < 500, response.status_code
        if target != voucher:
            assert response.status_code in (400, 404), response.status_code
        else:
            assert response.status_code in ((303,) if with_token else (400,)), response.status_code
        db.session.rollback()
        status = db.session.get(Donation, donation.id).status
        assert status in ("pending", "succeeded", "expired"), status
        db.session.rollback()

    attempt()
    db.session.rollback()
    succeeded = db.session.scalar(db.select(db.func.count()).select_from(Donation)
                                  .where(Donation.status == "succeeded"))
    assert succeeded <= 1


def test_tax_addressee_fuzzed(app: Flask, client: FlaskClient) -> None:
    """Random names, readings, postal codes and addresses for a signed-in donor: the page
    again (422) or saved (303); without a token 400. Only this donor's row ever changes, and
    only to values that pass the checks."""
    case = make_case(SLUG, status=workflow.FUNDRAISING)
    gift(case, 5_000, datetime(local_today().year - 1, 3, 1, 3, tzinfo=UTC), email="fuzz@example.org")
    sign_in(client, "fuzz@example.org")
    token = token_for(client, "/my/")

    @fuzz(40)
    @given(name=occurrences(field_text), kana=occurrences(st.one_of(field_text, st.just("ヤマダ"))),
           postal=occurrences(st.one_of(field_text, st.sampled_from(["100-0001", "1000001", "１００"]))),
           address=occurrences(field_text), with_token=st.sampled_from([True, True, False]),
           as_form=mostly(st.just(True), st.just(False)))
    def attempt(name, kana, postal, address, with_token, as_form) -> None:  # noqa: ANN001
        before = counts()
        pairs = ([("name", v) for v in name] + [("kana", v) for v in kana]
                 + [("postal_code", v) for v in postal] + [("address", v) for v in address])
        response = post_fields(client, "/my/tax-addressee", pairs, token if with_token else None,
                               as_form)
        assert response.status_code < 500, response.status_code
        assert response.status_code in ((303, 422) if with_token else (400,)), response.status_code
        assert delta(before, counts()) == {}  # a row changes; none is added
        db.session.rollback()
        donor = db.session.scalar(db.select(Donor).where(Donor.email == "fuzz@example.org"))
        if donor.tax_postal_code:
            assert len(donor.tax_postal_code) == 8 and donor.tax_name and donor.tax_address
        db.session.rollback()

    attempt()
