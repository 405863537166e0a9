"""A donor's wall message reaches the public only after staff approve it.

The people in the cases are in hiding; a relative may write a real name or a village in the
message. The donor's chosen name is shown at once, the message waits: staff approve it (it
appears, the page's ETag changes) or hide it (never shown, the gift unchanged). Both are
audited; only staff decide.
"""

from __future__ import annotations

import pytest

from tests.conftest import Auth, csrf_from
from tests.factories import make_case
from tests.payments.helpers import fresh, pay_on_page, start_gift
from tracker.audit import AuditEntry
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.i18n import language
from tracker.donations import messages as wall_messages
from tracker.donations.models import Donation
from tracker.extensions import db

SLUG = "wall-review"
SECRET = "Stay strong, Amina in Tal Abyad village"
NAME = "Keiko W."


@pytest.fixture
def paid_gift(app, client):  # noqa: ANN001, ANN201
    """A paid gift to a public case with a name and a message naming someone in hiding."""
    make_case(SLUG, status=workflow.FUNDRAISING, public_title="Wall review")
    donation, session_id = start_gift(client, SLUG, name=NAME, message=SECRET, wall="name")
    assert pay_on_page(client, session_id).status_code == 303
    fresh()
    return db.session.get(Donation, donation.id)


def _staff(client, make_user, role: str = "staff"):  # noqa: ANN001, ANN202
    user, password = make_user(role)
    assert Auth(client).login(user.email, password).status_code == 302
    return user


def _public_texts(client) -> str:  # noqa: ANN001
    """Everything the public can read about the case: its page and its JSON, feed, widget."""
    paths = [f"/cases/{SLUG}", f"/cases/{SLUG}/progress.json", f"/cases/{SLUG}/people.json",
             f"/cases/{SLUG}/widget", "/", "/cases"]
    texts = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        texts.append(response.get_data(as_text=True))
    for path in ("/feed.atom",):
        response = client.get(path)
        if response.status_code == 200:
            texts.append(response.get_data(as_text=True))
    return "\n".join(texts)


def test_a_message_waits_and_the_name_shows_at_once(paid_gift, client) -> None:  # noqa: ANN001
    assert paid_gift.status == "succeeded" and paid_gift.message_status == "waiting"
    page = client.get(f"/cases/{SLUG}").get_data(as_text=True)
    assert NAME in page, "the donor's own name is on the wall at once"
    assert SECRET not in _public_texts(client)
    assert "Tal Abyad" not in _public_texts(client)


def test_approving_shows_it_changes_the_etag_and_is_audited(paid_gift, app, client, make_user) -> None:  # noqa: ANN001
    public = app.test_client()  # a reader: no session, so the page is cached and validated
    before = public.get(f"/cases/{SLUG}")
    etag = before.headers["ETag"]
    assert public.get(f"/cases/{SLUG}", headers={"If-None-Match": etag}).status_code == 304
    staff = _staff(client, make_user)

    review = client.get("/staff/messages/")
    assert review.status_code == 200
    text = review.get_data(as_text=True)
    assert SECRET in text and NAME in text and "Wall review" in text
    response = client.post(f"/staff/messages/{paid_gift.public_id}/approve",
                           data={"csrf_token": csrf_from(text)})
    assert response.status_code == 303

    fresh()
    assert db.session.get(Donation, paid_gift.id).message_status == "approved"
    after = public.get(f"/cases/{SLUG}", headers={"If-None-Match": etag})
    assert after.status_code == 200, "the wall changed: the cached page is not served"
    assert after.headers["ETag"] != etag
    assert SECRET in after.get_data(as_text=True)
    [entry] = db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.action == "donation.message_approved"))
    assert entry.actor_id == staff.id and entry.object_id == paid_gift.id
    assert entry.before == {"message_status": "waiting"}
    assert entry.after == {"message_status": "approved"}
    assert SECRET not in repr(entry.before) + repr(entry.after), "the audit never copies it"


