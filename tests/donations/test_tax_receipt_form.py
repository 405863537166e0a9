"""The give form's "I need a tax receipt (寄附金受領証明書)": the addressee (name apart from the
wall name, its katakana reading, 〒 postal code, address) is checked only when the box is
ticked, with each error at its field and an email required; it is stored on the gift and on a
monthly gift (and each month's gift); the donor's page suggests it (never saving it until the
donor presses save); the receipt mail says where the tax receipt comes from. Japanese
receipts, mail and PDFs write 様 after the donor's name and never print stored English (the
general fund, "Anonymized donor").

Through the real form and the sandbox checkout. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_from
from tests.donors.helpers import pdf_text, sign_in
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.helpers import fresh, pay_on_page, post_gift, receipt_messages, start_gift
from tests.payments.test_recurring import gifts_of, subscribe
from tracker.core.i18n import language
from tracker.donations import receipts
from tracker.donations.models import Donation, Donor, Receipt
from tracker.donors import pdf, privacy
from tracker.donors import services as donor_services
from tracker.extensions import db

SLUG = "six-survivors"
EMAIL = "taro.yamada@example.org"
TAX = {"tax_receipt": "y", "receipt_name": "山田 太郎", "receipt_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
       "receipt_postal_code": "１００ー０００１".replace("ー", "-"),
       "receipt_address": "東京都千代田区千代田1-1"}
ENGLISH_LEAKS = ("Anonymized donor", "General fund", "A rescue case", "Received from")


@pytest.fixture
def case(app: Flask):  # noqa: ANN201
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def browser(app: Flask, lang: str = "ja") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return client


def give(client: FlaskClient, slug: str | None = None, **fields: str) -> Donation:
    donation, session_id = start_gift(client, slug, **fields)
    assert pay_on_page(client, session_id).status_code in (302, 303)
    fresh()
    return db.session.get(Donation, donation.id)


def donation_count() -> int:
    fresh()
    return db.session.scalar(db.select(db.func.count(Donation.id)))


def error_at(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found, f"no error at {field}"
    return found.group(1)


def test_the_fields_are_on_the_page_and_checked_only_when_asked(app: Flask, case) -> None:  # noqa: ANN001
    client = browser(app, "ja")
    page = client.get(f"/cases/{SLUG}/donate")
    assert 'name="tax_receipt"' in page.text and "寄附金受領証明書" in page.text
    # without script the fields are on the page (not hidden), postal code before address
    assert 'id="tax-receipt-fields"' in page.text
    assert not re.search(r'id="tax-receipt-fields"[^>]*hidden', page.text)
    assert page.text.index('name="receipt_postal_code"') < page.text.index('name="receipt_address"')
    assert "メールアドレス（寄附金受領証明書には必要です）" in page.text

    # not ticked: whatever the fields hold is neither checked nor kept
    donation = give(client, SLUG, receipt_name="x", receipt_kana="yamada",
                    receipt_postal_code="12", receipt_address="somewhere", name="Taro")
    assert donation.tax_receipt_requested is None
    assert (donation.receipt_kana, donation.receipt_postal_code, donation.receipt_address) == (
        None, None, None)
    assert donation.receipt_name == "Taro"


@pytest.mark.parametrize(("fields", "at", "words"), [
    ({"receipt_name": ""}, "receipt_name", "宛名"),
    ({"receipt_kana": "yamada taro"}, "receipt_kana", "カタカナ"),
    ({"receipt_postal_code": "12345"}, "receipt_postal_code", "7桁"),
    ({"receipt_address": " "}, "receipt_address", "住所"),
    ({"email": ""}, "email", "メールアドレス"),
])
def test_bad_input_is_refused_at_its_field(app: Flask, case, fields, at, words) -> None:  # noqa: ANN001
    before = donation_count()
    data = {**TAX, "email": EMAIL, **fields}
    response = post_gift(browser(app, "ja"), SLUG, **data)
    assert response.status_code == 422
    message = error_at(response.text, at)
    assert words in message, message
    assert donation_count() == before
    # the donor's other input stays on the page
    if at != "receipt_address":
        assert "東京都千代田区千代田1-1" in response.text


def test_english_form_errors_are_in_english(app: Flask, case) -> None:  # noqa: ANN001
    response = post_gift(browser(app, "en"), SLUG, **{**TAX, "receipt_kana": "Yamada"})
    assert response.status_code == 422
    assert "katakana" in error_at(response.text, "receipt_kana")
    response = post_gift(browser(app, "en"), SLUG, **TAX)  # no email
    assert response.status_code == 422
    assert "tax receipt" in error_at(response.text, "email")


def test_stored_on_the_gift_and_the_receipt_mail_says_where_the_tax_receipt_is(app: Flask, case) -> None:  # noqa: ANN001
    donation = give(browser(app, "ja"), SLUG, **TAX, email=EMAIL, name="たろう", wall="name")
    assert donation.status == "succeeded"
    assert donation.tax_receipt_requested is True
    # cleaned as the donor's page cleans it: full-width katakana, the postal code 123-4567
    assert (donation.receipt_name, donation.receipt_kana, donation.receipt_postal_code,
            donation.receipt_address) == ("山田 太郎", "ヤマダ タロウ", "100-0001", "東京都千代田区千代田1-1")
    assert donation.display_name == "たろう"  # the wall name stays apart
    [mail] = receipt_messages()
    body = mail.body_text
    assert "寄附金受領証明書" in body and "/my/sign-in" in body and "lang=ja" in body
    assert "お名前：山田 太郎様" in body
    assert "ご寄付" in body or "ご支援" in body
    donor = db.session.get(Donor, donation.donor_id)
    assert donor.tax_name == ""  # a gift never sets the donor's addressee by itself


def test_a_gift_without_the_box_has_no_tax_receipt_line(app: Flask, case) -> None:  # noqa: ANN001
    give(browser(app, "en"), SLUG, email=EMAIL, name="Taro")
    [mail] = receipt_messages()
    assert "tax receipt" not in mail.body_text and "/my/sign-in" not in mail.body_text
    assert "Received from: Taro" in mail.body_text


def test_english_mail_mentions_the_tax_receipt_for_the_year(app: Flask, case) -> None:  # noqa: ANN001
    donation = give(browser(app, "en"), SLUG, **TAX, email=EMAIL)
    [mail] = receipt_messages()
    year = donation.created_at.year
    assert f"the one for {year}" in mail.body_text and f"January {year + 1}" in mail.body_text
    assert "/my/sign-in" in mail.body_text


def test_a_monthly_gift_keeps_the_addressee_for_every_month(app: Flask, case) -> None:  # noqa: ANN001
    client = browser(app, "en")  # (the helper reads the English checkout page)
    monthly = subscribe(client, SLUG, **TAX, email=EMAIL)
    assert monthly.tax_receipt_requested is True
    assert (monthly.receipt_name, monthly.receipt_kana, monthly.receipt_postal_code,
            monthly.receipt_address) == ("山田 太郎", "ヤマダ タロウ", "100-0001", "東京都千代田区千代田1-1")
    [first] = gifts_of(monthly)
    assert first.tax_receipt_requested is True
    assert (first.receipt_name, first.receipt_postal_code) == ("山田 太郎", "100-0001")
    assert any("tax receipt" in m.body_text for m in receipt_messages())


def test_a_monthly_gift_checks_the_addressee_too(app: Flask, case) -> None:  # noqa: ANN001
    response = post_gift(browser(app, "ja"), SLUG, frequency="monthly",
                         **{**TAX, "receipt_postal_code": "abc"}, email=EMAIL)
    assert response.status_code == 422
    assert "7桁" in error_at(response.text, "receipt_postal_code")


def test_the_donors_page_suggests_the_addressee_and_saves_it_only_when_asked(app: Flask, case) -> None:  # noqa: ANN001
    give(browser(app, "ja"), SLUG, **TAX, email=EMAIL)
    give(browser(app, "ja"), SLUG, **{**TAX, "receipt_name": "山田 花子"}, email=EMAIL)  # newest
    client = browser(app, "ja")
    sign_in(client, EMAIL)
    page = client.get("/my/?lang=ja")
    assert 'value="山田 花子"' in page.text and 'value="100-0001"' in page.text
    assert "保存するまでは登録されません" in page.text
    fresh()
    donor = db.session.scalars(db.select(Donor).where(Donor.email == EMAIL)).one()
    assert (donor.tax_name, donor.tax_postal_code, donor.tax_address) == ("", "", "")

    saved = client.post("/my/tax-addressee", data={
        "csrf_token": csrf_from(page.text), "name": "山田 花子", "kana": "ヤマダ ハナコ",
        "postal_code": "100-0001", "address": "東京都千代田区千代田1-1"})
    assert saved.status_code == 303
    fresh()
    donor = db.session.scalars(db.select(Donor).where(Donor.email == EMAIL)).one()
    assert (donor.tax_name, donor.tax_kana) == ("山田 花子", "ヤマダ ハナコ")
    page = client.get("/my/?lang=ja")
    assert "保存するまでは登録されません" not in page.text  # the donor's own, not a suggestion


def test_japanese_receipts_for_an_anonymized_donor_print_no_english(app: Flask) -> None:
    """A general-fund gift by a donor later anonymized: the receipt text (mail and download),
    the receipt PDF and the annual PDF in Japanese carry no stored English."""
    donation = give(browser(app, "ja"), None, email=EMAIL, name="山田 太郎")
    [mail] = receipt_messages()
    assert "一般基金" in mail.body_text and "山田 太郎様" in mail.body_text
    receipt = db.session.scalars(db.select(Receipt).where(Receipt.donation_id == donation.id)).one()
    assert receipt.purpose == receipts.GENERAL_FUND  # stored in English
    donor = db.session.get(Donor, donation.donor_id)
    privacy.anonymize_donor(donor, None, "asked by phone to be forgotten")
    db.session.commit()
    fresh()
    receipt = db.session.get(Receipt, receipt.id)
    assert receipt.donor_name == privacy.ANONYMIZED_NAME

    assert receipt.donation.locale is None  # erased: mail goes in the default language now
    receipt.donation.locale = "ja"  # (not committed) a receipt written in Japanese
    with app.test_request_context("/"), language("ja"):
        text = receipts.receipt_text(receipt)
        donor = db.session.get(Donor, donation.donor_id)
        document = donor_services.receipt_of(donor, receipt.number)
        single = pdf_text(pdf.receipt_pdf(document))
        [fiscal_year] = donor_services.donor_page(donor).fiscal_years
        annual = pdf_text(pdf.annual_pdf(donor_services.annual_receipt(donor, fiscal_year)))
    for shown in (text, single, annual):
        for english in ENGLISH_LEAKS:
            assert english not in shown, (english, shown)
    assert "匿名化された支援者" in text and "匿名化された支援者" in single
    assert "一般基金" in text and "一般基金" in single and "一般基金" in annual
    assert "様" not in text.split("お名前：")[1].split("\n")[0]  # no 様 after the marker
    # the same receipt in English still says it in English
    with app.test_request_context("/"), language("en"):
        assert "Anonymized donor" in pdf_text(pdf.receipt_pdf(document))
