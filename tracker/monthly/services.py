"""Monthly gifts: starting one, the gateway's reports about it, and the donor's cancel or
change.

Each paid invoice is recorded exactly once as an ordinary donation (UNIQUE
``Donation.gateway_invoice_id``, and the gift's row locked while it is checked), through the
same settlement, ledger booking and receipt as a one-off gift (``tracker.donations.recording``).
A failed payment moves no money: the gift becomes past due and counts the attempt; a later
paid invoice makes it active again. Everything here flushes; the caller commits. What the
gateway then reports (as Stripe does, the sandbox too) arrives through the webhook.

For staff pages and reports: ``gifts_with_status``, ``monthly_totals``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func

from tracker import audit
from tracker.cases.models import RescueCase
from tracker.core.errors import Conflict, DomainError
from tracker.core.locks import lock_row
from tracker.core.money import Money, MoneyError, check_gateway_limits
from tracker.core.time import utcnow
from tracker.donations import recording as services
from tracker.donations.models import PENDING, Donation, Donor
from tracker.donations.services import GiftInput, prepare_donor, tax_receipt_fields
from tracker.extensions import db
from tracker.monthly import notices
from tracker.monthly.models import (
    ACTIVE,
    CANCELED,
    INCOMPLETE,
    PAST_DUE,
    RECURRING_CURRENCIES,
    RecurringGift,
)
from tracker.payments import webhooks
from tracker.payments.gateway import Gateway, get_gateway, invoice_payment_intent

#: Stripe's subscription statuses as ours (others change nothing)
STRIPE_STATUSES = {
    "incomplete": INCOMPLETE, "active": ACTIVE, "trialing": ACTIVE, "past_due": PAST_DUE,
    "unpaid": PAST_DUE, "canceled": CANCELED, "incomplete_expired": CANCELED,
}


# --- starting ----------------------------------------------------------------------------------


def start_recurring(case: RescueCase | None, gift: GiftInput, gateway_name: str) -> RecurringGift:
    """A monthly gift waiting for its first payment, checked like a one-off gift; in JPY or
    USD only, and with an email address (the donor manages the gift from their own page)."""
    if gift.amount.currency not in RECURRING_CURRENCIES:
        raise DomainError(_("Monthly gifts are taken in yen (JPY) or US dollars (USD)."),
                          field="currency")
    if not (gift.email or "").strip():
        raise DomainError(_("Give your email address: it is how you manage a monthly gift."),
                          field="email")
    tax_fields = tax_receipt_fields(gift)
    donor = prepare_donor(case, gift)
    recurring = RecurringGift(
        donor=donor, case_id=case.id if case else None, amount_minor=gift.amount.amount_minor,
        currency=gift.amount.currency, gateway=gateway_name, status=INCOMPLETE,
        locale=gift.locale, display_name=gift.name.strip() if gift.wall == "name" else "",
        show_on_wall=gift.wall != "hidden", **tax_fields,
    )
    db.session.add(recurring)
    db.session.flush()
    return recurring


def checkout_started(gift_id: int, session_id: str) -> None:
    """Remember the gateway's checkout session of a monthly gift waiting for its first payment."""
    gift = db.session.get(RecurringGift, gift_id)
    gift.gateway_checkout_id = session_id
    db.session.flush()


def checkout_failed(gift_id: int) -> None:
    """The gateway did not open a checkout for a new monthly gift: it ends before it began."""
    gift = db.session.get(RecurringGift, gift_id)
    gift.move_to(CANCELED)
    db.session.flush()


def lock_gift(gift_id: int) -> RecurringGift | None:
    """Load a monthly gift and hold its row until commit, so that two reports of one invoice
    serialize (PostgreSQL: FOR UPDATE; SQLite: a no-op UPDATE takes the write lock first)."""
    return lock_row(RecurringGift, RecurringGift.id == gift_id, touch=RecurringGift.status)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _find(subscription_id: str | None, public_id: str | None, gateway: Gateway) -> RecurringGift | None:
    """The gift a report is about (by subscription id, or by our id in its metadata while the
    subscription is not yet known to us), locked; None when it is not ours."""
    gift_id = None
    if subscription_id:
        gift_id = db.session.scalar(db.select(RecurringGift.id).where(
            RecurringGift.gateway_subscription_id == subscription_id))
    if gift_id is None and public_id:
        gift_id = db.session.scalar(db.select(RecurringGift.id).where(
            RecurringGift.public_id == public_id, RecurringGift.gateway_subscription_id.is_(None)))
    if gift_id is None:
        return None
    gift = lock_gift(gift_id)
    if gift is None or gift.gateway != gateway.name:
        return None
    if subscription_id and gift.gateway_subscription_id is None:
        gift.gateway_subscription_id = subscription_id
    return gift


