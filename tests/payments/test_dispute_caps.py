"""Refunds and disputes together never take back more than a gift brought in (issue 15, item 7).

Repro from outside testing: a ¥5,000 gift, a ¥3,000 refund and two disputes, each delivered as
a validly signed webhook, netted −¥3,180 on the ledger. Now what refunds and standing disputes
take back is capped at what is left of the gift, a second dispute on the same charge counts
only what it asks beyond the standing one, and the gateway's dispute fee is a ``fee`` entry
(a cost, reported) rather than more money taken back from the gift.

Every event here goes through ``POST /webhooks/stripe`` signed with the webhook secret (the
real stripe library verifies it). Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func

from tests.factories import make_case
from tests.payments.helpers import (
    deliver,
    fresh,
    ledger_amounts,
    pay_without_delivery,
    raised,
    reload,
    sandbox_session,
    start_gift,
)
from tracker.audit import AuditEntry
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import FEE, RAISED_KINDS, LedgerEntry
from tracker.sandbox.gateway import sandbox_event

SLUG = "six-survivors"
GIFT_MINOR, CARD_FEE = 5000, 180
TAKEN_KINDS = ("refund", "dispute", "dispute_reversal")


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _recorded_gift(app: Flask, client) -> Donation:  # noqa: ANN001
    """A ¥5,000 card gift, paid on the sandbox and recorded by its signed webhook."""
    donation, session_id = start_gift(client, SLUG)
    response = deliver(client, app, pay_without_delivery(session_id))
    assert response.status_code == 200, response.text
    donation = reload(donation)
    assert (donation.status, donation.gross_minor, donation.fee_minor) == ("succeeded", GIFT_MINOR,
                                                                          CARD_FEE)
    assert donation.gateway_payment_intent_id == sandbox_session(session_id).payment_intent_id
    return donation


@pytest.fixture
def gift(app: Flask, client, case) -> Donation:  # noqa: ANN001
    return _recorded_gift(app, client)


def _refunded(donation: Donation, refunds: list[tuple[str, int]]) -> dict[str, Any]:
    """charge.refunded for the gift, listing every refund so far, as Stripe reports it."""
    return sandbox_event("charge.refunded", {
        "id": donation.gateway_charge_id, "object": "charge",
        "payment_intent": donation.gateway_payment_intent_id, "amount": GIFT_MINOR,
        "currency": "jpy", "amount_refunded": sum(amount for _ref, amount in refunds),
        "metadata": {"donation_id": donation.public_id},
        "refunds": {"data": [{"id": ref, "amount": amount, "currency": "jpy",
                              "status": "succeeded", "created": n + 1}
                             for n, (ref, amount) in enumerate(refunds)]},
    })


def _dispute(kind: str, donation: Donation, ref: str, amount: int, *,
             status: str = "needs_response", fee: int = 0) -> dict[str, Any]:
    """charge.dispute.created/closed on the gift's charge, with its balance transaction (the
    disputed amount withdrawn and the gateway's fee) expanded as Stripe sends it."""
    obj: dict[str, Any] = {
        "id": ref, "object": "dispute", "amount": amount, "currency": "jpy", "status": status,
        "charge": donation.gateway_charge_id, "payment_intent": donation.gateway_payment_intent_id,
        "metadata": {}, "balance_transactions": [],
    }
    if fee:
        obj["balance_transactions"] = [{"id": f"txn_{ref}", "object": "balance_transaction",
                                        "amount": -amount - fee, "currency": "jpy", "fee": fee,
                                        "net": -amount - fee, "type": "adjustment"}]
    return sandbox_event(f"charge.dispute.{kind}", obj)


def _sum(donation_id: int, kinds: tuple[str, ...], column=LedgerEntry.amount_minor) -> int:  # noqa: ANN001
    fresh()
    return int(db.session.scalar(
        db.select(func.coalesce(func.sum(column), 0))
        .where(LedgerEntry.donation_id == donation_id, LedgerEntry.kind.in_(kinds))) or 0)


def _ok(response) -> dict[str, Any]:  # noqa: ANN001
    assert response.status_code == 200, (response.status_code, response.text)
    return response.get_json()


def test_the_reported_repro_nets_to_zero_and_books_the_dispute_fee_as_a_fee(
    app: Flask, client, gift: Donation  # noqa: ANN001
) -> None:
    """¥5,000 gift, ¥3,000 refund, two disputes of the whole charge: −¥3,180 before."""
    _ok(deliver(client, app, _refunded(gift, [("re_1", 3000)])))
    assert raised(client, SLUG) == 2000

    first = _ok(deliver(client, app, _dispute("created", gift, "dp_1", 5000, fee=1500)))
    assert first["note"] == "dispute booked"
    second = _ok(deliver(client, app, _dispute("created", gift, "dp_2", 5000, fee=1500)))
    assert second["note"] == "no change"
    # the same dispute again under a new event id, and lost in the end
    _ok(deliver(client, app, _dispute("created", gift, "dp_1", 5000, fee=1500)))
    _ok(deliver(client, app, _dispute("closed", gift, "dp_1", 5000, status="lost", fee=1500)))

    assert ledger_amounts(gift, "refund") == [-3000]
    assert ledger_amounts(gift, "dispute") == [-2000]          # only what was left of the gift
    assert _sum(gift.id, RAISED_KINDS) == 0                    # never below what it brought in
    assert raised(client, SLUG) == 0
    # the card fee and each dispute's fee, once each, as fees: not taken from the gift
    assert ledger_amounts(gift, "fee") == [-1500, -1500, -CARD_FEE]
    assert _sum(gift.id, (FEE,)) == -(CARD_FEE + 3000)

    capped = db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.action == "donation.take_back_capped")).all()
    assert {(e.after["ref"], e.after["booked_minor"]) for e in capped} == {("dp_1", 2000),
                                                                           ("dp_2", 0)}


