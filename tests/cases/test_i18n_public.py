"""The public case pages in Japanese: the home page and a case page, asked for in Japanese by
the browser (Accept-Language: ja) or picked (?lang=ja), say everything in Japanese, write yen as
5,000円, keep the progress bars' text equivalents in Japanese, and show nothing private; the
English pages stay as they were. The words the live script writes come from the page, in the
page's language, and match what the server renders."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import give, make_case
from tracker.cases import public, services, workflow
from tracker.cases.models import PERSON_LABELS
from tracker.core.money import Money
from tracker.core.time import local_today, utcnow
from tracker.extensions import db
from tracker.posts.models import Post, PostTranslation
from tracker.site.public import case_fingerprint

JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}
MARKERS = ("PRIVATE-NOTE-j4p4", "PRIVATE-CONTACT-j4p4", "PRIVATE-NAME-j4p4", "PRIVATE-DETAIL-j4p4",
           "PRIVATE-RESCUE-NOTE-j4p4")


def case_with_progress(slug: str = "flood-survivors"):  # noqa: ANN201
    """Fundraising, 2 people (one rescued), ¥5,000 from one donor, private fields set."""
    case = make_case(slug, status=workflow.FUNDRAISING, public_title="Six survivors",
                     public_summary="They hid **for months**.",
                     private_notes=MARKERS[0], private_contact=MARKERS[1])
    person = services.add_beneficiary(case, public_alias="Mr. Y.Y.", age_band="18-29",
                                      private_name=MARKERS[2], private_details=MARKERS[3])
    services.add_beneficiary(case, public_alias="Little N.", age_band="0-4")
    services.mark_rescued(person, local_today(), note=MARKERS[4])
    db.session.commit()
    give(case, 5_000, name="Taro")
    return case


#: tags that start a new line (or cell) of text; inline tags join the words around them
BLOCK = re.compile(r"</?(?:p|div|li|ul|dt|dd|dl|td|th|tr|h\d|section|header|footer|nav|main|caption)\b[^>]*>")


def text_of(page: str) -> str:
    """The page's visible text, roughly: block tags become spaces, inline tags vanish,
    entities are decoded, spaces collapsed."""
    body = page.split("<body", 1)[1].split(">", 1)[1]
    body = re.sub(r"<script.*?</script>|<progress.*?</progress>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", "", BLOCK.sub(" ", body))
    return " ".join(html.unescape(body).split())


def attribute(page: str, selector_attr: str, name: str) -> list[str]:
    """Values of attribute ``name`` on tags that carry ``selector_attr`` (e.g. 'data-live="money-bar"')."""
    pattern = rf'<[^>]*{re.escape(selector_attr)}[^>]*\b{name}="([^"]*)"'
    return [html.unescape(m) for m in re.findall(pattern, page)]


def live_script_text(page: str) -> dict:
    """The words the live script gets from the page (data-text on its script tag)."""
    match = re.search(r"<script src=\"/static/live\.js\?v=[0-9a-f]{12}\" defer data-text='([^']*)'></script>",
                      page)
    assert match, "the live script and its words are on the page"
    return json.loads(html.unescape(match.group(1)))


# --- the home page ---------------------------------------------------------------------------


def test_the_home_page_in_japanese(client: FlaskClient, app: Flask) -> None:
    case_with_progress()
    make_case("private-request", public_title="Hidden request title", private_notes=MARKERS[0])
    response = client.get("/", headers=JA)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = text_of(page)
    assert '<html lang="ja">' in page
    assert "身を隠している人々が安全な場所にたどり着けるよう、ご支援ください" in text
    assert "支援受付中のケース" in text
    assert re.search(r"今年度（\d{4}年度）は1人の命を救いました。", text)
    assert 'data-testid="lives-saved">1<' in page
    # money as 円, never ¥; the bars' words and labels in Japanese
    assert "5,000円が集まりました（目標：1,000,000円）" in text
    assert "¥" not in text and "￥" not in text
    assert "2人中1人が救出済み、1人がまだ救出を待っています" in text
    assert attribute(page, 'data-live="money-bar"', "aria-label") == ["集まった寄付：目標の0パーセント"]
    assert attribute(page, 'data-live="people-bar"', "aria-label") == ["救出された人：2人中1人"]
    # the status badge and the card's link to give
    assert re.search(r'<span class="badge status-fundraising" data-live="status">寄付募集中</span>', page)
    assert re.search(r'<a class="button primary" href="/cases/flood-survivors/donate"[^>]*>'
                     r"この救出活動に寄付する</a>", page)
    # nothing private, no private case
    for marker in MARKERS:
        assert marker not in page
    assert "Hidden request title" not in page
    # and none of the English of these pages
    for english in ("raised of", "still waiting", "Open cases", "Give to this rescue", "Fundraising",
                    "lives saved", "life saved"):
        assert english not in text, english


def test_the_home_page_in_english_is_unchanged(client: FlaskClient, app: Flask) -> None:
    case_with_progress()
    page = client.get("/", headers=EN).get_data(as_text=True)
    text = text_of(page)
    assert '<html lang="en">' in page
    assert "Help people in hiding reach safety" in text
    assert re.search(r"1 life saved this fiscal year \(FY\d{4}\)\.", text)
    assert "Open cases" in text
    assert "¥5,000 raised of ¥1,000,000 goal" in text
    assert "1 of 2 rescued, 1 still waiting" in text
    assert attribute(page, 'data-live="money-bar"', "aria-label") == ["Money raised: 0 percent of the goal"]
    assert attribute(page, 'data-live="people-bar"', "aria-label") == ["People rescued: 1 of 2"]
    assert '<span class="badge status-fundraising" data-live="status">Fundraising</span>' in page
    assert "Give to this rescue" in text
    assert "円" not in text


def test_the_home_page_lists_completed_cases_in_japanese(client: FlaskClient, app: Flask) -> None:
    case = make_case("done-case", people=1, status=workflow.IN_PROGRESS, public_title="Safe now")
    services.mark_rescued(case.beneficiaries[0], local_today())
    db.session.commit()
    ja = text_of(client.get("/", headers=JA).get_data(as_text=True))
    assert "最近完了したケース" in ja
    assert "Safe now — 全員が安全な場所にたどり着きました（1人中1人）。" in ja
    assert "現在、支援を受け付けているケースはありません。" in ja
    en = text_of(client.get("/", headers=EN).get_data(as_text=True))
    assert "Safe now — everyone is safe (1 of 1)." in en and "No open cases right now." in en


# --- the case page ---------------------------------------------------------------------------


def test_the_case_page_in_japanese(client: FlaskClient, app: Flask) -> None:
    case = case_with_progress()
    response = client.get(f"/cases/{case.slug}", headers=JA)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = text_of(page)
    assert '<html lang="ja">' in page
    # the progress and its text equivalents
    assert "5,000円が集まりました（目標：1,000,000円）" in text
    assert "2人中1人が救出済み、1人がまだ救出を待っています" in text
    assert "支援者 1人" in text
    assert attribute(page, 'data-live="money-bar"', "aria-label") == ["集まった寄付：目標の0パーセント"]
    assert attribute(page, 'data-live="people-bar"', "aria-label") == ["救出された人：2人中1人"]
    assert 'aria-label="この救出活動の進み具合"' in page
    # the button to give, the details, the people
    assert re.search(r'<a class="button primary big" href="/cases/flood-survivors/donate">'
                     r"この救出活動に寄付する</a>", page)
    assert "状態 寄付募集中" in text and "地域 Northeast China" in text
    assert '<h2 id="people-heading">支援対象の方々</h2>' in page
    assert "仮名 年齢層 状態" in text
    assert "Mr. Y.Y. 18〜29歳 救出済み" in text and "Little N. 0〜4歳 救出待ち" in text
    assert "このケースの方々（仮名）" in text
    # the banner waits, hidden, in Japanese
    assert re.search(r'data-live="completed" hidden>このケースの全員が安全な場所にたどり着きました。', page)
    for marker in MARKERS:
        assert marker not in page
    for english in ("raised of", "still waiting", "donor", "Give to this rescue", "The people",
                    "Alias", "Waiting", "Fundraising", "Everyone in this case"):
        assert english not in text, english


def test_the_case_page_in_english_is_unchanged(client: FlaskClient, app: Flask) -> None:
    case = case_with_progress()
    page = client.get(f"/cases/{case.slug}", headers=EN).get_data(as_text=True)
    text = text_of(page)
    assert 'data-live="raised">¥5,000</strong> raised of ¥1,000,000 goal' in page
    assert "1 of 2 rescued, 1 still waiting" in text
    assert '<span data-live="donors">1</span> <span data-live="donors-word">donor</span>' in page
    assert attribute(page, 'data-live="people-bar"', "aria-label") == ["People rescued: 1 of 2"]
    assert "Give to this rescue" in text and "The people" in text
    assert "Alias Age Status" in text and "Mr. Y.Y. 18–29 Rescued" in text and "Little N. 0–4 Waiting" in text
    assert "Everyone in this case is safe. Thank you." in page
    assert "円" not in text


def test_a_case_without_a_summary_is_previewed_in_japanese(client: FlaskClient, app: Flask) -> None:
    make_case("quiet-case", status=workflow.FUNDRAISING, public_summary="")
    page = client.get("/cases/quiet-case", headers=JA).get_data(as_text=True)
    assert '<meta property="og:description" content="Northeast Chinaでの救出活動">' in page
    page = client.get("/cases/quiet-case", headers=EN).get_data(as_text=True)
    assert '<meta property="og:description" content="A rescue in Northeast China">' in page


def test_a_completed_case_and_a_closed_one_say_so_in_japanese(client: FlaskClient, app: Flask) -> None:
    case = make_case("done-case", people=1, status=workflow.IN_PROGRESS)
    services.mark_rescued(case.beneficiaries[0], local_today())
    db.session.commit()
    page = client.get("/cases/done-case?lang=ja").get_data(as_text=True)
    assert ('<p class="completed-banner" role="status" data-live="completed">'
            "このケースの全員が安全な場所にたどり着きました。ご支援ありがとうございました。</p>") in page
    assert '<span class="badge status-rescued" data-live="status">救出済み</span>' in page
    assert "1人中1人が救出済み" in text_of(page) and "待っています" not in text_of(page)
    # it takes no more gifts: the button points to the general fund
    assert re.search(r'<a class="button big" href="/donate">一般基金に寄付する</a>', page)
    make_case("closed-case", status=workflow.CLOSED)
    page = client.get("/cases/closed-case?lang=ja").get_data(as_text=True)
    assert '<span class="badge status-closed" data-live="status">終了</span>' in page


def test_the_posts_list_shows_each_post_in_the_readers_language(client: FlaskClient, app: Flask) -> None:
    case = make_case("with-posts", status=workflow.FUNDRAISING)
    now = utcnow()
    db.session.add_all([
        Post(slug="both-languages", kind="appeal", title="English appeal", language="en", status="published",
             published_at=now, cases=[case],
             translations=[PostTranslation(language="ja", title="日本語のお願い", body_markdown="本文")]),
        Post(slug="english-only", kind="update", title="Only in English", language="en",
             status="published", published_at=now, cases=[case]),
        Post(slug="japanese-only", kind="news", title="日本語だけ", language="ja",
             status="published", published_at=now, cases=[case]),
    ])
    db.session.commit()
    for url in ("/cases/with-posts", "/"):
        ja = client.get(url, headers=JA).get_data(as_text=True)
        assert '<a href="/posts/both-languages">日本語のお願い</a>' in ja and "English appeal" not in ja
        assert '<a href="/posts/english-only" lang="en">Only in English</a>' in ja
        assert '<a href="/posts/japanese-only">日本語だけ</a>' in ja
        en = client.get(url, headers=EN).get_data(as_text=True)
        assert '<a href="/posts/both-languages">English appeal</a>' in en and "日本語のお願い" not in en
        assert '<a href="/posts/english-only">Only in English</a>' in en
        assert '<a href="/posts/japanese-only" lang="ja">日本語だけ</a>' in en


def test_a_new_version_of_a_linked_post_changes_the_case_pages_fingerprint(app: Flask) -> None:
    """The case page is cached until its fingerprint moves: a post's other-language version,
    whose title the Japanese page lists, moves it."""
    case = make_case("fingerprinted", status=workflow.FUNDRAISING)
    post = Post(slug="post-one", kind="update", title="An update", language="en", status="published",
                published_at=utcnow(), cases=[case])
    db.session.add(post)
    db.session.commit()
    before = case_fingerprint("fingerprinted")
    db.session.add(PostTranslation(post=post, language="ja", title="近況", body_markdown=""))
    db.session.commit()
    added = case_fingerprint("fingerprinted")
    assert added != before
    version = db.session.scalar(db.select(PostTranslation).where(PostTranslation.post_id == post.id))
    version.title, version.updated_at = "近況報告", utcnow()
    db.session.commit()
    assert case_fingerprint("fingerprinted") != added


def test_the_page_caches_keep_each_language(client: FlaskClient, app: Flask) -> None:
    case = case_with_progress()
    url = f"/cases/{case.slug}"
    for _ in range(2):
        assert "raised of" in client.get(url, headers=EN).get_data(as_text=True)
        assert "が集まりました" in client.get(url, headers=JA).get_data(as_text=True)
    assert "が集まりました" in client.get(url + "?lang=ja", headers=EN).get_data(as_text=True)


# --- the live script's words -----------------------------------------------------------------


def fill(pattern: str, **values: object) -> str:
    """A sentence's {name} slots filled in, as static/live.js fills them."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), pattern)


