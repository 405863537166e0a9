"""The donation flow, sign-in and error pages in Japanese; receipts in the donor's language.

A visitor whose browser asks for Japanese (``Accept-Language: ja``) gets the donation form,
its refusals, the sandbox checkout and the thank-you page in Japanese with yen written
5,000円; the gift records the language (``Donation.locale``, ``Donor.locale``), and the receipt
email is written in it whoever records the payment (the webhook, the thank-you page of someone
browsing in English, reconciliation). An English gift's receipt stays exactly as it was.

Runs on SQLite and PostgreSQL (the ``app`` fixture is parametrized by backend).
"""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_from, make_app
from tests.factories import give, make_case
from tests.payments.helpers import (
    checkout_path,
    gift_form,
    give_path,
    pay_on_page,
    pay_without_delivery,
    receipt_messages,
    reload,
    start_gift,
)
from tracker.core.access import public
from tracker.donations import receipts
from tracker.donations.models import Donation, Donor, Receipt
from tracker.extensions import db

SLUG = "six-survivors"
JA = {"Accept-Language": "ja"}


@pytest.fixture(autouse=True)
def mail_dir(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Receipts emailed during a test go to a temporary folder, never the instance folder."""
    directory = tmp_path / "mail"
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
        monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return directory


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def japanese(client: FlaskClient) -> FlaskClient:
    """The client as a browser set to Japanese: every request says Accept-Language: ja."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    return client


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, re.S)
    assert match, f"no error shown at {field}"
    return match.group(1).strip()


def main_text(html: str) -> str:
    match = re.search(r'<main id="main">(.*)</main>', html, re.S)
    assert match, "no <main> in the page"
    return match.group(1)


def sent_mail(directory: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(directory.glob("*.eml"))]


def count(model) -> int:  # noqa: ANN001
    db.session.rollback()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- the donation form -----------------------------------------------------------------------


def test_the_donation_form_speaks_japanese_with_yen_as_en(app: Flask, client: FlaskClient, case) -> None:  # noqa: ANN001
    page = japanese(client).get(f"/cases/{SLUG}/donate")

    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "<title>「Six survivors」へのご寄付 · " in page.text
    body = main_text(page.text)
    for text in ("寄付先：Six survivors", "<legend>金額</legend>", "その他の金額", "お名前（任意）",
                 "領収書送付先のメールアドレス（任意）", "メッセージ（任意）", "支援者一覧への掲載",
                 "「匿名」として掲載する", "お名前を掲載する", "掲載しない",
                 "このケースの方々が安全な場所にたどり着いたら、メールでお知らせを受け取る",
                 "お支払いへ進む", "テストモード：実際のお金は動きません。",
                 "領収書をこのアドレスにお送りします。"):
        assert text in body, text
    # the presets in yen as Japanese writes them; dollars keep their sign (whole amounts
    # without their cents)
    assert "5,000円</span></label>" in body and "30,000円</span></label>" in body
    assert "$50</span></label>" in body and "$50.00" not in body
    assert "¥" not in body
    for english in ("Continue to payment", "Other amount", "Your name", "On the donor wall",
                    "TEST MODE"):
        assert english not in body, english


def test_the_general_fund_form_in_japanese(app: Flask, client: FlaskClient) -> None:
    page = client.get("/donate?lang=ja")

    assert page.status_code == 200
    assert "一般基金に寄付する" in page.text
    assert "一般基金は、その時々で最も必要とされている救出活動に使われます。" in page.text
    assert "Give to the general fund" not in page.text


def test_the_english_form_is_unchanged(app: Flask, client: FlaskClient, case) -> None:  # noqa: ANN001
    page = client.get(f"/cases/{SLUG}/donate", headers={"Accept-Language": "en"})

    assert '<html lang="en">' in page.text
    assert "<title>Give to Six survivors · Rescue Tracker</title>" in page.text
    assert "<h1>Give to: Six survivors</h1>" in page.text
    assert "¥5,000</span></label>" in page.text and "5,000円" not in page.text
    assert '<button type="submit" class="primary big">Continue to payment</button>' in page.text
    assert "List my gift as “Anonymous”" in page.text


