"""Monthly gifts with the sandbox gateway, end to end through the donation form, the TEST MODE
checkout page, ``flask sandbox advance`` / ``card`` and the webhook: each paid invoice is one
gift on the ledger, recorded once; a failed renewal moves no money and a later payment
recovers; a cancelled gift takes nothing more.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.factories import make_case
from tests.live import all_at_once, live_server
from tests.live import request as live_request
from tests.payments.helpers import (
    OK_CARD,
    deliver,
    event_bytes,
    fresh,
    pay_on_page,
    post_gift,
    raised,
    receipt_messages,
    signature,
)
from tracker.core import transactions
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.monthly.models import RecurringGift, add_months
from tracker.payments.models import PaymentEvent
from tracker.sandbox.gateway import SandboxGateway, sandbox_event
from tracker.sandbox.models import SandboxSubscription

SLUG = "six-survivors"
EMAIL = "monthly@example.org"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def start_monthly(client, slug: str | None = SLUG, **fields: Any) -> tuple[RecurringGift, str]:  # noqa: ANN001
    """Give monthly through the form up to the sandbox checkout: (the gift, checkout path)."""
    fields.setdefault("email", EMAIL)
    response = post_gift(client, slug, frequency="monthly", **fields)
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    path = urlsplit(response.headers["Location"]).path
    assert path.startswith("/sandbox/checkout/cs_test_sbx_"), path
    fresh()
    gift = db.session.scalar(db.select(RecurringGift).where(
        RecurringGift.gateway_checkout_id == path.rsplit("/", 1)[1]))
    assert gift is not None and gift.status == "incomplete"
    return gift, path


def subscribe(client, slug: str | None = SLUG, **fields: Any) -> RecurringGift:  # noqa: ANN001
    """Give monthly and pay the first month with the test card."""
    gift, path = start_monthly(client, slug, **fields)
    page = client.get(path)
    assert page.status_code == 200 and "TEST MODE" in page.text and "each month" in page.text
    response = pay_on_page(client, path.rsplit("/", 1)[1], OK_CARD)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/donations/monthly/{gift.public_id}/thanks"
    return reload(gift)


def reload(gift: RecurringGift) -> RecurringGift:
    fresh()
    found = db.session.get(RecurringGift, gift.id)
    assert found is not None
    return found


def gifts_of(gift: RecurringGift) -> list[Donation]:
    fresh()
    return list(db.session.scalars(db.select(Donation).where(Donation.recurring_gift_id == gift.id)
                                   .order_by(Donation.id)))


def subscription(gift: RecurringGift) -> SandboxSubscription:
    fresh()
    return db.session.scalars(db.select(SandboxSubscription)
                              .where(SandboxSubscription.recurring_gift_id == gift.id)).one()


def advance(runner, days: int) -> str:  # noqa: ANN001
    result = runner.invoke(args=["sandbox", "advance", str(days)])
    assert result.exit_code == 0, result.output
    return result.output


def card(runner, ref: str, state: str) -> None:  # noqa: ANN001
    result = runner.invoke(args=["sandbox", "card", ref, state])
    assert result.exit_code == 0, result.output


def reports_check(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


# --- the first payment and renewals ----------------------------------------------------------


def test_monthly_gift_first_payment_through_the_form(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client, SLUG, name="Aiko", wall="name")
    assert gift.status == "active" and gift.amount_minor == 5000 and gift.currency == "JPY"
    assert gift.gateway_subscription_id.startswith("sub_sbx_")
    assert gift.gateway_customer_id.startswith("cus_sbx_")
    assert gift.started_at is not None and gift.current_period_end is not None
    [donation] = gifts_of(gift)
    assert donation.status == "succeeded" and donation.amount_minor == 5000
    assert donation.case_id == case.id and donation.gateway_invoice_id.startswith("in_sbx_")
    assert donation.display_name == "Aiko"
    assert raised(client, SLUG) == 5000
    [receipt] = receipt_messages()
    assert receipt.to_address == EMAIL
    thanks = client.get(f"/donations/monthly/{gift.public_id}/thanks")
    assert thanks.status_code == 200 and "is set up" in thanks.text


def test_renewals_each_record_one_gift(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    first_end = gift.current_period_end
    assert "0 paid" in advance(runner, 10)  # nothing due yet
    assert len(gifts_of(gift)) == 1
    before = raised(client, SLUG)
    out = advance(runner, 25)
    assert "1 paid" in out
    assert raised(client, SLUG) == before + 5000  # exactly one month more
    gift = reload(gift)
    assert gift.current_period_end == add_months(first_end, 1)
    out = advance(runner, 62)  # two more months fall due in one step
    assert "2 paid" in out
    donations = gifts_of(gift)
    assert len(donations) == 4 and {d.status for d in donations} == {"succeeded"}
    assert len({d.gateway_invoice_id for d in donations}) == 4
    assert raised(client, SLUG) == 20000
    assert len(receipt_messages()) == 4
    reports_check(runner)


def test_usd_monthly_gift_to_the_general_fund(app: Flask, client, runner) -> None:  # noqa: ANN001
    gift = subscribe(client, None, preset="USD:2500", currency="USD")
    assert (gift.currency, gift.amount_minor, gift.case_id) == ("USD", 2500, None)
    [donation] = gifts_of(gift)
    assert donation.currency == "USD" and donation.settled_currency == "JPY"
    advance(runner, 32)
    assert len(gifts_of(gift)) == 2


def test_monthly_needs_an_email_and_jpy_or_usd(app: Flask, client, case, monkeypatch) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, frequency="monthly", email="")
    assert response.status_code == 422 and "how you manage a monthly gift" in response.text
    monkeypatch.setitem(app.config, "TRACKER_CURRENCIES", ["JPY", "USD", "EUR"])
    response = post_gift(client, SLUG, frequency="monthly", email=EMAIL, preset="EUR:2500",
                         currency="EUR")
    assert response.status_code == 422 and "yen (JPY) or US dollars (USD)" in response.text
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(RecurringGift)) == 0


# --- failure and recovery, cancellation --------------------------------------------------------


def test_failed_renewal_then_recovery(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    card(runner, gift.gateway_subscription_id, "decline")
    out = advance(runner, 32)
    assert "0 paid, 1 failed" in out
    gift = reload(gift)
    assert gift.status == "past_due" and gift.failed_attempts == 1
    assert len(gifts_of(gift)) == 1 and raised(client, SLUG) == 5000
    advance(runner, 3)  # retried, failed again
    gift = reload(gift)
    assert gift.status == "past_due" and gift.failed_attempts == 2
    open_invoice = subscription(gift).open_invoice_id
    card(runner, gift.public_id, "ok")
    assert "1 paid" in advance(runner, 1)
    gift = reload(gift)
    assert gift.status == "active" and gift.failed_attempts == 0
    donations = gifts_of(gift)
    assert len(donations) == 2 and donations[-1].gateway_invoice_id == open_invoice
    assert raised(client, SLUG) == 10000
    reports_check(runner)


def test_four_failures_cancel_the_subscription(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    card(runner, gift.gateway_subscription_id, "decline")
    for _ in range(4):
        advance(runner, 32)
    gift = reload(gift)
    assert gift.status == "canceled" and gift.failed_attempts == 4
    assert len(gifts_of(gift)) == 1


def test_cancelled_gift_takes_nothing_more(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    from tracker.monthly import services as recurring

    gift = subscribe(client)
    recurring.cancel_recurring(reload(gift), by="test")
    transactions.commit()
    gift = reload(gift)
    assert gift.status == "canceled" and gift.canceled_at is not None
    assert subscription(gift).status == "canceled"
    assert [e.type for e in _events()][-1] == "customer.subscription.deleted"
    assert "0 paid, 0 failed" in advance(runner, 100)
    assert len(gifts_of(gift)) == 1 and raised(client, SLUG) == 5000


def test_change_amount_applies_from_the_next_payment(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    from tracker.core.money import Money
    from tracker.monthly import services as recurring

    gift = subscribe(client)
    recurring.change_recurring_amount(reload(gift), Money(8000, "JPY"), by="test")
    transactions.commit()
    assert reload(gift).amount_minor == 8000 and subscription(gift).amount_minor == 8000
    advance(runner, 32)
    assert [d.amount_minor for d in gifts_of(gift)] == [5000, 8000]
    assert raised(client, SLUG) == 13000


def _events() -> list[PaymentEvent]:
    fresh()
    return list(db.session.scalars(db.select(PaymentEvent).order_by(PaymentEvent.id)))


# --- replays and concurrency ------------------------------------------------------------------


def _paid_invoice_event(gift: RecurringGift) -> dict[str, Any]:
    """The invoice.paid event the sandbox delivered for the gift's first month."""
    [row] = [e for e in _events() if e.type == "invoice.paid"
             and json.loads(e.payload)["data"]["object"]["subscription"] == gift.gateway_subscription_id]
    return json.loads(row.payload)


