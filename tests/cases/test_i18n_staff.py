"""The staff desk in Japanese: the case desk, gifts, budgets and approvals, donors and the audit
log read in Japanese with ``?lang=ja`` (remembered in the cookie), their form errors and flash
messages too, money is written 5,000円; in English every page reads as it always did.

A Japanese page is the English page in other words, never more: the same form fields, links,
data attributes and private values, checked by comparing the two renderings of each page.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_from
from tests.factories import give, make_case
from tracker.accounts.models import User
from tracker.budgets import services as budget_services
from tracker.cases import workflow
from tracker.cases.models import Beneficiary
from tracker.core.money import Money
from tracker.core.time import local_today
from tracker.extensions import db

#: in every private field the fixture fills, so a page's private values can be counted
MARK = "PRIV-7f3a"


@dataclass
class Desk:
    case_id: int
    slug: str
    gift: str
    donor_id: int
    pending_id: int
    user: User


@pytest.fixture
def desk(client: FlaskClient, auth, make_user) -> Desk:  # noqa: ANN001
    """A signed-in staff member, and a case with people, a gift, a budget line and a payment
    (recorded by someone else) awaiting approval; every private field carries MARK."""
    user, password = make_user("staff", email="desk@example.org")
    other, _ = make_user("staff", email="other@example.org")
    case = make_case("i18n-desk", people=2, status=workflow.FUNDRAISING,
                     public_title="Two on the mountain road",
                     private_notes=f"Safe house in the north {MARK}",
                     private_contact=f"Contact via church {MARK}")
    for person in db.session.scalars(db.select(Beneficiary).where(Beneficiary.case_id == case.id)):
        person.private_name = f"Real name {MARK}"
    gift = give(case, 50_000, email="donor@example.org", name=f"Donor {MARK}",
                reference=f"Bank ref {MARK}")
    budget_services.set_line(case, "guides", Money(300_000, "JPY"), f"Line note {MARK}")
    line_id = budget_services.lines_for(case.id)[0].id
    pending = budget_services.record_disbursement(
        case, budget_services.DisbursementInput(
            line_id=line_id, spent_on=local_today() - timedelta(days=1),
            amount=Money(200_000, "JPY"), payee=f"Guide {MARK}", note=f"Note {MARK}"),
        actor=db.session.get(User, other.id), today=local_today())
    assert pending.status == "pending"
    db.session.commit()
    assert auth.login(user.email, password).status_code == 302
    return Desk(case.id, case.slug, gift.public_id, gift.donor_id, pending.id, user)


def page(client: FlaskClient, path: str, lang: str | None = None, status: int = 200) -> str:
    query = {"lang": lang} if lang else None
    response = client.get(path, query_string=query)
    assert response.status_code == status, (path, lang, response.status_code)
    return response.get_data(as_text=True)


def yen_ja(amount: int) -> str:
    return f"{amount:,}円"


def yen_en(amount: int) -> str:
    return f"¥{amount:,}"


# --- every staff page in both languages ------------------------------------------------------

#: path template -> (Japanese that must show, English that must show in English only)
PAGES = {
    "/staff/": (
        ["ケース", "ケースを作成する", "対応が必要なもの", "未公開の依頼", "30日間更新のないもの",
         "すべてのケース", "集まった額／目標額", "承認待ちの支払いが1件あります", "寄付募集中",
         yen_ja(50_000)],
        ["Open a case", "Needs attention", "Requests not yet public", "No update in 30 days",
         "All cases", "Raised / goal", "1 payment awaiting approval", "Fundraising",
         yen_en(50_000)],
    ),
    "/staff/cases/{case}": (
        ["予算と支出", "オフラインの寄付を記録する", "ケースを終了する", "ケースを終了する理由",
         "一般基金に移す", "本名（非公開）", "救出済みにする", "人を追加する", "公開用の仮名",
         "非公開メモ", "寄付募集中", "中止", "救出待ち"],
        ["Budget and spending", "Record an offline gift", "Close the case", "Why the case closes",
         "Move it to the general fund", "Real name (private)", "Mark rescued", "Add a person",
         "Public alias", "Private notes", "Cancelled", "journey track"],
    ),
    "/staff/cases/{case}/edit": (
        ["ケースを編集", "公開タイトル", "おおまかな地域", "目標額", "移動による救出",
         "非公開の連絡先（スタッフのみ）", "キャンセル", "日本円で入力（例：3,000,000）。"],
        ["Edit case", "Public title", "Coarse region", "Funding goal", "Journey",
         "Private contact (staff only)", "Cancel", "In JPY, e.g. 3,000,000."],
    ),
    "/staff/cases/new": (
        ["ケースを作成する", "アドレス（スラッグ）", "ケースを作成", "法的手続き"],
        ["Open a case", "Address (slug)", "Open case", "Legal"],
    ),
    "/staff/gifts/": (
        ["オフラインの寄付を記録する", "すべての寄付", "すべての状態", "手数料",
         "銀行振込", "入金済み", yen_ja(50_000)],
        ["Record an offline gift", "All gifts", "Any status", "Adjustments", "Bank transfer",
         ">Paid<", yen_en(50_000)],
    ),
    "/staff/gifts/{gift}": (
        ["支援者の支払額", "ケースへの計上額", "台帳", "この寄付を訂正する", "調整を記帳",
         "監査記録", "寄付一覧に戻る", "銀行振込と現金の寄付は、日本円での調整で訂正します",
         yen_ja(50_000)],
        ["Donor paid", "Counts toward the case", "Ledger", "Correct this gift", "Book adjustment",
         "Audit trail", "Back to gifts", yen_en(50_000)],
    ),
    "/staff/gifts/new": (
        ["銀行振込または現金による寄付です", "受領日", "支援者の名前", "寄付を記録", "現金"],
        ["A bank transfer or cash gift.", "Date received", "Donor name", "Record gift", "Cash"],
    ),
    "/staff/cases/{case}/budget": (
        ["予算と支出", "予算と実績", "費目を計画する", "公開と目標額", "支払いを記録する",
         "支払先（スタッフのみ）", "承認または却下", "承認待ち", "案内人",
         "予算の表（横にスクロールできます）", "支払いの表（横にスクロールできます）",
         f"目標 {yen_ja(1_000_000)}", yen_ja(300_000)],
        ["Budget against actual", "Plan a category", "Show and goal", "Record a payment",
         "Payee (staff only)", "Approve or reject", "Awaiting approval", "Guides",
         "Budget table (scrolls sideways)", "Payments table (scrolls sideways)",
         f"goal {yen_en(1_000_000)}", yen_en(300_000)],
    ),
    "/staff/disbursements/": (
        ["承認待ちの支払い", "基準額を超える支払いは", "支払先（非公開）", "記録者", "承認する",
         "却下する", "承認待ちの表（横にスクロールできます）", yen_ja(200_000)],
        ["Payments awaiting approval", "A payment above the threshold", "Payee (private)",
         "Recorded by", ">Approve<", ">Reject<", "Approvals table (scrolls sideways)",
         yen_en(200_000)],
    ),
    "/staff/donors/": (
        ["支援者", "メールアドレス、名前または支援者番号", "検索", "初回の寄付"],
        ["Email, name or donor number", "Search", "First gift"],
    ),
    "/staff/donors/{donor}": (
        ["支援者 #", "登録日時", "プライバシー", "データをダウンロード（JSON）",
         "この支援者を匿名化する", "支援者一覧に戻る", "銀行振込", "入金済み", yen_ja(50_000)],
        ["Donor since", "Privacy", "Download data (JSON)", "Anonymize this donor",
         "Back to donors", ">Bank transfer<", ">Paid<", yen_en(50_000)],
    ),
    "/staff/audit/": (
        ["監査ログ", "すべてのケース", "全員", "すべての操作", "絞り込む", "日時", "実行者",
         "変更前", "変更後"],
        ["All cases", "Everyone", "All actions", "Filter", ">When<", ">Who<", ">Before<",
         ">After<"],
    ),
}


def _path(template: str, desk: Desk) -> str:
    return template.format(case=desk.case_id, gift=desk.gift, donor=desk.donor_id)


@pytest.mark.parametrize("template", list(PAGES))
def test_staff_pages_read_in_japanese_and_in_english_as_before(client, desk, template):
    path = _path(template, desk)
    japanese, english = PAGES[template]
    ja = page(client, path, "ja")
    assert '<html lang="ja">' in ja
    missing = [text for text in japanese if text not in ja]
    assert not missing, f"{path} in Japanese lacks {missing}"
    left = [text for text in english if text in ja]
    assert not left, f"{path} in Japanese still says {left}"

    en = page(client, path, "en")
    assert '<html lang="en">' in en
    missing = [text for text in english if text not in en]
    assert not missing, f"{path} in English lacks {missing}"
    stray = [text for text in japanese if text in en]
    assert not stray, f"{path} in English says {stray}"


def test_the_picked_language_stays_for_the_next_staff_page(client, desk):
    page(client, "/staff/", "ja")
    assert "予算と実績" in page(client, f"/staff/cases/{desk.case_id}/budget")
    page(client, "/staff/", "en")
    assert "Budget against actual" in page(client, f"/staff/cases/{desk.case_id}/budget")


# --- Japanese never shows more than English --------------------------------------------------


class _Skeleton(HTMLParser):
    """What a page is made of apart from its words: tags, form fields, links, ids and data."""

    KEPT = ("name", "value", "href", "action", "id", "for", "type", "method", "colspan",
            "selected", "checked", "disabled", "download", "tabindex", "role", "scope")
    #: data attributes that carry words for a script to show (translated like any text)
    WORDS = ("data-copied",)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: Counter[tuple] = Counter()
        self._in_token = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("name") == "csrf_token" or "lang=" in (values.get("href") or ""):
            return  # a fresh token per page; the links to the other language
        kept = tuple(sorted((k, v) for k, v in attrs
                            if k in self.KEPT or (k.startswith("data-") and k not in self.WORDS)))
        self.parts[(tag, kept)] += 1


def skeleton(html: str) -> Counter:
    parser = _Skeleton()
    parser.feed(html)
    return parser.parts


@pytest.mark.parametrize("template", list(PAGES))
def test_a_japanese_staff_page_shows_nothing_the_english_one_does_not(client, desk, template):
    path = _path(template, desk)
    en = page(client, path, "en")
    ja = page(client, path, "ja")
    assert skeleton(ja) == skeleton(en)
    assert ja.count(MARK) == en.count(MARK)
    for needle in ("donor@example.org", "desk@example.org", "other@example.org"):
        assert ja.count(needle) == en.count(needle), needle


# --- form errors and messages in Japanese ----------------------------------------------------


def _csrf(client: FlaskClient, path: str) -> str:
    return csrf_from(page(client, path))


def test_budget_form_errors_are_japanese(client, desk):
    budget = f"/staff/cases/{desk.case_id}/budget"
    page(client, budget, "ja")
    csrf = _csrf(client, budget)
    lines = f"/staff/cases/{desk.case_id}/budget/lines"

    zero = client.post(lines, data={"csrf_token": csrf, "category": "transport", "planned": "0"})
    assert zero.status_code == 422
    assert 'id="planned-error"' in zero.text
    assert "0より大きい金額を入力してください。" in zero.text
    assert "Enter an amount greater than zero." not in zero.text
    assert "予算と実績" in zero.text

    huge = client.post(lines, data={"csrf_token": csrf, "category": "transport",
                                    "planned": "5,000,000,000,000"})
    assert huge.status_code == 422
    assert 'id="planned-error"' in huge.text
    assert "ここで入力できる金額は100,000,000円までです。桁数を確認してください。" in huge.text

    empty = client.post(lines, data={"csrf_token": csrf, "category": "transport", "planned": ""})
    assert empty.status_code == 422
    assert "この項目を入力してください。" in empty.text
    assert "This field is required." not in empty.text

    rate = client.post(f"/staff/cases/{desk.case_id}/disbursements", data={
        "csrf_token": csrf, "line": str(budget_services.lines_for(desk.case_id)[0].id),
        "spent_on": str(local_today()), "currency": "JPY", "amount": "1000", "rate": "149,85",
        "payee": "Guide", "note": ""})
    assert rate.status_code == 422
    assert "レートの小数点はピリオドで入力してください（例：149.85）。" in rate.text

    done = client.post(lines, data={"csrf_token": csrf, "category": "transport",
                                    "planned": "20,000"}, follow_redirects=True)
    assert "「交通・移動」を計画しました。" in done.text
    assert yen_ja(20_000) in done.text


def test_budget_form_errors_stay_english_in_english(client, desk):
    budget = f"/staff/cases/{desk.case_id}/budget"
    page(client, budget, "en")
    csrf = _csrf(client, budget)
    zero = client.post(f"/staff/cases/{desk.case_id}/budget/lines",
                       data={"csrf_token": csrf, "category": "transport", "planned": "0"})
    assert zero.status_code == 422
    assert "Enter an amount greater than zero." in zero.text
    assert "0より大きい" not in zero.text


def test_a_short_rejection_reason_is_refused_in_japanese(client, desk):
    page(client, "/staff/disbursements/", "ja")
    csrf = _csrf(client, "/staff/disbursements/")
    response = client.post(f"/staff/disbursements/{desk.pending_id}/reject",
                           data={"csrf_token": csrf, "reason": "short"}, follow_redirects=True)
    assert "理由を10〜500文字で入力してください。" in response.text
    approved = client.post(f"/staff/disbursements/{desk.pending_id}/approve",
                           data={"csrf_token": csrf}, follow_redirects=True)
    assert "承認しました。この支払いは計上されます。" in approved.text
    assert "承認待ちの支払いはありません。" in approved.text


def test_case_form_errors_are_japanese(client, desk):
    page(client, "/staff/cases/new", "ja")
    csrf = _csrf(client, "/staff/cases/new")
    data = {"csrf_token": csrf, "public_title": "Three in the hills", "slug": "Bad Slug!",
            "public_region": "Jilin", "track": "journey", "goal": "3,000,000",
            "public_summary": "", "private_notes": "", "private_contact": ""}
    bad = client.post("/staff/cases/new", data=data)
    assert bad.status_code == 422
    assert "半角の小文字・数字・ハイフン（連続不可）を3〜80文字で入力してください" in bad.text
    assert "lower-case letters, digits and single hyphens" not in bad.text

    taken = client.post("/staff/cases/new", data={**data, "slug": desk.slug})
    assert taken.status_code == 422
    assert f"アドレス「{desk.slug}」はすでに別のケースで使われています。" in unescape(taken.text)

    missing = client.post("/staff/cases/new", data={**data, "slug": "three-hills", "public_region": ""})
    assert missing.status_code == 422
    assert "この項目を入力してください。" in missing.text

    opened = client.post("/staff/cases/new", data={**data, "slug": "three-hills"},
                         follow_redirects=True)
    assert "ケース「Three in the hills」を作成しました。" in opened.text
    assert "依頼受付" in opened.text


def test_an_illegal_status_change_is_explained_in_japanese(client, desk):
    detail = f"/staff/cases/{desk.case_id}"
    page(client, detail, "ja")
    csrf = _csrf(client, detail)
    response = client.post(f"{detail}/status", data={"csrf_token": csrf, "target": "requested"})
    assert response.status_code == 409
    assert "「寄付募集中」のケースを「依頼受付」にすることはできません。" in response.text
    rescued = client.post(f"{detail}/status", data={"csrf_token": csrf, "target": "rescued"})
    assert "2人中2人がまだ救出済みになっていません" in rescued.text


def test_offline_gift_and_anonymize_errors_are_japanese(client, desk):
    page(client, "/staff/gifts/new", "ja")
    csrf = _csrf(client, "/staff/gifts/new")
    future = client.post("/staff/gifts/new", data={
        "csrf_token": csrf, "case": "general", "amount": "5,000", "currency": "JPY",
        "channel": "cash", "received_on": str(local_today() + timedelta(days=2)),
        "donor_name": "Someone", "donor_email": "", "reference": ""})
    assert future.status_code == 422
    assert "受領日に未来の日付は指定できません。" in future.text

    donor = f"/staff/donors/{desk.donor_id}"
    csrf = _csrf(client, donor)
    wrong = client.post(f"{donor}/anonymize", data={
        "csrf_token": csrf, "reason": "Donor asked by email to be forgotten", "confirm": "anonymize"})
    assert wrong.status_code == 422
    assert "確認のため ANONYMIZE と大文字で入力してください。" in wrong.text
    assert "Type ANONYMIZE in capitals" not in wrong.text


def test_an_adjustment_below_zero_says_so_in_japanese_with_yen(client, desk):
    gift = f"/staff/gifts/{desk.gift}"
    page(client, gift, "ja")
    csrf = _csrf(client, gift)
    response = client.post(f"{gift}/adjust", data={
        "csrf_token": csrf, "amount": "-60,000", "reason": "Typed the wrong amount in"})
    assert response.status_code == 422
    assert f"現在の額は{yen_ja(50_000)}なので、差し引けるのは最大で-{yen_ja(50_000)}です。" \
        in response.text
    booked = client.post(f"{gift}/adjust", data={
        "csrf_token": csrf, "amount": "-1,000", "reason": "Bank charge found later"},
        follow_redirects=True)
    assert "調整を記帳しました。" in booked.text
    assert '<tr data-kind="adjustment">' in booked.text and "<td>調整</td>" in booked.text


# --- the tables that scroll sideways ---------------------------------------------------------


def _scroll_boxes(html: str) -> list[str]:
    return re.findall(r'<div class="table-scroll"[^>]*>', html)


@pytest.mark.parametrize(("template", "names"), [
    ("/staff/cases/{case}/budget", ["Budget table (scrolls sideways)",
                                    "Payments table (scrolls sideways)"]),
    ("/staff/disbursements/", ["Approvals table (scrolls sideways)"]),
])
def test_sideways_tables_are_reachable_by_keyboard_and_named(client, desk, template, names):
    boxes = _scroll_boxes(page(client, _path(template, desk), "en"))
    assert [re.search(r'aria-label="([^"]+)"', b).group(1) for b in boxes] == names
    for box in boxes:
        assert 'tabindex="0"' in box
        # A group, not a region: the page's "Payments" section is the region of that name.
        assert 'role="group"' in box
    for box in _scroll_boxes(page(client, _path(template, desk), "ja")):
        assert 'tabindex="0"' in box and 'role="group"' in box
        assert "横にスクロールできます" in box


# --- the whole staff side in Japanese, on the demo data --------------------------------------


def _staff_urls(app) -> list[str]:  # noqa: ANN001
    """Every GET page under /staff but the posts (another part of the desk, with its own
    tests), filled in with the demo's cases, gifts, donors and payments (and ids that do not
    exist)."""
    from tracker.budgets.models import Disbursement
    from tracker.cases.models import RescueCase
    from tracker.donations.models import Donation, Donor

    values = {
        "case_id": [c.id for c in db.session.scalars(db.select(RescueCase))] + [999999],
        "public_id": [d.public_id for d in db.session.scalars(
            db.select(Donation).order_by(Donation.id.desc()).limit(25))] + ["don_unknown"],
        "donor_id": [d.id for d in db.session.scalars(db.select(Donor).limit(10))] + [999999],
        "disbursement_id": [d.id for d in db.session.scalars(db.select(Disbursement).limit(5))],
        # a cover photo's review images; the organization's pages (admin only)
        "kind": ["page", "boxes", "preview", "other"],
        "slug": ["about", "contact", "privacy", "no-such-page"],
        # a pledge's reference code (none of the demo's, and one that does not exist)
        "reference": ["AB3CDE"],
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if (not rule.rule.startswith("/staff") or "GET" not in rule.methods
                or rule.endpoint.startswith("posts.")):
            continue
        filled = [rule.rule]
        for name in rule.arguments:
            filled = [re.sub(rf"<(?:\w+:)?{name}>", str(v), u) for u in filled for v in values[name]]
        urls += filled
    return sorted(set(urls))


def test_every_staff_page_of_the_demo_answers_in_japanese(runner, client, auth, make_user, app):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    client.get("/staff/", query_string={"lang": "ja"})
    urls = _staff_urls(app)
    assert len(urls) > 40
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert '<html lang="ja">' in response.get_data(as_text=True), url
        response.close()
