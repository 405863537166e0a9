"""The donor's own page lists their monthly gifts (status, amount, next payment) with forms
to change the amount or cancel; only the signed-in donor's own gifts, another's is a 404.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.confirming import post_confirmed
from tests.conftest import csrf_from
from tests.donors.helpers import sign_in
from tests.factories import make_case
from tests.payments.test_recurring import EMAIL, SLUG, advance, gifts_of, reload, subscribe
from tracker.extensions import db
from tracker.monthly.models import RecurringGift


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def _page(client) -> str:  # noqa: ANN001
    page = client.get("/my/")
    assert page.status_code == 200
    return page.text


def test_page_lists_monthly_gifts_and_cancels(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    sign_in(client, EMAIL)
    html = _page(client)
    assert "Monthly gifts" in html and f'data-monthly="{gift.public_id}"' in html
    assert "¥5,000" in html and "Active" in html and "Next payment:" in html
    response = post_confirmed(client, f"/my/monthly/{gift.public_id}/cancel",
                              {"csrf_token": csrf_from(html)})
    assert response.status_code == 303
    assert reload(gift).status == "canceled"
    html = _page(client)
    assert "Cancelled" in html and "Cancel this monthly gift" not in html
    advance(runner, 70)
    assert len(gifts_of(gift)) == 1


def test_change_amount_from_the_page(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    sign_in(client, EMAIL)
    token = csrf_from(_page(client))
    bad = client.post(f"/my/monthly/{gift.public_id}/amount", data={"csrf_token": token, "amount": "10"})
    assert bad.status_code == 422 and reload(gift).amount_minor == 5000
    response = client.post(f"/my/monthly/{gift.public_id}/amount",
                           data={"csrf_token": token, "amount": "8,000"})
    assert response.status_code == 303 and reload(gift).amount_minor == 8000
    advance(runner, 32)
    assert [d.amount_minor for d in gifts_of(gift)] == [5000, 8000]


def test_a_donor_cannot_touch_another_donors_gift(app: Flask, client, case) -> None:  # noqa: ANN001
    theirs = subscribe(client, email="other@example.org")
    mine = subscribe(app.test_client())
    sign_in(client, EMAIL)
    html = _page(client)
    assert theirs.public_id not in html and mine.public_id in html
    token = csrf_from(html)
    cancel = client.post(f"/my/monthly/{theirs.public_id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
    assert client.post(f"/my/monthly/{theirs.public_id}/amount",
                       data={"csrf_token": token, "amount": "9000"}).status_code == 404
    theirs = reload(theirs)
    assert theirs.status == "active" and theirs.amount_minor == 5000


def test_signed_out_visitors_are_sent_to_sign_in(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    assert client.post(f"/my/monthly/{gift.public_id}/cancel", data={}).status_code == 400
    token = csrf_from(client.get("/my/sign-in").text)
    response = client.post(f"/my/monthly/{gift.public_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 302 and "/my/sign-in" in response.headers["Location"]
    db.session.rollback()
    assert db.session.get(RecurringGift, gift.id).status == "active"


def test_monthly_section_in_japanese(app: Flask, client, case) -> None:  # noqa: ANN001
    subscribe(client)
    sign_in(client, EMAIL)
    html = client.get("/my/?lang=ja").text
    assert "毎月のご寄付" in html and "5,000円" in html and "この毎月のご寄付を解約する" in html
