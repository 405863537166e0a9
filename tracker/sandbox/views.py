"""The sandbox's checkout page (TEST MODE), standing in for Stripe's hosted Checkout."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request
from flask_babel import gettext as _

from tracker.core.access import public
from tracker.core.money import Money
from tracker.core.transactions import commit
from tracker.extensions import db
from tracker.payments.gateway import KONBINI, get_gateway, later_methods
from tracker.sandbox.gateway import SandboxGateway, send_after_commit
from tracker.sandbox.models import (
    SESSION_COMPLETE,
    SESSION_OPEN,
    SUB_INCOMPLETE,
    UNPAID,
    SandboxSession,
    SandboxSubscription,
)

bp = Blueprint("sandbox", __name__)


@bp.route("/sandbox/checkout/<session_id>", methods=["GET", "POST"])
@public
def checkout(session_id: str):
    """TEST MODE checkout: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined. The
    same page starts a monthly gift's sandbox subscription (its first payment is taken here).
    Like Stripe's page, it reports the payment through the webhook once it is committed."""
    gateway = get_gateway()
    if not isinstance(gateway, SandboxGateway):
        abort(404)
    session = db.session.get(SandboxSession, session_id)
    if session is None:
        subscription = gateway.subscription_for_checkout(session_id)
        if subscription is None:
            abort(404)
        return _subscription_checkout(gateway, subscription)
    amount = Money(session.amount_minor, session.currency)
    error = None
    if session.status == SESSION_COMPLETE:
        return redirect(session.success_url, code=303)
    later = later_methods(amount)
    if request.method == "POST" and session.status == SESSION_OPEN:
        method = request.form.get("method", "card")
        if method != "card":
            event = gateway.pay_later(session_id, method) if method in later else None
            if event is None:
                abort(400)
            send_after_commit([event])
            commit()  # then the sandbox's events are delivered
            return redirect(session.success_url, code=303)
        card = request.form.get("card_number", "")[:40]
        event = gateway.pay(session_id, card)
        if event is None:
            error = _("Your card was declined (test card). Nothing was charged.")
        else:
            send_after_commit([event])
            commit()  # then the sandbox's events are delivered
            return redirect(session.success_url, code=303)
    cover = Money(session.fee_cover_minor or 0, session.currency)
    lines = ([(session.description or "", amount - cover), (_("Payment fee covered"), cover)]
             if cover.amount_minor else [])
    return render_template("payments/sandbox_checkout.html", session=session, amount=amount,
                           error=error, monthly=False, later=later, lines=lines), (402 if error else 200)


@bp.route("/sandbox/voucher/<session_id>", methods=["GET", "POST"])
@public
def voucher(session_id: str):
    """TEST MODE voucher or transfer: what the donor takes to the store or the bank. Two
    buttons stand for what happens outside: the donor pays it, or it runs out unpaid."""
    gateway = get_gateway()
    if not isinstance(gateway, SandboxGateway):
        abort(404)
    session = db.session.get(SandboxSession, session_id)
    if session is None or session.payment_method is None or session.payment_intent_id is None:
        abort(404)
    if request.method == "POST":
        event = gateway.settle_later(session_id, paid=request.form.get("outcome") == "paid")
        if event is not None:
            send_after_commit([event])
            commit()  # then the sandbox's events are delivered
        return redirect(session.success_url, code=303)
    return render_template("payments/sandbox_voucher.html", session=session,
                           amount=Money(session.amount_minor, session.currency),
                           instructions=gateway.payment_instructions(session.payment_intent_id),
                           waiting=session.payment_status == UNPAID and session.voucher_expires_at,
                           konbini=session.payment_method == KONBINI)


def _subscription_checkout(gateway: SandboxGateway, subscription: SandboxSubscription):
    amount = Money(subscription.amount_minor, subscription.currency)
    error = None
    if subscription.status != SUB_INCOMPLETE:
        return redirect(subscription.success_url, code=303)
    if request.method == "POST":
        events = gateway.pay_subscription(subscription.checkout_session_id,
                                          request.form.get("card_number", "")[:40])
        if events is None:
            error = _("Your card was declined (test card). Nothing was charged.")
        else:
            send_after_commit(events)
            commit()  # then the sandbox's events are delivered
            return redirect(subscription.success_url, code=303)
    return render_template("payments/sandbox_checkout.html", session=subscription, amount=amount,
                           error=error, monthly=True, lines=[]), (402 if error else 200)
