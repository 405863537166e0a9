"""Irreversible actions are confirmed on the server (issue 15, walk 1).

Closing a case, refunding a gift, cancelling a monthly gift and anonymizing a donor: the first
POST only shows what will happen, in words and amounts, and changes nothing; a token that is
forged, expired, for another object, another person or other values is refused and changes
nothing; the POST the confirmation page sends does it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.confirming import confirmation_token, confirming_data, is_confirmation, post_confirmed
from tests.conftest import csrf_from
from tests.dbcheck import table_counts
from tests.donors.helpers import sign_in
from tests.factories import give, make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse: mail into tmp_path)
from tests.payments.helpers import fresh, pay_on_page, start_gift
from tests.payments.test_recurring import subscribe
from tracker.cases.models import RescueCase
from tracker.core import confirm
from tracker.donations.models import Donation, Donor
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.monthly.models import RecurringGift

REFUSED = "That confirmation has expired or was for something else"


@dataclass
class Scenario:
    """One irreversible action, ready to be posted by ``client``."""

    client: object
    url: str
    data: dict[str, str]
    action: str
    object_id: object
    other_object_id: object
    actor: str
    other_actor: str
    #: a field and a value the confirmed POST must not be able to change
    changed: tuple[str, str]
    #: what the confirmation page must say
    says: list[str]
    done: Callable[[], bool]


def _staff(app, make_user, auth):  # noqa: ANN001, ANN202
    user, password = make_user("staff")
    auth.login(user.email, password)
    other, _ = make_user("staff")
    return user, other


def _close(app, client, make_user, auth) -> Scenario:  # noqa: ANN001
    user, other = _staff(app, make_user, auth)
    case = make_case("closing-case", people=2, status="fundraising", public_title="Closing case")
    spare = make_case("spare-case", status="fundraising")
    give(case, 12_000)
    page = client.get(f"/staff/cases/{case.id}")
    return Scenario(
        client, f"/staff/cases/{case.id}/close",
        {"outcome": "cancelled", "move_funds_to": "general", "target": "",
         "csrf_token": csrf_from(page.text)},
        # (the token covers the amount the page showed: case id, amount, currency)
        "case.close", f"{case.id}:12000:JPY", f"{spare.id}:12000:JPY", f"user:{user.id}",
        f"user:{other.id}",
        ("move_funds_to", "keep"),
        ["The case “Closing case” closes as “Cancelled”", "¥12,000 moves to the general fund."],
        lambda: db.session.get(RescueCase, case.id).status == "closed",
    )


def _refund(app, client, make_user, auth) -> Scenario:  # noqa: ANN001
    make_case("refund-case", status="fundraising", public_title="Refund case")
    paid = []
    for _n in range(2):
        donation, session_id = start_gift(client, "refund-case")
        pay_on_page(client, session_id)
        paid.append(donation.public_id)
    fresh()
    user, other = _staff(app, make_user, auth)
    page = client.get(f"/staff/gifts/{paid[0]}")
    seen = re.search(r'name="seen_refunded"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="seen_refunded"',
                     page.text)
    return Scenario(
        client, f"/staff/gifts/{paid[0]}/refund",
        {"amount": "3,000", "reason": "Donor asked for it back",
         "seen_refunded": seen.group(1) or seen.group(2), "csrf_token": csrf_from(page.text)},
        "gift.refund", paid[0], paid[1], f"user:{user.id}", f"user:{other.id}",
        ("amount", "5,000"),
        [f"¥3,000 of gift {paid[0]} (¥5,000 in all) goes back to the card",
         "¥2,000 of the gift is left to refund after this."],
        lambda: db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.kind == "refund")) > 0,
    )


def _cancel_monthly(app, client, make_user, auth) -> Scenario:  # noqa: ANN001
    make_case("monthly-case", status="fundraising", public_title="Six survivors")
    gift = subscribe(client, "monthly-case", email="monthly@example.org")
    other = subscribe(app.test_client(), "monthly-case", email="monthly@example.org")
    sign_in(client, "monthly@example.org")
    fresh()
    donor = db.session.get(Donor, gift.donor_id)
    page = client.get("/my/")
    return Scenario(
        client, f"/my/monthly/{gift.public_id}/cancel", {"csrf_token": csrf_from(page.text)},
        "monthly.cancel", gift.public_id, other.public_id, f"donor:{donor.id}",
        f"donor:{donor.id + 1}", ("extra", "1"),
        ["Your monthly gift of ¥5,000 to “Six survivors” stops now.",
         "Nothing more will be taken from your card"],
        lambda: db.session.get(RecurringGift, gift.id).status == "canceled",
    )


def _anonymize(app, client, make_user, auth) -> Scenario:  # noqa: ANN001
    case = make_case("anon-case", status="fundraising")
    donation = give(case, 7_000, email="aiko@example.org", name="Aiko Example")
    someone = give(case, 1_000, email="else@example.org", name="Someone Else")
    user, other = _staff(app, make_user, auth)
    page = client.get(f"/staff/donors/{donation.donor_id}")
    return Scenario(
        client, f"/staff/donors/{donation.donor_id}/anonymize",
        {"reason": "The donor asked by email to be forgotten", "confirm": "ANONYMIZE",
         "csrf_token": csrf_from(page.text)},
        "donor.anonymize", donation.donor_id, someone.donor_id, f"user:{user.id}",
        f"user:{other.id}", ("reason", "Another reason that is long enough"),
        [f"The name and email of donor #{donation.donor_id} are erased",
         "Their 1 gift (¥7,000) keeps its amount"],
        lambda: db.session.get(Donor, donation.donor_id).anonymized_at is not None,
    )


SCENARIOS = {"close a case": _close, "refund a gift": _refund,
             "cancel a monthly gift": _cancel_monthly, "anonymize a donor": _anonymize}


@pytest.fixture(params=list(SCENARIOS))
def scenario(request, app, client, make_user, auth) -> Scenario:  # noqa: ANN001
    return SCENARIOS[request.param](app, client, make_user, auth)


def _state(s: Scenario) -> tuple[bool, dict[str, int]]:
    fresh()
    return s.done(), table_counts()


def _values(data: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in data.items() if k != "csrf_token"}


def _visible(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_first_post_only_says_what_will_happen(scenario: Scenario) -> None:
    before = _state(scenario)
    assert before[0] is False
    response = scenario.client.post(scenario.url, data=scenario.data)
    assert is_confirmation(response), (response.status_code, response.text[:2000])
    text = _visible(response.text)
    for line in scenario.says:
        assert line in text
    assert "This cannot be undone." in text
    assert _state(scenario) == before
    # Sent again as it was (a double click, a replay without the token): still nothing.
    assert is_confirmation(scenario.client.post(scenario.url, data=scenario.data))
    assert _state(scenario) == before


def _expired_token(s: Scenario, monkeypatch: pytest.MonkeyPatch) -> str:
    past = time.time() - confirm.MAX_AGE - 60
    with monkeypatch.context() as m:
        m.setattr("itsdangerous.timed.time.time", lambda: past)
        return confirm.issue(s.action, s.object_id, s.actor, _values(s.data))


BAD_TOKENS: dict[str, Callable[[Scenario, pytest.MonkeyPatch, str], tuple[str, dict]]] = {
    "forged": lambda s, mp, good: (
        URLSafeTimedSerializer("not-our-secret-key", salt="tracker.confirm.v1").dumps(
            {"d": confirm._digest(s.action, s.object_id, s.actor, _values(s.data))}), s.data),
    "garbage": lambda s, mp, good: ("x" * 60, s.data),
    "tampered": lambda s, mp, good: (good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb"),
                                     s.data),
    "expired": lambda s, mp, good: (_expired_token(s, mp), s.data),
    "other object": lambda s, mp, good: (
        confirm.issue(s.action, s.other_object_id, s.actor, _values(s.data)), s.data),
    "other person": lambda s, mp, good: (
        confirm.issue(s.action, s.object_id, s.other_actor, _values(s.data)), s.data),
    "other action": lambda s, mp, good: (
        confirm.issue("something.else", s.object_id, s.actor, _values(s.data)), s.data),
    "changed fields": lambda s, mp, good: (good, {**s.data, s.changed[0]: s.changed[1]}),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_token_that_is_not_for_exactly_this_is_refused(scenario: Scenario, kind: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(scenario)
    good = confirmation_token(scenario.client.post(scenario.url, data=scenario.data).text)
    token, data = BAD_TOKENS[kind](scenario, monkeypatch, good)
    response = scenario.client.post(scenario.url, data={**data, "confirm_token": token})
    assert response.status_code in (409, 422), (kind, response.status_code)
    assert _state(scenario) == before
    if response.status_code == 409:  # asked again, for the values sent this time
        assert REFUSED in _visible(response.text)
        assert 'name="confirm_token"' in response.text
    # the good token still works for exactly what it was made for
    done = scenario.client.post(scenario.url, data={**scenario.data, "confirm_token": good})
    assert done.status_code in (302, 303), done.status_code
    fresh()
    assert scenario.done()


def test_the_confirmed_post_acts(scenario: Scenario) -> None:
    response = post_confirmed(scenario.client, scenario.url, scenario.data)
    assert response.status_code in (302, 303), (response.status_code, response.text[:2000])
    fresh()
    assert scenario.done()


def test_another_staff_member_cannot_use_a_colleagues_confirmation(app, client, make_user,
                                                                   auth) -> None:  # noqa: ANN001
    s = _close(app, client, make_user, auth)
    token = confirmation_token(client.post(s.url, data=s.data).text)
    colleague, password = make_user("staff")
    theirs = app.test_client()
    from tests.conftest import Auth

    Auth(theirs).login(colleague.email, password)
    csrf = csrf_from(theirs.get(s.url.rsplit("/", 1)[0]).text)
    response = theirs.post(s.url, data={**s.data, "csrf_token": csrf, "confirm_token": token})
    assert response.status_code == 409 and REFUSED in _visible(response.text)
    fresh()
    assert not s.done()


def test_the_close_panel_sits_below_the_people_and_chooses_nothing(app, client, make_user,
                                                                  auth) -> None:  # noqa: ANN001
    _staff(app, make_user, auth)
    case = make_case("panel-case", people=2, status="fundraising")
    html = client.get(f"/staff/cases/{case.id}").text
    assert html.index("Add a person") < html.index("Close the case")
    for name in ("outcome", "move_funds_to"):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
        # the first option, shown until staff pick, is the empty one; nothing else is chosen
        assert select.startswith('<option value="">') and "selected" not in select, name
    # sent without a choice: told to choose, nothing asked, nothing changes
    data = {"outcome": "", "move_funds_to": "", "target": "", "csrf_token": csrf_from(html)}
    response = client.post(f"/staff/cases/{case.id}/close", data=data)
    assert response.status_code == 409 and not is_confirmation(response)
    assert "Choose why the case closes." in response.text
    assert "Choose where the case" in response.text
    # and the status buttons cannot close it behind the panel's back
    response = client.post(f"/staff/cases/{case.id}/status", data={
        "target": "closed", "outcome": "cancelled", "csrf_token": csrf_from(html)})
    assert response.status_code == 409
    fresh()
    assert db.session.get(RescueCase, case.id).status == "fundraising"


def test_a_donation_of_someone_else_cannot_be_confirmed_by_id_swap(app, client, make_user,
                                                                   auth) -> None:  # noqa: ANN001
    """The token names the gift: the refund page of one gift, posted at another gift's
    address, is refused there."""
    s = _refund(app, client, make_user, auth)
    token = confirmation_token(client.post(s.url, data=s.data).text)
    other_url = s.url.replace(str(s.object_id), str(s.other_object_id))
    response = client.post(other_url, data={**s.data, "seen_refunded": "0", "confirm_token": token})
    assert response.status_code in (409, 422)
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "refund")) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 2


def test_closing_asks_again_when_the_money_changed_after_the_confirmation(
        app, client, make_user, auth) -> None:  # noqa: ANN001
    """Found by the outside try: the confirmation said ¥12,000 would move, a gift of ¥2,000
    arrived, and the old page's button moved ¥14,000 without asking."""
    s = _close(app, client, make_user, auth)
    first = s.client.post(s.url, data=s.data)
    assert "¥12,000 moves to the general fund." in _visible(first.text)
    case = db.session.scalars(db.select(RescueCase).where(RescueCase.slug == "closing-case")).one()
    give(case, 2_000)
    again = s.client.post(s.url, data=confirming_data(first.text))
    assert again.status_code == 409
    assert "¥14,000 moves to the general fund." in _visible(again.text)
    fresh()
    assert not s.done()
    done = s.client.post(s.url, data=confirming_data(again.text))
    assert done.status_code in (302, 303)
    fresh()
    assert s.done()