def test_replayed_invoice_paid_records_nothing_new(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    event = _paid_invoice_event(gift)
    again = deliver(client, app, event)  # the same event id
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    other = sandbox_event("invoice.paid", event["data"]["object"])  # a new event id, same invoice
    response = deliver(client, app, other)
    assert response.status_code == 200
    assert response.get_json()["note"] == "already recorded"
    assert len(gifts_of(gift)) == 1 and raised(client, SLUG) == 5000
    assert len(receipt_messages()) == 1


def _renewal_invoice(gift: RecurringGift) -> dict[str, Any]:
    """A second month's invoice as the sandbox would report it, not yet delivered."""
    sub = subscription(gift)
    sub.open_invoice_id = "in_sbx_concurrent"
    obj = SandboxGateway()._invoice_object(sub, paid=True, reason="subscription_cycle")
    db.session.rollback()
    return obj


def _post(base: str, payload: bytes, header: str) -> Callable[[], tuple[int, bytes]]:
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    return lambda: live_request(f"{base}/webhooks/stripe", data=payload, headers=headers)


def test_one_invoice_delivered_concurrently_is_recorded_once(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    invoice = _renewal_invoice(gift)
    same = sandbox_event("invoice.paid", invoice)
    distinct = [sandbox_event("invoice.paid", invoice) for _ in range(8)]
    calls = []
    with live_server(app) as base:
        payload = event_bytes(same)
        calls += [_post(base, payload, signature(app, payload))] * 8
        for event in distinct:
            body = event_bytes(event)
            calls.append(_post(base, body, signature(app, body)))
        results = all_at_once(calls)
    statuses = [status for status, _ in results]
    assert all(s == 200 for s in statuses), statuses
    notes = [json.loads(body)["note"] for _, body in results]
    assert notes.count("recorded") == 1, notes
    donations = gifts_of(gift)
    assert len(donations) == 2
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "gift", LedgerEntry.donation_id == donations[-1].id)) == 1
    assert raised(client, SLUG) == 10000


