"""The reports in Japanese: a director who picks 日本語 (?lang=ja) reads the funding report, the
donation list and the CSVs in Japanese, with money in 円 and month names as 11月; the public
transparency page is Japanese too and shows exactly the figures the English one shows, no
more. The English stays as it was (the English CSV headers are spelled out here), and a CSV's
data rows are the same whatever the language: only the header row is translated.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import make_case
from tracker.budgets import services as budgets
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.i18n import language
from tracker.core.money import Money
from tracker.core.time import local_today
from tracker.donations import services as donations
from tracker.extensions import db
from tracker.reports.charts import bar_chart, hbar_chart

FY = 2025  # 1 September 2025 to 31 August 2026 (Asia/Tokyo)

ENGLISH_DONATION_HEADER = [
    "donation", "created (local)", "settled (local)", "case", "channel", "gateway", "status",
    "amount", "currency", "gross", "fee", "net", "base currency", "rate", "donor name",
    "donor email",
]
JAPANESE_DONATION_HEADER = [
    "寄付ID", "作成日時（日本時間）", "入金日時（日本時間）", "ケース", "支払い方法",
    "決済ゲートウェイ", "状態", "金額", "通貨", "総額", "手数料", "純額", "基準通貨", "為替レート",
    "支援者名", "支援者メールアドレス",
]
FLOWS_EN = ["gifts (count)", "gifts", "refunds", "disputes", "corrections", "net", "fees",
            "fee cover", "net after fees"]
FLOWS_JA = ["寄付件数", "寄付額", "返金", "チャージバック", "訂正", "純額", "手数料",
            "支援者負担の手数料", "手数料差引後の純額"]


@dataclass
class Books:
    private: list[str]  # what must never reach a public page: titles, slugs, names, payees


def _gift(case, amount: int, on: date, donor: str, currency: str = "JPY", channel: str = "bank_transfer"):  # noqa: ANN001, ANN202
    return donations.record_offline_gift(case, donations.OfflineGift(
        amount=Money(amount, currency), channel=channel, received_on=on, donor_name=donor,
        donor_email=f"{donor.lower()}@example.org"))


@pytest.fixture
def books(app: Flask, make_user) -> Books:  # noqa: ANN001
    """FY2024 and FY2025: gifts in yen and dollars (November among the months), a payment out
    with a named payee and a private note, one person rescued."""
    recorder, _ = make_user("staff")
    alpha = make_case("alpha-zq9", people=2, status=workflow.FUNDRAISING,
                      public_title="Alpha Title Zq9")
    bravo = make_case("bravo-zq9", people=1, status=workflow.FUNDRAISING,
                      public_title="Bravo Title Zq9")
    _gift(alpha, 30_000, date(2024, 10, 1), "DonorOldZq9")  # FY2024 only: lapsed (LYBUNT) in FY2025
    _gift(alpha, 15_000, date(2025, 11, 5), "DonorNovZq9")
    _gift(bravo, 8_000, date(2025, 11, 20), "DonorCashZq9", channel="cash")
    _gift(None, 10_000, date(2026, 1, 5), "DonorDollarZq9", currency="USD")  # $100.00 at 150
    _gift(alpha, 7_000, date(2026, 3, 3), "DonorMarchZq9")
    db.session.commit()
    line = budgets.set_line(alpha, "guides", Money(400_000, "JPY"), private_note="plan Zq9-note")
    budgets.record_disbursement(alpha, budgets.DisbursementInput(
        line_id=line.id, spent_on=date(2025, 12, 10), amount=Money(12_000, "JPY"),
        payee="PayeeGuideZq9", note="note for PayeeGuideZq9"), actor=recorder, today=local_today())
    db.session.commit()
    case_services.mark_rescued(alpha.beneficiaries[0], date(2026, 2, 14))
    db.session.commit()
    return Books(private=[alpha.public_title, bravo.public_title, alpha.slug, bravo.slug, "Zq9"])


@pytest.fixture
def director(books: Books, client: FlaskClient, auth, make_user):  # noqa: ANN001, ANN201
    user, password = make_user("director")
    assert auth.login(user.email, password).status_code in (302, 303)
    return user


def get(client: FlaskClient, url: str, lang: str, status: int = 200):  # noqa: ANN201
    """``url`` in ``lang`` (each request names its language: ?lang= is remembered in a cookie)."""
    response = client.get(url + ("&" if "?" in url else "?") + f"lang={lang}")
    assert response.status_code == status, (url, lang, response.status_code, response.text[:300])
    return response


def read_csv(client: FlaskClient, url: str, lang: str) -> list[list[str]]:
    response = get(client, url, lang)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def chart(html: str, title: str) -> str:
    """The inline SVG whose <title> is ``title``."""
    for svg in re.findall(r"<svg\b.*?</svg>", html, re.S):
        if re.search(r"<title id=\"[^\"]+\">" + re.escape(title) + "</title>", svg):
            return svg
    raise AssertionError(f"no chart titled {title!r}")


def texts(svg: str, cls: str) -> list[str]:
    return re.findall(rf'<text class="{cls}"[^>]*>([^<]*)</text>', svg)


def figures(html: str) -> dict[str, str]:
    """Text of every cell marked data-figure or data-category, tags removed."""
    found = re.findall(r'<(?:td|strong) data-(figure|category)="([^"]+)">(.*?)</(?:td|strong)>', html)
    return {f"{kind}:{key}": re.sub(r"<[^>]+>", "", value).strip() for kind, key, value in found}


def digits(text: str) -> str:
    return re.sub(r"[^\d-]", "", text)


# --- the funding report --------------------------------------------------------------------


def test_the_funding_report_in_japanese(director, client: FlaskClient) -> None:  # noqa: ANN001
    ja = get(client, f"/reports/{FY}", "ja").text
    assert '<html lang="ja"' in ja or 'lang="ja"' in ja
    for text in ("資金報告（2025年度）", "会計年度", "概要", "寄付額（総額）", "手数料差引後の純額",
                 "月別", "支払い方法別", "通貨別", "休眠：昨年度は寄付があり、今年度はない方（LYBUNT）",
                 "ケースの表（横にスクロールできます）", "2025年9月1日から2026年9月1日の前日まで（日本時間）",
                 "年度末までの一般基金への寄付額：15,000円。", "最後の寄付：2024年10月"):
        assert text in ja, text
    for english in ("Funding report", "Gifts (gross)", "By channel", "Net after fees",
                    "local time", "last gave", "General fund raised"):
        assert english not in ja, english
    # money in yen, written the Japanese way: 15,000 + 8,000 + 15,000 ($100) + 7,000
    assert figures(ja)["figure:gifts"] == "45,000円"
    assert "¥" not in ja
    # the months: table rows and the chart, in Japanese
    assert re.search(r'<tr data-month="2025-11"><th scope="row">2025年11月</th>', ja)
    months = chart(ja, "2025年度 月別の純寄付額")
    assert texts(months, "label") == ["9月", "10月", "11月", "12月", "1月", "2月", "3月", "4月",
                                      "5月", "6月", "7月", "8月"]
    assert "<title>11月: 23,000円</title>" in months
    assert "寄付額から返金とチャージバックを差し引いた額を月ごとに示しています。" in months
    assert all(t.endswith("円") for t in texts(months, "tick"))
    assert "支払い方法ごとに受け取った寄付の総額です。" in chart(ja, "支払い方法別の寄付額")
    cases = chart(ja, "ケース別の年度内寄付額")
    assert "22,000円" in "".join(texts(cases, "value"))


def test_the_funding_report_in_japanese_shows_the_cases_japanese_titles(
        director, client: FlaskClient) -> None:  # noqa: ANN001
    from tracker.cases.models import RescueCase
    alpha = db.session.scalar(db.select(RescueCase).where(RescueCase.slug == "alpha-zq9"))
    alpha.public_title_ja = "アルファの6人Zq9"
    db.session.commit()
    ja = get(client, f"/reports/{FY}", "ja").text
    row = re.search(r'<tr data-case="alpha-zq9"><th scope="row">([^<]*)</th>', ja)
    assert row and row.group(1) == "アルファの6人Zq9", ja
    assert "Alpha Title Zq9" not in ja  # nor in the chart of cases
    assert "アルファの6人Zq9" in chart(ja, "ケース別の年度内寄付額")
    # no Japanese title: the English one, marked as English
    assert '<tr data-case="bravo-zq9"><th scope="row" lang="en">Bravo Title Zq9</th>' in ja
    en = get(client, f"/reports/{FY}", "en").text
    assert '<tr data-case="alpha-zq9"><th scope="row">Alpha Title Zq9</th>' in en


def test_the_funding_report_in_english_is_unchanged(director, client: FlaskClient) -> None:  # noqa: ANN001
    en = get(client, f"/reports/{FY}", "en").text
    for text in ("Funding report, fiscal year 2025", "1 September 2025 to the day before "
                 "1 September 2026, local time. Amounts in JPY.", "Gifts (gross)",
                 "General fund raised to the year's end: ¥15,000.", "last gave Oct 2024",
                 '<th scope="row">Nov 2025</th>'):
        assert text in en, text
    assert figures(en)["figure:gifts"] == "¥45,000"
    months = chart(en, "Net gifts per month, fiscal year 2025")
    assert texts(months, "label") == ["Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar", "Apr",
                                      "May", "Jun", "Jul", "Aug"]
    assert "<title>Nov: ¥23,000</title>" in months
    assert "円" not in en and "資金報告" not in en
    # both show the same figures
    ja = get(client, f"/reports/{FY}", "ja").text
    assert {k: digits(v) for k, v in figures(ja).items()} == {k: digits(v) for k, v in figures(en).items()}


def test_bad_years_are_explained_in_japanese(director, client: FlaskClient) -> None:  # noqa: ANN001
    response = get(client, "/reports/1990", "ja", 404)
    assert "1990年度の数値はありません。" in response.text
    response = get(client, "/reports?year=abc", "ja", 400)
    assert "「abc」は会計年度ではありません。" in response.text
    response = get(client, f"/reports/{FY}/donors.csv", "ja", 404)
    assert "「donors」という表はありません。" in response.text
    assert "There are no figures" in get(client, "/reports/1990", "en", 404).text


# --- the donation list ------------------------------------------------------------------------


def test_the_donation_list_in_japanese(director, client: FlaskClient) -> None:  # noqa: ANN001
    ja = get(client, "/reports/donations", "ja").text
    for text in ("<h1>寄付一覧</h1>", ">開始日</label>", ">終了日</label>", ">支払い方法</label>",
                 ">通貨</label>", ">状態</label>", '<option value="">すべて</option>',
                 ">絞り込む</button>", "すべてCSVでダウンロード", "条件に合う寄付のうち新しい5件です。",
                 '<option value="general">一般基金</option>', "<td>一般基金</td>",
                 'aria-label="条件に合う寄付"'):
        assert text in ja, text
    header = re.findall(r'<th scope="col">([^<]*)</th>', ja)
    assert header == JAPANESE_DONATION_HEADER
    assert "<td>100.00</td><td>USD</td>" in ja  # amounts are data: the same in any language
    empty = get(client, "/reports/donations?case=bravo-zq9&channel=card", "ja").text
    assert "条件に合う寄付はありません。" in empty


@pytest.mark.parametrize(("args", "japanese", "english"), [
    ("from=2025-13-01", "開始日は 2025-09-01 のように YYYY-MM-DD の形式で入力してください。",
     "Write the from date as YYYY-MM-DD, like 2025-09-01."),
    ("to=9999-01-01", "終了日が範囲外です。年をご確認ください。",
     "The to date is out of range; check the year."),
    ("from=2025-09-02&to=2025-09-01", "開始日が終了日より後になっています。入れ替えてください。",
     "The &#39;from&#39; date is after the &#39;to&#39; date; swap them."),
    ("case=nope", "そのアドレスのケースはありません。", "There is no case with that address."),
    ("channel=paypal", "支払い方法は card, bank_transfer, cash, konbini のいずれかです。",
     "Channel is one of card, bank_transfer, cash, konbini."),
    ("status=gone", "状態は pending, succeeded, failed, expired, flagged のいずれかです。",
     "Status is one of pending, succeeded, failed, expired, flagged."),
])
def test_malformed_filters_are_refused_in_the_users_language(
        director, client: FlaskClient, args: str, japanese: str, english: str) -> None:  # noqa: ANN001
    for extra in ("", "&format=csv"):
        ja = get(client, f"/reports/donations?{args}{extra}", "ja", 400)
        assert ja.mimetype == "text/html"
        assert f'<div class="form-errors" role="alert"><p>{japanese}</p></div>' in ja.text
        en = get(client, f"/reports/donations?{args}{extra}", "en", 400)
        assert f'<div class="form-errors" role="alert"><p>{english}</p></div>' in en.text


# --- the CSVs ------------------------------------------------------------------------------------


def test_the_donation_csv_translates_its_header_and_nothing_else(director, client: FlaskClient) -> None:  # noqa: ANN001
    english = read_csv(client, "/reports/donations?format=csv", "en")
    japanese = read_csv(client, "/reports/donations?format=csv", "ja")
    assert english[0] == ENGLISH_DONATION_HEADER
    assert japanese[0] == JAPANESE_DONATION_HEADER
    assert len(english) == 6
    assert japanese[1:] == english[1:]
    # the general fund stays the CSV's value for "no case", like a slug
    assert [row[3] for row in japanese[1:]].count("general fund") == 1
    # a cookie remembers Japanese: the next CSV without ?lang= is Japanese too, same rows
    remembered = client.get("/reports/donations?format=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(remembered[1:], newline="")))
    assert rows[0] == JAPANESE_DONATION_HEADER and rows[1:] == english[1:]


def test_the_report_csvs_translate_headers_and_keep_the_data(director, client: FlaskClient) -> None:  # noqa: ANN001
    expected_headers = {
        "summary": (["figure", "amount (JPY)"], ["項目", "金額（JPY）"]),
        "months": (["month", *FLOWS_EN], ["月", *FLOWS_JA]),
        "channels": (["channel", *FLOWS_EN], ["支払い方法", *FLOWS_JA]),
        "currencies": (
            ["currency", "gifts (original)", "refunds (original)", "disputes (original)",
             "net (original)", *[f"{h} (JPY)" for h in FLOWS_EN]],
            ["通貨", "寄付額（支払い通貨）", "返金（支払い通貨）", "チャージバック（支払い通貨）",
             "純額（支払い通貨）", *[f"{h}（JPY）" for h in FLOWS_JA]]),
        "cases": (["case", "title", "status", "goal", "raised in year", "raised to year end",
                   "paid out in year", "people", "rescued in year", "rescued to date"],
                  ["ケース", "タイトル", "状態", "目標額", "年度内の寄付額", "年度末までの寄付額",
                   "年度内の支出額", "人数", "年度内の救出人数", "これまでの救出人数"]),
        "lybunt": (["donor", "name", "email", "last gift month"],
                   ["支援者", "名前", "メールアドレス", "最後の寄付月"]),
        "sybunt": (["donor", "name", "email", "last gift month"],
                   ["支援者", "名前", "メールアドレス", "最後の寄付月"]),
    }
    for table, (english_header, japanese_header) in expected_headers.items():
        english = read_csv(client, f"/reports/{FY}/{table}.csv", "en")
        japanese = read_csv(client, f"/reports/{FY}/{table}.csv", "ja")
        assert english[0] == english_header, table
        assert japanese[0] == japanese_header, table
        assert len(japanese) == len(english), table
        if table == "summary":  # the figures' names are words; their values are data
            assert [row[1] for row in japanese[1:]] == [row[1] for row in english[1:]]
            assert japanese[1] == ["寄付額（総額）", "45000"]
            assert english[1] == ["Gifts (gross)", "45000"]
        elif table == "channels":  # the channel's name is a label, the numbers are data
            assert [row[1:] for row in japanese[1:]] == [row[1:] for row in english[1:]]
        else:
            assert japanese[1:] == english[1:], table
    months = read_csv(client, f"/reports/{FY}/months.csv", "ja")
    assert months[3] == ["2025-11", "2", "23000", "0", "0", "0", "23000", "0", "0", "23000"]
    lybunt = read_csv(client, f"/reports/{FY}/lybunt.csv", "ja")
    assert [row[1:] for row in lybunt[1:]] == [["DonorOldZq9", "donoroldzq9@example.org", "2024-10"]]


# --- the public transparency page -----------------------------------------------------------------


def test_the_transparency_page_in_japanese(books: Books, client: FlaskClient) -> None:
    ja = get(client, f"/transparency/{FY}", "ja").text
    for text in ("<title>会計報告：2025年度", "2025年度：2025年9月1日から2026年8月31日まで。",
                 "他の年度：", "収入", "受け取った寄付", "支援者への返金", "収入（返金などを差し引いた額）",
                 "決済手数料", "支出（費目別）", "2026年8月31日時点の保有資金",
                 "進行中のケースのための資金",
                 "一般基金（決済手数料差引後）", "保有資金の合計",
                 '今年度、<strong data-figure="people-rescued">1</strong>人が安全な場所にたどり着きました。',
                 "金額の単位は日本円で"):
        assert text in ja, text
    for english in ("Money in", "Fiscal year 2025", "reached safety", "Held in all", "September"):
        assert english not in ja, english
    assert figures(ja)["figure:gifts"] == "45,000円"
    assert figures(ja)["figure:money-out"] == "12,000円"


def test_the_transparency_page_in_japanese_shows_nothing_more_than_in_english(
        books: Books, client: FlaskClient) -> None:
    for year in (2024, FY):
        en = get(client, f"/transparency/{year}", "en").text
        ja = get(client, f"/transparency/{year}", "ja").text
        assert "Where the money goes" in en and "寄付金の使い道" in ja
        # the same figures, in the same order, with the same amounts (a category's label is
        # shown in the page's language: compare categories by place and amount)
        def same(shown: dict[str, str]) -> list[tuple[str, str]]:
            return [("category" if k.startswith("category:") else k, digits(v)) for k, v in shown.items()]

        shown_en, shown_ja = figures(en), figures(ja)
        assert same(shown_ja) == same(shown_en), year
        assert all(v.endswith("円") for k, v in shown_ja.items() if k != "figure:people-rescued")
        # as many table rows and links, and no private word in either
        for pattern in (r"<tr\b", r"<a\b", r"<td\b", r"data-"):
            assert len(re.findall(pattern, ja)) == len(re.findall(pattern, en)), (year, pattern)
        for page in (en, ja):
            named = [word for word in books.private if word.lower() in page.lower()]
            assert named == [], (year, named)
            assert "@example.org" not in page


def test_the_year_under_way_says_so_in_japanese(books: Books, client: FlaskClient) -> None:
    current = get(client, "/transparency", "ja", 302).headers["Location"]
    year = int(current.rsplit("/", 1)[1].split("?")[0])
    ja = get(client, f"/transparency/{year}", "ja").text
    assert re.search(rf"{year}年度：{year}年9月1日から{year + 1}年8月31日まで（進行中）。", ja)
    assert f"Fiscal year {year}: 1 September {year} to 31 August {year + 1} (under way)." in get(
        client, f"/transparency/{year}", "en").text


# --- the charts' own words -------------------------------------------------------------------------


@pytest.mark.parametrize("draw", [bar_chart, hbar_chart])
def test_charts_say_no_data_in_the_requests_language(app: Flask, draw) -> None:  # noqa: ANN001
    with language("ja"):
        svg = str(draw("グラフ", [("9月", 0)], format_value=lambda v: f"{v:,}円"))
        assert '<text class="no-data"' in svg and ">データなし</text>" in svg
        assert "データがありません。1件の値はすべて0円です。" in svg
        drawn = str(draw("グラフ", [("9月", 5), ("10月", 7)], format_value=lambda v: f"{v:,}円"))
        assert "棒グラフ2本。9月：5円、10月：7円。" in drawn
    with language("en"):
        svg = str(draw("Chart", [("Sep", 0)], format_value=lambda v: f"¥{v:,}"))
        assert ">No data</text>" in svg and "No data: all 1 values are ¥0." in svg
        drawn = str(draw("Chart", [("Sep", 5), ("Oct", 7)], format_value=lambda v: f"¥{v:,}"))
        assert "2 bars. Sep: ¥5; Oct: ¥7." in drawn