JA_REFUSALS = {
    "below the yen minimum": ({"preset": "other", "amount": "49"}, "amount",
                              "日本円でお受けできる最小の寄付額は50円です。"),
    "above the maximum": ({"preset": "other", "amount": "10,000,001"}, "amount",
                          "日本円でお受けできる最大の寄付額は10,000,000円です。"),
    "below the dollar minimum": ({"currency": "USD", "preset": "other", "amount": "0.49"}, "amount",
                                 "米ドルでお受けできる最小の寄付額は$0.50です。"),
    "no amount typed": ({"preset": "other", "amount": ""}, "amount", "ご寄付の金額をご入力ください。"),
    "decimal yen": ({"preset": "other", "amount": "5,000.5"}, "amount",
                    "日本円の金額に小数点以下はありません。"),
    "negative": ({"preset": "other", "amount": "-5000"}, "amount", "金額にマイナスは使えません。"),
    "not a number": ({"preset": "other", "amount": "abc"}, "amount",
                     "5,000 のように金額を入力してください（日本円に小数点以下はありません）。"),
    "malformed email": ({"email": "not-an-email"}, "email", "メールアドレスが正しくないようです。"),
    "name on the wall but no name": ({"wall": "name", "name": "  "}, "name",
                                     "支援者一覧に載せるお名前を入力するか、「匿名」をお選びください。"),
    "over-long message": ({"message": "M" * 501}, "message", "500"),
    "control characters": ({"name": "Ai\x07ko"}, "name", "この欄から制御文字を取り除いてください。"),
}


@pytest.mark.parametrize(("fields", "field", "says"), JA_REFUSALS.values(), ids=JA_REFUSALS.keys())
def test_refusals_are_in_japanese_at_their_field(
    app: Flask, client: FlaskClient, case, fields: dict[str, str], field: str, says: str,  # noqa: ANN001
) -> None:
    japanese(client)
    page = client.get(give_path(SLUG))
    response = client.post(give_path(SLUG), data=gift_form(csrf_from(page.text), **fields))

    assert response.status_code == 422
    error = field_error(response.text, field)
    assert says in error
    assert not re.search(r"[A-Za-z]{4,}", error.replace("JPY", "").replace("USD", "")) or field == "email", (
        f"English left in the Japanese error: {error}")
    assert count(Donation) == 0


def test_the_english_refusal_is_unchanged(app: Flask, client: FlaskClient, case) -> None:  # noqa: ANN001
    page = client.get(give_path(SLUG))
    response = client.post(give_path(SLUG), data=gift_form(csrf_from(page.text), preset="other", amount="49"))

    assert response.status_code == 422
    assert field_error(response.text, "amount") == "The smallest gift we can take in JPY is ¥50."


def test_a_closed_case_refuses_in_japanese(app: Flask, client: FlaskClient) -> None:
    make_case("closed-case", status="closed")

    page = japanese(client).get("/cases/closed-case/donate")

    assert "このケースは現在ご寄付をお受けしていません。一般基金へのご寄付をお願いいたします。" in page.text


# --- the whole gift, and its receipt ---------------------------------------------------------


