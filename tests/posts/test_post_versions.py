"""A post in two languages: staff write a version in the other language on the same form,
change or remove it; each reader sees the version in their language (its link preview too),
or the post as written with a note saying so; a half-written version is refused and changes
nothing; nothing private reaches either version's page."""

from __future__ import annotations

import html
import re

import pytest

from tests.factories import make_case
from tests.posts.helpers import audit_actions, count, edit_url, fresh, only_post, post_form
from tests.posts.test_share import meta
from tracker.audit import AuditEntry
from tracker.core.time import as_utc
from tracker.extensions import db
from tracker.posts.models import Post, PostTranslation

EN_TITLE = "Six flood survivors need your help"
JA_TITLE = "洪水を生き延びた6人に支援を"
JA_BODY = "どうか**ご支援**をお願いします。"
URL = "/posts/six-flood-appeal"
JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}


def _with_japanese(client, url: str | None = None, **overrides):
    """Save the post form with an English post and its Japanese version."""
    data = {"language": "en", "other_title": JA_TITLE, "other_body": JA_BODY, **overrides}
    return post_form(client, url, **data) if url else post_form(client, **data)


def _translations() -> list[PostTranslation]:
    fresh()
    return list(db.session.scalars(db.select(PostTranslation).order_by(PostTranslation.id)))


def _article(page: str) -> str:
    """The opening tag of the post's <article>."""
    return re.search(r"<article[^>]*>", page.split('<main id="main">', 1)[1]).group(0)


def _version_links(page: str) -> list[tuple[str, str]]:
    """(href, text) of the link(s) to the post's other version."""
    return [(html.unescape(href), text) for href, text in re.findall(
        r'data-testid="other-version"[^>]*><a href="([^"]+)" hreflang="\w+">([^<]+)</a>', page)]


# --- writing -----------------------------------------------------------------------------------


def test_staff_write_a_post_with_its_japanese_version(client, staff, app):
    case = make_case("six-flood", status="fundraising")
    response = _with_japanese(client, cases=[str(case.id)], publish="publish")
    assert response.status_code == 302

    post = only_post()
    assert (post.language, post.title, post.status) == ("en", EN_TITLE, "published")
    [version] = _translations()
    assert (version.post_id, version.language, version.title, version.body_markdown) == (
        post.id, "ja", JA_TITLE, JA_BODY)
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "post.created"))
    assert entry.after["language"] == "en"
    assert entry.after["version"]["language"] == "ja" and entry.after["version"]["title"] == JA_TITLE
    assert entry.after["version"]["body"].startswith(f"{len(JA_BODY)} chars, sha256 ")
    assert JA_BODY not in str(entry.after)  # bodies are audited as a digest

    # the edit form shows the version again, and saving it unchanged writes nothing
    page = client.get(edit_url("six-flood-appeal")).text
    assert f'value="{JA_TITLE}"' in page and f"{JA_BODY}</textarea>" in page
    assert re.search(r'<input checked[^>]*value="en"', page)
    assert _with_japanese(client, edit_url("six-flood-appeal"), cases=[str(case.id)],
                          publish="publish").status_code == 302
    assert audit_actions() == ["post.created", "post.published"]


def test_each_reader_sees_the_version_in_their_language(client, staff, app):
    assert _with_japanese(client, publish="publish").status_code == 302
    anonymous = app.test_client()

    english = anonymous.get(URL, headers=EN).text
    assert '<html lang="en">' in english
    assert f"<h1>{EN_TITLE}</h1>" in english and "<strong>give</strong>" in english
    assert JA_TITLE not in english
    assert _article(english) == '<article class="post">'
    assert _version_links(english) == [("/posts/six-flood-appeal?lang=ja", "Read this in Japanese")]
    assert "only available" not in english
    assert meta(english, "og:title") == EN_TITLE
    assert meta(english, "og:description") == "Please give what you can."
    assert meta(english, "og:url") == "http://localhost/posts/six-flood-appeal?lang=en"
    assert meta(english, "og:locale") == "en_US" and meta(english, "og:locale:alternate") == "ja_JP"
    assert ('<link rel="alternate" hreflang="ja" '
            'href="http://localhost/posts/six-flood-appeal?lang=ja">') in english
    assert f"<title>{EN_TITLE} · " in english

    japanese = anonymous.get(URL, headers=JA).text
    assert '<html lang="ja">' in japanese
    assert f"<h1>{JA_TITLE}</h1>" in japanese and "<strong>ご支援</strong>" in japanese
    assert EN_TITLE not in japanese
    assert _article(japanese) == '<article class="post">'  # same language as the page
    assert _version_links(japanese) == [("/posts/six-flood-appeal?lang=en", "この投稿の英語版")]
    assert meta(japanese, "og:title") == JA_TITLE
    assert meta(japanese, "og:description") == "どうかご支援をお願いします。"
    assert meta(japanese, "og:url") == "http://localhost/posts/six-flood-appeal?lang=ja"
    assert meta(japanese, "og:locale") == "ja_JP"
    assert f"<title>{JA_TITLE} · " in japanese

    # the link switches the page (and remembers the choice, as the language picker does)
    picked = anonymous.get("/posts/six-flood-appeal?lang=ja", headers=EN).text
    assert f"<h1>{JA_TITLE}</h1>" in picked
    assert f"<h1>{JA_TITLE}</h1>" in anonymous.get(URL, headers=EN).text


