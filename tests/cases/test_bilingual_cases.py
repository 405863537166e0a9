"""Cases in both languages: a case's Japanese title, summary and region, written by staff beside
the English ones, are what every public place shows to a reader of Japanese (home, the list of
cases, the case page and its link preview, the donate page, posts that link the case, receipts
and mail); a case without them shows its English texts, marked as English, with the note posts
use. One function chooses (``tracker.cases.texts.case_text``); editing a Japanese text changes
the public pages' fingerprint, so no cached page keeps the old words."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse: mail into tmp_path)
from tests.payments.helpers import checkout_path, gift_form, give_path, pay_on_page, receipt_messages
from tracker.cases import services, workflow
from tracker.cases.models import RescueCase
from tracker.cases.texts import case_text
from tracker.core.money import Money
from tracker.donations.models import Receipt
from tracker.extensions import db
from tracker.posts import services as post_services
from tracker.posts.models import Post, PostTranslation
from tracker.site.public import case_fingerprint, listing_fingerprint

JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}
NOTE_JA = "このケースの説明は英語のみです。"

TITLE_JA = "国境の向こうに身を潜める6人"
REGION_JA = "中国東北部"
SUMMARY_JA = "洪水で村を追われた6人が、**安全な国**を目指しています。"


def bilingual_case(slug: str = "six-hiding") -> RescueCase:
    return make_case(slug, status=workflow.FUNDRAISING, public_title="Six people in hiding",
                     public_summary="Six people fled **the floods**.", public_region="Northeast China",
                     public_title_ja=TITLE_JA, public_region_ja=REGION_JA,
                     public_summary_ja=SUMMARY_JA)


def english_only_case(slug: str = "english-only") -> RescueCase:
    return make_case(slug, status=workflow.FUNDRAISING, public_title="Three people we could reach",
                     public_summary="Only in English.", public_region="Southeast Asia")


def test_one_function_chooses_the_version(app) -> None:
    both, english = bilingual_case(), english_only_case()
    ja = case_text(both, "ja")
    assert (ja.title, ja.region, ja.summary, ja.language, ja.fallback) == (
        TITLE_JA, REGION_JA, SUMMARY_JA, "ja", False)
    en = case_text(both, "en")
    assert (en.title, en.region, en.language, en.fallback) == (
        "Six people in hiding", "Northeast China", "en", False)
    fallback = case_text(english, "ja")
    assert (fallback.title, fallback.language, fallback.fallback) == (
        "Three people we could reach", "en", True)
    assert both.text("ja") == ja  # the model's method is the same choice


def test_japanese_pages_show_the_japanese_texts_and_english_pages_the_english(
        client: FlaskClient) -> None:
    bilingual_case()
    for url in ("/", "/cases", "/cases/six-hiding", "/cases/six-hiding/donate"):
        ja = client.get(url, headers=JA)
        assert ja.status_code == 200, url
        assert TITLE_JA in ja.text and "Six people in hiding" not in ja.text, url
        assert NOTE_JA not in ja.text, url
        en = client.get(url, headers=EN)
        assert "Six people in hiding" in en.text and TITLE_JA not in en.text, url
    page = client.get("/cases/six-hiding", headers=JA).text
    assert REGION_JA in page and "Northeast China" not in page
    assert "<strong>安全な国</strong>" in page  # the Japanese summary, as Markdown
    assert re.search(rf'<meta property="og:title" content="{TITLE_JA}"', page)
    assert re.search(r'<meta property="og:description" content="洪水で村を追われた6人', page)
    assert f"<title>{TITLE_JA}" in page


def test_a_case_without_japanese_shows_the_english_with_the_note(client: FlaskClient) -> None:
    english_only_case()
    page = client.get("/cases/english-only", headers=JA).text
    assert NOTE_JA in page and 'data-testid="only-in"' in page
    assert re.search(r'<h1 class="case-title" lang="en">Three people we could reach</h1>', page)
    assert '<dd lang="en">Southeast Asia</dd>' in page
    assert "本文へ移動" in page  # the page itself stays Japanese
    home = client.get("/", headers=JA).text
    assert re.search(r'<a href="/cases/english-only" lang="en">Three people we could reach</a>', home)
    english = client.get("/cases/english-only", headers=EN).text
    assert "This case is only available in English." not in english and 'lang="en">Three' not in english


def test_posts_that_link_a_case_show_its_title_in_the_readers_language(client: FlaskClient) -> None:
    case = bilingual_case()
    post = Post(slug="news-of-six", kind="update", title="News", body_markdown="Text",
                status="published", cases=[case], language="en")
    from tracker.core.time import utcnow
    post.published_at = utcnow()
    post.translations.append(PostTranslation(language="ja", title="近況", body_markdown="本文"))
    db.session.add(post)
    db.session.commit()
    assert TITLE_JA in client.get("/posts/news-of-six", headers=JA).text
    assert "Six people in hiding" in client.get("/posts/news-of-six", headers=EN).text


def test_a_japanese_edit_changes_the_fingerprint_and_the_cached_page(app, client: FlaskClient) -> None:
    case = bilingual_case()
    assert TITLE_JA in client.get("/cases/six-hiding", headers=JA).text
    with app.test_request_context():
        before, listing = case_fingerprint("six-hiding"), listing_fingerprint()
    changed = services.update_case(case, services.CaseInput(
        slug=case.slug, public_title=case.public_title, public_region=case.public_region,
        public_summary=case.public_summary, goal=Money(case.goal_amount_minor, case.goal_currency),
        public_title_ja="新しい題名", public_region_ja=REGION_JA, public_summary_ja=SUMMARY_JA,
    ), case.goal_currency)
    db.session.commit()
    assert changed == ["public_title_ja"]
    with app.test_request_context():
        assert case_fingerprint("six-hiding") != before
        assert listing_fingerprint() != listing
    assert "新しい題名" in client.get("/cases/six-hiding", headers=JA).text
    assert "新しい題名" in client.get("/", headers=JA).text


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"public_title_ja": "題名だけ"}, "public_region_ja", "coarse region in Japanese"),
    ({"public_region_ja": "中国東北部"}, "public_title_ja", "Japanese title"),
    ({"public_title_ja": "題名", "public_region_ja": "中国東北部"}, "public_summary_ja",
     "Japanese summary"),
    ({"public_title_ja": "題名", "public_region_ja": "地" * 81, "public_summary_ja": "概要"},
     "public_region_ja", "80 characters"),
])
def test_a_half_written_japanese_version_is_refused(app, fields, field, words) -> None:
    from tracker.core.errors import DomainError

    with pytest.raises(DomainError) as refused:
        make_case("half-japanese", public_summary="An English summary.", **fields)
    assert refused.value.field == field and words in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(db.select(RescueCase).where(RescueCase.slug == "half-japanese")) is None


@pytest.fixture
def staff(client, auth, make_user):
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user


def test_staff_write_the_japanese_version_on_the_case_forms(client: FlaskClient, staff) -> None:
    page = client.get("/staff/cases/new")
    assert 'name="public_title_ja"' in page.text and 'name="public_region_ja"' in page.text
    data = {"public_title": "Six", "slug": "six-staff", "public_region": "Jilin", "track": "journey",
            "goal": "3,000,000", "public_summary": "English story", "private_notes": "",
            "private_contact": "", "public_title_ja": TITLE_JA, "public_region_ja": REGION_JA,
            "public_summary_ja": SUMMARY_JA, "csrf_token": csrf_from(page.text)}
    assert client.post("/staff/cases/new", data=data).status_code == 302
    case = db.session.scalar(db.select(RescueCase).where(RescueCase.slug == "six-staff"))
    assert (case.public_title_ja, case.public_region_ja, case.public_summary_ja) == (
        TITLE_JA, REGION_JA, SUMMARY_JA)

    edit = client.get(f"/staff/cases/{case.id}/edit")
    assert f'value="{TITLE_JA}"' in edit.text
    half = {**data, "public_title_ja": "", "csrf_token": csrf_from(edit.text)}
    del half["slug"]
    refused = client.post(f"/staff/cases/{case.id}/edit", data=half)
    assert refused.status_code == 422 and 'id="public_title_ja-error"' in refused.text
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).public_title_ja == TITLE_JA  # nothing changed

    cleared = {**half, "public_region_ja": "", "public_summary_ja": ""}
    assert client.post(f"/staff/cases/{case.id}/edit", data=cleared).status_code == 302
    db.session.expire_all()
    case = db.session.get(RescueCase, case.id)
    assert (case.public_title_ja, case.public_region_ja, case.public_summary_ja) == (None, None, None)


def test_a_japanese_gift_names_the_case_in_japanese_up_to_the_receipt(
        client: FlaskClient) -> None:
    bilingual_case()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    form = client.get(give_path("six-hiding"))
    assert TITLE_JA in form.text
    response = client.post(give_path("six-hiding"), data=gift_form(
        csrf_from(form.text), email="aiko@example.org", name="Aiko"))
    path = checkout_path(response)
    paid = pay_on_page(client, path.rsplit("/", 1)[1], "4242 4242 4242 4242")
    assert paid.status_code == 303
    paid.close()
    thanks = client.get(paid.headers["Location"])
    assert f"「{TITLE_JA}」への" in thanks.text
    receipt = db.session.scalar(db.select(Receipt))
    assert receipt.purpose == TITLE_JA
    [message] = receipt_messages()
    assert f"使途：{TITLE_JA}" in message.body_text and "Six people in hiding" not in message.body_text


def test_the_draft_rescue_report_names_the_case_in_each_language(app) -> None:
    case = bilingual_case("report-six")
    services.add_beneficiary(case, public_alias="Mr. Y.Y.", age_band="18-29")
    db.session.commit()
    post = post_services.prepare_rescue_report(case)
    db.session.commit()
    assert "Six people in hiding" in post.title
    japanese = post.version("ja")
    assert japanese is not None and TITLE_JA in japanese.title
    assert "安全な場所にたどり着きました" in japanese.title
