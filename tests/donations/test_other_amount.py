"""The donation form's "Other amount" (issue 15, walk 2; issue 18: typed amount wins).

Typing 2,000 with the ¥5,000 preset still selected went to a ¥5,000 checkout: the typed
amount was silently ignored. Issue 15 refused such a request; issue 18 rebuilt the form around
the currency chosen first, and a typed amount now *wins* over a preset (typing in the box is
the donor's latest word, and the page's script clears the preset as they type,
tests/e2e/test_donate_form.py). It is never ignored.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from sqlalchemy import func

from tests.factories import make_case
from tests.payments.helpers import fresh, post_gift, start_gift
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift

SLUG = "six-survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _rows() -> tuple[int, int]:
    fresh()
    return (int(db.session.scalar(db.select(func.count()).select_from(Donation)) or 0),
            int(db.session.scalar(db.select(func.count()).select_from(RecurringGift)) or 0))


@pytest.mark.parametrize(("typed", "expected"), [("2,000", 2000), ("2000", 2000),
                                                 ("５，０００円", 5000)])
@pytest.mark.parametrize("slug", [SLUG, None], ids=["case", "general-fund"])
def test_a_typed_amount_wins_over_a_preset(client, case, typed: str, expected: int,  # noqa: ANN001
                                           slug: str | None) -> None:
    donation, _session = start_gift(client, slug, preset="JPY:5000", amount=typed, currency="JPY")
    assert (donation.amount_minor, donation.currency) == (expected, "JPY")


def test_a_typed_amount_that_is_no_amount_is_refused_not_replaced_by_the_preset(
        client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, preset="JPY:5000", amount="5,000円x", currency="JPY")
    assert response.status_code == 422
    assert 'value="5,000円x"' in html.unescape(response.text)   # as the donor left it
    assert 'id="amount-error"' in response.text
    assert _rows() == (0, 0)                                    # no pending gift, no checkout


def test_a_monthly_gift_takes_the_typed_amount_too(client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, preset="JPY:5000", amount="2,000", frequency="monthly",
                         email="monthly@example.org")
    assert response.status_code == 303
    fresh()
    monthly = db.session.scalar(db.select(RecurringGift))
    assert (monthly.amount_minor, monthly.currency) == (2000, "JPY")


def test_the_same_amount_typed_and_chosen_is_that_amount(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="JPY:5000", amount="5,000")
    assert (donation.amount_minor, donation.currency) == (5000, "JPY")


def test_other_amount_gives_what_was_typed(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="other", amount="2,000")
    assert (donation.amount_minor, donation.currency) == (2000, "JPY")


def test_a_preset_alone_gives_the_preset(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="JPY:10000", amount="   ")
    assert (donation.amount_minor, donation.currency) == (10000, "JPY")


def test_the_donate_page_loads_its_form_script(client, case) -> None:  # noqa: ANN001
    page = client.get(f"/cases/{SLUG}/donate")
    assert re.search(r'/static/donate\.js\?v=[0-9a-f]{12}"', page.text)
    script = client.get("/static/donate.js")
    assert script.status_code == 200 and b'value="other"' in script.data
    script.close()
