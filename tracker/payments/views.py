"""The Stripe webhook endpoint (every gateway's events arrive through it)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from tracker.core.access import public
from tracker.extensions import csrf
from tracker.payments import webhooks

bp = Blueprint("payments", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@public
@csrf.exempt
def stripe_webhook():
    """Stripe's events: the signature on the raw body is the only credential (no CSRF)."""
    status, body = webhooks.receive(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    return jsonify(body), status
