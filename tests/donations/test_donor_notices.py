"""After giving: the thank-you page offers the receipt PDF to the browser that gave (even
without an email), what happens next and share links; a refund, a changed and a cancelled
monthly gift each send the donor one short mail in their language, and no more when the
gateway later reports the same thing.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io

import pytest
from flask import Flask
from pypdf import PdfReader

from tests.confirming import post_confirmed
from tests.conftest import csrf_from
from tests.donors.helpers import sign_in
from tests.factories import make_case
from tests.payments.helpers import fresh, pay_on_page, start_gift, thanks_path
from tests.payments.test_recurring import EMAIL, SLUG, reload, subscribe
from tracker.core.transactions import transaction
from tracker.donations import recording
from tracker.donations.models import Donation, Receipt
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.payments.gateway import get_gateway
from tracker.sandbox.gateway import deliver_sandbox_event, sandbox_event


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def mails(kind: str) -> list[OutboxMessage]:
    fresh()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                   .order_by(OutboxMessage.id)))


def paid_gift(client, **fields) -> Donation:  # noqa: ANN001, ANN003
    donation, session_id = start_gift(client, SLUG, **fields)
    pay_on_page(client, session_id)
    fresh()
    paid = db.session.get(Donation, donation.id)
    assert paid.status == "succeeded"
    return paid


# --- the thank-you page ------------------------------------------------------------------------


def test_thank_you_page_offers_the_receipt_to_this_browser_only(app: Flask, client, case) -> None:  # noqa: ANN001
    donation = paid_gift(client)  # no email given
    page = client.get(thanks_path(donation))
    assert page.status_code == 200
    link = f"/donations/{donation.public_id}/receipt.pdf"
    assert link in page.text and "Download your receipt (PDF)" in page.text
    assert "What happens next" in page.text and "rescue report" in page.text
    assert "social-plugins.line.me" in page.text and f"/cases/{SLUG}" in page.text
    assert "We will email you" not in page.text  # no email, no promise of one

    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "no-store" in pdf.headers["Cache-Control"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    number = db.session.scalar(db.select(Receipt.number).where(Receipt.donation_id == donation.id))
    assert number in text and "5,000" in text

    other = app.test_client()  # another browser with the same link
    assert other.get(link).status_code == 404
    assert "Download your receipt" not in other.get(thanks_path(donation)).text
    assert client.get("/donations/nope/receipt.pdf").status_code == 404


def test_no_receipt_before_the_gift_is_recorded(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG)
    page = client.get(thanks_path(donation))
    assert page.status_code == 200 and "Download your receipt" not in page.text
    assert client.get(f"/donations/{donation.public_id}/receipt.pdf").status_code == 404


def test_the_promise_of_mail_follows_the_donors_choice(app: Flask, client, case) -> None:  # noqa: ANN001
    donation = paid_gift(client, email="hears@example.org", wants_updates="y")
    page = client.get(thanks_path(donation))
    assert "We will email you when that report is published." in page.text
    assert "Your receipt is on its way to your email." in page.text


def test_thank_you_page_in_japanese(app: Flask, client, case) -> None:  # noqa: ANN001
    donation = paid_gift(client)
    page = client.get(thanks_path(donation) + "?lang=ja")
    assert page.status_code == 200
    assert "What happens next" not in page.text and "Download your receipt" not in page.text


# --- refunds -----------------------------------------------------------------------------------


def test_a_refund_mails_the_donor_once_in_their_language(app: Flask, client, case, make_user) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, email="back@example.org")
    # the donor gave on a Japanese page: the gift's language is Japanese
    fresh()
    db.session.get(Donation, donation.id).locale = "ja"
    db.session.commit()
    pay_on_page(client, session_id)
    fresh()
    donation = db.session.get(Donation, donation.id)
    user, _password = make_user("staff")
    with transaction():
        refund_id = recording.refund_donation(donation, 2_000, "Donor asked", user, get_gateway())
    [mail] = mails("refund")
    assert mail.to_address == "back@example.org"
    assert "返金" in mail.subject and "2,000円" in mail.body_text and "5,000円" in mail.body_text
    assert donation.public_id in mail.body_text and "Six survivors" in mail.body_text

    # The gateway reports the same refund later: booked once, mailed once.
    charge = {"id": donation.gateway_charge_id, "payment_intent": donation.gateway_payment_intent_id,
              "amount": 5_000, "currency": "jpy", "amount_refunded": 2_000,
              "metadata": {"donation_id": donation.public_id},
              "refunds": {"data": [{"id": refund_id, "amount": 2_000, "status": "succeeded"}]}}
    status, _body = deliver_sandbox_event(sandbox_event("charge.refunded", charge))
    assert status == 200
    assert len(mails("refund")) == 1


# --- monthly gifts -----------------------------------------------------------------------------


def test_changing_and_cancelling_a_monthly_gift_mails_the_donor(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    sign_in(client, EMAIL)
    token = csrf_from(client.get("/my/").text)
    assert client.post(f"/my/monthly/{gift.public_id}/amount",
                       data={"csrf_token": token, "amount": "8,000"}).status_code == 303
    [changed] = mails("monthly")
    assert changed.to_address == EMAIL
    assert "¥5,000" in changed.body_text and "¥8,000" in changed.body_text
    assert gift.public_id in changed.body_text and changed.body_text.startswith("Thank you")

    response = post_confirmed(client, f"/my/monthly/{gift.public_id}/cancel",
                              {"csrf_token": csrf_from(client.get("/my/").text)})
    assert response.status_code == 303 and reload(gift).status == "canceled"
    changed, cancelled = mails("monthly")
    assert "cancelled" in cancelled.subject and "No further payments" in cancelled.body_text
    assert "¥8,000" in cancelled.body_text

    # the gateway's own word that the subscription ended sends nothing more
    status, _body = deliver_sandbox_event(sandbox_event("customer.subscription.deleted", {
        "id": reload(gift).gateway_subscription_id, "status": "canceled",
        "metadata": {"recurring_gift_id": gift.public_id}}))
    assert status == 200
    assert len(mails("monthly")) == 2
