"""The donate form is kept like a public page for anonymous visitors (issue 17: a spike of
donors costs a string replacement, not a render), with each visitor's own CSRF token put in."""

from __future__ import annotations

from tests.conftest import csrf_from
from tests.factories import give, make_case
from tests.payments.helpers import checkout_path, gift_form
from tracker.cases import workflow


def test_each_visitor_gets_a_token_of_their_own_that_works(app, client):  # noqa: ANN001
    make_case("six-survivors", people=2, status=workflow.FUNDRAISING)
    other = app.test_client()
    first, second = client.get("/cases/six-survivors/donate"), other.get("/cases/six-survivors/donate")
    assert first.status_code == second.status_code == 200
    tokens = csrf_from(first.text), csrf_from(second.text)
    assert tokens[0] != tokens[1] and "csrf-token-slot" not in first.text
    assert first.headers.get("ETag") is None  # every answer carries its own token
    # each visitor's own token goes through; the other's is refused
    assert client.post("/cases/six-survivors/donate", data=gift_form(tokens[1])).status_code == 400
    checkout_path(client.post("/cases/six-survivors/donate", data=gift_form(tokens[0])))
    checkout_path(other.post("/cases/six-survivors/donate", data=gift_form(tokens[1])))


def test_the_kept_form_follows_the_case(app, client):  # noqa: ANN001
    case = make_case("six-survivors", people=2, status=workflow.FUNDRAISING, goal=100_000)
    before = client.get("/cases/six-survivors/donate").text
    give(case, 40_000)
    after = client.get("/cases/six-survivors/donate").text
    assert before != after and "40,000" in after  # its progress moved with the gift
    from tracker.cases import services as case_services
    from tracker.extensions import db

    case_services.change_status(case, workflow.CLOSED, outcome="cancelled")
    db.session.commit()
    closed = client.get("/cases/six-survivors/donate")
    assert "not taking gifts" in closed.text
    assert client.get("/cases/no-such-case/donate").status_code == 404
