"""The Stripe webhook endpoint and the sandbox checkout page."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request
from flask_babel import gettext as _

from tracker.core.access import public
from tracker.core.money import Money
from tracker.extensions import csrf, db
from tracker.payments import webhooks
from tracker.payments.gateway import SandboxGateway, get_gateway
from tracker.payments.models import SESSION_COMPLETE, SESSION_OPEN, SandboxSession

bp = Blueprint("payments", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@public
@csrf.exempt
def stripe_webhook():
    """Stripe's events: the signature on the raw body is the only credential (no CSRF)."""
    status, body = webhooks.receive(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    return jsonify(body), status


def _sandbox_session(session_id: str) -> SandboxSession:
    if not isinstance(get_gateway(), SandboxGateway):
        abort(404)
    session = db.session.get(SandboxSession, session_id)
    if session is None:
        abort(404)
    return session


@bp.route("/sandbox/checkout/<session_id>", methods=["GET", "POST"])
@public
def sandbox_checkout(session_id: str):
    """TEST MODE checkout: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined."""
    session = _sandbox_session(session_id)
    amount = Money(session.amount_minor, session.currency)
    error = None
    if session.status == SESSION_COMPLETE:
        return redirect(session.success_url, code=303)
    if request.method == "POST" and session.status == SESSION_OPEN:
        card = request.form.get("card_number", "")[:40]
        event = get_gateway().pay(session_id, card)
        if event is None:
            error = _("Your card was declined (test card). Nothing was charged.")
        else:
            db.session.commit()
            webhooks.deliver_sandbox_event(event)
            return redirect(session.success_url, code=303)
    return render_template("payments/sandbox_checkout.html", session=session, amount=amount,
                           error=error), (402 if error else 200)