def test_a_post_without_a_version_in_the_readers_language_is_shown_as_written(client, staff, app):
    assert post_form(client, language="ja", title=JA_TITLE, body_markdown=JA_BODY,
                     publish="publish").status_code == 302
    assert only_post().language == "ja"
    anonymous = app.test_client()

    english = anonymous.get(URL, headers=EN).text
    assert '<html lang="en">' in english
    assert f"<h1>{JA_TITLE}</h1>" in english
    assert _article(english) == '<article class="post" lang="ja">'
    assert 'data-testid="only-in">This post is only available in Japanese.</p>' in english
    assert _version_links(english) == []
    assert meta(english, "og:title") == JA_TITLE
    # a post in one language keeps one address
    assert meta(english, "og:url") == "http://localhost/posts/six-flood-appeal"
    # the page's own words inside the article keep the page's language
    assert '<p class="meta" lang="en">Appeal' in english

    japanese = anonymous.get(URL, headers=JA).text
    assert _article(japanese) == '<article class="post">'
    assert "only-in" not in japanese and _version_links(japanese) == []


def test_a_japanese_reader_of_an_english_only_post_is_told(client, staff, app):
    assert post_form(client, publish="publish").status_code == 302
    japanese = app.test_client().get(URL, headers=JA).text
    assert f"<h1>{EN_TITLE}</h1>" in japanese
    assert _article(japanese) == '<article class="post" lang="en">'
    assert 'data-testid="only-in">この投稿は英語でのみご覧いただけます。</p>' in japanese
    assert _version_links(japanese) == []


# --- editing -----------------------------------------------------------------------------------


def test_the_version_can_be_added_changed_and_removed(client, staff, app):
    assert post_form(client, publish="publish").status_code == 302
    assert _translations() == []
    anonymous = app.test_client()
    stamp = as_utc(only_post().updated_at)

    # added later
    assert _with_japanese(client, edit_url("six-flood-appeal"), publish="publish").status_code == 302
    assert [(t.language, t.title) for t in _translations()] == [("ja", JA_TITLE)]
    assert as_utc(only_post().updated_at) > stamp  # the case pages' caches see the change
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "post.updated")
                               .order_by(AuditEntry.id.desc())).first()
    assert set(entry.before) == set(entry.after) == {"version"}
    assert entry.before["version"] is None and entry.after["version"]["title"] == JA_TITLE
    assert f"<h1>{JA_TITLE}</h1>" in anonymous.get(URL, headers=JA).text

    # changed
    assert _with_japanese(client, edit_url("six-flood-appeal"), publish="publish",
                          other_title="新しいタイトル", other_body="新しい本文").status_code == 302
    [version] = _translations()
    assert (version.title, version.body_markdown) == ("新しいタイトル", "新しい本文")
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "post.updated")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.before["version"]["title"] == JA_TITLE
    assert entry.after["version"]["title"] == "新しいタイトル"
    assert "<h1>新しいタイトル</h1>" in anonymous.get(URL, headers=JA).text

    # removed: both fields emptied
    assert post_form(client, edit_url("six-flood-appeal"), publish="publish",
                     other_title="  ", other_body="").status_code == 302
    assert _translations() == []
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "post.updated")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.before["version"]["title"] == "新しいタイトル" and entry.after["version"] is None
    assert audit_actions() == ["post.created", "post.published", "post.updated", "post.updated",
                               "post.updated"]
    japanese = anonymous.get(URL, headers=JA).text
    assert f"<h1>{EN_TITLE}</h1>" in japanese and "この投稿は英語でのみご覧いただけます。" in japanese
    assert _version_links(anonymous.get(URL, headers=EN).text) == []


def test_switching_the_language_the_post_is_written_in(client, staff, app):
    assert _with_japanese(client, publish="publish").status_code == 302
    # staff now write the Japanese as the post, and the English as its version
    assert post_form(client, edit_url("six-flood-appeal"), publish="publish", language="ja",
                     title=JA_TITLE, body_markdown=JA_BODY, other_title=EN_TITLE,
                     other_body="Please **give** what you can.").status_code == 302
    post = only_post()
    assert (post.language, post.title) == ("ja", JA_TITLE)
    assert [(t.language, t.title) for t in _translations()] == [("en", EN_TITLE)]
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "post.updated")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.before["language"] == "en" and entry.after["language"] == "ja"
    anonymous = app.test_client()
    assert f"<h1>{EN_TITLE}</h1>" in anonymous.get(URL, headers=EN).text
    assert f"<h1>{JA_TITLE}</h1>" in anonymous.get(URL, headers=JA).text

    # the case page's contract: in_language picks the version, whatever language it is in
    fresh()
    post = only_post()
    assert post.in_language("en").title == EN_TITLE and post.in_language("ja").title == JA_TITLE
    assert post.in_language("en").language == "en" and post.in_language("ja") is post


