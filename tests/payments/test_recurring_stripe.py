"""Monthly gifts with Stripe (through the stripe library's HTTP layer, see stripe_fakes): the
donation form opens Checkout in subscription mode with a monthly price and only opaque ids;
signed subscription events then start the gift and record each paid invoice once, settled
from its PaymentIntent's balance transaction; cancelling calls Stripe's API.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from flask import Flask

from tests.payments.stripe_fakes import (
    RecordingHTTPClient,
    balance_transaction,
    event,
    payment_intent,
)
from tests.payments.test_stripe_gateway import (  # noqa: F401  (fixtures)
    PRIVATE_CONTACT,
    PRIVATE_NOTES,
    SLUG,
    case,
    fake,
    fresh,
    give,
    mail_dir,
    post_event,
    sapp,
)
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift


def _monthly_checkout(app: Flask, stripe: RecordingHTTPClient) -> tuple[RecurringGift, dict]:
    client = app.test_client()
    response = give(client, frequency="monthly", email="monthly@example.org", name="Keiko")
    assert response.status_code == 303, response.text[:2000]
    session_id = list(stripe.sessions)[-1]
    assert response.headers["Location"] == stripe.sessions[session_id]["url"]
    fresh()
    gift = db.session.scalars(db.select(RecurringGift)).one()
    assert gift.gateway_checkout_id == session_id and gift.status == "incomplete"
    return gift, stripe.sessions[session_id]


def test_monthly_gift_opens_checkout_in_subscription_mode(sapp: Flask, case, fake) -> None:  # noqa: ANN001, F811
    gift, _session = _monthly_checkout(sapp, fake)
    [call] = fake.calls("POST", "/v1/checkout/sessions")
    p = call.params
    assert p["mode"] == "subscription"
    assert "submit_type" not in p
    assert p["line_items[0][price_data][recurring][interval]"] == "month"
    assert p["line_items[0][price_data][unit_amount]"] == "5000"
    assert p["line_items[0][price_data][currency]"] == "jpy"
    assert p["client_reference_id"] == gift.public_id
    assert p["metadata[recurring_gift_id]"] == gift.public_id
    assert p["subscription_data[metadata][recurring_gift_id]"] == gift.public_id
    assert call.idempotency_key == f"subscribe-{gift.public_id}"
    assert p["success_url"].endswith(f"/donations/monthly/{gift.public_id}/thanks")
    sent = repr(p)
    assert PRIVATE_NOTES not in sent and PRIVATE_CONTACT not in sent and "Keiko" not in sent


def _invoice(gift: RecurringGift, invoice_id: str, intent_id: str, amount: int = 5000) -> dict:
    return {"id": invoice_id, "object": "invoice", "amount_paid": amount, "currency": "jpy",
            "customer": "cus_1", "status": "paid", "billing_reason": "subscription_create",
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": "sub_1", "metadata": {"recurring_gift_id": gift.public_id}}},
            "payment_intent": intent_id,
            "lines": {"object": "list", "data": [{"period": {"start": 1_800_000_000,
                                                             "end": 1_802_592_000}}]}}


def test_signed_stripe_events_record_each_invoice_once(sapp: Flask, case, fake) -> None:  # noqa: ANN001, F811
    gift, session = _monthly_checkout(sapp, fake)
    client = sapp.test_client()
    # the first invoice can arrive before the session's completion: found by its metadata
    intent = payment_intent(amount=5000, currency="jpy", metadata={},
                            txn=balance_transaction(amount=5000, fee=180, currency="jpy"))
    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    paid = event("invoice.paid", _invoice(gift, "in_1", intent["id"]))
    response = post_event(client, paid)
    assert response.status_code == 200 and response.get_json()["note"] == "recorded"
    completed = dict(session, status="complete", payment_status="paid", mode="subscription",
                     subscription="sub_1", customer="cus_1")
    assert post_event(client, event("checkout.session.completed", completed)).status_code == 200
    assert post_event(client, paid).get_json()["duplicate"] is True
    again = post_event(client, event("invoice.paid", _invoice(gift, "in_1", intent["id"])))
    assert again.get_json()["note"] == "already recorded"
    fresh()
    gift = db.session.get(RecurringGift, gift.id)
    assert gift.status == "active"
    assert (gift.gateway_subscription_id, gift.gateway_customer_id) == ("sub_1", "cus_1")
    [donation] = db.session.scalars(db.select(Donation)).all()
    assert (donation.status, donation.gross_minor, donation.fee_minor) == ("succeeded", 5000, 180)
    assert donation.gateway_invoice_id == "in_1" and donation.gateway_payment_intent_id == intent["id"]

    # a failed renewal, then the subscription is deleted at Stripe
    failed = _invoice(gift, "in_2", None, amount=0)
    assert post_event(client, event("invoice.payment_failed", failed)).get_json()["note"] == "payment failed"
    fresh()
    assert db.session.get(RecurringGift, gift.id).status == "past_due"
    deleted = {"id": "sub_1", "object": "subscription", "status": "canceled", "customer": "cus_1",
               "metadata": {"recurring_gift_id": gift.public_id}}
    assert post_event(client, event("customer.subscription.deleted", deleted)).status_code == 200
    fresh()
    assert db.session.get(RecurringGift, gift.id).status == "canceled"
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 1


def test_cancel_and_change_call_stripe(sapp: Flask, case, fake) -> None:  # noqa: ANN001, F811
    from tracker.core.money import Money
    from tracker.monthly import services as recurring

    gift, _session = _monthly_checkout(sapp, fake)
    fresh()
    gift = db.session.get(RecurringGift, gift.id)
    gift.gateway_subscription_id = "sub_1"
    gift.status = "active"
    db.session.commit()
    item = {"id": "si_1", "price": {"id": "price_1", "product": "prod_1", "unit_amount": 5000,
                                    "currency": "jpy"}}
    fake.on("GET", "/v1/subscriptions/sub_1",
            {"id": "sub_1", "object": "subscription", "items": {"object": "list", "data": [item]}})
    fake.on("POST", "/v1/subscriptions/sub_1", {"id": "sub_1", "object": "subscription"})
    fake.on("DELETE", "/v1/subscriptions/sub_1", {"id": "sub_1", "object": "subscription",
                                                  "status": "canceled"})
    assert recurring.change_recurring_amount(gift, Money(7000, "JPY"), by="test") == []
    db.session.commit()
    [update] = fake.calls("POST", "/v1/subscriptions/sub_1")
    assert update.params["items[0][id]"] == "si_1"
    assert update.params["items[0][price_data][unit_amount]"] == "7000"
    assert update.params["items[0][price_data][product]"] == "prod_1"
    assert update.params["items[0][price_data][recurring][interval]"] == "month"
    assert update.params["proration_behavior"] == "none"
    assert recurring.cancel_recurring(gift, by="test") == []
    db.session.commit()
    assert len(fake.calls("DELETE", "/v1/subscriptions/sub_1")) == 1
    fresh()
    assert db.session.get(RecurringGift, gift.id).status == "canceled"