def test_hiding_keeps_it_off_and_leaves_the_gift(paid_gift, client, make_user) -> None:  # noqa: ANN001
    _staff(client, make_user)
    page = client.get("/staff/messages/").get_data(as_text=True)
    updated_before = db.session.get(RescueCase, paid_gift.case_id).updated_at
    assert client.post(f"/staff/messages/{paid_gift.public_id}/hide",
                       data={"csrf_token": csrf_from(page)}).status_code == 303
    fresh()
    hidden = db.session.get(Donation, paid_gift.id)
    assert hidden.message_status == "hidden" and hidden.status == "succeeded"
    assert hidden.message == SECRET and hidden.amount_minor == paid_gift.amount_minor
    # nothing public changed, so the public updated_at does not tell anyone staff acted
    assert db.session.get(RescueCase, paid_gift.case_id).updated_at == updated_before
    assert SECRET not in _public_texts(client)
    assert NAME in client.get(f"/cases/{SLUG}").get_data(as_text=True)
    # a hidden message cannot be approved later by mistake
    page = client.get("/staff/messages/").get_data(as_text=True)
    assert SECRET not in page
    response = client.post(f"/staff/messages/{paid_gift.public_id}/approve",
                           data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "stays hidden" in response.get_data(as_text=True)
    fresh()
    assert db.session.get(Donation, paid_gift.id).message_status == "hidden"
    assert [e.action for e in db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.action.like("donation.message_%")))] == ["donation.message_hidden"]


def test_an_approved_message_can_be_hidden_later(paid_gift, app, client, make_user) -> None:  # noqa: ANN001
    wall_messages.approve(paid_gift.public_id)
    db.session.commit()
    public = app.test_client()
    shown = public.get(f"/cases/{SLUG}")
    assert SECRET in shown.get_data(as_text=True)
    _staff(client, make_user)
    page = client.get(f"/staff/gifts/{paid_gift.public_id}").get_data(as_text=True)
    assert SECRET in page and 'data-field="message-status"' in page
    assert client.post(f"/staff/messages/{paid_gift.public_id}/hide",
                       data={"csrf_token": csrf_from(page)}).status_code == 303
    again = public.get(f"/cases/{SLUG}", headers={"If-None-Match": shown.headers["ETag"]})
    assert again.status_code == 200 and SECRET not in again.get_data(as_text=True)
    assert NAME in again.get_data(as_text=True)


def test_the_dashboard_counts_the_waiting_messages(paid_gift, client, make_user) -> None:  # noqa: ANN001
    _staff(client, make_user)
    page = client.get("/staff/").get_data(as_text=True)
    assert "Donor messages awaiting review (1)" in page
    assert wall_messages.awaiting_count() == 1
    wall_messages.approve(paid_gift.public_id)
    db.session.commit()
    assert "Donor messages awaiting review (0)" in client.get("/staff/").get_data(as_text=True)


@pytest.mark.parametrize("role", [None, "director"])
def test_only_staff_decide(paid_gift, client, make_user, role) -> None:  # noqa: ANN001
    if role:
        _staff(client, make_user, role)
    page = client.get("/login").get_data(as_text=True)
    listing = client.get("/staff/messages/")
    assert listing.status_code in (302, 403)
    for action in ("approve", "hide"):
        response = client.post(f"/staff/messages/{paid_gift.public_id}/{action}",
                               data={"csrf_token": csrf_from(page)})
        assert response.status_code in (302, 403), (role, action)
        if role is None:
            assert "/login" in response.headers["Location"]
    fresh()
    assert db.session.get(Donation, paid_gift.id).message_status == "waiting"
    assert SECRET not in client.get(f"/cases/{SLUG}").get_data(as_text=True)


def test_a_gift_without_a_message_has_nothing_to_review(app, client) -> None:  # noqa: ANN001
    make_case(SLUG, status=workflow.FUNDRAISING, public_title="Wall review")
    donation, session_id = start_gift(client, SLUG, name=NAME, wall="name")
    assert pay_on_page(client, session_id).status_code == 303
    fresh()
    assert db.session.get(Donation, donation.id).message_status == "none"
    assert wall_messages.awaiting_count() == 0


def test_the_donate_form_warns_in_both_languages(app, client) -> None:  # noqa: ANN001
    make_case(SLUG, status=workflow.FUNDRAISING, public_title="Wall review")
    english = client.get(f"/cases/{SLUG}/donate").get_data(as_text=True)
    assert "read every message before it appears" in english
    assert "never write the names or places of the people being helped" in english
    japanese = client.get(f"/cases/{SLUG}/donate?lang=ja").get_data(as_text=True)
    assert "スタッフが拝見してから" in japanese and "決してお書きにならない" in japanese
    with language("ja"):
        from flask_babel import gettext

        assert gettext("Donor messages awaiting review (%(count)s)", count=2) == \
            "確認待ちの支援者メッセージ（2件）"