def test_the_staff_list_and_preview_show_both_languages(client, staff):
    assert _with_japanese(client).status_code == 302
    listing = client.get("/staff/posts/").text
    assert '<span lang="en">English</span> + <span lang="ja">日本語</span>' in listing

    preview = _with_japanese(client, edit_url("six-flood-appeal"), action="preview",
                             other_body="*プレビュー*の本文")
    assert preview.status_code == 200
    other = preview.text.split('data-testid="preview-other"', 1)[1]
    assert other.startswith(' lang="ja">') and "<em>プレビュー</em>の本文" in other
    assert _translations()[0].body_markdown == JA_BODY  # a preview saves nothing


# --- bad input ---------------------------------------------------------------------------------


HALF_WRITTEN = [
    ({"other_title": JA_TITLE, "other_body": ""}, "other_body", "Write this version&#39;s text too"),
    ({"other_title": JA_TITLE, "other_body": "  \n "}, "other_body", "Write this version&#39;s text too"),
    ({"other_title": "", "other_body": JA_BODY}, "other_title", "Give this version a title too"),
    ({"other_title": "   ", "other_body": JA_BODY}, "other_title", "Give this version a title too"),
]
BAD_VERSION = [
    *HALF_WRITTEN,
    ({"other_title": "長" * 201}, "other_title", "cannot be longer than 200 characters"),
    ({"other_title": "一行目\nBcc: someone@example.org"}, "other_title", "Write the title on one line"),
    ({"other_body": "x" * 100_001}, "other_body", "cannot be longer than 100000 characters"),
    ({"other_body": "本文\x01"}, "other_body", "Remove the control characters"),
    ({"other_body": "本文\x00"}, "other_body", "Remove the control characters"),
    ({"language": "fr"}, "language", "Choose the language the post is written in"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_VERSION,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_VERSION)])
def test_a_bad_version_on_the_new_form_writes_nothing(client, staff, overrides, field, message):
    response = _with_japanese(client, publish="publish", **overrides)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert count(Post) == 0 and count(PostTranslation) == 0
    assert audit_actions() == []


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_VERSION,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_VERSION)])
def test_a_bad_version_on_the_edit_form_changes_nothing(client, staff, app, overrides, field, message):
    assert _with_japanese(client, publish="publish").status_code == 302
    stamp = as_utc(only_post().updated_at)
    response = _with_japanese(client, edit_url("six-flood-appeal"), publish="publish",
                              title="Changed title", **overrides)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text and message in response.text
    post = only_post()
    assert (post.title, post.language, as_utc(post.updated_at)) == (EN_TITLE, "en", stamp)
    assert [(t.title, t.body_markdown) for t in _translations()] == [(JA_TITLE, JA_BODY)]
    assert audit_actions() == ["post.created", "post.published"]
    assert f"<h1>{JA_TITLE}</h1>" in app.test_client().get(URL, headers=JA).text


# --- nothing private, nothing executable -------------------------------------------------------


PRIVATE_NOTE = "PRIVATE-ROUTE-via-the-river-crossing"
PRIVATE_NAME = "PRIVATE-NAME-Kim-Soo"
PRIVATE_CONTACT = "PRIVATE-CONTACT-phone-0901234"


def test_private_case_fields_never_reach_either_version(client, staff, app):
    case = make_case("six-flood", people=2, status="fundraising", public_title="Six flood survivors",
                     private_notes=PRIVATE_NOTE, private_contact=PRIVATE_CONTACT)
    case.beneficiaries[0].private_name = PRIVATE_NAME
    db.session.commit()
    assert _with_japanese(client, cases=[str(case.id)], publish="publish").status_code == 302
    anonymous = app.test_client()
    pages = [anonymous.get(URL, headers=EN), anonymous.get(URL, headers=JA),
             anonymous.get(URL + "?lang=ja"), anonymous.get(URL + "?lang=en")]
    for page in pages:
        assert page.status_code == 200
        assert "Six flood survivors" in page.text  # the linked case's public title
        for secret in (PRIVATE_NOTE, PRIVATE_NAME, PRIVATE_CONTACT, "Person A."):
            assert secret not in page.text
    assert JA_TITLE in pages[1].text and EN_TITLE in pages[0].text


def test_markup_in_a_version_stays_inert(client, staff, app):
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    assert _with_japanese(client, publish="publish", other_title=payload,
                          other_body=payload + " [x](javascript:alert(3))").status_code == 302
    page = app.test_client().get(URL, headers=JA).text
    assert "<script>alert(1)</script>" not in page
    assert re.search(r"<img[^>]*onerror", page) is None and "javascript:" not in page
    assert meta(page, "og:title") == payload
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
