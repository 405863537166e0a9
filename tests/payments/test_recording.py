"""Recording a payment once, whoever reports it first: the webhook, the thank-you page or
``flask stripe reconcile``; events delivered twice, out of order, mismatched or from the
wrong mode; refunds and disputes booked once each.

Donations are started through the real form; the sandbox session is then paid with
``SandboxGateway.pay`` and committed WITHOUT delivering the event, so each test decides who
reports the payment, and when.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import (
    deliver,
    event_bytes,
    ledger_amounts,
    ledger_kinds,
    pay_without_delivery,
    payment_events,
    raised,
    receipt_messages,
    receipts_for,
    reload,
    sandbox_session,
    start_gift,
    table_counts,
    thanks_path,
)
from tracker.audit import AuditEntry
from tracker.core.time import utcnow
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.sandbox.gateway import SandboxGateway, deliver_sandbox_event, sandbox_event

SLUG = "six-survivors"
GIFT = {"gift": 1, "fee": 1}


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


@pytest.fixture
def pending(client, case) -> tuple[Donation, str]:  # noqa: ANN001
    """A ¥5,000 donation with an email address, waiting at the sandbox checkout."""
    return start_gift(client, SLUG, email="donor@example.org", name="Aiko")


def _confirmed(client, donation: Donation) -> bool:  # noqa: ANN001
    page = client.get(thanks_path(donation))
    assert page.status_code == 200
    return 'class="confirmed"' in page.text


def _assert_recorded_once(client, donation: Donation) -> None:  # noqa: ANN001
    donation = reload(donation)
    assert donation.status == "succeeded"
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (5000, 180, 4820)
    assert ledger_kinds(donation) == GIFT
    assert len(receipts_for(donation)) == 1
    assert len(receipt_messages()) == 1
    assert raised(client, SLUG) == 5000


# --- who reports first -----------------------------------------------------------------------


def test_thanks_page_before_the_webhook(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    event = pay_without_delivery(session_id)

    assert _confirmed(client, donation)
    _assert_recorded_once(client, donation)
    assert payment_events() == []

    status, body = deliver_sandbox_event(event)  # the webhook arrives late

    assert status == 200
    assert body == {"received": True, "duplicate": False, "note": "already recorded"}
    _assert_recorded_once(client, donation)
    assert len(payment_events()) == 1


def test_webhook_before_the_thanks_page(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    event = pay_without_delivery(session_id)

    response = deliver(client, app, event)

    assert response.status_code == 200 and response.get_json()["note"] == "recorded"
    _assert_recorded_once(client, donation)
    assert _confirmed(client, donation)
    assert _confirmed(client, donation)  # a refresh changes nothing either
    _assert_recorded_once(client, donation)
    assert len(payment_events()) == 1


def test_reconcile_records_a_payment_whose_webhook_never_came(
    app: Flask, client, runner, pending, mail_dir: Path,  # noqa: ANN001
) -> None:
    donation, session_id = pending
    pay_without_delivery(session_id)
    assert reload(donation).status == "pending"

    first = runner.invoke(args=["stripe", "reconcile", "--since", "72h"])

    assert first.exit_code == 0, first.output
    assert "1 recorded" in first.output
    _assert_recorded_once(client, donation)
    [message] = receipt_messages()
    assert message.sent_at is not None  # reconcile delivers the receipt email it queued
    assert len(list(mail_dir.glob("*.eml"))) == 1

    second = runner.invoke(args=["stripe", "reconcile", "--since", "72h"])

    assert second.exit_code == 0, second.output
    assert "1 already recorded" in second.output
    _assert_recorded_once(client, donation)
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)
                             .where(Donation.status == "succeeded")) == 1
    assert len(list(mail_dir.glob("*.eml"))) == 1


def test_reconcile_looks_back_only_as_far_as_asked(app: Flask, client, runner, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    pay_without_delivery(session_id)
    session = sandbox_session(session_id)
    session.created_at = utcnow() - timedelta(days=4)
    db.session.commit()

    short = runner.invoke(args=["stripe", "reconcile", "--since", "72h"])
    assert short.exit_code == 0, short.output
    assert reload(donation).status == "pending"

    long = runner.invoke(args=["stripe", "reconcile", "--since", "5d"])
    assert long.exit_code == 0, long.output
    assert "1 recorded" in long.output
    _assert_recorded_once(client, donation)


@pytest.mark.parametrize("since", ["garbage", "0h", "72", "3w", "-3d", ""])
def test_reconcile_refuses_a_bad_since(app: Flask, runner, pending, since: str) -> None:  # noqa: ANN001
    donation, session_id = pending
    pay_without_delivery(session_id)

    result = runner.invoke(args=["stripe", "reconcile", "--since", since])

    assert result.exit_code != 0
    assert "--since" in result.output
    assert "use a number and a unit, like 72h" in result.output
    assert "Traceback" not in result.output
    assert reload(donation).status == "pending"


def test_thanks_page_ignores_url_parameters(app: Flask, client, case) -> None:  # noqa: ANN001
    """Only the donation's own session, fetched server-side, can confirm it."""
    unpaid, _ = start_gift(client, SLUG)
    other, other_session = start_gift(client, SLUG)
    pay_without_delivery(other_session)  # another donation's session really is paid

    for query in (f"?session_id={other_session}&status=paid&payment_status=paid",
                  "?session_id=cs_other&status=paid&redirect_status=succeeded"):
        page = client.get(thanks_path(unpaid) + query)
        assert page.status_code == 200
        assert 'class="confirming"' in page.text and 'class="confirmed"' not in page.text

    assert reload(unpaid).status == "pending"
    assert reload(other).status == "pending"  # nobody reported it yet
    assert table_counts()["ledger_entries"] == 0
    assert raised(client, SLUG) == 0


