"""The sandbox's checkout page (TEST MODE), standing in for Stripe's hosted Checkout."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request
from flask_babel import gettext as _

from tracker.core.access import public
from tracker.core.money import Money
from tracker.core.transactions import commit
from tracker.extensions import db
from tracker.payments.gateway import get_gateway
from tracker.sandbox.gateway import SandboxGateway, send_after_commit
from tracker.sandbox.models import (
    SESSION_COMPLETE,
    SESSION_OPEN,
    SUB_INCOMPLETE,
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
    if request.method == "POST" and session.status == SESSION_OPEN:
        card = request.form.get("card_number", "")[:40]
        event = gateway.pay(session_id, card)
        if event is None:
            error = _("Your card was declined (test card). Nothing was charged.")
        else:
            send_after_commit([event])
            commit()  # then the sandbox's events are delivered
            return redirect(session.success_url, code=303)
    cover = Money(session.fee_cover_minor or 0, session.currency)
    lines = ([(session.description or "", amount - cover), (_("Card fee covered"), cover)]
             if cover.amount_minor else [])
    return render_template("payments/sandbox_checkout.html", session=session, amount=amount,
                           error=error, monthly=False, lines=lines), (402 if error else 200)


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
