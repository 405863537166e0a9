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
from tracker.ledger.models import COVER_DISPUTED, DISPUTE, FEE_COVER, LedgerEntry

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


def test_the_fee_a_donor_covered_is_part_of_the_gift_received_and_returned_with_it(
        app: Flask, client, case) -> None:  # noqa: ANN001
    """A ¥30,000 gift with ¥1,080 added to cover the card fee: the donor gave ¥31,080 to the
    organization, on one line; a bank's chargeback of half returns the gift's and the cover's
    shares (as the payments code books them), and the total is what the organization kept."""
    last_year = local_today().year - 1
    at = datetime(last_year, 4, 1, 3, tzinfo=UTC)
    donation, _receipt = gift(case, 30_000, at, email=EMAIL, locale="ja")
    donation = db.session.get(type(donation), donation.id)
    donation.amount_minor, donation.fee_cover_minor = 31_080, 1_080
    db.session.add_all([
        LedgerEntry(kind=FEE_COVER, case_id=case.id, donation_id=donation.id, amount_minor=1_080,
                    currency="JPY", original_amount_minor=1_080, original_currency="JPY",
                    gateway_ref=f"donation:{donation.public_id}:cover", booked_at=at),
        LedgerEntry(kind=DISPUTE, case_id=case.id, donation_id=donation.id, amount_minor=-15_000,
                    currency="JPY", original_amount_minor=-15_000, original_currency="JPY",
                    gateway_ref="dp_tax", memo="dispute opened",
                    booked_at=datetime(last_year, 5, 1, 3, tzinfo=UTC)),
        LedgerEntry(kind=FEE_COVER, case_id=case.id, donation_id=donation.id, amount_minor=-540,
                    currency="JPY", original_amount_minor=-540, original_currency="JPY",
                    gateway_ref="dp_tax", memo=COVER_DISPUTED,
                    booked_at=datetime(last_year, 5, 1, 3, tzinfo=UTC)),
    ])
    db.session.commit()
    sign_in(client, EMAIL)
    assert set_addressee(client).status_code == 303
    text = pdf_text(client.get(f"/my/tax/{last_year}.pdf").data)
    assert "31,080円" in text                 # the gift and its cover, one amount received
    assert "-15,540円" in text or "−15,540円" in text   # returned: both shares together
    assert "15,540円" in text.replace("-15,540円", "").replace("−15,540円", "")  # the total
    assert "1,080円" not in text.replace("31,080円", "")   # no separate line for the cover


def test_the_addressee_errors_in_japanese_name_the_tax_receipt_once(app: Flask, client,  # noqa: ANN001
                                                                     case) -> None:
    gift(case, 10_000, datetime(local_today().year - 1, 3, 1, 3, tzinfo=UTC), email=EMAIL)
    sign_in(client, EMAIL)
    client.get("/my/?lang=ja")  # remembered in the language cookie
    response = set_addressee(client, name="")
    assert response.status_code == 422
    assert "寄附金受領証明書の宛名を入力してください。" in response.text
    assert "領収書の宛名" not in response.text.replace("寄附金受領証明書の宛名", "")
    # a NUL is refused by the field's own check and by every form's: one message, not two
    response = set_addressee(client, name="山田\x00太郎")
    assert response.status_code == 422
    assert response.text.count("制御文字") == 1, response.text
    assert donor(EMAIL).tax_name == ""
