"""A donor's own page and their receipts as PDF files.

One donor's page and files never show another donor's gifts (their receipt is a 404, exactly
like a receipt that does not exist); a receipt PDF says the receipt's amount, number, date,
purpose and name in the donor's language; an annual receipt lists the fiscal year's gifts and
refunds with a total per currency, never adding currencies together.

Runs on SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask

from tests.donors.helpers import donor, gift, pdf_text, refund, sign_in
from tests.factories import make_case
from tracker.cases.models import RescueCase
from tracker.extensions import db

# FY2025 runs from 1 September 2025 to 31 August 2026 (Tokyo time).
IN_FY2024 = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
IN_FY2025 = datetime(2025, 10, 5, 3, 0, tzinfo=UTC)
LATER_IN_FY2025 = datetime(2026, 2, 14, 3, 0, tzinfo=UTC)
# 31 August 2026 23:30 in Tokyo is still FY2025; 1 September 00:30 is FY2026
LAST_HOUR_OF_FY2025 = datetime(2026, 8, 31, 14, 30, tzinfo=UTC)
FIRST_HOUR_OF_FY2026 = datetime(2026, 8, 31, 15, 30, tzinfo=UTC)

AIKO, BORIS = "aiko@example.org", "boris@example.org"
PRIVATE = "PRIVATE-MARKER-of-the-people"


@pytest.fixture
def cases(app: Flask) -> tuple[RescueCase, RescueCase]:
    flood = make_case("six-survivors", status="fundraising", public_title="Six flood survivors")
    hearing = make_case("the-hearing", status="fundraising", public_title="The deportation hearing")
    for case in (flood, hearing):
        case.private_notes = PRIVATE
        case.private_contact = PRIVATE
    db.session.commit()
    return flood, hearing


@pytest.fixture
def two_donors(cases):  # noqa: ANN001
    """Aiko gave to the flood case (yen and dollars) and the general fund; Boris gave other
    amounts to the hearing. Returns their receipt numbers."""
    flood, hearing = cases
    _, a1 = gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko Tanaka")
    _, a2 = gift(flood, 5_050, LATER_IN_FY2025, "USD", email=AIKO, name="Aiko Tanaka")
    _, a3 = gift(None, 3_000, IN_FY2024, email=AIKO, name="Aiko Tanaka")
    _, b1 = gift(hearing, 77_777, IN_FY2025, email=BORIS, name="Boris Novak")
    _, b2 = gift(hearing, 12_345, IN_FY2025, "USD", email=BORIS, name="Boris Novak")
    return {"aiko": [a1.number, a2.number, a3.number], "boris": [b1.number, b2.number]}


def test_the_page_shows_only_this_donors_gifts(app, client, two_donors):
    sign_in(client, AIKO)
    page = client.get("/my/")
    assert page.status_code == 200
    html = page.text
    for number in two_donors["aiko"]:
        assert number in html and f"/my/receipts/{number}.pdf" in html
    assert "¥5,000" in html and "$50.50" in html and "¥3,000" in html
    assert "Six flood survivors" in html and "General fund" in html
    assert "March 10, 2025" in html and "October 5, 2025" in html
    assert html.count('data-gift="') == 3
    assert "/my/annual/2025.pdf" in html and "/my/annual/2024.pdf" in html
    # nothing of Boris's: not his cases, amounts, receipt numbers or name
    for number in two_donors["boris"]:
        assert number not in html
    for theirs in ("The deportation hearing", "77,777", "123.45", "Boris", BORIS, PRIVATE):
        assert theirs not in html, theirs


def test_another_donors_receipt_is_a_404_like_one_that_does_not_exist(app, client, two_donors):
    sign_in(client, AIKO)
    theirs = client.get(f"/my/receipts/{two_donors['boris'][0]}.pdf")
    missing = client.get("/my/receipts/RT-999999.pdf")
    assert theirs.status_code == missing.status_code == 404
    # the same page, but for the number asked for (in the language links)
    assert theirs.text.replace(two_donors["boris"][0], "RT-999999") == missing.text
    assert client.get(f"/my/receipts/{two_donors['aiko'][0]}.pdf").status_code == 200


def test_another_donors_fiscal_year_is_a_404(app, client, cases):
    flood, hearing = cases
    gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko")
    gift(hearing, 9_000, IN_FY2024, email=BORIS, name="Boris")
    sign_in(client, AIKO)
    assert client.get("/my/annual/2025.pdf").status_code == 200
    assert client.get("/my/annual/2024.pdf").status_code == 404  # only Boris gave then
    assert client.get("/my/annual/1990.pdf").status_code == 404


@pytest.mark.parametrize("year", [0, 1, 1899, 9999, 10000, 2_147_483_647])
def test_a_fiscal_year_the_calendar_cannot_hold_is_a_404(app, client, cases, year):
    """Found by an outside try: /my/annual/9999.pdf (and 0, 10000) answered 500."""
    flood, _ = cases
    gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko")
    sign_in(client, AIKO)
    assert client.get(f"/my/annual/{year}.pdf").status_code == 404


def test_refunds_show_on_the_page(app, client, cases):
    flood, _ = cases
    donation, _ = gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko")
    refund(donation, 1_500, LATER_IN_FY2025, "re_test_1")
    sign_in(client, AIKO)
    row = re.search(r'<tr data-gift="[^"]+">(.*?)</tr>', client.get("/my/").text, re.S).group(1)
    assert "¥5,000" in row and "¥1,500" in row and "Received" in row


def test_gifts_that_did_not_complete_are_listed_with_their_status(app, client, cases):
    from tracker.core.money import Money
    from tracker.donations import services as donation_services

    flood, _ = cases
    gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko")
    donation_services.start_donation(flood, donation_services.GiftInput(
        amount=Money(2_000, "JPY"), email=AIKO), "sandbox")
    db.session.commit()
    sign_in(client, AIKO)
    html = client.get("/my/").text
    assert html.count('data-gift="') == 2
    assert "Waiting for payment" in html and "¥2,000" in html


def test_the_page_in_japanese(app, client, two_donors):
    sign_in(client, AIKO)
    html = client.get("/my/?lang=ja").text
    assert "ご寄付の記録" in html and "5,000円" in html and "一般基金" in html
    assert "2025年10月5日" in html and "受領済み" in html
    assert "Every gift" not in html


# --- receipt PDFs ------------------------------------------------------------------------------


def test_a_receipt_pdf_in_english(app, client, two_donors):
    sign_in(client, AIKO)
    number = two_donors["aiko"][0]
    response = client.get(f"/my/receipts/{number}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f'filename="receipt-{number}.pdf"' in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    text = pdf_text(response.data)
    for expected in ("Rescue Tracker", "Receipt", number, "¥5,000", "Six flood survivors",
                     "Aiko Tanaka", "Purpose", "Amount", "TEST MODE"):
        assert expected in text, (expected, text)
    assert re.search(r"Date\s*\w+ \d{1,2}, 20\d\d", text), text
    assert PRIVATE not in text and "Boris" not in text


def test_a_dollar_receipt_and_a_general_fund_receipt(app, client, two_donors):
    sign_in(client, AIKO)
    dollars = pdf_text(client.get(f"/my/receipts/{two_donors['aiko'][1]}.pdf").data)
    assert "$50.50" in dollars and "¥" not in dollars
    general = pdf_text(client.get(f"/my/receipts/{two_donors['aiko'][2]}.pdf").data)
    assert "¥3,000" in general and "General fund" in general


def test_a_receipt_pdf_in_japanese(app, client, cases):
    flood, _ = cases
    _, receipt = gift(flood, 5_000, IN_FY2025, email=AIKO, name="田中 愛子", locale="ja")
    _, general = gift(None, 3_000, IN_FY2025, email=AIKO, name="田中 愛子", locale="ja")
    sign_in(client, AIKO)
    text = pdf_text(client.get(f"/my/receipts/{receipt.number}.pdf").data)
    for expected in ("レスキュー・トラッカー", "領収書", receipt.number, "5,000円", "使途",
                     "Six flood survivors", "田中 愛子", "金額"):
        assert expected in text, (expected, text)
    assert re.search(r"20\d\d年\d{1,2}月\d{1,2}日", text), text
    assert "Amount" not in text and "¥" not in text
    assert "一般基金" in pdf_text(client.get(f"/my/receipts/{general.number}.pdf").data)


def test_a_japanese_name_on_an_english_receipt(app, client, cases):
    flood, _ = cases
    _, receipt = gift(flood, 5_000, IN_FY2025, email=AIKO, name="田中 愛子", locale="en")
    sign_in(client, AIKO)
    text = pdf_text(client.get(f"/my/receipts/{receipt.number}.pdf").data)
    assert "田中 愛子" in text and "Amount" in text and "¥5,000" in text


# --- annual receipts ---------------------------------------------------------------------------


def _amount_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(r"[¥$]|円", line)]


def test_the_annual_receipt_totals_each_currency_with_refunds(app, client, cases):
    flood, hearing = cases
    first, r1 = gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko Tanaka")
    _, r2 = gift(hearing, 10_000, LATER_IN_FY2025, email=AIKO, name="Aiko Tanaka")
    dollars, r3 = gift(None, 2_500, IN_FY2025, "USD", email=AIKO, name="Aiko Tanaka")
    _, r4 = gift(flood, 1_000, LAST_HOUR_OF_FY2025, "USD", email=AIKO, name="Aiko Tanaka")
    _, early = gift(flood, 7_000, IN_FY2024, email=AIKO, name="Aiko Tanaka")
    _, late = gift(flood, 9_000, FIRST_HOUR_OF_FY2026, email=AIKO, name="Aiko Tanaka")
    refund(first, 2_000, LATER_IN_FY2025, "re_test_yen")
    refund(dollars, 500, LATER_IN_FY2025, "re_test_usd")
    gift(flood, 99_999, IN_FY2025, email=BORIS, name="Boris")  # someone else's, same year
    sign_in(client, AIKO)

    response = client.get("/my/annual/2025.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="annual-receipt-FY2025.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert "Annual receipt for fiscal year 2025" in text
    assert "September 1, 2025 to August 31, 2026" in text
    for number in (r1.number, r2.number, r3.number, r4.number):
        assert number in text, number
    assert early.number not in text and late.number not in text  # other fiscal years
    assert "Refund: Six flood survivors" in text and "Refund: General fund" in text
    # yen: 5,000 + 10,000 - 2,000; dollars: 25.00 + 10.00 - 5.00; never one sum of both
    assert re.search(r"Total in JPY\s*¥13,000", text), text
    assert re.search(r"Total in USD\s*\$30\.00", text), text
    assert "-¥2,000" in text and "-$5.00" in text
    assert "99,999" not in text and "Boris" not in text and PRIVATE not in text
    assert "Aiko Tanaka" in text

    earlier = pdf_text(client.get("/my/annual/2024.pdf").data)
    assert early.number in earlier and re.search(r"Total in JPY\s*¥7,000", earlier)
    assert "USD" not in earlier and r1.number not in earlier
    later = pdf_text(client.get("/my/annual/2026.pdf").data)
    assert late.number in later and re.search(r"Total in JPY\s*¥9,000", later)
    assert {2024, 2025, 2026} == {int(y) for y in re.findall(
        r"/my/annual/(\d+)\.pdf", client.get("/my/").text)}


def test_a_refund_in_a_later_year_counts_in_that_year(app, client, cases):
    flood, _ = cases
    donation, receipt = gift(flood, 5_000, IN_FY2025, email=AIKO, name="Aiko")
    refund(donation, 5_000, FIRST_HOUR_OF_FY2026, "re_test_next_year")
    sign_in(client, AIKO)
    this_year = pdf_text(client.get("/my/annual/2025.pdf").data)
    assert re.search(r"Total in JPY\s*¥5,000", this_year)
    next_year = pdf_text(client.get("/my/annual/2026.pdf").data)
    assert re.search(r"Total in JPY\s*-¥5,000", next_year), next_year
    assert receipt.number in next_year


def test_the_annual_receipt_in_japanese(app, client, cases):
    flood, _ = cases
    first, _ = gift(flood, 5_000, IN_FY2025, email=AIKO, name="田中 愛子", locale="ja")
    gift(None, 2_500, IN_FY2025, "USD", email=AIKO, name="田中 愛子", locale="ja")
    refund(first, 1_000, LATER_IN_FY2025, "re_test_ja")
    sign_in(client, AIKO)
    text = pdf_text(client.get("/my/annual/2025.pdf").data)
    assert "2025年度 年間寄付領収書" in text
    assert "2025年9月1日〜2026年8月31日" in text
    assert re.search(r"合計（日本円）\s*4,000円", text), text
    assert re.search(r"合計（米ドル）\s*\$25\.00", text), text
    assert "返金：Six flood survivors" in text and "-1,000円" in text
    assert "一般基金" in text and "田中 愛子" in text
    assert "Total" not in text


def test_a_long_year_runs_onto_more_pages(app, client, cases):
    flood, _ = cases
    for day in range(1, 61):
        gift(flood, 1_000 + day, datetime(2025, 10, 1 + day % 28, 3, day % 60, tzinfo=UTC),
             email=AIKO, name="Aiko")
    sign_in(client, AIKO)
    data = client.get("/my/annual/2025.pdf").data
    text = pdf_text(data)
    assert text.count("RT-") == 60
    assert text.count("Receipt number") >= 2  # the column heads again on the next page
    assert re.search(r"Total in JPY\s*¥61,830", text), text  # 60 * 1,000 + (1 + ... + 60)
    assert donor(AIKO).id


def test_a_test_mode_annual_receipt_in_japanese_says_so_in_characters_its_font_has(
        app, client, cases):
    flood, _ = cases
    donation, _ = gift(flood, 5_000, IN_FY2025, email=AIKO, name="田中 愛子", locale="ja")
    donation.gateway = "sandbox"
    db.session.commit()
    sign_in(client, AIKO)
    text = pdf_text(client.get("/my/annual/2025.pdf?lang=ja").data)
    assert "テストモード：実際のお金は動いていません。" in text, text
    assert "\u2014" not in text  # the em dash: not in the Japanese font's map


def test_an_em_dash_in_japanese_text_is_set_as_the_cid_fonts_dash(app):
    from tracker.core.i18n import language
    from tracker.donors.pdf import _Page
    with app.test_request_context(), language("ja"):
        page = _Page("test")
        page.text(56, "ケース — 東北")
        page.canvas.save()
    text = pdf_text(page.buffer.getvalue())
    assert "ケース ― 東北" in text and "\u2014" not in text
