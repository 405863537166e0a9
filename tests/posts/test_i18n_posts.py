"""Posts in Japanese: the staff desk, its errors and messages, the public page's own words and
dates, rescue-report emails written in each donor's language, the automatic rescue-report
draft and the demo posts with their Japanese versions. The English stays as it was."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask_babel import refresh

from tests.factories import give, make_case
from tests.posts.helpers import (
    NEW,
    confirm_no_person,
    count,
    edit_url,
    fresh,
    jpeg_with_gps,
    post_form,
    stored_images,
    upload,
)
from tests.posts.test_share import meta
from tracker.donations.models import Donor
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.posts import services
from tracker.posts.models import Post, PostTranslation

JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}
EN_TITLE = "Everyone in the flood group is safe"
JA_TITLE = "洪水で避難した皆さんが無事に"
PRIVATE_NOTE = "PRIVATE-ROUTE-via-the-river-crossing"
PRIVATE_NAME = "PRIVATE-NAME-Kim-Soo"
PRIVATE_CONTACT = "PRIVATE-CONTACT-phone-0901234"


@pytest.fixture
def in_japanese(client, staff):
    """The signed-in staff member reads the app in Japanese (picked once, remembered)."""
    assert "投稿" in client.get("/staff/posts/?lang=ja").text
    return client


# --- the staff desk ----------------------------------------------------------------------------


def test_the_staff_post_form_in_japanese(in_japanese):
    page = in_japanese.get(NEW).text
    assert '<html lang="ja">' in page
    for text in ("<h1>投稿を書く</h1>", "← 投稿一覧", '<label for="title">タイトル</label>',
                 "アドレス（スラッグ）", '<label for="kind">種類</label>', "<legend>投稿の言語</legend>",
                 "<legend>もう一方の言語の版（任意）</legend>", "もう一方の言語のタイトル",
                 "もう一方の言語の本文（Markdown）", "関連するケース", "下書きとして保存（非公開）",
                 "今すぐ公開する", "公開解禁日時", "日本時間で入力します。", ">プレビュー</button>",
                 ">保存</button>", "<title>投稿を書く（スタッフ） · "):
        assert text in page, text
    for kind in ("支援のお願い", "近況報告", "救出報告", "お知らせ"):
        assert f">{kind}</option>" in page
    # each language is named in itself, marked as such; a new post starts in the page's language
    assert '<label for="language-0" lang="en">English</label>' in page
    assert '<label for="language-1" lang="ja">日本語</label>' in page
    assert 'checked id="language-1" name="language" type="radio" value="ja"' in page
    assert "Write a post" not in page and "Version in the other language" not in page


def test_the_staff_post_form_in_english_is_unchanged(client, staff):
    page = client.get(NEW, headers=EN).text
    for text in ("<h1>Write a post</h1>", "← All posts", '<label for="title">Title</label>',
                 "Address (slug)", "Save as draft (not public)", "Publish now", "Embargo until",
                 "In Japan time. Used when you schedule: the post stays hidden until then.",
                 "<legend>Version in the other language (optional)</legend>", ">Appeal</option>",
                 "<title>Write a post (staff) · "):
        assert text in page, text
    assert 'checked id="language-0" name="language" type="radio" value="en"' in page


JAPANESE_ERRORS = [
    ({"title": ""}, "title", "投稿のタイトルを入力してください。"),
    ({"title": "一行目\n二行目"}, "title", "タイトルは1行で書いてください。"),
    ({"slug": "Bad Slug"}, "slug", "半角の英小文字・数字と単独のハイフンを3〜120文字で入力してください"),
    ({"kind": "gossip"}, "kind", "投稿の種類を選んでください：支援のお願い、近況報告、救出報告、お知らせ。"),
    ({"cases": ["999999"]}, "cases", "ケース番号 999999 は存在しません。"),
    ({"publish": "schedule", "publish_at": "next tuesday"}, "publish_at",
     "日時は 2025-10-01 09:00 のように入力してください。"),
    ({"publish": "schedule", "publish_at": "2020-01-01T09:00"}, "publish_at",
     "公開解禁の日時は未来にしてください。今すぐ公開する場合は「今すぐ公開する」を選んでください。"),
    ({"other_title": "日本語のタイトル"}, "other_body", "この版の本文も入力してください。"),
    ({"other_body": "日本語の本文"}, "other_title", "この版のタイトルも入力してください。"),
    ({"other_title": "題", "other_body": "本文\x01"}, "other_body", "本文から制御文字を取り除いてください。"),
    ({"other_title": "長" * 201}, "other_title", "200文字以内で入力してください。"),
    ({"language": "fr"}, "language", "投稿を書いた言語を選んでください。"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), JAPANESE_ERRORS,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(JAPANESE_ERRORS)])
def test_form_errors_in_japanese(in_japanese, overrides, field, message):
    response = post_form(in_japanese, **overrides)
    assert response.status_code == 422
    error = response.text.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error
    assert count(Post) == 0 and count(PostTranslation) == 0


def test_a_taken_address_is_refused_in_japanese(in_japanese):
    assert post_form(in_japanese).status_code == 302
    response = post_form(in_japanese, title="別の投稿")
    assert response.status_code == 422
    assert "アドレス「six-flood-appeal」はすでに別の投稿で使われています。" in response.text


def test_flash_messages_and_the_list_in_japanese(in_japanese):
    response = post_form(in_japanese, language="ja", title="六人への支援のお願い")
    assert response.status_code == 302
    page = in_japanese.get(response.headers["Location"]).text
    assert "「六人への支援のお願い」を下書きとして保存しました（非公開）。" in page
    assert "<h1>投稿を編集</h1>" in page and "下書き、非公開" in page

    response = post_form(in_japanese, edit_url("six-flood-appeal"), language="ja",
                         title="六人への支援のお願い", publish="publish")
    page = in_japanese.get(response.headers["Location"]).text
    assert "「六人への支援のお願い」を公開しました。" in page and "公開ページ" in page

    response = post_form(in_japanese, edit_url("six-flood-appeal"), language="ja",
                         title="六人への支援のお願い", publish="schedule", publish_at="2099-01-01T09:00")
    page = in_japanese.get(response.headers["Location"]).text
    assert ("「六人への支援のお願い」の公開を予約しました：2099-01-01 09:00（日本時間）から"
            "公開されます。") in page
    assert "予約：2099-01-01 09:00（日本時間）まで非公開" in page

    listing = in_japanese.get("/staff/posts/").text
    for text in ("<h1>投稿</h1>", "投稿を書く", "下書きと公開解禁前の投稿はスタッフにのみ表示されます。",
                 '<th scope="col">タイトル</th>', '<th scope="col">状態</th>', "解禁日時／公開日時",
                 '<span class="badge">予約</span>', "2099-01-01 09:00まで", "<td>支援のお願い</td>"):
        assert text in listing, text


def test_photo_messages_in_japanese(in_japanese):
    assert post_form(in_japanese).status_code == 302
    response = upload(in_japanese, "six-flood-appeal", jpeg_with_gps("m"), alt_text="  ")
    assert response.status_code == 422
    assert "写真を見ることができない方のために、写真の説明を書いてください" in response.text
    response = upload(in_japanese, "six-flood-appeal", jpeg_with_gps("m"))
    assert response.status_code == 302
    review = in_japanese.get(response.headers["Location"]).text
    for text in ("として追加しました。顔の確認では顔が見つかりませんでしたが、見落とすことがあります。",
                 "確認待ち：顔の確認では顔が見つかりませんでしたが、見落とすことがあります。",
                 "写真を確認しました。この写真から特定できる人物は写っていません",
                 "ぼかす範囲を指定する", "左端から（％）", "確認して写真を表示する"):
        assert text in review, text
    page = in_japanese.get("/staff/posts/six-flood-appeal/edit").text
    assert "<h2>写真</h2>" in page and ">写真を削除</button>" in page
    assert "スタッフが写真を確認するまで、写真は一般に表示されず、投稿も公開できません。" in page
    assert "確認待ちの写真（1枚）" in in_japanese.get("/staff/").text
    [image] = stored_images()
    refused = confirm_no_person(in_japanese, "six-flood-appeal", image.id, looked=False)
    assert refused.status_code == 422
    assert "写真を見て、人物が特定できないことを確かめたら、チェックを入れてください。" in refused.text
    done = confirm_no_person(in_japanese, "six-flood-appeal", image.id)
    page = in_japanese.get(done.headers["Location"]).text
    assert "記録しました。写真から人物は特定できないため、表示できます。" in page
    assert "確認済み：人物は特定できません。" in page


# --- the public page ---------------------------------------------------------------------------


def test_the_public_post_page_in_japanese_and_in_english(app, client):
    case = make_case("flood-six", status="fundraising", public_title="Six flood survivors")
    post = Post(slug="flood-news", kind="appeal", title="Please help", body_markdown="Text.",
                status="published", published_at=datetime(2026, 11, 27, 3, 0, tzinfo=UTC), cases=[case])
    post.translations.append(PostTranslation(language="ja", title="ご支援のお願い", body_markdown="本文。"))
    db.session.add(post)
    db.session.commit()

    japanese = client.get("/posts/flood-news", headers=JA).text
    assert '<p class="meta">支援のお願い · <time datetime="2026-11-27">2026年11月27日</time></p>' in japanese
    assert "<h2>この投稿に関連するケース</h2>" in japanese and "Six flood survivors" in japanese
    assert "この投稿の英語版" in japanese

    english = client.get("/posts/flood-news", headers=EN).text
    assert '<p class="meta">Appeal · <time datetime="2026-11-27">November 27, 2026</time></p>' in english
    assert "<h2>Cases in this post</h2>" in english and "Read this in Japanese" in english
    assert meta(english, "og:title") == "Please help" and meta(japanese, "og:title") == "ご支援のお願い"


# --- rescue-report emails in the donor's language ----------------------------------------------


@pytest.fixture
def case(app):
    case = make_case("flood-six", people=3, status="fundraising", public_title="Six flood survivors",
                     private_notes=PRIVATE_NOTE, private_contact=PRIVATE_CONTACT)
    case.beneficiaries[0].private_name = PRIVATE_NAME
    db.session.commit()
    return case


def _donor(case, email: str, locale: str | None) -> None:
    donation = give(case, 5_000, email=email)
    donation.wants_updates = True
    db.session.get(Donor, donation.donor_id).locale = locale
    db.session.commit()


def _emails() -> dict[str, OutboxMessage]:
    fresh()
    return {m.to_address: m for m in db.session.scalars(
        db.select(OutboxMessage).where(OutboxMessage.kind == "rescue-report"))}


def _secrets_absent(message: OutboxMessage) -> None:
    text = message.subject + message.body_text
    for secret in (PRIVATE_NOTE, PRIVATE_NAME, PRIVATE_CONTACT, "Northeast China", "Person A."):
        assert secret not in text


def test_rescue_report_emails_are_written_in_each_donors_language(in_japanese, case):
    _donor(case, "ja@example.org", "ja")
    _donor(case, "none@example.org", None)
    _donor(case, "en@example.org", "en")
    # staff reading the app in Japanese publish it: each donor still gets their own language
    response = post_form(in_japanese, slug="flood-safe", kind="rescue_report", language="en",
                         title=EN_TITLE, body_markdown="All three are **safe**.",
                         other_title=JA_TITLE, other_body="3人全員が**無事**です。",
                         cases=[str(case.id)], publish="publish")
    assert response.status_code == 302
    emails = _emails()
    assert set(emails) == {"ja@example.org", "none@example.org", "en@example.org"}

    japanese = emails["ja@example.org"]
    assert japanese.subject == f"救出報告：{JA_TITLE}"
    assert japanese.body_text == (
        "「Six flood survivors」へのご寄付をありがとうございました。\n\n"
        f"救出報告を公開しました：{JA_TITLE}\n"
        "こちらからお読みいただけます：http://localhost/posts/flood-safe?lang=ja\n\n"
        "このケースの方々が安全な場所にたどり着いたらお知らせするようご希望いただいていました。"
        "皆さまのご寄付がこの救出を支えました。本当にありがとうございました。\n"
    )
    english = emails["none@example.org"]
    assert english.subject == f"Rescue report: {EN_TITLE}"
    assert english.body_text == (
        "Thank you for your gift to “Six flood survivors”.\n\n"
        f"We have just published a rescue report: {EN_TITLE}\n"
        "Read it here: http://localhost/posts/flood-safe\n\n"
        "You asked us to tell you when the people in this case are safe. Your gift helped "
        "make this possible. Thank you.\n"
    )
    assert emails["en@example.org"].subject == english.subject
    assert emails["en@example.org"].body_text == english.body_text.replace(
        "/posts/flood-safe\n", "/posts/flood-safe?lang=en\n")
    for message in emails.values():
        _secrets_absent(message)
        # the post's text stays on the page
        assert "3人全員" not in message.body_text and "All three" not in message.body_text


def test_a_japanese_donor_of_a_post_without_a_japanese_version(client, staff, case):
    other = make_case("second-group", status="fundraising", public_title="Second group")
    _donor(case, "ja@example.org", "ja")
    _donor(other, "ja@example.org", "ja")  # one email for both of the donor's cases
    response = post_form(client, slug="flood-safe", kind="rescue_report", title=EN_TITLE,
                         cases=[str(case.id), str(other.id)], publish="publish")
    assert response.status_code == 302
    [message] = _emails().values()
    assert message.subject == f"救出報告：{EN_TITLE}"
    assert message.body_text.startswith(
        "「Six flood survivors」と「Second group」へのご寄付をありがとうございました。\n\n"
        f"救出報告を公開しました：{EN_TITLE}\n")
    _secrets_absent(message)


def test_the_automatic_rescue_report_draft_has_a_japanese_version(app, case):
    # staff who complete the case read the app in Japanese: the draft is still written in the
    # default language first
    with app.test_request_context("/?lang=ja"):
        refresh()
        post = services.prepare_rescue_report(case)
        db.session.commit()
    fresh()
    post = db.session.get(Post, post.id)
    assert (post.language, post.title) == ("en", "Everyone in “Six flood survivors” is safe")
    # (one full stop after an alias that already ends in one, never "C..")
    assert post.body_markdown.startswith(
        "We are glad to tell you that all 3 people in this case have reached safety: "
        "Person A., Person B. and Person C.\n\n")
    [version] = post.translations
    assert version.language == "ja"
    assert version.title == "「Six flood survivors」の全員が安全な場所にたどり着きました"
    assert version.body_markdown.startswith(
        "このケースの3人全員が安全な場所にたどり着いたことをお知らせします："
        "Person A.、Person B.とPerson C.。\n\n")
    for text in (post.title, post.body_markdown, version.title, version.body_markdown):
        for secret in (PRIVATE_NOTE, PRIVATE_NAME, PRIVATE_CONTACT, "Northeast China"):
            assert secret not in text


def test_the_automatic_draft_for_one_person(app):
    single = make_case("one-person", people=1, status="fundraising", public_title="One person")
    post = services.prepare_rescue_report(single)
    db.session.commit()
    assert post.body_markdown.startswith(
        "We are glad to tell you that the one person in this case has reached safety: Person A.\n\n")
    assert post.in_language("ja").body_markdown.startswith(
        "このケースの方が安全な場所にたどり着いたことをお知らせします：Person A.。\n\n")


# --- demo data ---------------------------------------------------------------------------------


def test_demo_posts_have_japanese_versions(runner, app, client):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    fresh()
    posts = list(db.session.scalars(db.select(Post)))
    assert len(posts) == 7
    for post in posts:
        assert post.language == "en"
        assert [t.language for t in post.translations] == ["ja"], post.slug
        assert post.in_language("ja").title != post.title
    # the prepared rescue report was rewritten, its Japanese version too
    report = next(p for p in posts if p.slug == "mother-and-son-safe")
    assert report.in_language("ja").title == "母と息子が無事に"

    japanese = client.get("/posts/one-of-six-rescued", headers=JA).text
    assert "<h1>6人のうち1人が無事に</h1>" in japanese and "この投稿の英語版" in japanese
    english = client.get("/posts/one-of-six-rescued", headers=EN).text
    assert "<h1>One of six is safe</h1>" in english and "Read this in Japanese" in english
    for post in posts:
        for headers in (JA, EN):
            page = client.get(f"/posts/{post.slug}", headers=headers)
            if post.status == "published":
                assert page.status_code == 200
                assert "demo: real name" not in page.text and "Demo only" not in page.text
            else:
                assert page.status_code == 404
