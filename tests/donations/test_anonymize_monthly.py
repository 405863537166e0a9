"""An anonymized donor never comes back through a monthly gift (issue 15, High).

The issue's repro, through the real forms, the sandbox checkout, the staff route and
``flask sandbox advance``: a donor gives once and monthly with the same email, choosing
"Show my name"; staff anonymize them. Anonymizing first cancels the monthly gift at the
gateway, so the next month takes nothing, writes no receipt and puts no name on the wall;
and the monthly gift's own copy of the name and language is erased. When the gateway
refuses to cancel (Stripe answering an error, through the real stripe library), nothing is
erased and staff get a clear 503, not a 500.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from tests.confirming import post_confirmed
from tests.conftest import Auth, csrf_from
from tests.donations.test_privacy import found_in_database, staff_client
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.helpers import pay_on_page, receipt_messages, start_gift
from tests.payments.stripe_fakes import RecordingHTTPClient, event
from tests.payments.test_recurring import advance, gifts_of, reload, subscribe
from tests.payments.test_stripe_gateway import (  # noqa: F401  (fixtures)
    case,
    fake,
    post_event,
    sapp,
)
from tracker.accounts import services
from tracker.audit import AuditEntry
from tracker.donations.models import Donation, Donor
from tracker.donors import privacy
from tracker.donors.models import DonorSignIn
from tracker.extensions import db
from tracker.monthly.models import RecurringGift
from tracker.sandbox.models import SandboxSubscription

SLUG = "six-survivors"
EMAIL = "keiko.monthly@example.org"
NAME = "Keiko Watanabe"
REASON = "Donor asked by email to be forgotten"


def anonymize(client, donor_id: int):  # noqa: ANN001, ANN201
    page = client.get(f"/staff/donors/{donor_id}")
    assert page.status_code == 200
    return post_confirmed(client, f"/staff/donors/{donor_id}/anonymize", {
        "csrf_token": csrf_from(page.text), "reason": REASON, "confirm": "ANONYMIZE"})


def give_once_and_monthly(client) -> tuple[Donation, RecurringGift]:  # noqa: ANN001
    once, session_id = start_gift(client, SLUG, name=NAME, email=EMAIL, wall="name",
                                  message="Stay safe")
    assert pay_on_page(client, session_id).status_code in (302, 303)
    gift = subscribe(client, SLUG, name=NAME, email=EMAIL, wall="name")
    assert gift.donor_id == reload_donation(once).donor_id
    assert gift.display_name == NAME and gift.status == "active"
    return once, gift


def reload_donation(donation: Donation) -> Donation:
    db.session.rollback()
    return db.session.get(Donation, donation.id)


def test_anonymized_donor_is_not_charged_again_nor_named(app: Flask, client, runner,  # noqa: ANN001
                                                         make_user) -> None:
    make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    once, gift = give_once_and_monthly(client)
    # A sign-in link of theirs, as the donor's page keeps it.
    page = client.get("/my/sign-in")
    client.post("/my/sign-in", data={"email": EMAIL, "csrf_token": csrf_from(page.text)})
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DonorSignIn)) == 1
    assert NAME in client.get(f"/cases/{SLUG}").text
    # Before the fix, each renewal copied the name: prove the renewal path is live first.
    assert "1 paid" in advance(runner, 32)
    assert [d.display_name for d in gifts_of(gift)] == [NAME, NAME]
    receipts_before = len(receipt_messages())

    response = anonymize(staff_client(app, make_user), gift.donor_id)
    assert response.status_code == 302, response.text[:2000]

    # Cancelled at the gateway (the sandbox's subscription) and here, before anything else.
    gift = reload(gift)
    assert gift.status == "canceled" and gift.canceled_at is not None
    sub = db.session.scalars(sa.select(SandboxSubscription)
                             .where(SandboxSubscription.recurring_gift_id == gift.id)).one()
    assert sub.status == "canceled"
    canceled = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "recurring.canceled", AuditEntry.object_id == gift.id)).one()
    assert canceled.actor_label.startswith("staff")
    # The monthly gift's own copy of the donor's choices is erased.
    assert (gift.display_name, gift.locale) == (privacy.ERASED["recurring_gifts"]["display_name"],
                                                privacy.ERASED["recurring_gifts"]["locale"])
    donor = db.session.get(Donor, gift.donor_id)
    assert (donor.email, donor.name, donor.locale) == (None, "", None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DonorSignIn)) == 0

    # The next month: nothing is taken, no receipt, no name on the wall.
    out = advance(runner, 32)
    assert "0 paid" in out, out
    assert len(gifts_of(gift)) == 2
    assert len(receipt_messages()) == receipts_before
    assert NAME not in client.get(f"/cases/{SLUG}").text
    assert found_in_database(NAME) == set()
    assert found_in_database(EMAIL) == set()
    assert reload_donation(once).display_name == ""


def test_anonymizing_a_donor_whose_gift_is_already_cancelled_needs_no_gateway(  # noqa: ANN001
        app: Flask, client, runner, make_user) -> None:
    make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    _once, gift = give_once_and_monthly(client)
    db.session.get(RecurringGift, gift.id).move_to("canceled")
    db.session.commit()
    assert anonymize(staff_client(app, make_user), gift.donor_id).status_code == 302
    gift = reload(gift)
    assert gift.display_name == "" and gift.locale is None


def test_privacy_service_refuses_while_a_monthly_gift_is_live(app: Flask, client) -> None:  # noqa: ANN001
    make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    _once, gift = give_once_and_monthly(client)
    donor = db.session.get(Donor, gift.donor_id)
    try:
        privacy.anonymize_donor(donor, None, REASON)
    except privacy.MonthlyGiftsLive as exc:
        assert "monthly gift" in exc.reason
    else:
        raise AssertionError("anonymize_donor erased a donor whose monthly gift still charges")
    db.session.rollback()
    assert db.session.get(Donor, gift.donor_id).email == EMAIL


def test_gateway_refusal_erases_nothing(sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: ANN001, F811
    # A donor with a live Stripe subscription (set up as the webhook would have left it).
    donor = Donor(email=EMAIL, name=NAME, locale="ja")
    db.session.add(donor)
    db.session.flush()
    gift = RecurringGift(donor_id=donor.id, case_id=case.id, amount_minor=5000, currency="JPY",
                         gateway="stripe", status="active", gateway_subscription_id="sub_1",
                         gateway_customer_id="cus_1", locale="ja", display_name=NAME,
                         show_on_wall=True)
    db.session.add(gift)
    db.session.commit()
    donor_id, gift_id = donor.id, gift.id
    fake.on("DELETE", "/v1/subscriptions/sub_1", (500, {"error": {
        "type": "api_error", "message": "Something went wrong on Stripe's end."}}))

    user = services.create_user("staff-anon@example.org", "correct horse battery", "staff")
    db.session.commit()
    staff = sapp.test_client()
    assert Auth(staff).login(user.email, "correct horse battery").status_code == 302
    response = anonymize(staff, donor_id)
    assert response.status_code == 503, response.text[:2000]
    assert "nothing was erased" in response.text
    assert fake.calls("DELETE", "/v1/subscriptions/sub_1")  # the gateway was asked first
    db.session.rollback()
    donor = db.session.get(Donor, donor_id)
    assert (donor.email, donor.name, donor.locale, donor.anonymized_at) == (EMAIL, NAME, "ja", None)
    gift = db.session.get(RecurringGift, gift_id)
    assert (gift.status, gift.display_name, gift.locale) == ("active", NAME, "ja")
    assert db.session.scalar(sa.select(AuditEntry.id).where(
        AuditEntry.action == "donor.anonymized")) is None

    # Once Stripe cancels, the same request goes through.
    fake.on("DELETE", "/v1/subscriptions/sub_1", {"id": "sub_1", "object": "subscription",
                                                  "status": "canceled"})
    assert anonymize(staff, donor_id).status_code == 302
    db.session.rollback()
    assert db.session.get(RecurringGift, gift_id).status == "canceled"
    assert db.session.get(Donor, donor_id).email is None


def test_a_checkout_completed_after_anonymizing_is_cancelled_at_stripe(  # noqa: ANN001
        sapp: Flask, case, fake: RecordingHTTPClient) -> None:  # noqa: F811
    # The donor opened Stripe's checkout for a monthly gift but had not paid when staff
    # anonymized them; then the checkout completes and Stripe starts the subscription.
    donor = Donor(email=EMAIL, name=NAME, locale="en")
    db.session.add(donor)
    db.session.flush()
    gift = RecurringGift(donor_id=donor.id, case_id=case.id, amount_minor=5000, currency="JPY",
                         gateway="stripe", status="incomplete", display_name=NAME, show_on_wall=True)
    db.session.add(gift)
    db.session.commit()
    gift_id, public_id = gift.id, gift.public_id
    user = services.create_user("staff-anon@example.org", "correct horse battery", "staff")
    db.session.commit()
    staff = sapp.test_client()
    assert Auth(staff).login(user.email, "correct horse battery").status_code == 302
    assert anonymize(staff, donor.id).status_code == 302
    assert fake.calls("DELETE") == []  # no subscription existed yet

    fake.on("DELETE", "/v1/subscriptions/sub_late", {"id": "sub_late", "object": "subscription",
                                                     "status": "canceled"})
    completed = {"id": "cs_test_late", "object": "checkout.session", "mode": "subscription",
                 "status": "complete", "payment_status": "paid", "subscription": "sub_late",
                 "customer": "cus_late", "client_reference_id": public_id,
                 "metadata": {"recurring_gift_id": public_id}}
    response = post_event(sapp.test_client(), event("checkout.session.completed", completed))
    assert response.status_code == 200, response.text[:500]
    assert len(fake.calls("DELETE", "/v1/subscriptions/sub_late")) == 1
    db.session.rollback()
    assert db.session.get(RecurringGift, gift_id).status == "canceled"


def test_the_donors_data_export_holds_their_monthly_gifts(app: Flask, client) -> None:  # noqa: ANN001
    """Found by the outside try: a donor's export ("everything held about them") left out
    their monthly gifts, with the name shown on the wall and the gateway's ids."""
    make_case(SLUG, people=2, status="fundraising")
    once, monthly = give_once_and_monthly(client)
    donor = db.session.get(Donor, once.donor_id)
    data = privacy.export_donor(donor)
    db.session.commit()
    [exported] = data["monthly_gifts"]
    assert exported["public_id"] == monthly.public_id
    assert (exported["amount_minor"], exported["currency"], exported["status"]) == (
        monthly.amount_minor, monthly.currency, "active")
    assert exported["donor_entered"]["display_name"] == NAME
    assert exported["gateway_ids"]["subscription"] == monthly.gateway_subscription_id
    assert data["donor"]["locale"] == donor.locale