def _when(timestamp: Any) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) and timestamp > 0 else None


# --- the gateway's reports ---------------------------------------------------------------------


def checkout_completed(session: dict[str, Any], gateway: Gateway) -> str:
    """checkout.session.completed in subscription mode: remember the subscription and the
    customer. The money comes with the invoice's own event."""
    metadata = session.get("metadata") or {}
    public_id = metadata.get("recurring_gift_id") or session.get("client_reference_id")
    subscription_id = _ref(session.get("subscription"))
    gift = _find(subscription_id, public_id, gateway)
    if gift is None:
        return "ignored: unknown monthly gift"
    if gift.status == CANCELED and subscription_id:
        # Cancelled while its checkout page was still open (by the donor, or by staff
        # anonymizing them): the subscription the checkout just made must not charge on.
        gateway.cancel_subscription(subscription_id)
        db.session.flush()
        return "monthly gift was cancelled: subscription cancelled"
    gift.gateway_checkout_id = gift.gateway_checkout_id or session["id"]
    gift.gateway_customer_id = _ref(session.get("customer")) or gift.gateway_customer_id
    db.session.flush()
    return "monthly gift started"


def checkout_ended(session: dict[str, Any], gateway: Gateway) -> str:
    """A subscription checkout expired or its payment failed: the gift never started."""
    metadata = session.get("metadata") or {}
    gift = _find(None, metadata.get("recurring_gift_id") or session.get("client_reference_id"), gateway)
    if gift is None or gift.status != INCOMPLETE:
        return "no change"
    gift.move_to(CANCELED)
    db.session.flush()
    return "monthly gift not started"