def test_thanks_page_for_an_unknown_donation_is_404(app: Flask, client) -> None:  # noqa: ANN001
    assert client.get("/donations/don_nope/thanks").status_code == 404


# --- the same event twice --------------------------------------------------------------------


def test_same_event_delivered_twice_is_applied_once(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    event = pay_without_delivery(session_id)

    first = deliver(client, app, event)
    second = deliver(client, app, event)

    assert first.status_code == second.status_code == 200
    assert first.get_json()["duplicate"] is False
    assert second.get_json() == {"received": True, "duplicate": True, "note": "duplicate"}
    [row] = payment_events()
    assert row.event_id == event["id"] and row.note == "recorded"
    assert row.payload == event_bytes(event).decode()  # the raw body as signed
    _assert_recorded_once(client, donation)

    # A replay under the same id with a different (re-signed) body is still a duplicate.
    replay = dict(event, type="charge.refunded")
    assert deliver(client, app, replay).get_json()["duplicate"] is True
    assert len(payment_events()) == 1
    _assert_recorded_once(client, donation)


# --- refunds ---------------------------------------------------------------------------------


def _charge(donation: Donation, intent: str, refunds: list[dict[str, Any]], *,
            amount: int = 5000, currency: str = "jpy") -> dict[str, Any]:
    return {
        "id": "ch_x", "object": "charge", "payment_intent": intent, "amount": amount,
        "currency": currency, "amount_refunded": sum(r["amount"] for r in refunds),
        "metadata": {"donation_id": donation.public_id}, "refunds": {"data": refunds},
    }


def _refund(ref: str, amount: int, *, currency: str = "jpy", created: int = 1) -> dict[str, Any]:
    return {"id": ref, "amount": amount, "currency": currency, "status": "succeeded", "created": created}


def test_refunds_before_the_completion_event(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    completed = pay_without_delivery(session_id)
    intent = sandbox_session(session_id).payment_intent_id
    re_1 = _refund("re_1", 2000)

    # A partial refund arrives first: the gift is recorded, then the refund booked.
    first = deliver(client, app, sandbox_event("charge.refunded", _charge(donation, intent, [re_1])))
    assert first.status_code == 200 and first.get_json()["note"] == "1 refunds booked"
    assert reload(donation).status == "succeeded"
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1, "refund": 1}
    assert ledger_amounts(donation, "refund") == [-2000]
    assert raised(client, SLUG) == 3000

    # The same refund again, in a new event: nothing new.
    again = deliver(client, app, sandbox_event("charge.refunded", _charge(donation, intent, [re_1])))
    assert again.get_json()["note"] == "0 refunds booked"
    assert ledger_amounts(donation, "refund") == [-2000]
    assert raised(client, SLUG) == 3000

    # The rest is refunded: the charge now lists both refunds.
    rest = _charge(donation, intent, [re_1, _refund("re_2", 3000, created=2)])
    full = deliver(client, app, sandbox_event("charge.refunded", rest))
    assert full.get_json()["note"] == "1 refunds booked"
    assert ledger_amounts(donation, "refund") == [-3000, -2000]
    assert raised(client, SLUG) == 0

    # At last the completion event: already recorded, nothing changes.
    late = deliver(client, app, completed)
    assert late.get_json()["note"] == "already recorded"
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1, "refund": 2}
    assert len(receipts_for(donation)) == 1
    assert raised(client, SLUG) == 0
    assert len(payment_events()) == 4


