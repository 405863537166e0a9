"""The donation form's "Other amount" (issue 15, walk 2).

Typing 2,000 with the ¥5,000 preset still selected went to a ¥5,000 checkout: the typed
amount was silently ignored. A request carrying a preset and a different typed amount is now
refused with a clear message (422, the form shown again, nothing created), never guessed; the
page's script selects "Other amount" as soon as one is typed (tests/e2e/test_other_amount_browser.py).

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from sqlalchemy import func

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.payments.helpers import fresh, gift_form, post_gift, start_gift
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift

SLUG = "six-survivors"
REFUSAL = "You chose ¥5,000 and also typed an amount."


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _rows() -> tuple[int, int]:
    fresh()
    return (int(db.session.scalar(db.select(func.count()).select_from(Donation)) or 0),
            int(db.session.scalar(db.select(func.count()).select_from(RecurringGift)) or 0))


@pytest.mark.parametrize("typed", ["2,000", "2000", "５，０００円x", "50.00"])
@pytest.mark.parametrize("slug", [SLUG, None], ids=["case", "general-fund"])
def test_a_preset_with_a_different_typed_amount_is_refused(client, case, typed: str,  # noqa: ANN001
                                                           slug: str | None) -> None:
    response = post_gift(client, slug, preset="JPY:5000", amount=typed, currency="JPY")

    assert response.status_code == 422
    page = html.unescape(response.text)
    assert REFUSAL in page
    assert "choose “Other amount”" in page
    assert f'value="{typed}"' in page            # the form comes back as the donor left it
    assert _rows() == (0, 0)                      # no pending gift, no checkout


def test_a_monthly_gift_with_both_is_refused_too(client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, preset="JPY:5000", amount="2,000", frequency="monthly",
                         email="monthly@example.org")
    assert response.status_code == 422
    assert REFUSAL in html.unescape(response.text)
    assert _rows() == (0, 0)


def test_the_same_amount_typed_and_chosen_is_that_amount(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="JPY:5000", amount="5,000")
    assert (donation.amount_minor, donation.currency) == (5000, "JPY")


def test_other_amount_gives_what_was_typed(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="other", amount="2,000")
    assert (donation.amount_minor, donation.currency) == (2000, "JPY")


def test_a_preset_alone_gives_the_preset(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, preset="JPY:10000", amount="   ")
    assert (donation.amount_minor, donation.currency) == (10000, "JPY")


def test_the_refusal_is_in_japanese_on_the_japanese_page(client, case) -> None:  # noqa: ANN001
    page = client.get(f"/cases/{SLUG}/donate?lang=ja")
    assert page.status_code == 200
    response = client.post(f"/cases/{SLUG}/donate?lang=ja",
                           data=gift_form(csrf_from(page.text), amount="2,000"))
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "5,000円が選ばれていますが、「その他の金額」にも金額が入力されています。" in text
    assert REFUSAL not in text and "also typed" not in text
    assert _rows() == (0, 0)


def test_the_donate_page_loads_its_form_script(client, case) -> None:  # noqa: ANN001
    page = client.get(f"/cases/{SLUG}/donate")
    assert re.search(r'/static/donate\.js\?v=[0-9a-f]{12}"', page.text)
    script = client.get("/static/donate.js")
    assert script.status_code == 200 and b'value="other"' in script.data
    script.close()