def test_a_japanese_gift_from_form_to_receipt(
    app: Flask, client: FlaskClient, case, mail_dir: Path,  # noqa: ANN001
) -> None:
    japanese(client)
    response = client.post(give_path(SLUG), data=gift_form(
        csrf_from(client.get(give_path(SLUG)).text), email="Aiko@Example.org", name="Aiko"))
    path = checkout_path(response)
    session_id = path.rsplit("/", 1)[1]

    checkout = client.get(path)
    assert checkout.status_code == 200
    # the amount keeps its 円 (one unbreakable piece: 円 never wraps alone onto a line of its own)
    assert '<h1><span class="nowrap">5,000円</span>を支払う</h1>' in checkout.text
    assert "<strong>テストモード：実際のお金は動きません。</strong>" in checkout.text
    assert "カード番号" in checkout.text and "キャンセルして戻る" in checkout.text
    assert "Pay " not in main_text(checkout.text)

    declined = pay_on_page(client, session_id, "4000 0000 0000 0002")
    assert declined.status_code == 402
    assert "カードが拒否されました（テスト用カード）。料金は請求されていません。" in declined.text

    paid = pay_on_page(client, session_id, "4242 4242 4242 4242")
    assert paid.status_code == 303
    paid.close()  # the response has gone: the queued receipt email leaves now
    thanks = client.get(paid.headers["Location"])
    assert thanks.status_code == 200
    body = main_text(thanks.text)
    assert "<h1>ありがとうございます</h1>" in body
    assert "「Six survivors」への<strong>5,000円</strong>のご寄付を確認し、記録しました。" in body
    assert "領収書をメールでお送りしています。" in body
    assert "テストモード：実際のお金は動いていません。" in body
    assert "ケースに戻る" in body
    assert "Thank you" not in body and "confirmed and recorded" not in body

    donation = db.session.scalar(sa.select(Donation).where(Donation.gateway_session_id == session_id))
    assert donation.status == "succeeded"
    assert donation.locale == "ja"
    assert db.session.get(Donor, donation.donor_id).locale == "ja"

    [receipt] = db.session.scalars(sa.select(Receipt).where(Receipt.donation_id == donation.id)).all()
    assert (receipt.amount_minor, receipt.currency, receipt.purpose) == (5000, "JPY", "Six survivors")
    [message] = receipt_messages()
    assert message.subject == f"領収書 {receipt.number}"
    assert message.body_text == receipts.receipt_text(receipt)
    lines = message.body_text.splitlines()
    assert lines[0] == "ご寄付いただき、ありがとうございます。"
    assert f"領収書番号：{receipt.number}" in lines
    assert "金額：5,000円" in lines
    assert "使途：Six survivors" in lines
    assert f"寄付受付番号：{donation.public_id}" in lines
    assert "テストモード：実際のお金は動いていません。" in lines
    assert lines[-1] == "この領収書は大切に保管してください。"
    date_line = next(line for line in lines if line.startswith("日付："))
    assert re.fullmatch(r"日付：\d{4}年\d{1,2}月\d{1,2}日", date_line), date_line
    assert not re.search(r"Thank|Receipt|Amount|Date|Purpose|¥", message.body_text)

    # the email itself, as it left (the file transport)
    [sent] = sent_mail(mail_dir)
    assert sent["To"] == "aiko@example.org"
    assert sent["Subject"] == f"領収書 {receipt.number}"
    assert "金額：5,000円" in sent.get_content()


def test_an_english_gift_keeps_its_english_receipt(
    app: Flask, client: FlaskClient, case, mail_dir: Path,  # noqa: ANN001
) -> None:
    donation, session_id = start_gift(client, SLUG, email="dana@example.org")
    paid = pay_on_page(client, session_id)
    assert paid.status_code == 303
    paid.close()

    donation = reload(donation)
    assert donation.status == "succeeded" and donation.locale == "en"
    assert db.session.get(Donor, donation.donor_id).locale == "en"
    [receipt] = db.session.scalars(sa.select(Receipt).where(Receipt.donation_id == donation.id)).all()
    [message] = receipt_messages()
    assert message.subject == f"Your receipt {receipt.number}"
    lines = message.body_text.splitlines()
    assert lines[0] == "Thank you for your gift."
    assert "Amount: ¥5,000" in lines and "Purpose: Six survivors" in lines
    assert re.fullmatch(r"Date: [A-Z][a-z]+ \d{1,2}, \d{4}", lines[3]), lines[3]
    assert lines[-1] == "Please keep this receipt for your records."
    assert "円" not in message.body_text
    [sent] = sent_mail(mail_dir)
    assert sent["Subject"] == f"Your receipt {receipt.number}"


def test_the_receipt_follows_the_donor_not_whoever_records_the_payment(
    app: Flask, client: FlaskClient, case, mail_dir: Path,  # noqa: ANN001
) -> None:
    """The gift was made in Japanese; the payment is recorded while someone browses in English
    (the thank-you page asks the gateway): the receipt is still Japanese."""
    donation, session_id = start_gift(japanese(client), SLUG, email="kenji@example.org")
    pay_without_delivery(session_id)

    english = app.test_client()
    thanks = english.get(f"/donations/{donation.public_id}/thanks", headers={"Accept-Language": "en"})

    assert "confirmed and recorded" in thanks.text and "¥5,000" in thanks.text
    assert reload(donation).status == "succeeded"
    [message] = receipt_messages()
    assert message.subject.startswith("領収書 RT-")
    assert "金額：5,000円" in message.body_text


