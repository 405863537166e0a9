"""Recording payments: one idempotent operation for the webhook, the thank-you page and
reconciliation, plus refunds and disputes from gateway events.

Every function here flushes and leaves the commit to its caller (a view, the webhook
boundary in ``tracker.payments.webhooks`` or a CLI command).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from tracker import audit
from tracker.core import labels
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.i18n import current_locale
from tracker.core.money import Money, Settlement, divide_half_up, format_money
from tracker.core.time import utcnow
from tracker.core.validation import check_reason
from tracker.donations import notices, receipts
from tracker.donations.models import EXPIRED, FAILED, FLAGGED, PENDING, SUCCEEDED, Donation
from tracker.donations.services import lock_donation, settle
from tracker.extensions import db
from tracker.ledger import book, reads
from tracker.ledger.models import DISPUTE, DISPUTE_REVERSAL, FEE, FEE_COVER, REFUND
from tracker.payments import webhooks
from tracker.payments.gateway import (
    ASYNC_METHODS,
    Gateway,
    SessionFacts,
    session_facts_from_event,
)


class Outcome(enum.StrEnum):
    """What recording a payment did."""

    RECORDED = "recorded"
    ALREADY = "already recorded"
    FLAGGED = "flagged"
    WAITING = "waiting for payment"
    UNKNOWN = "unknown donation"


def _flag(donation: Donation, reason: str) -> Outcome:
    """Keep a suspicious payment out of every total and tell staff why."""
    if donation.status != FLAGGED:
        before = {"status": donation.status}
        donation.status = FLAGGED
        donation.flag_reason = reason[:200]
        db.session.flush()
        audit.record("donation.flagged", donation, case_id=donation.case_id, before=before,
                     after={"status": FLAGGED, "reason": reason}, actor_label="payments")
    return Outcome.FLAGGED


def _mismatch(donation: Donation, amount_minor: int, currency: str, livemode: bool,
              gateway: Gateway) -> str | None:
    if currency.upper() != donation.currency:
        return f"currency {currency.upper()} differs from the donation's {donation.currency}"
    if amount_minor != donation.amount_minor:
        return f"amount {amount_minor} differs from the donation's {donation.amount_minor}"
    if livemode != gateway.livemode:
        return f"livemode {livemode} differs from the gateway's {gateway.livemode}"
    return None


def record_payment(facts: SessionFacts, gateway: Gateway,
                   settlement: Callable[[], Settlement] | None = None) -> Outcome:
    """Record a completed, paid checkout exactly once, whoever reports it first.

    The donation row is locked, its state re-read, and the amount, currency and livemode
    compared with what the gateway says: a mismatch is flagged and never counted.
    """
    if not facts.donation_id:
        return Outcome.UNKNOWN
    donation = lock_donation(facts.donation_id)
    if donation is None:
        return Outcome.UNKNOWN
    if donation.status == SUCCEEDED:
        return Outcome.ALREADY
    if donation.status == FLAGGED:
        return Outcome.FLAGGED
    if donation.gateway_session_id and donation.gateway_session_id != facts.session_id:
        return _flag(donation, "paid through a checkout session that is not the donation's")
    problem = _mismatch(donation, facts.amount_minor, facts.currency, facts.livemode, gateway)
    if problem:
        return _flag(donation, problem)
    if facts.status != "complete" or facts.payment_status != "paid" or not facts.payment_intent_id:
        donation.gateway_session_id = facts.session_id
        donation.gateway_payment_intent_id = facts.payment_intent_id
        if facts.status == "complete" and facts.payment_intent_id and donation.awaiting_method is None:
            # Checkout finished with a way to pay that completes later (a konbini voucher, a
            # bank transfer): the gift waits for checkout.session.async_payment_succeeded.
            instructions = gateway.payment_instructions(facts.payment_intent_id)
            donation.awaiting_method = instructions.method if instructions else None
        db.session.flush()
        return Outcome.WAITING
    got = settlement() if settlement else gateway.settlement(facts.payment_intent_id, facts)
    _settle(donation, got, session_id=facts.session_id, intent_id=facts.payment_intent_id,
            livemode=facts.livemode)
    return Outcome.RECORDED


def _settle(donation: Donation, got: Settlement, *, session_id: str | None,
            intent_id: str | None, livemode: bool) -> None:
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    if got.currency != base:
        _flag(donation, f"settled in {got.currency}, not the base currency {base}")
        return
    donation.gateway_session_id = session_id or donation.gateway_session_id
    donation.gateway_payment_intent_id = intent_id
    donation.gateway_charge_id = got.charge_id
    donation.livemode = livemode
    if donation.awaiting_method in ASYNC_METHODS:
        # paid by the konbini voucher or the bank transfer it waited for, not by card: the
        # channel is set before the ledger books it, so the reports count it under its way
        donation.channel = donation.awaiting_method
    settle(donation, got, settled_at=utcnow())
    receipts.issue_receipt(donation)
    audit.record("donation.recorded", donation, case_id=donation.case_id,
                 after={"amount": f"{donation.currency} {donation.amount_minor}",
                        "gross": donation.gross_minor, "fee": donation.fee_minor},
                 actor_label="payments")


def flag_payment(donation: Donation, reason: str) -> Outcome:
    """Keep a payment the gateway reported out of every total, with the reason for staff."""
    return _flag(donation, reason)


def settle_payment(donation: Donation, got: Settlement, *, intent_id: str | None,
                   livemode: bool) -> Outcome:
    """Record a pending donation the gateway reports paid (a monthly gift's invoice): the
    same settlement, ledger booking, receipt and audit as a paid checkout."""
    _settle(donation, got, session_id=None, intent_id=intent_id, livemode=livemode)
    return Outcome.RECORDED if donation.status == SUCCEEDED else Outcome.FLAGGED


def mark_failed(facts: SessionFacts, status: str) -> None:
    """An asynchronous payment failed or a session expired: the donation will not be paid."""
    if not facts.donation_id:
        return
    donation = lock_donation(facts.donation_id)
    if donation is not None and donation.status == PENDING:
        # A voucher or transfer that was never paid in time ends as expired, not failed.
        donation.status = EXPIRED if donation.awaiting_method else status
        db.session.flush()


# --- refunds and disputes --------------------------------------------------------------------


def _donation_for_charge(charge: dict[str, Any]) -> Donation | None:
    public_id = (charge.get("metadata") or {}).get("donation_id")
    if public_id:
        return lock_donation(public_id)
    conditions = []
    if charge.get("payment_intent"):
        conditions.append(Donation.gateway_payment_intent_id == charge["payment_intent"])
    if charge.get("id"):
        conditions.append(Donation.gateway_charge_id == charge["id"])
    if not conditions:
        return None
    found = db.session.scalar(db.select(Donation.public_id).where(db.or_(*conditions)))
    return lock_donation(found) if found else None


def _base_share(donation: Donation, part_minor: int, already_base: int, already_minor: int) -> int:
    """The base-currency value of ``part_minor`` of the donor's currency.

    Proportional to the settled gross; the part that completes the whole donation takes
    exactly what is left, so a full refund always returns the full gross.
    """
    gross = donation.gross_minor or 0
    if already_minor + part_minor >= donation.amount_minor:
        return gross - already_base
    return int(divide_half_up(Decimal(gross) * part_minor, donation.amount_minor))


def _booked(donation: Donation, *kinds: str) -> tuple[int, int]:
    """Base and original amounts already booked of ``kinds`` for a donation (as positives)."""
    return reads.booked(donation.id, *kinds)


#: what takes money back from a gift: refunds and disputes, less disputes won back
TAKEN_BACK_KINDS = (REFUND, DISPUTE, DISPUTE_REVERSAL)


def _taken_back(donation: Donation) -> tuple[int, int]:
    """What refunds and standing disputes have taken back from a gift so far (base and the
    donor's currency, as positives), the fee cover's share with the gift's. Together they
    never exceed the gift itself."""
    base, original = _booked(donation, *TAKEN_BACK_KINDS)
    cover = reads.fee_cover(donation.id) if donation.fee_cover_minor else reads.CoverBooks()
    return (base + cover.refunded_base + cover.disputed_base,
            original + cover.refunded_original + cover.disputed_original)


def _refunded_so_far(donation: Donation) -> tuple[int, int]:
    """What refunds gave back so far, the fee cover's part with the gift's (positives)."""
    base, original = _booked(donation, REFUND)
    cover = reads.fee_cover(donation.id) if donation.fee_cover_minor else reads.CoverBooks()
    return base + cover.refunded_base, original + cover.refunded_original


def _standing_dispute(donation: Donation) -> int:
    """What standing disputes hold back of a gift (the donor's currency, positive), the fee
    cover's share with the gift's."""
    _base, original = _booked(donation, DISPUTE, DISPUTE_REVERSAL)
    cover = reads.fee_cover(donation.id) if donation.fee_cover_minor else reads.CoverBooks()
    return original + cover.disputed_original


def _cover_part(donation: Donation, part: int, base: int, taken_minor: int) -> tuple[int, int]:
    """The fee cover's share (base, donor's currency) of a refund or a dispute of ``part``
    (``base`` in the base currency): proportional, rounded down, and exactly what is left of
    the cover when the movement completes the whole gift, so a gift taken back in full gives
    back its cover in full and its case loses only what the gift's part brought it."""
    if not donation.fee_cover_minor:
        return 0, 0
    cover = reads.fee_cover(donation.id)
    if taken_minor + part >= donation.amount_minor:
        cover_base, cover_original = cover.left_base, cover.left_original
    else:
        cover_base = min(cover.left_base, base * cover.booked_base // (donation.gross_minor or 1))
        cover_original = min(cover.left_original,
                             part * donation.fee_cover_minor // donation.amount_minor)
    if cover_base <= 0:
        return 0, 0  # too small to split: one entry
    if cover_base >= base:
        # nothing of the gift's part is left (an earlier part took it, rounded): all of this
        # part is the cover's, or the case would go below zero for this gift
        return base, part
    return cover_base, max(cover_original, 0)


def _taken_under(kind: str, ref: str) -> bool:
    """Whether a refund or dispute ``ref`` is booked already: as its kind, or, when all of it
    was the fee cover's share, as that ``fee_cover`` entry alone (same reference)."""
    return reads.is_booked(kind, ref) or reads.is_booked(FEE_COVER, ref)


def _take_back(kind: str, donation: Donation, *, part: int, base: int, taken_minor: int,
               ref: str, memo: str) -> None:
    """Book ``part`` of a gift (``base`` in the base currency) taken back by a refund or a
    dispute: the gift's share as ``kind`` and, for a gift with fee cover, the cover's share as
    a negative ``fee_cover`` entry under the same reference, so the case loses only what the
    gift's part brought it and the reports' fee cover nets what stayed."""
    cover_base, cover_original = _cover_part(donation, part, base, taken_minor)
    if base > cover_base:
        book.book_take_back(
            kind, donation_id=donation.id, case_id=donation.case_id,
            base=Money(base - cover_base, donation.settled_currency),
            original=Money(part - cover_original, donation.currency), ref=ref, memo=memo,
        )
    if cover_base:
        book.book_cover_take_back(
            donation_id=donation.id, case_id=donation.case_id,
            base=Money(cover_base, donation.settled_currency),
            original=Money(cover_original, donation.currency), ref=ref, cause=kind,
        )


def _capped(donation: Donation, ref: str, kind: str, asked: int, taken_minor: int) -> int:
    """``asked`` (donor's currency) cut to what is left of the gift after everything already
    taken back; a cut is audited so staff see why the books differ from the gateway's."""
    part = min(asked, donation.amount_minor - taken_minor)
    if part < asked:
        audit.record("donation.take_back_capped", donation, case_id=donation.case_id,
                     after={"kind": kind, "ref": ref, "asked_minor": asked,
                            "booked_minor": max(part, 0), "taken_back_minor": taken_minor},
                     actor_label="payments")
    return part


def _ensure_recorded(donation: Donation, charge: dict[str, Any], gateway: Gateway,
                     livemode: bool) -> bool:
    """A refund or dispute may arrive before the completion event: record the gift first."""
    if donation.status == SUCCEEDED:
        return True
    if donation.status != PENDING:
        return False
    problem = _mismatch(donation, int(charge.get("amount") or 0), str(charge.get("currency") or ""),
                        livemode, gateway)
    if problem:
        _flag(donation, problem)
        return False
    intent = charge.get("payment_intent")
    facts = SessionFacts(
        session_id=donation.gateway_session_id or "", status="complete", payment_status="paid",
        donation_id=donation.public_id, amount_minor=donation.amount_minor,
        currency=donation.currency, livemode=livemode, payment_intent_id=intent, created=utcnow(),
    )
    got = gateway.settlement(intent, facts)
    _settle(donation, got, session_id=donation.gateway_session_id, intent_id=intent,
            livemode=livemode)
    return donation.status == SUCCEEDED


def book_refunds(charge: dict[str, Any], gateway: Gateway, livemode: bool) -> int:
    """Book each refund of a charge once (by refund id); returns how many were new."""
    donation = _donation_for_charge(charge)
    if donation is None or not _ensure_recorded(donation, charge, gateway, livemode):
        return 0
    if str(charge.get("currency") or "").upper() != donation.currency:
        _flag(donation, "refund in a currency that differs from the donation's")
        return 0
    # Since API version 2022-11-15 a charge no longer carries its refunds: ask the gateway.
    refunds = (charge.get("refunds") or {}).get("data")
    if refunds is None and charge.get("id"):
        refunds = gateway.list_refunds(charge["id"])
    refunds = list(refunds or [])
    _base, booked_minor = _refunded_so_far(donation)
    listed = sum(int(r.get("amount") or 0) for r in refunds
                 if r.get("status") in (None, "succeeded", "pending"))
    total_refunded = int(charge.get("amount_refunded") or 0)
    if total_refunded > max(listed, booked_minor):
        # Refunds we cannot see one by one: book what is missing under a reference made of
        # the cumulative amount, so a repeat of the same report books nothing.
        refunds.append({"id": f"{charge.get('id')}:refunded:{total_refunded}", "status": "succeeded",
                        "amount": total_refunded - max(listed, booked_minor), "created": 1 << 40})
    refunds.sort(key=lambda r: (r.get("created") or 0, r.get("id") or ""))
    new = 0
    for refund in refunds:
        if refund.get("status") not in (None, "succeeded", "pending"):
            continue
        ref = refund["id"]
        if _taken_under(REFUND, ref):
            continue
        _refunded_base, refunded_minor = _refunded_so_far(donation)
        part = int(refund["amount"])
        if part <= 0 or refunded_minor + part > donation.amount_minor:
            # Never book more than was given; the gift itself stays as it is. Staff see why.
            audit.record("donation.refund_refused", donation, case_id=donation.case_id,
                         after={"refund": ref, "amount_minor": part,
                                "already_refunded_minor": refunded_minor},
                         actor_label="payments")
            continue
        # Refunds and disputes together never take back more than the gift brought in.
        taken_base, taken_minor = _taken_back(donation)
        part = _capped(donation, ref, REFUND, part, taken_minor)
        if part <= 0:
            continue
        base = _base_share(donation, part, taken_base, taken_minor)
        _take_back(REFUND, donation, part=part, base=base, taken_minor=taken_minor, ref=ref,
                   memo="refund")
        audit.record("donation.refunded", donation, case_id=donation.case_id,
                     after={"refund": ref, "amount_minor": part}, actor_label="payments")
        notices.refund_notice(donation, part, ref)
        new += 1
    return new


def _book_dispute_fees(donation: Donation, dispute: dict[str, Any]) -> None:
    """The gateway's fee for handling a dispute is a cost like a card fee: a ``fee`` entry
    (reported, never counted as money taken back from the gift), once per balance
    transaction. A fee in another currency than the gift's settlement is left to staff."""
    for txn in dispute.get("balance_transactions") or []:
        fee = int(txn.get("fee") or 0)
        if fee <= 0 or str(txn.get("currency") or "").upper() != donation.settled_currency:
            continue
        ref = f"dispute-fee:{txn['id']}"
        if reads.is_booked(FEE, ref):
            continue
        book.book_fee(donation_id=donation.id, case_id=donation.case_id,
                      fee=Money(fee, donation.settled_currency), ref=ref, memo="dispute fee")


def book_dispute(dispute: dict[str, Any], gateway: Gateway, livemode: bool) -> bool:
    """charge.dispute.created: the disputed amount leaves the totals (once per dispute id).

    A charge has one dispute at a time: a second dispute id on the same gift while another
    stands takes back only what it asks beyond the standing one, and refunds and disputes
    together never take back more than the gift brought in (the rest is audited, not booked).
    The dispute's fee is booked as a fee entry.
    """
    charge = {"id": dispute.get("charge"), "payment_intent": dispute.get("payment_intent"),
              "metadata": dispute.get("metadata") or {}, "amount": None, "currency": None}
    donation = _donation_for_charge(charge)
    if donation is None or donation.status != SUCCEEDED:
        return False
    _book_dispute_fees(donation, dispute)
    ref = dispute["id"]
    if _taken_under(DISPUTE, ref):
        return False
    standing = _standing_dispute(donation)
    asked = min(int(dispute.get("amount") or 0), donation.amount_minor) - standing
    if asked <= 0:
        if standing:
            audit.record("donation.take_back_capped", donation, case_id=donation.case_id,
                         after={"kind": DISPUTE, "ref": ref, "asked_minor": asked + standing,
                                "booked_minor": 0, "standing_dispute_minor": standing},
                         actor_label="payments")
        return False
    taken_base, taken_minor = _taken_back(donation)
    part = _capped(donation, ref, DISPUTE, asked, taken_minor)
    if part <= 0:
        return False
    base = _base_share(donation, part, taken_base, taken_minor)
    _take_back(DISPUTE, donation, part=part, base=base, taken_minor=taken_minor, ref=ref,
               memo="dispute opened")
    audit.record("donation.disputed", donation, case_id=donation.case_id,
                 after={"dispute": ref, "amount_minor": part}, actor_label="payments")
    return True


def close_dispute(dispute: dict[str, Any], gateway: Gateway, livemode: bool) -> bool:
    """charge.dispute.closed: a won dispute brings the money back; a lost one stays out."""
    ref = dispute["id"]
    # Closed before we saw it open: book the opening first so the pair stays whole.
    if not _taken_under(DISPUTE, ref) and not book_dispute(dispute, gateway, livemode):
        return False
    if dispute.get("status") not in ("won", "warning_closed"):
        return False
    if reads.is_booked(DISPUTE_REVERSAL, ref) or reads.is_booked(FEE_COVER, f"{ref}:won"):
        return False
    opened = reads.entry_by_ref(DISPUTE, ref)
    if opened is not None:  # (none when all of the dispute was the fee cover's share)
        book.book_dispute_reversal(opened, memo="dispute won")
    cover = reads.entry_by_ref(FEE_COVER, ref)
    if cover is not None:
        book.book_cover_dispute_reversal(cover)  # the fee cover's share comes back with it
    return True


# --- staff refunds ---------------------------------------------------------------------------


def check_refund(donation: Donation, amount_minor: int, reason: str, gateway: Gateway, *,
                 expected_refunded_minor: int | None = None) -> tuple[Donation, str, int]:
    """Lock the gift and make every check ``refund_donation`` makes before calling the
    gateway (see there); returns the locked gift, the cleaned reason and how much of it had
    been refunded. Used alone, it tells staff what a refund will do before they confirm it."""
    locked = lock_donation(donation.public_id)
    if locked is None:
        raise NotFound(_("There is no such gift."))
    if locked.channel == "konbini":
        raise Conflict(_("The payment service cannot refund a convenience-store payment: pay "
                         "the donor back yourself and record it as an adjustment of the gift."))
    if not locked.refunded_by_gateway:
        raise Conflict(_("Bank transfers and cash are not refunded through the payment service: "
                         "pay the donor back yourself and record it as an adjustment of the gift."))
    if locked.status != SUCCEEDED or not locked.gateway_payment_intent_id:
        raise Conflict(_("Only a recorded card payment can be refunded; this gift is %(status)s.",
                         status=labels.label("gift_status", locked.status).lower()))
    if locked.gateway != gateway.name:
        raise Conflict(_("This gift was paid through the %(paid_with)s gateway, but the app now "
                         "uses %(current)s; refund it there.",
                         paid_with=locked.gateway, current=gateway.name))
    disputes = reads.count_kinds(locked.id, DISPUTE, DISPUTE_REVERSAL)
    if disputes[0] > disputes[1]:
        raise Conflict(_("The donor's bank disputed this payment; it cannot be refunded while "
                         "the dispute stands."))
    reason = check_reason(reason)
    _base, refunded = _refunded_so_far(locked)
    if expected_refunded_minor is not None and expected_refunded_minor != refunded:
        raise Conflict(_("This gift's refunds changed since the form was opened (was it sent "
                         "twice?); nothing more was refunded. Check the gift and try again."))
    remaining = locked.amount_minor - refunded
    if remaining <= 0:
        raise Conflict(_("This gift has already been refunded in full."))
    if amount_minor <= 0:
        raise DomainError(_("Enter an amount greater than zero."), field="amount")
    if amount_minor > remaining:
        left = format_money(Money(remaining, locked.currency), current_locale())
        raise DomainError(_("Only %(amount)s of this gift is left to refund.", amount=left),
                          field="amount")

    return locked, reason, refunded


def refund_donation(donation: Donation, amount_minor: int, reason: str, actor: Any,
                    gateway: Gateway, *, expected_refunded_minor: int | None = None) -> str:
    """Refund part or all of a recorded card gift through the gateway and book it at once.

    ``amount_minor`` is in the donor's currency; ``actor`` is the staff user (audited). The
    donation is locked, then refused (Conflict) unless it is a succeeded card payment of this
    gateway with a payment intent and no open dispute; the amount must be positive and at most
    what is left unrefunded (DomainError, field "amount"). ``expected_refunded_minor`` is how
    much had been refunded when the staff member's form was shown: if refunds changed since
    (the same form sent twice, or a webhook in between) nothing is refunded (Conflict).

    The gateway call carries a key made of the donation, the amount refunded before and this
    amount, so a retry of the same request returns the same refund instead of a second one.
    The refund is then booked through ``book_refunds`` under the gateway's refund id, exactly
    as the later ``charge.refunded`` webhook would, which therefore finds it already booked.
    Returns the refund id. GatewayError propagates with nothing booked; the caller rolls back.
    """

    locked, reason, refunded = check_refund(donation, amount_minor, reason, gateway,
                                            expected_refunded_minor=expected_refunded_minor)
    refund_id = gateway.refund(locked.gateway_payment_intent_id, amount_minor,
                               key=f"{locked.public_id}:{refunded}:{amount_minor}")
    charge = {
        "id": locked.gateway_charge_id,
        "payment_intent": locked.gateway_payment_intent_id,
        "amount": locked.amount_minor,
        "currency": locked.currency.lower(),
        "metadata": {"donation_id": locked.public_id},
        "refunds": {"data": [{"id": refund_id, "amount": amount_minor, "status": "succeeded",
                              "created": int(utcnow().timestamp())}]},
    }
    book_refunds(charge, gateway, locked.livemode)
    audit.record(
        "donation.refund_requested", locked, case_id=locked.case_id, actor=actor,
        before={"refunded_minor": refunded, "currency": locked.currency},
        after={"refund": refund_id, "amount_minor": amount_minor,
               "refunded_minor": refunded + amount_minor, "currency": locked.currency,
               "reason": reason},
    )
    return refund_id


# --- what the gateway's events mean for gifts (tracker.payments.webhooks routes them here) ---


@webhooks.handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def _paid(event: dict[str, Any], gateway: Gateway) -> str:
    return str(record_payment(session_facts_from_event(event), gateway))


@webhooks.handles("checkout.session.async_payment_failed")
def _failed(event: dict[str, Any], gateway: Gateway) -> str:
    mark_failed(session_facts_from_event(event), FAILED)
    return "payment failed"


@webhooks.handles("checkout.session.expired")
def _expired(event: dict[str, Any], gateway: Gateway) -> str:
    mark_failed(session_facts_from_event(event), EXPIRED)
    return "session expired"


@webhooks.handles("charge.refunded")
def _refunded(event: dict[str, Any], gateway: Gateway) -> str:
    return f"{book_refunds(event['data']['object'], gateway, bool(event.get('livemode')))} refunds booked"


@webhooks.handles("charge.dispute.created")
def _disputed(event: dict[str, Any], gateway: Gateway) -> str:
    opened = book_dispute(event["data"]["object"], gateway, bool(event.get("livemode")))
    return "dispute booked" if opened else "no change"


@webhooks.handles("charge.dispute.closed")
def _dispute_closed(event: dict[str, Any], gateway: Gateway) -> str:
    reversed_ = close_dispute(event["data"]["object"], gateway, bool(event.get("livemode")))
    return "dispute reversed" if reversed_ else "no change"