def test_refunds_of_a_dollar_gift_return_exactly_the_settled_yen(app: Flask, client, case) -> None:  # noqa: ANN001
    """$50.00 settled as ¥7,500; refunds of $33.33 and $16.67 take back exactly ¥7,500."""
    donation, session_id = start_gift(client, SLUG, currency="USD", preset="USD:5000")
    deliver(client, app, pay_without_delivery(session_id))
    intent = sandbox_session(session_id).payment_intent_id
    assert raised(client, SLUG) == 7500

    part = [_refund("re_a", 3333, currency="usd")]
    deliver(client, app, sandbox_event("charge.refunded", _charge(donation, intent, part, currency="usd")))
    assert ledger_amounts(donation, "refund") == [-5000]  # 7500 * 3333 / 5000 = 4999.5, half up
    assert raised(client, SLUG) == 2500

    both = [*part, _refund("re_b", 1667, currency="usd", created=2)]
    deliver(client, app, sandbox_event("charge.refunded", _charge(donation, intent, both, currency="usd")))
    assert raised(client, SLUG) == 0


def test_refund_beyond_the_gift_is_refused_and_audited_and_the_gift_stays(
    app: Flask, client, pending  # noqa: ANN001
) -> None:
    donation, session_id = pending
    deliver(client, app, pay_without_delivery(session_id))
    intent = sandbox_session(session_id).payment_intent_id

    too_much = _charge(donation, intent, [_refund("re_big", 6000)], amount=5000)
    response = deliver(client, app, sandbox_event("charge.refunded", too_much))

    assert response.status_code == 200
    assert ledger_kinds(donation) == GIFT
    assert reload(donation).status == "succeeded"  # the gift still counts, wall and donors too


    refused = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "donation.refund_refused")
    ).all()
    assert [e.after["refund"] for e in refused] == ["re_big"]
    # a later, legitimate refund is still booked
    fine = _charge(donation, intent, [_refund("re_ok", 2000)], amount=5000)
    deliver(client, app, sandbox_event("charge.refunded", fine))
    assert raised(client, SLUG) == 3000


def test_a_charge_without_its_refund_list_books_the_missing_amount_once(
    app: Flask, client, pending  # noqa: ANN001
) -> None:
    """Stripe stopped embedding refunds in charges (API 2022-11-15): use amount_refunded."""
    donation, session_id = pending
    deliver(client, app, pay_without_delivery(session_id))
    intent = sandbox_session(session_id).payment_intent_id
    bare = _charge(donation, intent, [], amount=5000)
    bare.pop("refunds")
    bare["amount_refunded"] = 2000
    deliver(client, app, sandbox_event("charge.refunded", bare))
    deliver(client, app, sandbox_event("charge.refunded", bare))  # same report, new event id
    assert raised(client, SLUG) == 3000
    bare["amount_refunded"] = 5000
    deliver(client, app, sandbox_event("charge.refunded", bare))
    assert raised(client, SLUG) == 0


# --- mismatches and the wrong mode ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"amount_total": 4000}, "amount"), ({"currency": "usd"}, "currency"),
     ({"id": "cs_test_sbx_not_the_donations"}, "session")],
    ids=["amount", "currency", "session"],
)
def test_mismatched_completion_is_flagged_and_not_counted(
    app: Flask, client, pending, changes: dict[str, Any], reason: str,  # noqa: ANN001
) -> None:
    donation, session_id = pending
    genuine = pay_without_delivery(session_id)
    obj = SandboxGateway.session_object(sandbox_session(session_id))
    obj.update(changes)

    response = deliver(client, app, sandbox_event("checkout.session.completed", obj))

    assert response.status_code == 200 and response.get_json()["note"] == "flagged"
    flagged = reload(donation)
    assert flagged.status == "flagged" and reason in flagged.flag_reason
    assert ledger_kinds(donation) == {}
    assert receipts_for(donation) == []
    assert raised(client, SLUG) == 0

    # Neither the genuine event nor the thanks page un-flag it: staff decide.
    assert deliver(client, app, genuine).get_json()["note"] == "flagged"
    assert not _confirmed(client, donation)
    assert reload(donation).status == "flagged"
    assert ledger_kinds(donation) == {}
    assert raised(client, SLUG) == 0


