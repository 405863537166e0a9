"""Rescue reports: drafted once when a case completes, and their publication emails the
donors who asked for news of that case, once each, with public facts only."""

from __future__ import annotations

import pytest

from tests.factories import give, make_case
from tests.posts.helpers import audit_actions, count, edit_url, fresh, post_form
from tracker.cases import services as case_services
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.posts import services
from tracker.posts.models import Post

PRIVATE_NOTE = "PRIVATE-ROUTE-via-the-river-crossing"
PRIVATE_NAME = "PRIVATE-NAME-Kim-Soo"


@pytest.fixture
def case(app):
    case = make_case("flood-six", people=3, status="fundraising", public_title="Six flood survivors",
                     private_notes=PRIVATE_NOTE, private_contact="PRIVATE-CONTACT")
    case.beneficiaries[0].private_name = PRIVATE_NAME
    db.session.commit()
    return case


def _gift(case, email: str | None, *, wants_updates: bool, status: str | None = None) -> Donation:
    donation = give(case, 5_000, email=email)
    donation.wants_updates = wants_updates
    if status:
        donation.status = status
    db.session.commit()
    return donation


def _outbox() -> list[OutboxMessage]:
    fresh()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "rescue-report")
                                   .order_by(OutboxMessage.id)))


def test_prepare_rescue_report_drafts_one_post_with_public_facts_only(case):
    post = services.prepare_rescue_report(case)
    db.session.commit()

    assert post is not None
    assert (post.kind, post.status, post.published_at) == ("rescue_report", "draft", None)
    assert post.title == "Everyone in “Six flood survivors” is safe"
    assert [c.id for c in post.cases] == [case.id]
    assert "all 3 people" in post.body_markdown
    for alias in ("Person A.", "Person B.", "Person C."):
        assert alias in post.body_markdown
    for secret in (PRIVATE_NOTE, PRIVATE_NAME, "PRIVATE-CONTACT", "Northeast China"):
        assert secret not in post.body_markdown and secret not in post.title
    assert audit_actions() == [a for a in audit_actions() if a != "post.published"]
    assert "post.created" in audit_actions()

    assert services.prepare_rescue_report(case) is None
    db.session.commit()
    assert count(Post) == 1


def test_prepare_rescue_report_respects_a_report_staff_already_wrote(case):
    db.session.add(Post(slug="our-report", kind="rescue_report", title="Safe!", cases=[case]))
    db.session.commit()
    assert services.prepare_rescue_report(case) is None
    assert count(Post) == 1


def test_prepare_rescue_report_finds_a_free_slug_and_fits_a_long_title(app):
    long_case = make_case("long-title", people=1, status="fundraising", public_title="L" * 200)
    db.session.add(Post(slug="long-title-safe", kind="news", title="Taken slug"))
    db.session.commit()
    post = services.prepare_rescue_report(long_case)
    db.session.commit()
    assert post.slug == "long-title-safe-2"
    assert len(post.title) <= 200 and post.title.endswith("…” is safe")
    assert "the one person" in post.body_markdown


@pytest.mark.parametrize(("aliases", "sentence_end"), [
    (["Mr. Y.Y."], "has reached safety: Mr. Y.Y.\n"),
    (["Ms. K.", "Mr. S."], "have reached safety: Ms. K. and Mr. S.\n"),
    (["Ms. K", "Mr. S"], "have reached safety: Ms. K and Mr. S.\n"),
])
def test_rescue_report_ends_its_sentence_with_one_full_stop(app, aliases, sentence_end):
    """Walk 7: an alias ending in a full stop gave "…safety: Mr. S.." (two stops)."""
    case = make_case("stops", people=0, status="fundraising")
    for alias in aliases:
        case_services.add_beneficiary(case, public_alias=alias, age_band="18-29")
    db.session.commit()

    post = services.prepare_rescue_report(case)
    db.session.commit()

    first = post.body_markdown.split("\n")[0] + "\n"
    assert first.endswith(sentence_end)
    assert ".." not in post.body_markdown


def test_publishing_a_rescue_report_emails_each_opted_in_donor_once(client, staff, case, app):
    other = make_case("other-case", status="fundraising", public_title="Another group")
    _gift(case, "yes@example.org", wants_updates=True)
    _gift(case, "yes@example.org", wants_updates=True)  # two gifts, one email
    _gift(case, "also@example.org", wants_updates=True)
    _gift(case, "no@example.org", wants_updates=False)
    _gift(case, None, wants_updates=True)  # no address to write to
    _gift(case, "flagged@example.org", wants_updates=True, status="flagged")
    _gift(other, "other@example.org", wants_updates=True)
    post = services.prepare_rescue_report(case)
    db.session.commit()
    slug = post.slug
    assert _outbox() == []

    response = post_form(client, edit_url(slug), title=post.title, slug=slug, kind="rescue_report",
                         body_markdown=post.body_markdown, cases=[str(case.id)], publish="publish")
    assert response.status_code == 302

    messages = _outbox()
    assert sorted(m.to_address for m in messages) == ["also@example.org", "yes@example.org"]
    post = db.session.get(Post, post.id)
    for message in messages:
        assert message.subject == "Rescue report: Everyone in “Six flood survivors” is safe"
        assert message.dedupe_key.startswith(f"rescue-report:{post.id}:")
        text = message.subject + message.body_text
        assert f"http://localhost/posts/{slug}" in message.body_text
        assert "“Six flood survivors”" in message.body_text and "Thank you" in message.body_text
        for secret in (PRIVATE_NOTE, PRIVATE_NAME, "PRIVATE-CONTACT", "Northeast China", "Person A."):
            assert secret not in text

    # unpublish and publish again: nobody is written to twice
    assert post_form(client, edit_url(slug), title=post.title, slug=slug, kind="rescue_report",
                     cases=[str(case.id)], publish="draft").status_code == 302
    assert post_form(client, edit_url(slug), title=post.title, slug=slug, kind="rescue_report",
                     cases=[str(case.id)], publish="publish").status_code == 302
    assert len(_outbox()) == 2
    with app.test_request_context():
        assert services.queue_rescue_report_emails(db.session.get(Post, post.id)) == 0


def test_publishing_a_scheduled_rescue_report_sends_the_news(client, staff, case):
    _gift(case, "yes@example.org", wants_updates=True)
    assert post_form(client, slug="scheduled-report", kind="rescue_report", cases=[str(case.id)],
                     publish="schedule", publish_at="2099-01-01T09:00").status_code == 302
    assert _outbox() == []
    assert post_form(client, edit_url("scheduled-report"), slug="scheduled-report",
                     kind="rescue_report", cases=[str(case.id)], publish="publish").status_code == 302
    assert [m.to_address for m in _outbox()] == ["yes@example.org"]


def test_other_kinds_of_post_send_no_email(client, staff, case):
    _gift(case, "yes@example.org", wants_updates=True)
    assert post_form(client, kind="update", cases=[str(case.id)], publish="publish").status_code == 302
    assert _outbox() == []
