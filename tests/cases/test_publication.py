"""Issue 15, critical: a case is public only once staff publish it, on purpose.

Repro of the bug: a private request closed with the default choices (or put on hold) answered
200 at /cases/<slug> and appeared on the home page, because being public was read off the
status. Now publication is its own recorded fact (who, when, audited), asked in one place
(``RescueCase.is_public``); pulling a case back makes every public URL answer exactly like a
slug that never existed. Also issue 15, medium 4: a public page's ETag covers only what the
public can see.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.confirming import post_confirmed
from tests.conftest import csrf_from
from tests.factories import give, make_case
from tracker.audit import AuditEntry
from tracker.cases import services, workflow
from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.core.time import current_fiscal_year, local_today, utcnow
from tracker.extensions import db
from tracker.posts import services as posts
from tracker.posts.models import DRAFT, PUBLISHED, Post
from tracker.reports.services import lives_saved

CANARY = "CANARY-private-7f3a"


@pytest.fixture
def staff(client, auth, make_user):
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user


def _private_case(slug: str = "six-survivors", people: int = 2) -> RescueCase:
    return make_case(slug, people=people, private_notes=CANARY, private_contact=CANARY)


def _post(client, url: str, **data):
    """POST as staff do, confirming when the action asks for it (closing a case)."""
    page = client.get("/staff/")
    return post_confirmed(client, url, {"csrf_token": csrf_from(page.text), **data})


def _public_urls(slug: str) -> list[str]:
    return [f"/cases/{slug}", f"/cases/{slug}/progress.json", f"/cases/{slug}/donate"]


def _anonymous(app):
    return app.test_client()


def _looks_unknown(app, slug: str) -> None:
    """Every public URL of ``slug`` answers exactly as the same URL of a slug that never
    existed (of the same length): status, body and headers (the request id aside)."""
    visitor = _anonymous(app)
    unknown = ("nosuchcase" * 9)[:len(slug)]
    for url in _public_urls(slug):
        got = visitor.get(url)
        expected = visitor.get(url.replace(slug, unknown))
        assert got.status_code == expected.status_code == 404, url
        assert _same(got.data.replace(slug.encode(), unknown.encode()).decode()) \
            == _same(expected.data.decode()), url
        assert _headers(got) == _headers(expected), url


def _same(text: str) -> str:
    """Text with the per-response script nonce made equal."""
    return re.sub(r"nonce-[A-Za-z0-9_-]+", "nonce-N", text)


def _headers(response) -> dict[str, str]:
    """Headers as they must match, the request id and the date (per response) aside."""
    return {k: _same(v) for k, v in response.headers.items() if k not in {"X-Request-ID", "Date"}}


def _audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)))


# --- the repro: closing or holding never publishes -------------------------------------------


@pytest.mark.parametrize("outcome", workflow.OUTCOMES)
@pytest.mark.parametrize("money", ["general", "keep"])
def test_closing_a_never_published_case_leaves_it_private(app, client, staff, outcome, money):
    case = _private_case()
    response = _post(client, f"/staff/cases/{case.id}/close", outcome=outcome, move_funds_to=money)
    assert response.status_code == 302
    db.session.refresh(case)
    assert (case.status, case.outcome, case.published_at) == ("closed", outcome, None)
    assert not _audits("case.published")
    _looks_unknown(app, case.slug)
    assert "Six survivors" not in _anonymous(app).get("/").text


def test_putting_a_private_request_on_hold_keeps_it_off_every_public_page(app, client, staff):
    case = _private_case()
    assert _post(client, f"/staff/cases/{case.id}/status", target="on_hold").status_code == 302
    db.session.refresh(case)
    assert case.status == "on_hold" and not case.is_public
    _looks_unknown(app, case.slug)
    home = _anonymous(app).get("/")
    assert home.status_code == 200 and "Six survivors" not in home.text


def test_a_private_case_on_hold_is_not_on_the_home_page_but_a_published_one_is(app):
    """The home page lists open cases: it must ask is_public, not only the status."""
    held = _private_case("held-private")
    services.change_status(held, workflow.ON_HOLD)
    shown = make_case("shown-public", status=workflow.ON_HOLD, public_title="Shown on hold")
    db.session.commit()
    home = _anonymous(app).get("/").text
    assert "Shown on hold" in home and "/cases/held-private" not in home
    assert shown.is_public


# --- publishing --------------------------------------------------------------------------------


def test_publish_makes_the_case_public_and_records_who_and_when(app, client, staff):
    case = _private_case()
    assert _anonymous(app).get(f"/cases/{case.slug}").status_code == 404
    before = utcnow()
    response = _post(client, f"/staff/cases/{case.id}/publish")
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status == "requested"  # publishing is not a transition
    assert case.published_at is not None and case.published_at >= before - timedelta(seconds=1)
    assert case.published_by_id == staff.id
    (entry,) = _audits("case.published")
    assert (entry.actor_id, entry.case_id) == (staff.id, case.id)
    page = _anonymous(app).get(f"/cases/{case.slug}")
    assert page.status_code == 200 and "Six survivors" in page.text and CANARY not in page.text
    data = _anonymous(app).get(f"/cases/{case.slug}/progress.json").get_json()
    assert set(data) == {"case", "status", "group_size", "rescued", "goal", "raised", "donors",
                         "updated_at"}


def test_publish_is_idempotent(client, staff):
    case = _private_case()
    assert _post(client, f"/staff/cases/{case.id}/publish").status_code == 302
    db.session.refresh(case)
    first = case.published_at
    assert _post(client, f"/staff/cases/{case.id}/publish").status_code == 302
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).published_at == first
    assert len(_audits("case.published")) == 1


@pytest.mark.parametrize("target", [workflow.FUNDRAISING, workflow.LEGAL_ACTION])
def test_opening_the_appeal_or_the_legal_fight_publishes_the_first_time(client, staff, target):
    case = _private_case()
    assert _post(client, f"/staff/cases/{case.id}/status", target=target).status_code == 302
    db.session.refresh(case)
    assert case.is_public and case.published_by_id == staff.id
    assert len(_audits("case.published")) == 1


def test_a_case_pulled_back_is_not_published_again_by_a_transition(app, client, staff):
    case = make_case(status=workflow.FUNDRAISING)
    assert _post(client, f"/staff/cases/{case.id}/unpublish", confirm="y").status_code == 302
    for target in (workflow.ON_HOLD, workflow.FUNDRAISING, workflow.IN_PROGRESS):
        assert _post(client, f"/staff/cases/{case.id}/status", target=target).status_code == 302
    db.session.expire_all()
    case = db.session.get(RescueCase, case.id)
    assert case.status == "in_progress" and not case.is_public
    _looks_unknown(app, case.slug)


@pytest.mark.parametrize("target", [workflow.ON_HOLD, workflow.CLOSED])
def test_no_other_transition_publishes(app, target):
    case = _private_case()
    services.change_status(case, target, outcome="failed" if target == workflow.CLOSED else None)
    db.session.commit()
    assert case.published_at is None and not _audits("case.published")


# --- unpublishing ------------------------------------------------------------------------------


def test_unpublish_needs_the_confirmation_box(app, client, staff):
    case = make_case(status=workflow.FUNDRAISING)
    response = _post(client, f"/staff/cases/{case.id}/unpublish")
    assert response.status_code == 422
    assert "Tick the box to confirm" in response.text
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).is_public
    assert _anonymous(app).get(f"/cases/{case.slug}").status_code == 200


def test_a_gifts_thank_you_page_does_not_name_a_case_taken_off_the_public_site(app, client, staff):
    """Found by an outside try: the thank-you page still named the case (and linked to its now
    unknown page) after staff pulled it back; it reads like a gift without a case instead."""
    case = make_case(people=2, status=workflow.FUNDRAISING)
    donation = give(case, 5000, email="donor@example.org")
    thanks = f"/donations/{donation.public_id}/thanks"
    before = _anonymous(app).get(thanks)
    assert before.status_code == 200 and case.public_title in before.text
    assert _post(client, f"/staff/cases/{case.id}/unpublish", confirm="y").status_code == 302
    after = _anonymous(app).get(thanks)
    assert after.status_code == 200
    assert case.public_title not in after.text and case.slug not in after.text
    assert "is confirmed and recorded" in after.text


def test_unpublished_case_answers_exactly_like_a_case_that_never_existed(app, client, staff):
    case = make_case(people=2, status=workflow.IN_PROGRESS, private_notes=CANARY)
    give(case, 5000, email="donor@example.org")
    appeal = posts.create_post(posts.PostInput(
        title="Please help", slug="please-help", kind="appeal", body_markdown="Help them.",
        case_ids=(case.id,), publish=posts.PUBLISH_NOW), author_id=None)
    for person in case.beneficiaries:
        services.mark_rescued(person, local_today())
    db.session.commit()
    report = db.session.scalar(db.select(Post).where(Post.kind == "rescue_report"))
    posts.update_post(report, posts.PostInput(
        title=report.title, slug=report.slug, kind=report.kind, language=report.language,
        body_markdown=report.body_markdown, case_ids=(case.id,), publish=posts.PUBLISH_NOW))
    db.session.commit()
    visitor = _anonymous(app)
    assert visitor.get(f"/cases/{case.slug}").status_code == 200
    assert lives_saved(current_fiscal_year()) == 2
    assert f"/cases/{case.slug}" in visitor.get(f"/posts/{appeal.slug}").text
    assert visitor.get(f"/posts/{report.slug}").status_code == 200

    response = _post(client, f"/staff/cases/{case.id}/unpublish", confirm="y")
    assert response.status_code == 302

    db.session.expire_all()
    case = db.session.get(RescueCase, case.id)
    assert case.published_at is None and case.unpublished_at is not None
    (entry,) = _audits("case.unpublished")
    assert (entry.actor_id, entry.case_id) == (staff.id, case.id)
    _looks_unknown(app, case.slug)
    home = visitor.get("/").text
    assert f"/cases/{case.slug}" not in home and "Six survivors" not in home
    # the appeal stays, without the case; the rescue report is a draft again
    assert f"/cases/{case.slug}" not in visitor.get(f"/posts/{appeal.slug}").text
    assert db.session.get(Post, report.id).status == DRAFT
    assert visitor.get(f"/posts/{report.slug}").status_code == 404
    assert len(_audits("post.withdrawn")) == 1
    # and its people leave the public figures
    assert lives_saved(current_fiscal_year()) == 0


def test_a_rescue_report_about_a_private_case_cannot_go_out(app):
    case = _private_case()
    with pytest.raises(posts.Conflict):
        posts.create_post(posts.PostInput(
            title="Safe", slug="safe-now", kind="rescue_report", case_ids=(case.id,),
            publish=posts.PUBLISH_NOW), author_id=None)
    db.session.rollback()
    draft = posts.create_post(posts.PostInput(
        title="Safe", slug="safe-now", kind="rescue_report", case_ids=(case.id,)), author_id=None)
    assert draft.status == DRAFT


@pytest.mark.parametrize("role", ["director", None])
def test_only_staff_publish_or_unpublish(app, client, auth, make_user, role):
    case = _private_case()
    public = make_case("already-public", status=workflow.FUNDRAISING)
    if role:
        user, password = make_user(role)
        assert auth.login(user.email, password).status_code == 302
    page = client.get("/login")
    token = csrf_from(page.text)
    for url in (f"/staff/cases/{case.id}/publish", f"/staff/cases/{public.id}/unpublish"):
        response = client.post(url, data={"csrf_token": token, "confirm": "y"})
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]
    db.session.expire_all()
    assert not db.session.get(RescueCase, case.id).is_public
    assert db.session.get(RescueCase, public.id).is_public
    assert not _audits("case.published")[1:] and not _audits("case.unpublished")


def test_the_staff_page_says_what_publishing_and_unpublishing_do(client, staff):
    case = _private_case()
    page = client.get(f"/staff/cases/{case.id}").text
    assert "Publish the case" in page and "Nothing private is shown" in page
    _post(client, f"/staff/cases/{case.id}/publish")
    page = client.get(f"/staff/cases/{case.id}").text
    assert "Take the case off the public site" in page
    assert "answer as if the case never existed" in page


# --- medium 4: the ETag covers only what the public can see -----------------------------------


def _etag(app, slug: str) -> str:
    response = _anonymous(app).get(f"/cases/{slug}")
    assert response.status_code == 200 and response.headers.get("ETag")
    return response.headers["ETag"]


def test_saving_a_draft_or_embargoed_post_leaves_the_public_etag_unchanged(app):
    case = make_case(status=workflow.FUNDRAISING)
    before = _etag(app, case.slug)
    draft = posts.create_post(posts.PostInput(
        title="Not yet", slug="not-yet", kind="update", body_markdown="Secret plan.",
        case_ids=(case.id,)), author_id=None)
    db.session.commit()
    assert _etag(app, case.slug) == before
    posts.update_post(draft, posts.PostInput(
        title="Not yet, edited", slug="not-yet", kind="update", body_markdown="Secret plan 2.",
        case_ids=(case.id,)))
    db.session.commit()
    assert _etag(app, case.slug) == before
    posts.create_post(posts.PostInput(
        title="Embargoed", slug="embargoed", kind="update", body_markdown="Later.",
        case_ids=(case.id,), publish=posts.SCHEDULE, publish_at=utcnow() + timedelta(days=2)),
        author_id=None)
    db.session.commit()
    assert _etag(app, case.slug) == before
    # a private edit of the case itself does not show either
    services.update_case(case, services.CaseInput(
        slug=case.slug, public_title=case.public_title, public_region=case.public_region,
        goal=Money(case.goal_amount_minor, case.goal_currency),
        public_summary=case.public_summary, track=case.track, private_notes="moved to B"),
        case.goal_currency)
    db.session.commit()
    assert _etag(app, case.slug) == before

    # publishing a post the public can read changes it
    posts.update_post(draft, posts.PostInput(
        title="Now out", slug="not-yet", kind="update", body_markdown="Out.",
        case_ids=(case.id,), publish=posts.PUBLISH_NOW))
    db.session.commit()
    assert db.session.get(Post, draft.id).status == PUBLISHED
    after = _etag(app, case.slug)
    assert after != before
    assert "Now out" in _anonymous(app).get(f"/cases/{case.slug}").text


# --- mail: a receipt names a case only while it is public --------------------------------------


def test_a_receipt_for_a_gift_to_a_private_case_does_not_name_it(app):
    from tracker.donations.receipts import issue_receipt
    from tracker.donations.services import OfflineGift, record_offline_gift
    from tracker.mail.outbox import OutboxMessage

    case = make_case("held-private", people=1, public_title="Secret title")
    services.change_status(case, workflow.ON_HOLD)
    db.session.commit()
    issue_receipt(record_offline_gift(case, OfflineGift(
        amount=Money(5000, "JPY"), channel="bank_transfer", received_on=local_today(),
        donor_name="A donor", donor_email="donor@example.org")))
    db.session.commit()
    (mail,) = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert "Secret title" not in mail.body_text and "A rescue case" in mail.body_text

    public = make_case("shown-public", status=workflow.FUNDRAISING, public_title="Shown title")
    issue_receipt(record_offline_gift(public, OfflineGift(
        amount=Money(5000, "JPY"), channel="bank_transfer", received_on=local_today(),
        donor_email="other@example.org")))
    db.session.commit()
    mails = db.session.scalars(db.select(OutboxMessage.body_text)
                               .where(OutboxMessage.to_address == "other@example.org")).all()
    assert any("Shown title" in body for body in mails)


# --- the demo ------------------------------------------------------------------------------------


def test_the_demo_publishes_its_appeals_and_keeps_the_new_request_private(runner, app):
    """The demo's "An elderly couple asks for help" is a request nobody published: it stays
    private, whatever the bulk history adds; the cases that opened an appeal are public."""
    result = runner.invoke(args=["seed-demo", "--donations", "40"])
    assert result.exit_code == 0, result.output
    cases = {c.slug: c for c in db.session.scalars(db.select(RescueCase))}
    elderly = cases["elderly-couple-request"]
    assert elderly.public_title == "An elderly couple asks for help" and not elderly.is_public
    for slug in ("six-flood-survivors", "deportation-hearing-appeal", "mother-and-son",
                 "lost-contact-group"):
        assert cases[slug].is_public, slug
    visitor = _anonymous(app)
    assert visitor.get("/cases/elderly-couple-request").status_code == 404
    assert "An elderly couple" not in visitor.get("/").text
    assert visitor.get("/cases/lost-contact-group").status_code == 200