# --- events about subscriptions we do not know, and malformed ones -----------------------------


def test_unknown_subscription_is_stored_and_ignored(app: Flask, client, case) -> None:  # noqa: ANN001
    invoice = {"id": "in_unknown", "object": "invoice", "subscription": "sub_nobody",
               "amount_paid": 5000, "currency": "jpy", "customer": "cus_x"}
    for kind in ("invoice.paid", "invoice.payment_failed"):
        response = deliver(client, app, sandbox_event(kind, invoice))
        assert response.status_code == 200
        assert response.get_json()["note"] == "ignored: unknown subscription"
    response = deliver(client, app, sandbox_event("customer.subscription.deleted",
                                                  {"id": "sub_nobody", "status": "canceled"}))
    assert response.status_code == 200
    assert len(_events()) == 3
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 0


@pytest.mark.parametrize("change", [
    {"amount_paid": "5000"}, {"amount_paid": 50.5}, {"id": None}, {"id": ""},
    {"subscription": ["sub"]}, {"currency": 5}, {"lines": {"data": [{"period": {"end": "x"}}]}},
    {"parent": {"subscription_details": {"metadata": {"recurring_gift_id": 7}}}},
    {"lines": [1]}, {"subscription": "sub\x00"},
])
def test_malformed_invoice_events_are_refused(app: Flask, client, case, change) -> None:  # noqa: ANN001
    gift = subscribe(client)
    invoice = _renewal_invoice(gift)
    invoice.update(change)
    before = len(_events())
    for kind in ("invoice.paid", "invoice.payment_failed"):
        response = deliver(client, app, sandbox_event(kind, invoice))
        assert response.status_code == 400, response.get_json()
    assert len(_events()) == before
    assert len(gifts_of(gift)) == 1 and reload(gift).status == "active"


def test_malformed_subscription_events_are_refused(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    before = len(_events())
    for obj in ({"id": gift.gateway_subscription_id, "items": {"data": [{"price": {"unit_amount": "1"}}]}},
                {"id": gift.gateway_subscription_id, "current_period_end": -5},
                {"id": 12}):
        response = deliver(client, app, sandbox_event("customer.subscription.updated", obj))
        assert response.status_code == 400
    assert len(_events()) == before and reload(gift).amount_minor == 5000


def test_a_foreign_currency_invoice_is_flagged_not_counted(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    invoice = _renewal_invoice(gift)
    invoice["currency"] = "usd"
    response = deliver(client, app, sandbox_event("invoice.paid", invoice))
    assert response.get_json()["note"] == "flagged"
    assert [d.status for d in gifts_of(gift)] == ["succeeded", "flagged"]
    assert raised(client, SLUG) == 5000


def test_sandbox_clock_is_stored_in_the_database(app: Flask, runner) -> None:  # noqa: ANN001
    gateway = SandboxGateway()
    start = gateway.now()
    advance(runner, 3)
    fresh()
    assert (SandboxGateway().now() - start).days == 3
    result = runner.invoke(args=["sandbox", "advance", "--to", "2000-01-01"])
    assert result.exit_code != 0 and "only moves forward" in result.output
