"""The case workflow: transition table, guards, audit entries."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import make_case
from tracker.audit import AuditEntry
from tracker.cases import services, workflow
from tracker.core.errors import Conflict, DomainError, IllegalTransition
from tracker.core.money import Money
from tracker.extensions import db


def test_every_status_has_a_row_in_the_transition_table_and_a_label():
    assert set(workflow.TRANSITIONS) == set(workflow.STATUSES) == set(workflow.LABELS)
    for targets in workflow.TRANSITIONS.values():
        assert targets <= set(workflow.STATUSES)


@pytest.mark.parametrize(
    ("current", "target"),
    [("requested", "rescued"), ("requested", "in_progress"), ("rescued", "fundraising"),
     ("closed", "fundraising"), ("in_progress", "fundraising"), ("closed", "closed")],
)
def test_illegal_transitions_raise_with_a_clear_message(current, target):
    with pytest.raises(IllegalTransition) as info:
        workflow.check_transition(current, target)
    assert workflow.LABELS[current].lower() in info.value.reason
    assert info.value.field == "status"


def test_unknown_status_is_refused():
    with pytest.raises(IllegalTransition, match="not a case status"):
        workflow.check_transition("requested", "teleported")


def _audit(action):
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def test_status_change_is_audited_with_before_and_after(app):
    case = make_case(status="fundraising")
    entries = _audit("case.status")
    assert [(e.before["status"], e.after["status"]) for e in entries] == [("requested", "fundraising")]
    assert entries[0].case_id == case.id
    assert entries[0].actor_label == "cli"  # no request: the command line or a test
    assert case.published_at is not None


def test_illegal_change_changes_nothing(app):
    case = make_case(status="fundraising")
    with pytest.raises(IllegalTransition):
        services.change_status(case, "requested")
    db.session.rollback()
    db.session.refresh(case)
    assert case.status == "fundraising"
    assert len(_audit("case.status")) == 1


def test_closing_needs_an_outcome_and_only_closing_takes_one(app):
    case = make_case(status="fundraising")
    with pytest.raises(DomainError, match="Choose why"):
        services.change_status(case, "closed")
    with pytest.raises(DomainError, match="Only a closed case"):
        services.change_status(case, "on_hold", outcome="failed")
    services.change_status(case, "closed", outcome="deported")
    assert (case.status, case.outcome) == ("closed", "deported")


def test_rescued_needs_everyone_rescued(app):
    case = make_case(people=2, status="in_progress")
    with pytest.raises(Conflict, match="2 of 2 people are not marked rescued"):
        services.change_status(case, "rescued")
    empty = make_case("empty-case", status="in_progress")
    with pytest.raises(Conflict, match="Add the people"):
        services.change_status(empty, "rescued")


def test_marking_people_rescued_is_audited_and_the_last_one_completes_the_case(app):
    case = make_case(people=3, status="in_progress")
    first, second, third = case.beneficiaries
    assert services.mark_rescued(first, date(2026, 2, 23), note="safe house B") is False
    assert services.mark_rescued(second, date(2026, 3, 1)) is False
    db.session.commit()
    assert case.status == "in_progress"
    assert services.mark_rescued(third, date(2026, 3, 2)) is True
    db.session.commit()
    db.session.refresh(case)
    assert case.status == "rescued" and case.completed_at is not None
    rescued = _audit("beneficiary.rescued")
    assert [e.object_id for e in rescued] == [first.id, second.id, third.id]
    assert rescued[0].before == {"status": "waiting", "rescued_on": None}
    assert rescued[0].after == {"status": "rescued", "rescued_on": "2026-02-23"}
    assert _audit("case.status")[-1].after["status"] == "rescued"


def test_a_person_cannot_be_rescued_twice_or_in_the_future(app):
    case = make_case(people=2, status="fundraising")
    person = case.beneficiaries[0]
    services.mark_rescued(person, date(2026, 1, 5))
    db.session.commit()
    with pytest.raises(Conflict, match="already recorded"):
        services.mark_rescued(person, date(2026, 1, 6))
    db.session.rollback()
    other = case.beneficiaries[1]
    with pytest.raises(DomainError, match="future"):
        services.mark_rescued(other, date(2026, 12, 2), today=date(2026, 12, 1))


def test_people_cannot_be_rescued_while_the_case_is_only_a_request_or_on_hold(app):
    case = make_case(people=1)
    with pytest.raises(Conflict, match="request received"):
        services.mark_rescued(case.beneficiaries[0], date(2026, 1, 1))
    db.session.rollback()
    held = make_case("held-case", people=1, status="on_hold")
    with pytest.raises(Conflict, match="on hold"):
        services.mark_rescued(held.beneficiaries[0], date(2026, 1, 1))


def test_duplicate_slug_is_a_conflict_on_the_slug_field_and_writes_nothing(app):
    make_case("same-slug")
    with pytest.raises(Conflict) as info:
        make_case("same-slug")
    assert info.value.field == "slug"
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(services.RescueCase)) == 1


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("slug", {"slug": "Bad Slug!"}),
        ("slug", {"slug": "ab"}),
        ("public_title", {"public_title": "  "}),
        ("public_region", {"public_region": ""}),
        ("track", {"track": "teleport"}),
        ("goal_currency", {"goal": Money(100, "USD")}),
    ],
)
def test_bad_case_input_names_the_field(app, field, kwargs):
    data = {"slug": "good-slug", "public_title": "T", "public_region": "R", "goal": Money(1, "JPY")}
    data.update(kwargs)
    with pytest.raises(DomainError) as info:
        services.create_case(services.CaseInput(**data), "JPY")
    assert info.value.field == field


def test_people_cannot_be_added_to_a_finished_case_and_bad_age_bands_are_refused(app):
    case = make_case(status="fundraising")
    with pytest.raises(DomainError, match="Age band"):
        services.add_beneficiary(case, public_alias="Ms. A.", age_band="25")
    services.change_status(case, "closed", outcome="cancelled")
    with pytest.raises(Conflict, match="closed"):
        services.add_beneficiary(case, public_alias="Ms. A.", age_band="18-29")


def test_completing_a_case_prepares_one_draft_rescue_report(app):
    from tracker.posts.models import Post

    case = make_case("report-case", people=2, status="in_progress")
    services.mark_rescued(case.beneficiaries[0], date(2026, 3, 1))
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Post)) == 0
    services.mark_rescued(case.beneficiaries[1], date(2026, 3, 2))
    db.session.commit()
    [post] = db.session.scalars(db.select(Post)).all()
    assert (post.kind, post.status) == ("rescue_report", "draft")
    assert [c.id for c in post.cases] == [case.id]
    assert "PRIVATE" not in post.body_markdown
