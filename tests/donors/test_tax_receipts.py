"""Tax receipts (寄附金受領証明書) per calendar year for a signed-in donor: the addressee they
set (name, katakana reading, postal code, address; bad input refused at its field), only
years that are over, gifts in yen (a dollar gift at its settled yen amount) less what was
returned in the year, the organization's details and the statement of receipt, and a second
download marked as a reissue.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from tests.conftest import csrf_from
from tests.donors.helpers import donor, gift, pdf_text, refund, sign_in
from tests.factories import make_case
from tracker.core.time import local_today
from tracker.donors.models import TaxReceipt
from tracker.extensions import db

EMAIL = "taxpayer@example.org"


@pytest.fixture
def case(app: Flask):
    return make_case("six-survivors", people=2, status="fundraising", public_title="Six survivors")


def set_addressee(client, **fields):  # noqa: ANN001, ANN003, ANN201
    page = client.get("/my/")
    data = {"csrf_token": csrf_from(page.text), "name": "山田 太郎", "kana": "ヤマダ タロウ",
            "postal_code": "1000001", "address": "東京都千代田区千代田1-1"}
    data.update(fields)
    return client.post("/my/tax-addressee", data=data)


def test_a_tax_receipt_for_last_year_in_yen_with_a_reissue(app: Flask, client, case) -> None:  # noqa: ANN001
    last_year = local_today().year - 1
    yen, _receipt = gift(case, 10_000, datetime(last_year, 3, 1, 3, tzinfo=UTC), email=EMAIL, locale="ja")
    gift(case, 2_500, datetime(last_year, 6, 1, 3, tzinfo=UTC), "USD", email=EMAIL)  # $25.00
    refund(yen, 1_000, datetime(last_year, 7, 1, 3, tzinfo=UTC), "re_tax_1")
    gift(case, 7_000, datetime(local_today().year, 1, 5, 3, tzinfo=UTC), email=EMAIL)  # this year
    sign_in(client, EMAIL)

    page = client.get("/my/?lang=ja")
    assert "確定申告" in page.text or "寄附金受領証明書" in page.text
    assert f"/my/tax/{last_year}.pdf" not in page.text  # no addressee yet: the form first
    early = client.get(f"/my/tax/{last_year}.pdf")
    assert early.status_code == 303

    assert set_addressee(client).status_code == 303
    stored = donor(EMAIL)
    assert (stored.tax_name, stored.tax_postal_code) == ("山田 太郎", "100-0001")
    page = client.get("/my/")
    assert f"/my/tax/{last_year}.pdf" in page.text
    assert f"/my/tax/{local_today().year}.pdf" not in page.text  # this year is not over

    first = client.get(f"/my/tax/{last_year}.pdf")
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    text = pdf_text(first.data)
    assert "寄附金受領証明書" in text and "山田 太郎 様" in text and "〒100-0001" in text
    assert "特定非営利活動" in text
    # ¥10,000 + $25.00 settled in yen - ¥1,000 refunded; the dollars shown beside their yen
    settled = db.session.execute(db.text(
        "SELECT amount_minor FROM ledger_entries WHERE kind = 'gift' AND original_currency = 'USD'"
    )).scalar_one()
    total = 10_000 + settled - 1_000
    assert f"{total:,}円" in text and "$25.00" in text
    assert "7,000円" not in text  # this year's gift waits for next year's receipt
    assert "再発行" not in text

    second = client.get(f"/my/tax/{last_year}.pdf")
    assert "再発行" in pdf_text(second.data)
    db.session.rollback()
    [record] = db.session.scalars(db.select(TaxReceipt)).all()
    assert (record.year, record.issues) == (last_year, 2)

    assert client.get(f"/my/tax/{local_today().year}.pdf").status_code == 404
    assert client.get(f"/my/tax/{last_year - 5}.pdf").status_code == 404


@pytest.mark.parametrize(("field", "value", "message"), [
    ("kana", "yamada", "katakana"),
    ("postal_code", "12-34", "seven digits"),
    ("name", "   ", "made out to"),
    ("address", "", "address"),
])
def test_a_bad_addressee_is_refused_at_its_field(app: Flask, client, case, field: str,  # noqa: ANN001
                                                  value: str, message: str) -> None:
    gift(case, 10_000, datetime(local_today().year - 1, 3, 1, 3, tzinfo=UTC), email=EMAIL)
    sign_in(client, EMAIL)
    response = set_addressee(client, **{field: value})
    assert response.status_code == 422 and message in response.text
    assert donor(EMAIL).tax_name == ""


@pytest.mark.parametrize("typed", ["１６０−００２２", "〒160-0022", "160ー0022", "1600022"])
def test_a_postal_code_typed_on_a_japanese_keyboard_is_taken(app: Flask, client, case,  # noqa: ANN001
                                                             typed: str) -> None:
    gift(case, 10_000, datetime(local_today().year - 1, 3, 1, 3, tzinfo=UTC), email=EMAIL)
    sign_in(client, EMAIL)
    assert set_addressee(client, postal_code=typed).status_code == 303
    assert donor(EMAIL).tax_postal_code == "160-0022"


def test_half_width_kana_is_stored_full_width(app: Flask, client, case) -> None:  # noqa: ANN001
    gift(case, 10_000, datetime(local_today().year - 1, 3, 1, 3, tzinfo=UTC), email=EMAIL)
    sign_in(client, EMAIL)
    assert set_addressee(client, kana="ﾔﾏﾀﾞ ﾀﾛｳ").status_code == 303
    assert donor(EMAIL).tax_kana == "ヤマダ タロウ"


def test_signed_out_visitors_get_no_tax_receipt(app: Flask, client, case) -> None:  # noqa: ANN001
    response = client.get(f"/my/tax/{local_today().year - 1}.pdf")
    assert response.status_code == 302 and "/my/sign-in" in response.headers["Location"]
