"""The staff case desk: forms refuse bad input at the field and change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.confirming import post_confirmed
from tests.conftest import csrf_from
from tests.factories import make_case
from tracker.audit import AuditEntry
from tracker.cases import services
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core.money import Money
from tracker.core.time import local_today, utcnow
from tracker.donations.services import OfflineGift, record_offline_gift
from tracker.extensions import db


@pytest.fixture
def staff(client, auth, make_user):
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user


def _count(model):
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def _new_case(client, **overrides):
    page = client.get("/staff/cases/new")
    data = {"public_title": "Six flood survivors", "slug": "six-flood", "public_region": "Jilin",
            "track": "journey", "goal": "3,000,000", "public_summary": "",
            "private_notes": "", "private_contact": "", "csrf_token": csrf_from(page.text)}
    data.update(overrides)
    return client.post("/staff/cases/new", data=data)


def test_staff_open_a_case_and_see_it_on_the_dashboard(client, staff):
    response = _new_case(client)
    assert response.status_code == 302
    case = db.session.scalar(db.select(RescueCase))
    assert (case.slug, case.goal_amount_minor, case.status) == ("six-flood", 3_000_000, "requested")
    assert "Six flood survivors" in client.get("/staff/").text
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "case.created"))
    assert entry.actor_id == staff.id


@pytest.mark.parametrize(
    ("goal", "message"),
    [("3,000.5", "JPY amounts have no decimal places"), ("lots", "Enter an amount like"),
     ("-5", ""), ("50,00", ""),
     # found by the outside try of issue 15: 19 digits overflowed the column (a 500), and the
     # largest BIGINT was shown on the public page as the goal
     ("9999999999999999999", "The largest amount accepted here is ¥100,000,000"),
     ("9223372036854775807", "The largest amount accepted here is ¥100,000,000"),
     ("100000001", "The largest amount accepted here is ¥100,000,000")],
)
def test_malformed_goal_is_a_field_error_and_nothing_is_written(client, staff, goal, message):
    response = _new_case(client, goal=goal)
    assert response.status_code == 422
    assert 'id="goal-error"' in response.text
    assert message in response.text
    assert _count(RescueCase) == 0


def test_an_edited_goal_stops_at_the_staff_maximum(client, staff):
    case = make_case("six-flood")
    page = client.get(f"/staff/cases/{case.id}/edit")
    response = client.post(f"/staff/cases/{case.id}/edit", data={
        "csrf_token": csrf_from(page.text), "public_title": "Six", "public_region": "North",
        "public_summary": "", "track": case.track, "goal": "9999999999999999999"})
    assert response.status_code == 422
    assert 'id="goal-error"' in response.text
    assert "The largest amount accepted here is ¥100,000,000" in response.text
    db.session.refresh(case)
    assert case.goal_amount_minor != 9999999999999999999


def test_duplicate_slug_is_a_field_error(client, staff):
    make_case("six-flood")
    response = _new_case(client)
    assert response.status_code == 422
    assert "already used by another case" in response.text
    assert 'id="slug-error"' in response.text
    assert _count(RescueCase) == 1


def test_forged_submission_without_csrf_is_refused(client, staff):
    response = client.post("/staff/cases/new", data={"public_title": "x", "slug": "forged-case",
                                                      "public_region": "x", "goal": "1"})
    assert response.status_code == 400
    assert _count(RescueCase) == 0


def test_status_buttons_offer_only_allowed_transitions_and_refuse_others(client, staff):
    case = make_case("button-case", people=1, status="fundraising")
    page = client.get(f"/staff/cases/{case.id}")
    assert 'value="in_progress"' in page.text and 'value="requested"' not in page.text
    response = client.post(f"/staff/cases/{case.id}/status",
                           data={"target": "requested", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 409
    assert "cannot become request received" in response.text
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).status == "fundraising"
    ok = client.post(f"/staff/cases/{case.id}/status",
                     data={"target": "in_progress", "csrf_token": csrf_from(page.text)})
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).status == "in_progress"


def test_add_people_and_mark_the_last_one_rescued_completes_the_case(client, staff):
    case = make_case("people-case", status="in_progress")
    page = client.get(f"/staff/cases/{case.id}")
    token = csrf_from(page.text)
    bad = client.post(f"/staff/cases/{case.id}/people",
                      data={"public_alias": "", "age_band": "0-4", "csrf_token": token})
    assert bad.status_code == 422 and _count(Beneficiary) == 0
    good = client.post(f"/staff/cases/{case.id}/people",
                       data={"public_alias": "Little N.", "age_band": "0-4",
                             "private_name": "secret", "csrf_token": token})
    assert good.status_code == 302
    person = db.session.scalar(db.select(Beneficiary))
    done = client.post(f"/staff/cases/{case.id}/people/{person.id}/rescued",
                       data={"rescued_on": "2026-02-23", "csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).status == "rescued"
    bad_date = client.post(f"/staff/cases/{case.id}/people/{person.id}/rescued",
                           data={"rescued_on": "not a date", "csrf_token": token})
    assert bad_date.status_code == 422


def test_directors_and_anonymous_visitors_cannot_use_the_staff_desk(client, auth, make_user):
    case = make_case("guarded")
    assert client.get("/staff/").status_code == 302
    assert client.get(f"/staff/cases/{case.id}").headers["Location"].startswith("/login")
    director, password = make_user("director")
    auth.login(director.email, password)
    assert client.get("/staff/").status_code == 403
    assert client.get(f"/staff/cases/{case.id}").status_code == 403


def test_dashboard_lists_what_needs_attention(client, staff):
    request = make_case("a-private-request")
    funded = make_case("fully-funded", status="fundraising", goal=1000)
    record_offline_gift(funded, OfflineGift(Money(1000, "JPY"), "cash", local_today()))
    quiet = make_case("quiet-case", status="fundraising")
    moving = make_case("on-the-move", people=2, status="in_progress")
    services.set_person_status(moving.beneficiaries[0], "in_transit")
    db.session.commit()
    db.session.execute(db.update(RescueCase).where(RescueCase.id == quiet.id)
                       .values(updated_at=utcnow() - timedelta(days=31)))
    db.session.commit()

    page = client.get("/staff/").text

    def listed(key: str) -> str:
        return page.split(f'data-attention="{key}"', 1)[1].split("</div>", 1)[0]

    assert f"/staff/cases/{request.id}" in listed("requests")
    assert f"/staff/cases/{funded.id}" in listed("funded")
    assert f"/staff/cases/{quiet.id}" in listed("stale")
    assert f"/staff/cases/{moving.id}" in listed("transit")
    for key in ("requests", "funded", "stale"):
        assert f"/staff/cases/{moving.id}" not in listed(key)


def test_editing_a_case_is_audited_and_private_contents_stay_out_of_the_audit(client, staff):
    case = make_case("editable-case", status="fundraising", private_notes="old secret")
    page = client.get(f"/staff/cases/{case.id}/edit")
    assert page.status_code == 200 and 'value="1,000,000"' in page.text
    response = client.post(f"/staff/cases/{case.id}/edit", data={
        "public_title": "A new title", "public_region": "Jilin", "track": "journey",
        "goal": "2,000,000", "public_summary": "", "private_notes": "NEW-SECRET-NOTE",
        "private_contact": "", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    db.session.expire_all()
    edited = db.session.get(RescueCase, case.id)
    assert (edited.public_title, edited.goal_amount_minor, edited.slug) == (
        "A new title", 2_000_000, "editable-case")
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "case.updated")).one()
    assert entry.after["private_notes"] == "changed"
    assert "NEW-SECRET-NOTE" not in str(entry.after) + str(entry.before)
    bad = client.post(f"/staff/cases/{case.id}/edit", data={
        "public_title": "x", "public_region": "Jilin", "track": "journey", "goal": "1.5",
        "csrf_token": csrf_from(page.text)})
    assert bad.status_code == 422 and 'id="goal-error"' in bad.text


def _close(client, case, **fields):
    page = client.get(f"/staff/cases/{case.id}")
    data = {"outcome": "failed", "move_funds_to": "general", "target": "",
            "csrf_token": csrf_from(page.text)}
    data.update(fields)
    return post_confirmed(client, f"/staff/cases/{case.id}/close", data)


def _raised(case_id):
    from tracker.ledger.reads import raised_by_case

    db.session.expire_all()
    return raised_by_case([case_id])[case_id]


def test_closing_moves_what_the_case_holds_to_the_general_fund(client, staff):
    case = make_case("closing-case", status="fundraising")
    record_offline_gift(case, OfflineGift(Money(7000, "JPY"), "cash", local_today()))
    db.session.commit()
    assert _close(client, case).status_code == 302
    db.session.expire_all()
    closed = db.session.get(RescueCase, case.id)
    assert (closed.status, closed.outcome) == ("closed", "failed")
    assert _raised(case.id) == 0
    from tracker.ledger.models import LedgerEntry

    general = db.session.scalar(db.select(db.func.sum(LedgerEntry.amount_minor)).where(
        LedgerEntry.case_id.is_(None), LedgerEntry.kind == "transfer"))
    assert general == 7000


def test_closing_can_move_the_money_to_another_open_case(client, staff):
    case = make_case("giver-case", status="fundraising")
    other = make_case("receiver-case", status="fundraising")
    record_offline_gift(case, OfflineGift(Money(4000, "JPY"), "cash", local_today()))
    db.session.commit()
    assert _close(client, case, move_funds_to="case", target=str(other.id)).status_code == 302
    assert (_raised(case.id), _raised(other.id)) == (0, 4000)


def test_closing_refuses_a_closed_target_or_none_and_changes_nothing(client, staff):
    case = make_case("still-open", status="fundraising")
    shut = make_case("already-shut", status="closed")
    record_offline_gift(case, OfflineGift(Money(4000, "JPY"), "cash", local_today()))
    db.session.commit()
    refused = _close(client, case, move_funds_to="case", target=str(shut.id))
    assert refused.status_code == 409
    missing = _close(client, case, move_funds_to="case", target="")
    assert missing.status_code == 409 and "Choose the case" in missing.text
    db.session.expire_all()
    assert db.session.get(RescueCase, case.id).status == "fundraising"
    assert _raised(case.id) == 4000


def test_marking_rescued_keeps_the_staff_note_private(client, staff):
    case = make_case("noted-case", people=2, status="in_progress")
    person = case.beneficiaries[0]
    page = client.get(f"/staff/cases/{case.id}")
    assert f'id="note-{person.id}"' in page.text
    response = client.post(f"/staff/cases/{case.id}/people/{person.id}/rescued", data={
        "rescued_on": "2026-02-23", "note": "PRIVATE-ROUTE-NOTE", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Beneficiary, person.id).private_rescue_note == "PRIVATE-ROUTE-NOTE"
    assert "PRIVATE-ROUTE-NOTE" not in client.get("/cases/noted-case").text
