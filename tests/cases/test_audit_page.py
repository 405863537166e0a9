"""The audit log page: filters by case, user and action; staff and admins only."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import make_case
from tracker.cases import services
from tracker.extensions import db


@pytest.fixture
def staff(client, auth, make_user):
    user, password = make_user("staff")
    auth.login(user.email, password)
    return user


def test_the_log_lists_status_changes_and_rescues_newest_first(client, staff):
    case = make_case("audited-case", people=1, status="in_progress")
    services.mark_rescued(case.beneficiaries[0], date(2026, 2, 23))
    db.session.commit()
    page = client.get("/staff/audit/")
    assert page.status_code == 200
    text = page.text.split("<tbody>", 1)[1]  # the rows, not the filter menus
    assert text.index("case.status") < text.index("case.created")  # newest first
    assert "beneficiary.rescued" in text and "audited-case" in text


def test_filters_narrow_the_log(client, staff):
    make_case("first-case", status="fundraising")
    make_case("second-case")
    def rows(url: str) -> str:
        return client.get(url).text.split("<tbody>", 1)[1]

    by_case = rows("/staff/audit/?case=second-case")
    assert "second-case" in by_case and "case.status" not in by_case
    by_action = rows("/staff/audit/?action=case.status")
    assert "case.status" in by_action and "case.created" not in by_action
    by_user = rows(f"/staff/audit/?user={staff.email}")
    assert "user.login" in by_user and "case.created" not in by_user


def test_bad_filters_get_a_clear_message_not_a_500(client, staff):
    assert "No case with the address" in client.get("/staff/audit/?case=nope").text
    response = client.get("/staff/audit/?before=abc")
    assert response.status_code == 400 and "must be a number" in response.text
    assert client.get("/staff/audit/?action=%25%27%3B--").status_code == 200


def test_directors_and_visitors_cannot_read_the_log(client, auth, make_user):
    assert client.get("/staff/audit/").status_code == 302
    director, password = make_user("director")
    auth.login(director.email, password)
    assert client.get("/staff/audit/").status_code == 403