def test_livemode_event_on_the_sandbox_is_stored_and_ignored(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    genuine = pay_without_delivery(session_id)
    obj = SandboxGateway.session_object(sandbox_session(session_id))
    live = dict(sandbox_event("checkout.session.completed", dict(obj, livemode=True)), livemode=True)

    response = deliver(client, app, live)

    assert response.status_code == 200
    assert response.get_json()["note"].startswith("ignored")
    [row] = payment_events()
    assert row.event_id == live["id"] and row.livemode is True
    assert reload(donation).status == "pending"
    assert ledger_kinds(donation) == {}

    # The test-mode event still records the gift.
    assert deliver(client, app, genuine).get_json()["note"] == "recorded"
    _assert_recorded_once(client, donation)


def test_live_session_inside_a_test_event_is_flagged(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    pay_without_delivery(session_id)
    obj = dict(SandboxGateway.session_object(sandbox_session(session_id)), livemode=True)

    deliver(client, app, sandbox_event("checkout.session.completed", obj))

    assert reload(donation).status == "flagged"
    assert "livemode" in reload(donation).flag_reason
    assert ledger_kinds(donation) == {}


# --- asynchronous payments (konbini, bank transfer) -------------------------------------------


def test_async_payment_waits_then_succeeds(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    pay_without_delivery(session_id)
    obj = SandboxGateway.session_object(sandbox_session(session_id))

    waiting = deliver(client, app, sandbox_event("checkout.session.completed",
                                                 dict(obj, payment_status="unpaid")))
    assert waiting.get_json()["note"] == "waiting for payment"
    assert reload(donation).status == "pending"
    assert ledger_kinds(donation) == {}

    done = deliver(client, app, sandbox_event("checkout.session.async_payment_succeeded", obj))
    assert done.get_json()["note"] == "recorded"
    _assert_recorded_once(client, donation)


def test_async_payment_failure_marks_the_donation_failed(app: Flask, client, pending) -> None:  # noqa: ANN001
    donation, session_id = pending
    obj = SandboxGateway.session_object(sandbox_session(session_id))

    deliver(client, app, sandbox_event("checkout.session.async_payment_failed", obj))

    assert reload(donation).status == "failed"
    assert ledger_kinds(donation) == {}
    page = client.get(thanks_path(donation))
    assert "not completed" in page.text


# --- disputes --------------------------------------------------------------------------------


def _dispute(kind: str, donation: Donation, *, amount: int = 2000, status: str = "needs_response",
             ref: str = "dp_1") -> dict[str, Any]:
    donation = reload(donation)
    return sandbox_event(f"charge.dispute.{kind}", {
        "id": ref, "object": "dispute", "amount": amount, "currency": "jpy", "status": status,
        "charge": donation.gateway_charge_id, "payment_intent": donation.gateway_payment_intent_id,
        "metadata": {},
    })


@pytest.fixture
def recorded(app: Flask, client, pending) -> Donation:  # noqa: ANN001
    donation, session_id = pending
    deliver(client, app, pay_without_delivery(session_id))
    assert reload(donation).status == "succeeded"
    return donation


@pytest.mark.parametrize(("outcome", "after"), [("won", 5000), ("lost", 3000)])
def test_dispute_opened_then_closed(app: Flask, client, recorded, outcome: str, after: int) -> None:  # noqa: ANN001
    opened = deliver(client, app, _dispute("created", recorded))
    assert opened.get_json()["note"] == "dispute booked"
    assert raised(client, SLUG) == 3000

    # Stripe may send the opening twice (a new event id for the same dispute).
    assert deliver(client, app, _dispute("created", recorded)).get_json()["note"] == "no change"
    assert ledger_amounts(recorded, "dispute") == [-2000]
    assert raised(client, SLUG) == 3000

    deliver(client, app, _dispute("closed", recorded, status=outcome))
    deliver(client, app, _dispute("closed", recorded, status=outcome))  # and the closing twice

    assert raised(client, SLUG) == after
    assert ledger_amounts(recorded, "dispute") == [-2000]
    assert ledger_amounts(recorded, "dispute_reversal") == ([2000] if outcome == "won" else [])
    assert ledger_kinds(recorded)["gift"] == 1


def test_dispute_closed_before_it_was_seen_opening(app: Flask, client, recorded) -> None:  # noqa: ANN001
    deliver(client, app, _dispute("closed", recorded, status="won", amount=5000))
    assert ledger_amounts(recorded, "dispute") == [-5000]
    assert ledger_amounts(recorded, "dispute_reversal") == [5000]
    assert raised(client, SLUG) == 5000

    deliver(client, app, _dispute("created", recorded, amount=5000))  # the late opening
    assert ledger_amounts(recorded, "dispute") == [-5000]
    assert raised(client, SLUG) == 5000


def test_full_dispute_lost_takes_everything_back(app: Flask, client, recorded) -> None:  # noqa: ANN001
    deliver(client, app, _dispute("created", recorded, amount=5000))
    deliver(client, app, _dispute("closed", recorded, amount=5000, status="lost"))
    assert raised(client, SLUG) == 0
