"""The staff review of donors' wall messages (``tracker.donations.messages``): the messages
waiting for a decision and the approved ones, each with Approve or Hide."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tracker.core.access import roles
from tracker.core.errors import DomainError, NotFound
from tracker.core.transactions import transaction
from tracker.donations import messages
from tracker.donations.staff_forms import MessageDecisionForm

staff_messages_bp = Blueprint("staff_messages", __name__, url_prefix="/staff/messages")

STAFF = ("staff", "admin")


@staff_messages_bp.route("/")
@roles(*STAFF)
def index():
    """Donor messages awaiting review, and the approved ones (which can still be hidden)."""
    return render_template("staff/messages.html", awaiting=messages.awaiting(),
                           approved=messages.recently_approved(), form=MessageDecisionForm())


def _decide(public_id: str, decide, done: str):  # noqa: ANN001
    if not MessageDecisionForm().validate_on_submit():
        abort(400)
    try:
        with transaction():
            decide(public_id, actor=current_user._get_current_object())
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.reason, "error")
    else:
        flash(done, "success")
    return redirect(url_for("staff_messages.index"), 303)


@staff_messages_bp.route("/<public_id>/approve", methods=["POST"])
@roles(*STAFF)
def approve(public_id: str):
    """Show the message on the case's public donor wall."""
    return _decide(public_id, messages.approve, _("Approved: the message is on the donor wall."))


@staff_messages_bp.route("/<public_id>/hide", methods=["POST"])
@roles(*STAFF)
def hide(public_id: str):
    """Never show the message; the gift itself is unaffected."""
    return _decide(public_id, messages.hide,
                   _("Hidden: the message will not be shown. The gift is unaffected."))