def test_reconciliation_without_a_visitor_writes_the_receipt_in_the_donors_language(
    app: Flask, client: FlaskClient, runner, case, mail_dir: Path,  # noqa: ANN001
) -> None:
    donation, session_id = start_gift(japanese(client), SLUG, email="yuki@example.org",
                                      preset="USD:5000", currency="USD")
    pay_without_delivery(session_id)

    result = runner.invoke(args=["stripe", "reconcile", "--since", "72h"])

    assert result.exit_code == 0, result.output
    assert reload(donation).status == "succeeded"
    [message] = receipt_messages()
    assert "金額：$50.00" in message.body_text
    [sent] = sent_mail(mail_dir)
    assert sent["Subject"].startswith("領収書 RT-")


def test_receipt_text_of_a_stored_receipt_in_each_language(app: Flask, case) -> None:  # noqa: ANN001
    gift = give(case, 5_000)
    general = give(None, 3_000)
    assert gift.locale is None  # staff-entered gifts: the default language

    at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    english = Receipt(number="RT-000900", donation=gift, amount_minor=5_000, currency="JPY",
                      purpose="Six survivors", issued_at=at)
    assert receipts.receipt_text(english) == (
        "Thank you for your gift.\n\nReceipt number: RT-000900\nDate: November 27, 2026\n"
        "Amount: ¥5,000\nPurpose: Six survivors\n"
        f"Donation reference: {gift.public_id}\n\nPlease keep this receipt for your records.\n"
    )
    gift.locale = "ja"
    general.locale = "ja"
    assert receipts.receipt_text(english) == (
        "ご寄付いただき、ありがとうございます。\n\n領収書番号：RT-000900\n日付：2026年11月27日\n"
        "金額：5,000円\n使途：Six survivors\n"
        f"寄付受付番号：{gift.public_id}\n\nこの領収書は大切に保管してください。\n"
    )
    to_fund = Receipt(number="RT-000901", donation=general, amount_minor=3_000, currency="JPY",
                      purpose=receipts.GENERAL_FUND, issued_at=at)
    assert "使途：一般基金" in receipts.receipt_text(to_fund)
    general.locale = None
    assert "Purpose: General fund" in receipts.receipt_text(to_fund)
    db.session.rollback()


# --- sign-in and error pages -----------------------------------------------------------------