def _invoice_refs(invoice: dict[str, Any]) -> tuple[str | None, str | None]:
    """(subscription id, our gift id) as an invoice names them in any API version."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = _ref(invoice.get("subscription")) or _ref(details.get("subscription"))
    metadata = details.get("metadata") or (invoice.get("subscription_details") or {}).get("metadata") or {}
    return subscription, metadata.get("recurring_gift_id")


def _period_end(invoice: dict[str, Any]) -> datetime | None:
    lines = (invoice.get("lines") or {}).get("data") or []
    ends = [_when((line.get("period") or {}).get("end")) for line in lines]
    return max((e for e in ends if e), default=None)


def invoice_paid(invoice: dict[str, Any], gateway: Gateway, livemode: bool) -> str:
    """invoice.paid: one month's gift, recorded once however often the invoice is reported.

    The amount and currency are what the invoice collected; a currency other than the gift's,
    or an amount over the configured maximum, is flagged and never counted."""
    gift = _find(*_invoice_refs(invoice), gateway)
    if gift is None:
        return "ignored: unknown subscription"
    if db.session.scalar(db.select(Donation.id).where(Donation.gateway_invoice_id == invoice["id"])):
        return str(services.Outcome.ALREADY)
    amount = invoice.get("amount_paid") or 0
    if amount <= 0:
        return "nothing paid"
    currency = str(invoice.get("currency") or "").upper()
    donation = Donation(
        case_id=gift.case_id, donor_id=gift.donor_id, recurring_gift_id=gift.id,
        gateway_invoice_id=invoice["id"], amount_minor=amount,
        currency=currency if currency in RECURRING_CURRENCIES else gift.currency,
        channel="card", gateway=gift.gateway, status=PENDING, locale=gift.locale,
        display_name=gift.display_name, receipt_name=gift.receipt_name,
        tax_receipt_requested=gift.tax_receipt_requested, receipt_kana=gift.receipt_kana,
        receipt_postal_code=gift.receipt_postal_code, receipt_address=gift.receipt_address,
        show_on_wall=gift.show_on_wall, livemode=livemode,
    )
    db.session.add(donation)
    db.session.flush()
    if currency != gift.currency:
        outcome = services.flag_payment(donation, f"invoice currency {currency[:8]!r} differs "
                                                  f"from the monthly gift's {gift.currency}")
    elif amount > current_app.config["TRACKER_MAX_GIFT_MINOR"]:
        outcome = services.flag_payment(donation, f"invoice amount {amount} is over the maximum")
    else:
        outcome = services.settle_payment(donation, gateway.invoice_settlement(invoice),
                                          intent_id=invoice_payment_intent(invoice),
                                          livemode=livemode)
    if gift.status in (INCOMPLETE, PAST_DUE):
        gift.move_to(ACTIVE)
    if gift.status == ACTIVE:
        gift.failed_attempts = 0
    gift.started_at = gift.started_at or utcnow()
    end = _period_end(invoice)
    if end and (gift.current_period_end is None or end > gift.current_period_end):
        gift.current_period_end = end
    db.session.flush()
    return str(outcome)


def invoice_failed(invoice: dict[str, Any], gateway: Gateway) -> str:
    """invoice.payment_failed: no money; the gift is past due and counts the attempt."""
    gift = _find(*_invoice_refs(invoice), gateway)
    if gift is None:
        return "ignored: unknown subscription"
    if gift.status == CANCELED:
        return "no change"
    gift.failed_attempts += 1
    if gift.status == ACTIVE:
        gift.move_to(PAST_DUE)
    db.session.flush()
    return "payment failed"


def subscription_changed(sub: dict[str, Any], gateway: Gateway, *, deleted: bool) -> str:
    """customer.subscription.updated / .deleted: status, monthly amount, next date."""
    gift = _find(sub["id"], (sub.get("metadata") or {}).get("recurring_gift_id"), gateway)
    if gift is None:
        return "ignored: unknown subscription"
    status = CANCELED if deleted else STRIPE_STATUSES.get(sub.get("status") or "")
    if gift.status == CANCELED:
        return "no change"
    if status and status != gift.status and gift.can_move_to(status):
        gift.move_to(status)
    if gift.status == CANCELED:
        db.session.flush()
        notices.cancelled(gift)
        return "monthly gift canceled"
    items = (sub.get("items") or {}).get("data") or []
    first = items[0] if items and isinstance(items[0], dict) else {}
    price = first.get("price") or {}
    amount = price.get("unit_amount")
    currency = str(price.get("currency") or sub.get("currency") or "").upper()
    if isinstance(amount, int) and amount > 0 and currency == gift.currency:
        gift.amount_minor = amount
    end = _when(first.get("current_period_end")) or _when(sub.get("current_period_end"))
    if end:
        gift.current_period_end = end
    db.session.flush()
    return f"monthly gift {gift.status}"


# --- the donor's changes -----------------------------------------------------------------------


def cancel_recurring(gift: RecurringGift, *, by: str) -> list[dict[str, Any]]:
    """Cancel a monthly gift now: nothing more is taken. ``by`` names who asked (audited).

    The subscription is cancelled through the gateway's API (GatewayError if that fails:
    nothing changes here then); the gateway reports it through the webhook. Returns an empty
    list: nothing is left for the caller to do but commit (kept a list for the callers that
    once delivered the sandbox's events themselves)."""
    locked = lock_gift(gift.id)
    if locked is None or locked.status == CANCELED:
        raise Conflict(_("This monthly gift is already cancelled."))
    if locked.gateway_subscription_id:
        get_gateway().cancel_subscription(locked.gateway_subscription_id)
    before = {"status": locked.status}
    locked.move_to(CANCELED)
    db.session.flush()
    audit.record("recurring.canceled", locked, case_id=locked.case_id, before=before,
                 after={"status": CANCELED}, actor_label=by)
    notices.cancelled(locked)
    return []


def change_recurring_amount(gift: RecurringGift, new_amount: Money, *, by: str) -> list[dict[str, Any]]:
    """Give ``new_amount`` each month from the next payment on (same currency). Raises
    DomainError (field "amount") for another currency or an amount outside the gateway's
    limits, Conflict for a cancelled gift. The gateway reports the change through the
    webhook; returns an empty list, like ``cancel_recurring``."""
    locked = lock_gift(gift.id)
    if locked is None or locked.status == CANCELED:
        raise Conflict(_("This monthly gift is cancelled."))
    if new_amount.currency != locked.currency:
        raise DomainError(_("A monthly gift keeps its currency."), field="amount")
    try:
        check_gateway_limits(new_amount, maximum_minor=current_app.config["TRACKER_MAX_GIFT_MINOR"])
    except MoneyError as exc:
        raise DomainError(exc.reason, field="amount") from None
    if new_amount.amount_minor == locked.amount_minor:
        return []
    if locked.gateway_subscription_id:
        get_gateway().change_subscription_amount(locked.gateway_subscription_id, new_amount)
    before = {"amount_minor": locked.amount_minor, "currency": locked.currency}
    locked.amount_minor = new_amount.amount_minor
    db.session.flush()
    notices.amount_changed(locked, before["amount_minor"])
    audit.record("recurring.amount_changed", locked, case_id=locked.case_id, before=before,
                 after={"amount_minor": new_amount.amount_minor, "currency": locked.currency},
                 actor_label=by)
    return []


# --- reading -----------------------------------------------------------------------------------


def gifts_of(donor: Donor) -> list[RecurringGift]:
    """A donor's monthly gifts that started or are starting, newest first."""
    return list(db.session.scalars(
        db.select(RecurringGift).where(RecurringGift.donor_id == donor.id)
        .order_by(RecurringGift.created_at.desc(), RecurringGift.id.desc())))


def gift_of(donor: Donor, public_id: str) -> RecurringGift | None:
    """One of the donor's own monthly gifts by its public id; None for anyone else's."""
    return db.session.scalar(db.select(RecurringGift).where(
        RecurringGift.public_id == public_id, RecurringGift.donor_id == donor.id))


def gifts_with_status(*statuses: str) -> list[RecurringGift]:
    """Every monthly gift in one of ``statuses`` (all when none are given), oldest first."""
    query = db.select(RecurringGift).order_by(RecurringGift.created_at, RecurringGift.id)
    if statuses:
        query = query.where(RecurringGift.status.in_(statuses))
    return list(db.session.scalars(query))


def monthly_totals() -> dict[str, tuple[int, int]]:
    """Active and past-due monthly gifts per currency: (how many, their monthly amount in
    minor units). Currencies are kept apart, never added together."""
    rows = db.session.execute(
        db.select(RecurringGift.currency, func.count(),
                  func.coalesce(func.sum(RecurringGift.amount_minor), 0))
        .where(RecurringGift.status.in_((ACTIVE, PAST_DUE))).group_by(RecurringGift.currency))
    return {currency: (int(n), int(total)) for currency, n, total in rows}


# --- a monthly gift's events (tracker.payments.webhooks routes them here) --------------------


@webhooks.handles("checkout.session.completed", "checkout.session.async_payment_succeeded",
                  subscription=True)
def _checkout_paid(event: dict[str, Any], gateway: Gateway) -> str:
    return checkout_completed(event["data"]["object"], gateway)


@webhooks.handles("checkout.session.async_payment_failed", "checkout.session.expired",
                  subscription=True)
def _checkout_ended(event: dict[str, Any], gateway: Gateway) -> str:
    return checkout_ended(event["data"]["object"], gateway)


@webhooks.handles("invoice.paid")
def _invoice_paid(event: dict[str, Any], gateway: Gateway) -> str:
    return invoice_paid(event["data"]["object"], gateway, bool(event.get("livemode")))


@webhooks.handles("invoice.payment_failed")
def _invoice_failed(event: dict[str, Any], gateway: Gateway) -> str:
    return invoice_failed(event["data"]["object"], gateway)


@webhooks.handles("customer.subscription.updated")
def _subscription_updated(event: dict[str, Any], gateway: Gateway) -> str:
    return subscription_changed(event["data"]["object"], gateway, deleted=False)


@webhooks.handles("customer.subscription.deleted")
def _subscription_deleted(event: dict[str, Any], gateway: Gateway) -> str:
    return subscription_changed(event["data"]["object"], gateway, deleted=True)
