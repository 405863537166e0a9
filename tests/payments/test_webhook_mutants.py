"""The webhook's own decisions, each pinned by a test that fails if it is made wrongly: which
signed events are refused for their shape (and what the log says), which handler each event
type reaches (monthly checkouts included), what is stored for an event, how a duplicate is
recognised (also when another worker stored it first, or another gateway used the same id),
and what the sender is told when the database or the gateway fails.

Written against mutation testing (``mutmut run 'tracker.payments.webhooks*'``), but every test
states behaviour a donor, staff member or Stripe relies on.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import (
    deliver,
    event_bytes,
    ledger_kinds,
    pay_without_delivery,
    payment_events,
    post_webhook,
    reload,
    sandbox_session,
    start_gift,
    table_counts,
)
from tests.payments.test_recurring import gifts_of, start_monthly, subscribe, subscription
from tests.payments.test_recurring import reload as reload_gift
from tracker.extensions import db
from tracker.payments import webhooks
from tracker.payments.gateway import get_gateway
from tracker.payments.models import PaymentEvent
from tracker.sandbox.gateway import SandboxGateway, sandbox_event

SLUG = "six-survivors"
MAX_INT = 2**63 - 1
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _refused_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith("webhook refused")]


# --- the shape of a handled event ---------------------------------------------------------------
#
# Each object below belongs to nobody we know, so an accepted event is stored and changes
# nothing else; a refused one is a 400 that stores nothing and logs which field was wrong.


def _refund(**changes: Any) -> dict[str, Any]:
    return {"id": "re_1", "amount": 100, "status": "succeeded", "created": 1, **changes}


def _charge(**changes: Any) -> dict[str, Any]:
    return {"id": "ch_nobody", "object": "charge", "payment_intent": "pi_nobody", "amount": 5000,
            "amount_refunded": 100, "currency": "jpy", "metadata": {},
            "refunds": {"object": "list", "data": [_refund()]}, **changes}


def _dispute(**changes: Any) -> dict[str, Any]:
    return {"id": "dp_nobody", "object": "dispute", "charge": "ch_nobody", "payment_intent": "pi_nobody",
            "amount": 100, "currency": "jpy", "status": "needs_response", "metadata": {}, **changes}


def _subscription(**changes: Any) -> dict[str, Any]:
    return {"id": "sub_nobody", "object": "subscription", "status": "active", "customer": "cus_nobody",
            "currency": "jpy", "metadata": {}, **changes}


def _refunds(*refunds: dict[str, Any]) -> dict[str, Any]:
    return {"refunds": {"object": "list", "data": list(refunds)}}


LONGEST_ID = "x" * 200
REFUNDED = "charge.refunded"
DISPUTE_OPENED = "charge.dispute.created"
SUB_UPDATED = "customer.subscription.updated"

ACCEPTED = {
    "charge as Stripe sends it": ("charge.refunded", _charge(), "0 refunds booked"),
    "refund without status or created": (
        "charge.refunded", _charge(**_refunds({"id": "re_1", "amount": 100})), "0 refunds booked"),
    "refund list without data": ("charge.refunded", _charge(refunds={"object": "list"}), "0 refunds booked"),
    "refund list that is empty": ("charge.refunded", _charge(refunds={"data": []}), "0 refunds booked"),
    "largest 64-bit amount": (
        "charge.refunded", _charge(**_refunds(_refund(amount=MAX_INT))), "0 refunds booked"),
    "most negative 64-bit amount": (
        "charge.refunded", _charge(**_refunds(_refund(amount=-MAX_INT))), "0 refunds booked"),
    "reference of the longest length": ("charge.refunded", _charge(id=LONGEST_ID), "0 refunds booked"),
    "null reference": ("charge.refunded", _charge(payment_intent=None), "0 refunds booked"),
    "empty reference": ("charge.refunded", _charge(payment_intent=""), "0 refunds booked"),
    "metadata naming our ids": (
        "charge.refunded", _charge(metadata={"donation_id": "don_nobody", "recurring_gift_id": "rg_nobody"}),
        "0 refunds booked"),
    "id of the longest length": ("charge.dispute.created", _dispute(id=LONGEST_ID), "no change"),
    "timestamp 0": ("customer.subscription.updated", _subscription(current_period_end=0),
                    "ignored: unknown subscription"),
    "last timestamp of year 9999": ("customer.subscription.updated",
                                    _subscription(current_period_end=MAX_TIMESTAMP),
                                    "ignored: unknown subscription"),
    "expanded customer": ("customer.subscription.updated", _subscription(customer={"id": "cus_nobody"}),
                          "ignored: unknown subscription"),
    "expanded customer without id": ("customer.subscription.updated", _subscription(customer={}),
                                     "ignored: unknown subscription"),
    "type we do not handle": ("customer.created", {"id": "cus_1", "object": "customer", "email": 5},
                              "ignored: not a type we handle"),
}


@pytest.mark.parametrize(("kind", "obj", "note"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_well_formed_event_is_accepted(app: Flask, client, kind: str, obj: dict[str, Any], note: str,  # noqa: ANN001
                                       caplog: pytest.LogCaptureFixture) -> None:
    event = sandbox_event(kind, obj)

    response = deliver(client, app, event)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"received": True, "duplicate": False, "note": note}
    [row] = payment_events()
    assert (row.event_id, row.type, row.note) == (event["id"], kind, note)
    assert _refused_logs(caplog) == []


REFUSED = {
    "refund list that is not an object": (
        REFUNDED, _charge(refunds=["re_1"]), "refunds"),
    "refund without id": (
        REFUNDED, _charge(**_refunds({"amount": 100, "status": "succeeded", "created": 1})),
        "refunds"),
    "refund with an empty id": (REFUNDED, _charge(**_refunds(_refund(id=""))),
                                "refunds"),
    "refund amount as a string": (REFUNDED, _charge(**_refunds(_refund(amount="100"))),
                                  "refunds"),
    "refund amount as a float": (REFUNDED, _charge(**_refunds(_refund(amount=1.5))),
                                 "refunds"),
    "refund amount as a boolean": (REFUNDED, _charge(**_refunds(_refund(amount=True))),
                                   "refunds"),
    "refund amount beyond 64 bits": (REFUNDED, _charge(**_refunds(_refund(amount=MAX_INT + 1))),
                                     "refunds"),
    "refund status as a number": (REFUNDED, _charge(**_refunds(_refund(status=5))),
                                  "refunds"),
    "refund status with a NUL": (REFUNDED, _charge(**_refunds(_refund(status="succeeded\x00"))),
                                 "refunds"),
    "refund created as a string": (REFUNDED, _charge(**_refunds(_refund(created="x"))),
                                   "refunds"),
    "the second refund bad": (REFUNDED, _charge(**_refunds(_refund(), _refund(id="re_2", amount="1"))),
                              "refunds"),
    "reference longer than any id": (REFUNDED, _charge(id=LONGEST_ID + "x"), "id"),
    "reference as a number": (REFUNDED, _charge(payment_intent=5),
                              "payment_intent"),
    "currency with a lone surrogate": (REFUNDED, _charge(currency="jp\ud800"),
                                       "currency"),
    "donation id as a number": (REFUNDED, _charge(metadata={"donation_id": 5}),
                                "metadata"),
    "monthly gift id as a number": (REFUNDED, _charge(metadata={"recurring_gift_id": 7}),
                                    "metadata"),
    "metadata that is a string": (REFUNDED, _charge(metadata="don_1"), "metadata"),
    "dispute without id": (DISPUTE_OPENED, _dispute(id=None), "id"),
    "dispute with an empty id": (DISPUTE_OPENED, _dispute(id=""), "id"),
    "dispute id as a number": ("charge.dispute.closed", _dispute(id=12), "id"),
    "dispute id too long": (DISPUTE_OPENED, _dispute(id=LONGEST_ID + "x"),
                            "id"),
    "dispute id with a NUL": (DISPUTE_OPENED, _dispute(id="dp_\x00"), "id"),
    "timestamp before 1970": (SUB_UPDATED, _subscription(current_period_end=-1),
                              "current_period_end"),
    "timestamp after year 9999": (SUB_UPDATED,
                                  _subscription(current_period_end=MAX_TIMESTAMP + 1),
                                  "current_period_end"),
    "timestamp as a float": ("customer.subscription.deleted", _subscription(current_period_end=1.5),
                             "current_period_end"),
    "timestamp as a boolean": (SUB_UPDATED, _subscription(current_period_end=True),
                               "current_period_end"),
    "customer as a number": (SUB_UPDATED, _subscription(customer=5),
                             "customer"),
    "expanded customer with a numeric id": (SUB_UPDATED, _subscription(customer={"id": 5}),
                                            "customer"),
    "checkout session without id": (
        "checkout.session.expired", {"object": "checkout.session", "mode": "payment"},
        "id"),
}


@pytest.mark.parametrize(("kind", "obj", "field"), REFUSED.values(), ids=REFUSED.keys())
def test_malformed_event_is_refused_stores_nothing_and_logs_the_field(
    app: Flask, client, kind: str, obj: dict[str, Any], field: str,  # noqa: ANN001
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = table_counts()

    response = deliver(client, app, sandbox_event(kind, obj))

    assert response.status_code == 400
    assert response.get_json() == {"error": "malformed event"}
    assert table_counts() == before
    assert _refused_logs(caplog) == [f"webhook refused: malformed {kind} field {field!r}"]


@pytest.mark.parametrize(("changes", "problem"), [
    ({"id": ""}, "event id"),
    ({"id": "evt_" + "x" * 200}, "event id"),
    ({"id": "evt_\x00"}, "event id"),
    ({"type": 5}, "event type"),
    ({"type": None}, "event type"),
], ids=["empty id", "id too long", "id with a NUL", "type a number", "type null"])
def test_event_with_a_bad_id_or_type_is_refused(app: Flask, client, changes: dict[str, Any],  # noqa: ANN001
                                                problem: str, caplog: pytest.LogCaptureFixture) -> None:
    event = dict(sandbox_event("charge.refunded", _charge()), **changes)

    response = deliver(client, app, event)

    assert response.status_code == 400
    assert response.get_json() == {"error": "malformed event"}
    assert table_counts()["payment_events"] == 0
    assert _refused_logs(caplog) == [f"webhook refused: malformed {problem}"]


def test_refusals_say_why(app: Flask, client, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    """The sender (and the Stripe dashboard) sees which check refused a request, and the log
    says the same."""
    payload = event_bytes(sandbox_event("charge.refunded", _charge()))
    unsigned = post_webhook(client, payload, None)
    assert unsigned.status_code == 400
    assert unsigned.get_json() == {"error": "invalid signature"}
    assert _refused_logs(caplog) == ["webhook refused: missing Stripe-Signature header"]

    caplog.clear()
    not_an_object = dict(sandbox_event("charge.refunded", _charge()), data={"object": "ch_1"})
    no_object = deliver(client, app, not_an_object)
    assert no_object.status_code == 400
    assert no_object.get_json() == {"error": "not an event"}
    assert table_counts()["payment_events"] == 0


# --- what is stored for an event ----------------------------------------------------------------


def test_stored_event_row(app: Flask, client) -> None:  # noqa: ANN001
    """Gateway, id, the type cut to its column's 80 characters, the raw body, and when it was
    processed."""
    kind = "customer.some_future_event_type_" + "x" * 70
    event = sandbox_event(kind, {"id": "obj_1"})

    assert deliver(client, app, event).status_code == 200

    [row] = payment_events()
    assert row.gateway == "sandbox" and row.event_id == event["id"]
    assert row.type == kind[:80]
    assert row.livemode is False
    assert row.payload == event_bytes(event).decode()
    assert row.processed_at is not None and row.received_at is not None
    assert row.note == "ignored: not a type we handle"


def test_same_event_id_from_another_gateway_is_not_a_duplicate(app: Flask, client, case) -> None:  # noqa: ANN001
    """Event ids are unique per gateway: a Stripe event stored earlier under the same id does
    not stop the sandbox's event from being applied."""
    donation, session_id = start_gift(client, SLUG)
    event = pay_without_delivery(session_id)
    db.session.add(PaymentEvent(gateway="stripe", event_id=event["id"], type="charge.refunded",
                                livemode=False, payload="{}"))
    db.session.commit()

    response = deliver(client, app, event)

    assert response.get_json() == {"received": True, "duplicate": False, "note": "recorded"}
    assert reload(donation).status == "succeeded"
    assert sorted(r.gateway for r in payment_events()) == ["sandbox", "stripe"]
    again = deliver(client, app, event)
    assert again.get_json() == {"received": True, "duplicate": True, "note": "duplicate"}
    assert len(payment_events()) == 2


