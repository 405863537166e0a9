"""A chargeback on a gift whose donor covered the card fee splits like a refund.

From the review of issue 18: a refund of a fee-covered gift books the gift's share as a
``refund`` and the cover's share as a negative ``fee_cover``, but a dispute booked the whole
charge as a ``dispute``, so a lost chargeback of ¥31,080 (a ¥30,000 gift and ¥1,080 of fee
cover) took ¥31,080 from a case that had been given ¥30,000 (the case went below zero for
that gift) and the reports still counted ¥1,080 of fee cover that the bank had taken back.

Now a dispute takes the gift's share from the case and the cover's share from the fee cover
under the same reference; a won dispute gives both back; refunds and disputes together still
never take back more than was charged. Every event is a signed webhook through
``POST /webhooks/stripe`` (the real stripe library verifies it). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_case
from tests.payments.helpers import deliver, fresh, pay_on_page, start_gift
from tracker.core.time import current_fiscal_year
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger import reads
from tracker.ledger.models import (
    COVER_MOVEMENTS,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE_COVER,
    GIFT,
    RAISED_KINDS,
    REFUND,
)
from tracker.reports.funding import funding_report
from tracker.sandbox.gateway import sandbox_event

SLUG = "covered-dispute"
GIFT_PART, COVER, CHARGED = 30_000, 1_080, 31_080


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising")


def _covered_gift(client) -> Donation:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y")
    pay_on_page(client, session_id)
    fresh()
    donation = db.session.get(Donation, donation.id)
    assert (donation.status, donation.amount_minor, donation.fee_cover_minor) == (
        "succeeded", CHARGED, COVER)
    return donation


def _dispute(kind: str, donation: Donation, ref: str, amount: int, status: str = "needs_response"
             ) -> dict[str, Any]:
    return sandbox_event(f"charge.dispute.{kind}", {
        "id": ref, "object": "dispute", "amount": amount, "currency": "jpy", "status": status,
        "charge": donation.gateway_charge_id, "payment_intent": donation.gateway_payment_intent_id,
        "metadata": {}, "balance_transactions": [],
    })


def _refunded(donation: Donation, refunds: list[tuple[str, int]]) -> dict[str, Any]:
    return sandbox_event("charge.refunded", {
        "id": donation.gateway_charge_id, "object": "charge",
        "payment_intent": donation.gateway_payment_intent_id, "amount": CHARGED,
        "currency": "jpy", "amount_refunded": sum(amount for _ref, amount in refunds),
        "metadata": {"donation_id": donation.public_id},
        "refunds": {"data": [{"id": ref, "amount": amount, "currency": "jpy",
                              "status": "succeeded", "created": n + 1}
                             for n, (ref, amount) in enumerate(refunds)]},
    })


def _send(app: Flask, client, event: dict[str, Any]) -> None:  # noqa: ANN001
    response = deliver(client, app, event)
    assert response.status_code == 200, (response.status_code, response.text)


def _totals(donation: Donation) -> dict[str, int]:
    fresh()
    totals: dict[str, int] = {}
    for entry in reads.entries_of(donation.id):
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.amount_minor
    return totals


def _case_raised(case_id: int) -> int:
    fresh()
    return reads.raised_by_case([case_id]).get(case_id, 0)


def test_a_lost_chargeback_takes_the_gift_from_the_case_and_the_cover_from_the_fee_cover(
        app: Flask, client, case, runner) -> None:  # noqa: ANN001
    donation = _covered_gift(client)
    _send(app, client, _dispute("created", donation, "dp_cover_lost", CHARGED))
    totals = _totals(donation)
    assert totals[DISPUTE] == -GIFT_PART            # the case loses what the gift brought it
    assert totals[FEE_COVER] == 0                   # and the cover is taken back apart
    assert _case_raised(case.id) == 0
    entries = reads.entries_of(donation.id)
    cover_back = [e for e in entries if e.kind == FEE_COVER and e.amount_minor < 0]
    dispute = [e for e in entries if e.kind == DISPUTE]
    assert [(e.amount_minor, e.original_amount_minor) for e in cover_back] == [(-COVER, -COVER)]
    assert cover_back[0].gateway_ref == dispute[0].gateway_ref == "dp_cover_lost"
    report = funding_report(current_fiscal_year())
    assert (report.totals.gifts, report.totals.disputes, report.totals.fee_cover) == (
        GIFT_PART, -GIFT_PART, 0)
    # a refund staff try afterwards finds nothing left to take back
    _send(app, client, _refunded(donation, [("re_after_dispute", 500)]))
    assert REFUND not in _totals(donation)
    _send(app, client, _dispute("closed", donation, "dp_cover_lost", CHARGED, "lost"))
    after = {k: v for k, v in _totals(donation).items() if k != "fee"}   # the card fee stays
    assert after == {GIFT: GIFT_PART, FEE_COVER: 0, DISPUTE: -GIFT_PART}
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


def test_a_won_chargeback_gives_back_the_gift_and_its_cover(
        app: Flask, client, case, runner) -> None:  # noqa: ANN001
    donation = _covered_gift(client)
    _send(app, client, _dispute("created", donation, "dp_cover_won", CHARGED))
    _send(app, client, _dispute("closed", donation, "dp_cover_won", CHARGED, "won"))
    _send(app, client, _dispute("closed", donation, "dp_cover_won", CHARGED, "won"))  # again
    totals = _totals(donation)
    assert totals[DISPUTE] + totals[DISPUTE_REVERSAL] == 0
    assert totals[FEE_COVER] == COVER
    assert _case_raised(case.id) == GIFT_PART
    won = [e for e in reads.entries_of(donation.id) if e.kind == FEE_COVER and e.amount_minor > 0]
    assert sorted(e.amount_minor for e in won) == [COVER, COVER]   # the gift's, the dispute's
    report = funding_report(current_fiscal_year())
    assert report.totals.fee_cover == COVER
    # the gift can be refunded in full afterwards, both parts
    _send(app, client, _refunded(donation, [("re_after_won", CHARGED)]))
    totals = _totals(donation)
    assert (totals[REFUND], totals[FEE_COVER]) == (-GIFT_PART, 0)
    assert _case_raised(case.id) == 0
    assert reads.gift_money([donation.id])[donation.id].refunded_minor == CHARGED
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


def test_a_partial_chargeback_after_a_partial_refund_splits_proportionally_and_caps(
        app: Flask, client, case) -> None:  # noqa: ANN001
    donation = _covered_gift(client)
    _send(app, client, _refunded(donation, [("re_half", 15_540)]))     # half: 15,000 + 540
    _send(app, client, _dispute("created", donation, "dp_rest", CHARGED))  # asks for all of it
    totals = _totals(donation)
    assert totals[REFUND] == -15_000 and totals[DISPUTE] == -15_000
    assert totals[FEE_COVER] == 0
    assert _case_raised(case.id) == 0
    # the donor's own page counts the refund as refunded, not the chargeback
    assert reads.gift_money([donation.id])[donation.id].refunded_minor == 15_540


@pytest.mark.parametrize("last", ["refund", "dispute won", "dispute lost"])
def test_a_last_yen_left_only_of_the_cover_is_taken_from_the_cover(
        app: Flask, client, case, last: str) -> None:  # noqa: ANN001
    """A refund of all but ¥1 leaves that yen on the cover (proportional, rounded down: 30,000
    of the gift and 1,079 of the cover). Taking the last yen back must take it from the cover:
    it was booked from the gift, putting the case ¥1 below zero for this gift. Replays book
    nothing more, and a won dispute of that yen gives it back to the cover."""
    donation = _covered_gift(client)
    _send(app, client, _refunded(donation, [("re_most", CHARGED - 1)]))
    assert _totals(donation)[FEE_COVER] == 1 and _case_raised(case.id) == 0
    if last == "refund":
        event = _refunded(donation, [("re_most", CHARGED - 1), ("re_last", 1)])
    else:
        event = _dispute("created", donation, "dp_last", 1)
    _send(app, client, event)
    _send(app, client, event)                                   # reported again
    if last != "refund":
        closed = _dispute("closed", donation, "dp_last", 1, last.split()[1])
        _send(app, client, closed)
        _send(app, client, closed)
    totals = _totals(donation)
    assert _case_raised(case.id) == 0
    assert totals[FEE_COVER] == (1 if last == "dispute won" else 0)
    assert DISPUTE not in totals and totals[REFUND] == -GIFT_PART


_steps = st.lists(st.one_of(
    st.tuples(st.just("refund"), st.integers(1, CHARGED)),
    st.tuples(st.just("open"), st.sampled_from(["dp_a", "dp_b"]), st.integers(1, CHARGED + 100)),
    st.tuples(st.just("close"), st.sampled_from(["dp_a", "dp_b"]), st.integers(1, CHARGED),
              st.sampled_from(["won", "lost"])),
), min_size=1, max_size=6)


def test_any_sequence_on_a_covered_gift_keeps_the_case_and_the_cover_within_bounds(
        app: Flask, client, case) -> None:  # noqa: ANN001
    """Property: after every signed event the gift's contribution to its case stays between
    zero and its ¥30,000, its fee cover between zero and ¥1,080, and what was taken back in the
    donor's currency never passes what was charged."""

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=_steps)
    def run(steps: list[tuple]) -> None:
        gift = _covered_gift(client)
        tag = gift.public_id[-8:]
        refunds: list[tuple[str, int]] = []
        for step in steps:
            if step[0] == "refund":
                refunds.append((f"re_{tag}_{len(refunds)}", step[1]))
                event = _refunded(gift, refunds)
            elif step[0] == "open":
                event = _dispute("created", gift, f"{step[1]}_{tag}", step[2])
            else:
                event = _dispute("closed", gift, f"{step[1]}_{tag}", step[2], step[3])
            _send(app, client, event)
            fresh()
            entries = reads.entries_of(gift.id)
            contribution = sum(e.amount_minor for e in entries if e.kind in RAISED_KINDS)
            cover = sum(e.amount_minor for e in entries if e.kind == FEE_COVER)
            taken = -sum(e.original_amount_minor or 0 for e in entries
                         if e.kind in (REFUND, DISPUTE, DISPUTE_REVERSAL)
                         or (e.kind == FEE_COVER and e.memo in COVER_MOVEMENTS))
            assert 0 <= contribution <= GIFT_PART, (steps, contribution)
            assert 0 <= cover <= COVER, (steps, cover)
            assert 0 <= taken <= CHARGED, (steps, taken)
            # the cover goes with the gift: everything taken back leaves nothing of either
            # (a part may leave a yen of one while the other is gone: proportional, rounded)
            if taken == CHARGED:
                assert (contribution, cover) == (0, 0), (steps, contribution, cover)

    run()