def test_a_refund_after_a_standing_dispute_takes_only_what_is_left(
    app: Flask, client, gift: Donation  # noqa: ANN001
) -> None:
    _ok(deliver(client, app, _dispute("created", gift, "dp_1", 4000)))
    assert raised(client, SLUG) == 1000
    _ok(deliver(client, app, _refunded(gift, [("re_1", 3000)])))
    assert ledger_amounts(gift, "refund") == [-1000]
    assert raised(client, SLUG) == 0

    # the dispute is won: its money comes back, and the books still never go below zero
    _ok(deliver(client, app, _dispute("closed", gift, "dp_1", 4000, status="won")))
    assert ledger_amounts(gift, "dispute_reversal") == [4000]
    assert raised(client, SLUG) == 4000


def test_a_second_dispute_on_the_same_charge_counts_only_what_it_adds(
    app: Flask, client, gift: Donation  # noqa: ANN001
) -> None:
    _ok(deliver(client, app, _dispute("created", gift, "dp_1", 2000)))
    _ok(deliver(client, app, _dispute("created", gift, "dp_2", 2000)))
    assert raised(client, SLUG) == 3000            # not 1000: the same money disputed twice
    _ok(deliver(client, app, _dispute("created", gift, "dp_3", 3500)))
    assert raised(client, SLUG) == 1500            # 1500 beyond the standing 2000
    assert ledger_amounts(gift, "dispute") == [-2000, -1500]


def test_a_dispute_fee_alone_never_moves_the_case_total(
    app: Flask, client, gift: Donation  # noqa: ANN001
) -> None:
    _ok(deliver(client, app, _dispute("created", gift, "dp_1", 1000, fee=1500)))
    _ok(deliver(client, app, _dispute("created", gift, "dp_1", 1000, fee=1500)))  # again
    assert raised(client, SLUG) == 4000
    assert ledger_amounts(gift, "fee") == [-1500, -CARD_FEE]


# --- any sequence --------------------------------------------------------------------------

_DISPUTE_IDS = ("dp_a", "dp_b", "dp_c")
#: amounts around the gift's own (¥5,000) as often as anywhere else
_amounts = st.one_of(st.sampled_from([1, 2000, 3000, 4999, 5000, 6000]), st.integers(1, 6000))
_steps = st.lists(st.one_of(
    st.tuples(st.just("refund"), _amounts),
    st.tuples(st.just("open"), st.sampled_from(_DISPUTE_IDS), _amounts,
              st.sampled_from([0, 1500])),
    st.tuples(st.just("close"), st.sampled_from(_DISPUTE_IDS), _amounts,
              st.sampled_from(["won", "lost", "warning_closed"])),
    st.tuples(st.just("replay"), st.integers(0, 20)),
), min_size=1, max_size=8)


def test_any_sequence_of_refunds_and_disputes_never_takes_back_more_than_the_gift(
    app: Flask, client, case  # noqa: ANN001
) -> None:
    """Property: after every signed event, in any order, repeated or not, the gift's
    contribution to its case stays between zero and what it brought in, in both currencies
    of the books; fees stay fees."""

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=_steps)
    def run(steps: list[tuple]) -> None:
        gift = _recorded_gift(app, client)
        tag = gift.public_id[-8:]          # gateway ids are unique across gifts
        refunds: list[tuple[str, int]] = []
        sent: list[dict[str, Any]] = []
        for step in steps:
            if step[0] == "refund":
                refunds.append((f"re_{tag}_{len(refunds)}", step[1]))
                event = _refunded(gift, refunds)
            elif step[0] == "open":
                event = _dispute("created", gift, f"{step[1]}_{tag}", step[2], fee=step[3])
            elif step[0] == "close":
                event = _dispute("closed", gift, f"{step[1]}_{tag}", step[2], status=step[3])
            elif sent:
                event = dict(sent[step[1] % len(sent)])
                event["id"] = event["id"] + "r"          # the same report, a new event id
            else:
                continue
            sent.append(event)
            _ok(deliver(client, app, event))

            contribution = _sum(gift.id, RAISED_KINDS)
            assert 0 <= contribution <= GIFT_MINOR, (steps, contribution)
            taken_original = -_sum(gift.id, TAKEN_KINDS, LedgerEntry.original_amount_minor)
            assert 0 <= taken_original <= GIFT_MINOR, (steps, taken_original)
            assert _sum(gift.id, ("gift",)) == GIFT_MINOR
            fees = ledger_amounts(gift, "fee")
            assert all(f < 0 for f in fees) and fees.count(-CARD_FEE) >= 1
            assert len(fees) <= 1 + len(_DISPUTE_IDS)

    run()