def test_sign_in_in_japanese(app: Flask, client: FlaskClient, make_user) -> None:  # noqa: ANN001
    user, _password = make_user("staff")
    japanese(client)

    page = client.get("/login")
    assert "<h1>スタッフ・ログイン</h1>" in page.text
    assert '<label for="email">メールアドレス</label>' in page.text
    assert '<label for="password">パスワード</label>' in page.text
    assert ">ログイン</button>" in page.text

    wrong = client.post("/login", data={"email": user.email, "password": "not the password",
                                        "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 200
    assert field_error(wrong.text, "password") == "メールアドレスまたはパスワードが正しくありません。"

    missing = client.post("/login", data={"email": "", "password": "x", "csrf_token": csrf_from(page.text)})
    error = field_error(missing.text, "email")
    assert "This field is required" not in error and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", error)


def test_sign_in_stays_english_for_english_visitors(app: Flask, client: FlaskClient, make_user) -> None:  # noqa: ANN001
    user, _password = make_user("staff")
    page = client.get("/login")
    wrong = client.post("/login", data={"email": user.email, "password": "not the password",
                                        "csrf_token": csrf_from(page.text)})
    assert field_error(wrong.text, "password") == "Email or password is incorrect."


def test_the_404_page_in_japanese(app: Flask, client: FlaskClient) -> None:
    page = japanese(client).get("/no-such-page")

    assert page.status_code == 404
    assert '<html lang="ja">' in page.text
    assert "<h1>ページが見つかりません</h1>" in page.text
    assert "お探しのページは見つかりませんでした。" in page.text
    assert "支援受付中のケース一覧に戻る" in page.text
    assert "Not Found" not in page.text

    english = app.test_client().get("/no-such-page")
    assert "<h1>Not Found</h1>" in english.text
    assert "The requested URL was not found on the server." in english.text


def test_a_refused_form_post_without_its_token_explains_in_japanese(app: Flask, client: FlaskClient) -> None:
    response = japanese(client).post("/donate", data={"preset": "JPY:5000"})

    assert response.status_code == 400
    assert "<h1>不正なリクエスト</h1>" in response.text
    assert "フォームの確認用トークンがありません。" in response.text


def test_too_many_attempts_are_explained_in_japanese(
    app: Flask, database_url: str, case, make_user,  # noqa: ANN001
) -> None:
    """The 429s: the checkout budget of an address, and an account's sign-in lockout."""
    user, password = make_user("staff")
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                       RATELIMIT_KEY_PREFIX=f"rt-ja-{uuid.uuid4().hex}",
                       TRACKER_RATELIMIT_CHECKOUT="1 per minute",
                       TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=2,
                       TRACKER_LOGIN_LOCKOUT_SECONDS=120)
    try:
        client = japanese(limited.test_client())
        token = csrf_from(client.get(give_path(SLUG)).text)
        assert client.post(give_path(SLUG), data=gift_form(token)).status_code == 303
        refused = client.post(give_path(SLUG), data=gift_form(token))
        assert refused.status_code == 429
        assert "<h1>リクエストが多すぎます</h1>" in refused.text
        assert "1分あたり1回まで" in refused.text
        other = limited.test_client()  # English, from the same address: the same budget
        english = other.post(give_path(SLUG), data=gift_form(csrf_from(other.get(give_path(SLUG)).text)))
        assert english.status_code == 429
        assert "<h1>Too Many Requests</h1>" in english.text and "1 per 1 minute" in english.text

        token = csrf_from(client.get("/login").text)
        for _attempt in range(2):
            client.post("/login", data={"email": user.email, "password": "no", "csrf_token": token})
        locked = client.post("/login", data={"email": user.email, "password": password,
                                             "csrf_token": token})
        assert locked.status_code == 429
        assert field_error(locked.text, "password") == (
            "このアカウントへのログインに何度も失敗しました。2分後にもう一度お試しください。")
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_json_errors_stay_english(app: Flask, client: FlaskClient) -> None:
    response = japanese(client).get("/cases/no-such-case/progress.json")

    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


def test_server_error_pages_in_japanese_need_no_database(tmp_path: Path) -> None:
    """The 503 (database down) and 500 pages in Japanese, from an app whose database is not
    even there: Flask-Babel needs none. JSON answers stay English."""
    app = make_app(f"sqlite:///{tmp_path / 'missing' / 'nowhere.sqlite3'}")
    try:
        _check_server_error_pages(app)
    finally:
        with app.app_context():
            db.engine.dispose()


def _check_server_error_pages(app: Flask) -> None:

    @public
    def down() -> str:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    @public
    def down_json() -> str:
        return down()

    @public
    def bug() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/down", "down", down)
    app.add_url_rule("/down.json", "down_json", down_json)
    app.add_url_rule("/bug", "bug", bug)
    client = app.test_client()

    page = client.get("/down", headers=JA)
    assert page.status_code == 503
    assert '<html lang="ja">' in page.text
    assert "<h1>サービスを利用できません</h1>" in page.text
    assert "現在データベースに接続できません。しばらくしてからもう一度お試しください。" in page.text
    assert "支援対象の方々は身を隠して暮らしています。" in page.text
    assert client.get("/down.json", headers=JA).get_json()["error"] == "Service unavailable"
    assert "Service unavailable" in client.get("/down").text

    broken = client.get("/bug", headers=JA)
    assert broken.status_code == 500
    assert "<h1>問題が発生しました</h1>" in broken.text
    assert "エラーは記録されました。何も保存されていません。" in broken.text
