"""The staff post desk: write, preview, draft, schedule, publish and edit through the real
forms; bad input is refused at its field and writes nothing; only staff get in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.posts.helpers import (
    NEW,
    audit_actions,
    count,
    edit_url,
    fresh,
    local_input,
    only_post,
    post_form,
)
from tracker.audit import AuditEntry
from tracker.core.time import as_utc, utcnow
from tracker.extensions import db
from tracker.posts.models import Post


def test_a_draft_is_saved_privately_then_published(client, staff, app):
    case = make_case("six-flood", status="fundraising")
    response = post_form(client, cases=[str(case.id)])
    assert response.status_code == 302
    assert response.headers["Location"].endswith(edit_url("six-flood-appeal"))

    post = only_post()
    assert (post.status, post.kind, post.published_at, post.author_id) == ("draft", "appeal", None, staff.id)
    assert [c.slug for c in post.cases] == ["six-flood"]
    assert client.get("/posts/six-flood-appeal").status_code == 404  # not even for staff
    anonymous = app.test_client()
    assert anonymous.get("/posts/six-flood-appeal").status_code == 404
    assert "Six flood survivors need your help" not in anonymous.get("/cases/six-flood").text
    created_at = as_utc(post.updated_at)

    response = post_form(client, edit_url("six-flood-appeal"), cases=[str(case.id)], publish="publish")
    assert response.status_code == 302
    post = only_post()
    assert post.status == "published"
    assert post.published_at is not None and as_utc(post.published_at) <= utcnow()
    assert as_utc(post.updated_at) > created_at
    assert anonymous.get("/posts/six-flood-appeal").status_code == 200
    assert audit_actions() == ["post.created", "post.updated", "post.published"]
    entries = list(db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action.like("post.%")).order_by(AuditEntry.id)))
    assert {e.actor_id for e in entries} == {staff.id}
    assert entries[1].before == {"status": "draft", "published_at": None}
    assert entries[1].after["status"] == "published"


def test_publish_now_from_the_new_form(client, staff, app):
    assert post_form(client, publish="publish", kind="news").status_code == 302
    post = only_post()
    assert post.status == "published" and post.published_at is not None
    assert audit_actions() == ["post.created", "post.published"]
    assert app.test_client().get("/posts/six-flood-appeal").status_code == 200


def test_editing_fields_and_links_is_saved_and_audited(client, staff):
    first = make_case("first-case", status="fundraising")
    second = make_case("second-case", status="fundraising", public_title="Second case")
    assert post_form(client, cases=[str(first.id)]).status_code == 302
    response = post_form(client, edit_url("six-flood-appeal"), title="A new title", slug="new-address",
                         kind="update", body_markdown="Changed.", cases=[str(first.id), str(second.id)])
    assert response.status_code == 302
    assert response.headers["Location"].endswith(edit_url("new-address"))
    post = only_post()
    assert (post.title, post.slug, post.kind, post.body_markdown) == (
        "A new title", "new-address", "update", "Changed.")
    assert [c.id for c in post.cases] == [first.id, second.id]
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "post.updated"))
    assert set(entry.after) == {"title", "slug", "kind", "case_ids", "body"}
    assert entry.before["slug"] == "six-flood-appeal" and entry.after["slug"] == "new-address"
    assert client.get(edit_url("six-flood-appeal")).status_code == 404


def test_saving_without_changes_writes_no_audit_entry(client, staff):
    assert post_form(client).status_code == 302
    before = as_utc(only_post().updated_at)
    assert post_form(client, edit_url("six-flood-appeal")).status_code == 302
    assert audit_actions() == ["post.created"]
    assert as_utc(only_post().updated_at) == before


def test_preview_renders_sanitized_markdown_and_saves_nothing(client, staff):
    body = "Hello **world** <script>alert('x')</script> [click](javascript:alert(1))"
    response = post_form(client, action="preview", body_markdown=body, publish="publish")
    assert response.status_code == 200
    preview = response.text.split('data-testid="preview"', 1)[1]
    assert "Preview (not saved)" in preview
    assert "<strong>world</strong>" in preview
    assert "<script>" not in preview and "javascript:" not in preview
    # the form keeps what was typed, escaped
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in response.text
    assert count(Post) == 0
    assert audit_actions() == []


def test_preview_on_the_edit_page_changes_nothing(client, staff):
    assert post_form(client).status_code == 302
    stamp = as_utc(only_post().updated_at)
    response = post_form(client, edit_url("six-flood-appeal"), action="preview",
                         title="Unsaved title", body_markdown="*Unsaved* text", publish="publish")
    assert response.status_code == 200
    assert "<em>Unsaved</em> text" in response.text
    post = only_post()
    assert (post.title, post.status, as_utc(post.updated_at)) == (
        "Six flood survivors need your help", "draft", stamp)
    assert audit_actions() == ["post.created"]


def test_a_scheduled_post_stays_hidden_until_its_embargo(client, staff, app):
    case = make_case("embargo-case", status="fundraising")
    response = post_form(client, publish="schedule", publish_at="2099-01-01T09:00",
                         cases=[str(case.id)], title="Embargoed appeal")
    assert response.status_code == 302
    post = only_post()
    assert post.status == "scheduled" and post.published_at is None
    # 09:00 in Tokyo is midnight UTC
    assert as_utc(post.publish_at) == datetime(2099, 1, 1, 0, 0, tzinfo=UTC)
    assert audit_actions() == ["post.created", "post.scheduled"]
    assert "2099-01-01 09:00" in client.get("/staff/posts/").text

    anonymous = app.test_client()
    assert anonymous.get("/posts/six-flood-appeal").status_code == 404
    assert "Embargoed appeal" not in anonymous.get("/cases/embargo-case").text
    assert "Embargoed appeal" not in anonymous.get("/").text

    # time passes: the embargo lifts without anyone touching the post
    post.publish_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert anonymous.get("/posts/six-flood-appeal").status_code == 200
    assert "Embargoed appeal" in anonymous.get("/cases/embargo-case").text


def test_rescheduling_and_then_publishing_a_scheduled_post(client, staff):
    assert post_form(client, publish="schedule", publish_at=local_input(timedelta(days=2))).status_code == 302
    later = local_input(timedelta(days=3))
    url = edit_url("six-flood-appeal")
    assert post_form(client, url, publish="schedule", publish_at=later).status_code == 302
    assert post_form(client, edit_url("six-flood-appeal"), publish="publish").status_code == 302
    post = only_post()
    assert post.status == "published" and post.publish_at is None
    assert as_utc(post.published_at) <= utcnow()
    assert audit_actions() == ["post.created", "post.scheduled", "post.updated", "post.scheduled",
                               "post.updated", "post.published"]


def test_the_edit_form_shows_the_embargo_in_local_time(client, staff):
    assert post_form(client, publish="schedule", publish_at="2099-03-04T05:06").status_code == 302
    page = client.get(edit_url("six-flood-appeal")).text
    assert 'value="2099-03-04T05:06"' in page
    assert re.search(r'<input checked[^>]*value="schedule"', page)


def test_a_published_post_can_be_taken_back_to_draft(client, staff, app):
    assert post_form(client, publish="publish").status_code == 302
    assert post_form(client, edit_url("six-flood-appeal"), publish="draft").status_code == 302
    post = only_post()
    assert (post.status, post.published_at) == ("draft", None)
    assert app.test_client().get("/posts/six-flood-appeal").status_code == 404


def test_the_case_page_shows_a_newly_published_linked_post_at_once(client, staff, app):
    case = make_case("cached-case", status="fundraising")
    anonymous = app.test_client()
    first = anonymous.get("/cases/cached-case")
    assert first.status_code == 200 and "Fresh news" not in first.text
    assert anonymous.get("/cases/cached-case").status_code == 200  # served from the page cache

    assert post_form(client, title="Fresh news", cases=[str(case.id)], publish="publish").status_code == 302
    assert "Fresh news" in anonymous.get("/cases/cached-case").text

    assert post_form(client, edit_url("six-flood-appeal"), title="Fresher news",
                     cases=[str(case.id)], publish="publish").status_code == 302
    page = anonymous.get("/cases/cached-case").text
    assert "Fresher news" in page and "Fresh news<" not in page


def test_the_list_shows_every_post_newest_first(client, staff):
    case = make_case("listed-case", status="fundraising", public_title="Listed case")
    assert post_form(client, slug="older-post", title="Older post").status_code == 302
    assert post_form(client, slug="newer-post", title="Newer post", cases=[str(case.id)],
                     publish="schedule", publish_at="2099-01-01T09:00").status_code == 302
    page = client.get("/staff/posts/").text
    assert page.index("Newer post") < page.index("Older post")
    assert "Listed case" in page and "Scheduled" in page and "Draft" in page


def test_new_form_can_start_linked_to_a_case(client, staff):
    case = make_case("preselected", status="fundraising")
    page = client.get(f"{NEW}?case={case.id}").text
    assert re.search(rf'<option selected value="{case.id}"', page)


# --- bad input ---------------------------------------------------------------------------------


BAD_INPUT = [
    ({"title": ""}, "title", "Give the post a title"),
    ({"title": "   "}, "title", "Give the post a title"),
    ({"slug": "Bad Slug"}, "slug", "lower-case letters"),
    ({"slug": "ab"}, "slug", "lower-case letters"),
    ({"slug": "a" * 121}, "slug", ""),
    ({"slug": "double--hyphen"}, "slug", "lower-case letters"),
    ({"kind": "gossip"}, "kind", "Choose what the post is"),
    ({"cases": ["999999"]}, "cases", "There is no case number 999999"),
    ({"cases": ["abc"]}, "cases", ""),
    ({"publish": "maybe"}, "publish", "Choose to save a draft"),
    ({"publish": "schedule", "publish_at": ""}, "publish_at", "Enter the date and time"),
    ({"publish": "schedule", "publish_at": "next tuesday"}, "publish_at", "Enter the date and time like"),
    ({"publish": "schedule", "publish_at": "2020-01-01T09:00"}, "publish_at", "must end in the future"),
    ({"body_markdown": "x" * 100_001}, "body_markdown", ""),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUT,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_INPUT)])
def test_bad_input_on_the_new_form_is_refused_at_its_field(client, staff, overrides, field, message):
    response = post_form(client, **overrides)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert count(Post) == 0
    assert audit_actions() == []


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUT,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_INPUT)])
def test_bad_input_on_the_edit_form_changes_nothing(client, staff, overrides, field, message):
    assert post_form(client, title="Original title").status_code == 302
    stamp = as_utc(only_post().updated_at)
    response = post_form(client, edit_url("six-flood-appeal"), **{"title": "Changed title", **overrides})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    post = only_post()
    assert (post.title, post.status, as_utc(post.updated_at)) == ("Original title", "draft", stamp)
    assert audit_actions() == ["post.created"]


def test_a_malformed_embargo_is_ignored_unless_scheduling(client, staff):
    assert post_form(client, publish="draft", publish_at="garbage").status_code == 302
    assert only_post().publish_at is None


def test_a_duplicate_slug_is_refused_at_the_field(client, staff):
    assert post_form(client).status_code == 302
    response = post_form(client, title="Another post")
    assert response.status_code == 422
    assert 'id="slug-error"' in response.text and "already used by another post" in response.text
    assert count(Post) == 1

    assert post_form(client, slug="second-post").status_code == 302
    response = post_form(client, edit_url("second-post"), slug="six-flood-appeal")
    assert response.status_code == 422 and "already used by another post" in response.text
    fresh()
    assert db.session.scalar(db.select(Post.slug).where(Post.id == 2)) == "second-post"


def test_a_title_with_a_line_break_is_refused(client, staff):
    response = post_form(client, title="Line one\nBcc: someone@example.org")
    assert response.status_code == 422 and 'id="title-error"' in response.text
    assert count(Post) == 0


def test_forms_without_the_csrf_token_are_refused(client, staff):
    data = {"title": "Forged", "slug": "forged-post", "kind": "news", "publish": "publish",
            "action": "save"}
    assert client.post(NEW, data=data).status_code == 400
    assert client.post(NEW, data={**data, "action": "preview"}).status_code == 400
    assert count(Post) == 0
    assert post_form(client).status_code == 302
    assert client.post(edit_url("six-flood-appeal"), data=data).status_code == 400
    assert only_post().title == "Six flood survivors need your help"


# --- who gets in -------------------------------------------------------------------------------


def _staff_requests(client, slug: str, token: str):
    data = {"title": "Sneaky", "slug": "sneaky-post", "kind": "news", "publish": "publish",
            "action": "save", "csrf_token": token}
    yield client.get("/staff/posts/")
    yield client.get(NEW)
    yield client.post(NEW, data=data)
    yield client.get(edit_url(slug))
    yield client.post(edit_url(slug), data=data)
    yield client.post(f"/staff/posts/{slug}/photos", data=data)
    yield client.post(f"/staff/posts/{slug}/photos/1/remove", data=data)


def test_directors_and_anonymous_visitors_are_kept_out(client, staff, app, auth, make_user):
    assert post_form(client).status_code == 302
    auth.logout()
    token = csrf_from(client.get("/login").text)
    for response in _staff_requests(client, "six-flood-appeal", token):
        assert response.status_code == 302, response.request.path
        assert "/login" in response.headers["Location"]

    director, password = make_user("director")
    assert auth.login(director.email, password).status_code == 302
    token = csrf_from(client.get("/").text)
    for response in _staff_requests(client, "six-flood-appeal", token):
        assert response.status_code == 403, response.request.path
    post = only_post()
    assert (post.title, post.status, count(Post)) == ("Six flood survivors need your help", "draft", 1)


def test_admins_may_write_posts(client, auth, make_user):
    admin, password = make_user("admin")
    assert auth.login(admin.email, password).status_code == 302
    assert client.get("/staff/posts/").status_code == 200
    assert post_form(client).status_code == 302