def test_event_stored_by_another_worker_meanwhile_is_a_duplicate(
    app: Flask, client, case, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """Two workers both find the event new; the second one's insert meets the UNIQUE index,
    rolls back, and reports a duplicate without applying anything."""
    donation, session_id = start_gift(client, SLUG)
    event = pay_without_delivery(session_id)
    assert deliver(client, app, event).get_json()["note"] == "recorded"
    db.session.rollback()

    real = webhooks.already_stored
    first_look = []

    def stale_first_look(gateway, event_id):  # noqa: ANN001, ANN202
        """The first check ran before the other worker committed."""
        if not first_look:
            first_look.append(event_id)
            return False
        return real(gateway, event_id)

    monkeypatch.setattr(webhooks, "already_stored", stale_first_look)

    result = webhooks.ingest(event, event_bytes(event).decode(), get_gateway())

    assert result == (False, "duplicate")
    assert first_look == [event["id"]]
    assert len(payment_events()) == 1
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1}


def test_ingest_reports_new_and_duplicate(app: Flask, case, client) -> None:  # noqa: ANN001
    """What ``flask stripe reconcile`` relies on: (True, note) the first time, then
    (False, "duplicate")."""
    donation, session_id = start_gift(client, SLUG)
    event = pay_without_delivery(session_id)
    raw = event_bytes(event).decode()

    assert webhooks.ingest(event, raw, get_gateway()) == (True, "recorded")
    assert webhooks.ingest(event, raw, get_gateway()) == (False, "duplicate")
    assert reload(donation).status == "succeeded"