@pytest.mark.parametrize(("headers", "language"), [(EN, "en"), (JA, "ja")])
def test_the_live_script_gets_the_pages_words_and_money_format(
    client: FlaskClient, app: Flask, headers: dict, language: str,
) -> None:
    """What live.js writes after a poll equals what the server renders, in either language:
    the sentences it fills in are the server's own, and so is the money layout it copies."""
    case = case_with_progress()
    for url in (f"/cases/{case.slug}", "/"):
        page = client.get(url, headers=headers).get_data(as_text=True)
        words = live_script_text(page)
        assert set(words) == {"status", "person_rescued", "waiting", "money_label", "people_label",
                              "donors_one", "donors_other"}
        # every status the public can see has its label, as the badge writes it
        assert set(words["status"]) == set(workflow.STATUSES)
        assert f'data-live="status">{words["status"]["fundraising"]}</span>' in page
        # the sentences, filled in as the script does, are what the server wrote
        assert f'<span data-live="waiting-text">{fill(words["waiting"], n=1)}</span>' in page
        assert attribute(page, 'data-live="money-bar"', "aria-label") == [
            fill(words["money_label"], percent=0)]
        assert attribute(page, 'data-live="people-bar"', "aria-label") == [
            fill(words["people_label"], rescued=1, total=2)]
        # the money layout: a sample the server formats like every figure on the page
        sample = attribute(page, "data-progress-url", "data-money")
        assert sample == [{"en": "¥1,234,567", "ja": "1,234,567円"}[language]]
    if language == "ja":
        assert words["status"]["rescued"] == words["person_rescued"] == "救出済み"
        assert words["donors_one"] == words["donors_other"] == "支援者 {n}人"
        assert words["waiting"] == "、{n}人がまだ救出を待っています"
    else:
        assert (words["donors_one"], words["donors_other"]) == ("{n} donor", "{n} donors")
        assert words["status"] == {k: str(v) for k, v in workflow.LABELS.items()}
        assert words["person_rescued"] == str(PERSON_LABELS["rescued"])


def test_the_money_sample_has_every_decimal_of_the_currency(app: Flask) -> None:
    def sample(currency: str) -> Money:
        return public.CaseProgress("s", "fundraising", 0, 0, Money(0, currency), Money(0, currency), 0,
                                   utcnow()).money_sample
    assert sample("JPY") == Money(1_234_567, "JPY")
    assert sample("USD") == Money(123_456_798, "USD")
    assert sample("BHD") == Money(1_234_567_987, "BHD")


def test_the_public_labels_match_the_workflows_english(app: Flask) -> None:
    """The macros name statuses themselves (so the public pages are translated whatever the
    staff side does); their English must stay the workflow's."""
    with app.test_request_context("/?lang=en"):
        from flask_babel import refresh
        refresh()
        macros = app.jinja_env.get_template("_macros/progress.html").module
        for status, label in workflow.LABELS.items():
            assert str(macros.status_text(status)) == str(label)
        for status, label in PERSON_LABELS.items():
            assert str(macros.person_status_text(status)) == str(label)