def test_gateway_failure_is_503_stores_nothing_and_a_retry_records(
    app: Flask, client, case, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,  # noqa: ANN001
) -> None:
    """The settlement lookup fails (here: no exchange rate for the gift's currency): the
    sender is told to retry, nothing is kept, and the retry records the gift once."""
    donation, session_id = start_gift(client, SLUG, currency="USD", preset="USD:5000")
    event = pay_without_delivery(session_id)
    rates = dict(app.config["TRACKER_EXCHANGE_RATES"])
    rates.pop("USD")
    with monkeypatch.context() as patch:
        patch.setitem(app.config, "TRACKER_EXCHANGE_RATES", rates)
        failed = deliver(client, app, event)

    assert failed.status_code == 503
    assert failed.get_json() == {"error": "temporarily unavailable; retry"}
    assert payment_events() == []
    assert reload(donation).status == "pending"
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage() == f"webhook {event['id']} not stored; the sender will retry"
    assert logged.exc_info is not None

    retried = deliver(client, app, event)
    assert retried.get_json() == {"received": True, "duplicate": False, "note": "recorded"}
    assert reload(donation).status == "succeeded"
    assert len(payment_events()) == 1


# --- one-off checkouts ending without payment ---------------------------------------------------


def test_expired_checkout_marks_the_donation_expired(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    obj = dict(SandboxGateway.session_object(sandbox_session(session_id)), status="expired")

    response = deliver(client, app, sandbox_event("checkout.session.expired", obj))

    assert response.get_json()["note"] == "session expired"
    assert reload(donation).status == "expired"
    assert ledger_kinds(donation) == {}


def test_failed_async_payment_note(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    obj = SandboxGateway.session_object(sandbox_session(session_id))

    response = deliver(client, app, sandbox_event("checkout.session.async_payment_failed", obj))

    assert response.get_json()["note"] == "payment failed"
    assert reload(donation).status == "failed"


# --- monthly gifts: each checkout and subscription event reaches its own handler ----------------


def _monthly_checkout(gift) -> dict[str, Any]:  # noqa: ANN001
    """The gift's subscription-mode Checkout Session, as the sandbox reports it once paid."""
    obj = SandboxGateway()._checkout_object(subscription(gift))
    db.session.rollback()
    return obj


def test_async_success_of_a_monthly_checkout_starts_the_gift(app: Flask, client, case) -> None:  # noqa: ANN001
    gift, _ = start_monthly(client)
    obj = _monthly_checkout(gift)

    response = deliver(client, app, sandbox_event("checkout.session.async_payment_succeeded", obj))

    assert response.get_json()["note"] == "monthly gift started"
    gift = reload_gift(gift)
    assert gift.status == "incomplete"  # the first invoice's own event makes it active
    assert gift.gateway_subscription_id == obj["subscription"]
    assert gift.gateway_customer_id == obj["customer"]


@pytest.mark.parametrize("kind", ["checkout.session.expired", "checkout.session.async_payment_failed"])
def test_monthly_checkout_that_ends_unpaid_cancels_the_gift(app: Flask, client, case, kind: str) -> None:  # noqa: ANN001
    gift, _ = start_monthly(client)
    obj = dict(_monthly_checkout(gift), status="expired", payment_status="unpaid",
               subscription=None, customer=None)

    response = deliver(client, app, sandbox_event(kind, obj))

    assert response.get_json()["note"] == "monthly gift not started"
    gift = reload_gift(gift)
    assert gift.status == "canceled"
    assert gifts_of(gift) == []


def test_subscription_update_changes_the_amount_and_keeps_the_gift(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    sub = SandboxGateway().subscription_object(subscription(gift))
    db.session.rollback()
    sub["items"]["data"][0]["price"]["unit_amount"] = 8000

    response = deliver(client, app, sandbox_event("customer.subscription.updated", sub))

    assert response.get_json()["note"] == "monthly gift active"
    gift = reload_gift(gift)
    assert (gift.status, gift.amount_minor) == ("active", 8000)


def test_subscription_deleted_cancels_the_gift_whatever_its_status_says(app: Flask, client, case) -> None:  # noqa: ANN001
    """A deletion is the end of the subscription, even when the object still reads "active"
    (or carries no status at all)."""
    gift = subscribe(client)
    sub = SandboxGateway().subscription_object(subscription(gift))
    db.session.rollback()

    deleted = sandbox_event("customer.subscription.deleted", dict(sub, status="active"))
    response = deliver(client, app, deleted)

    assert response.get_json()["note"] == "monthly gift canceled"
    assert reload_gift(gift).status == "canceled"
    [donation] = gifts_of(gift)  # the month already paid stays
    assert donation.status == "succeeded"


def test_failed_renewal_invoice_makes_the_gift_past_due(app: Flask, client, case) -> None:  # noqa: ANN001
    gift = subscribe(client)
    sub = subscription(gift)
    sub.open_invoice_id = "in_sbx_renewal"
    invoice = SandboxGateway()._invoice_object(sub, paid=False, reason="subscription_cycle")
    db.session.rollback()

    response = deliver(client, app, sandbox_event("invoice.payment_failed", invoice))

    assert response.get_json()["note"] == "payment failed"
    gift = reload_gift(gift)
    assert (gift.status, gift.failed_attempts) == ("past_due", 1)
    assert len(gifts_of(gift)) == 1


# --- disputes: what each closing did ------------------------------------------------------------


def test_dispute_closing_notes_say_whether_money_came_back(app: Flask, client, case) -> None:  # noqa: ANN001
    """Staff read the stored note to see what an event did: a won dispute is reversed once;
    its repeat, and a lost dispute, change nothing."""
    donation, session_id = start_gift(client, SLUG)
    deliver(client, app, pay_without_delivery(session_id))
    donation = reload(donation)

    def dispute(kind: str, ref: str, status: str) -> dict[str, Any]:
        return sandbox_event(f"charge.dispute.{kind}", _dispute(
            id=ref, charge=donation.gateway_charge_id, payment_intent=donation.gateway_payment_intent_id,
            amount=2000, status=status))

    notes = [deliver(client, app, event).get_json()["note"] for event in (
        dispute("created", "dp_won", "needs_response"),
        dispute("closed", "dp_won", "won"),
        dispute("closed", "dp_won", "won"),
        dispute("created", "dp_lost", "needs_response"),
        dispute("closed", "dp_lost", "lost"),
    )]

    assert notes == ["dispute booked", "dispute reversed", "no change", "dispute booked", "no change"]
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1, "dispute": 2, "dispute_reversal": 1}
