"""The staff's list of pledged transfers: find one by its reference code, confirm it when the
money arrives (an offline gift and its receipt), or cancel it with a reason. Both ask first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from tracker.core import confirm
from tracker.core.access import roles
from tracker.core.errors import DomainError, form_status
from tracker.core.forms import Form, apply_error
from tracker.core.i18n import current_locale
from tracker.core.money import Money, MoneyError, format_money, format_plain, parse_amount
from tracker.core.time import local_today
from tracker.core.transactions import transaction
from tracker.donations import pledges
from tracker.donations.models import PLEDGE_STATUSES, PLEDGED, Donation, Pledge
from tracker.donations.staff_forms import PledgeCancelForm, PledgeConfirmForm
from tracker.extensions import db

staff_pledges_bp = Blueprint("staff_pledges", __name__, url_prefix="/staff/pledges")

STAFF = ("staff", "admin")
CONFIRM_ACTION = "pledge.confirm"
CANCEL_ACTION = "pledge.cancel"


def _pledge(reference: str) -> Pledge:
    found = pledges.by_reference(reference)
    if found is None:
        abort(404)
    return found


@staff_pledges_bp.route("/")
@roles(*STAFF)
def index():
    """Pledges waiting for their transfer (oldest first), or those of another status;
    ?q= finds by reference code. A code typed in full opens its pledge."""
    query = (request.args.get("q") or "").strip()[:40]
    status = request.args.get("status", PLEDGED)
    if status not in (*PLEDGE_STATUSES, "all"):
        abort(400)
    exact = pledges.by_reference(query) if query else None
    if exact is not None:
        return redirect(url_for("staff_pledges.show", reference=exact.reference))
    rows = pledges.search(None if status == "all" else status, query)
    return render_template("staff/pledges.html", rows=rows, query=query, status=status,
                           statuses=PLEDGE_STATUSES, labels=pledges.STATUS_LABELS,
                           overdue=pledges.is_overdue, days=pledges.OVERDUE_DAYS)


def _render(pledge: Pledge, *, confirm_form: PledgeConfirmForm | None = None,
            cancel_form: PledgeCancelForm | None = None, status: int = 200):
    if confirm_form is None:
        confirm_form = PledgeConfirmForm(formdata=None)
        confirm_form.received_on.data = local_today()
        confirm_form.amount.data = format_plain(Money(pledge.amount_minor, pledge.currency))
    donation = db.session.get(Donation, pledge.donation_id) if pledge.donation_id else None
    return render_template(
        "staff/pledge_detail.html", pledge=pledge,
        amount=Money(pledge.amount_minor, pledge.currency),
        received=(Money(pledge.received_minor, pledge.currency)
                  if pledge.received_minor is not None else None),
        donation=donation, labels=pledges.STATUS_LABELS,
        overdue=pledges.is_overdue(pledge), days=pledges.OVERDUE_DAYS,
        confirm_form=confirm_form, cancel_form=cancel_form or PledgeCancelForm(formdata=None),
    ), status


@staff_pledges_bp.route("/<reference>")
@roles(*STAFF)
def show(reference: str):
    """One pledge: what was promised, and confirming or cancelling it."""
    return _render(_pledge(reference))


@dataclass(frozen=True, slots=True)
class _Decision:
    """What one of the two decisions on a pledge (confirm, cancel) does, for ``_decide``:
    ``read`` turns the valid form into the decision's value (DomainError at a field
    otherwise); ``question`` checks the pledge still allows it and words the confirmation
    page (title, consequences, button); ``carry_out`` makes the change, and ``done`` the
    response after it."""

    action: str
    form: type[Form]
    #: the keyword of ``_render`` that shows this form again with its errors
    slot: str
    read: Callable[[Pledge, Any], Any]
    question: Callable[[Pledge, Any, Any], dict[str, Any]]
    carry_out: Callable[[Pledge, Any, Any], Any]
    done: Callable[[Pledge, Any], Response]


def _decide(reference: str, decision: _Decision):
    """Confirming and cancelling a pledge, written once: check the form, ask first (the
    confirmation page), then carry it out in one transaction; a refusal shows the pledge's
    page again with the form's error (4xx) and changes nothing."""
    pledge = _pledge(reference)
    form = decision.form()
    status = 422
    if form.validate_on_submit():
        try:
            with transaction():
                value = decision.read(pledge, form)
                actor = confirm.staff_actor()
                if not confirm.confirmed(decision.action, pledge.id, actor):
                    return confirm.ask(
                        decision.action, pledge.id, actor,
                        back_url=url_for("staff_pledges.show", reference=pledge.reference),
                        **decision.question(pledge, form, value))
                result = decision.carry_out(pledge, form, value)
        except DomainError as exc:
            apply_error(form, exc)
            status = form_status(exc)
        else:
            return decision.done(pledge, result)
    db.session.refresh(pledge)
    return _render(pledge, status=status, **{decision.slot: form})


def _received(pledge: Pledge, form: PledgeConfirmForm) -> Money:
    try:
        return parse_amount(form.amount.data, pledge.currency, locale=current_locale())
    except MoneyError as exc:
        exc.field = "amount"
        raise


def _confirm_question(pledge: Pledge, form: PledgeConfirmForm, received: Money) -> dict[str, Any]:
    pledges.check_confirm(pledge, received, form.received_on.data)
    consequences = [
        _("A bank transfer of %(amount)s received on %(date)s is recorded as a "
          "gift with the reference %(code)s, and its receipt is issued.",
          amount=format_money(received, current_locale()),
          date=form.received_on.data.isoformat(), code=pledge.reference),
        _("It counts toward the total at once. This cannot be undone; a mistake "
          "is corrected by an adjustment on the gift's page."),
    ]
    if received.amount_minor != pledge.amount_minor:
        consequences.insert(1, _(
            "The donor pledged %(pledged)s; the gift is the amount received.",
            pledged=format_money(Money(pledge.amount_minor, pledge.currency), current_locale())))
    return {"title": _("Confirm the transfer %(code)s?", code=pledge.reference),
            "consequences": consequences,
            "button": _("Record the gift of %(amount)s",
                        amount=format_money(received, current_locale()))}


def _confirmed(pledge: Pledge, donation: Donation) -> Response:
    flash(_("Transfer %(code)s recorded as a gift.", code=pledge.reference), "success")
    return redirect(url_for("staff_gifts.show", public_id=donation.public_id))


def _cancel_question(pledge: Pledge, _form: PledgeCancelForm, reason: str) -> dict[str, Any]:
    if pledge.status != PLEDGED:
        pledges.cancel_pledge(pledge, reason)  # raises the Conflict that says why
    return {"title": _("Cancel the pledge %(code)s?", code=pledge.reference),
            "consequences": [_("The pledge leaves the list of transfers we wait for. "
                               "This cannot be undone; a transfer that still arrives "
                               "is recorded as an offline gift.")],
            "button": _("Cancel the pledge")}


def _cancelled(pledge: Pledge, _result: Pledge) -> Response:
    flash(_("Pledge %(code)s cancelled.", code=pledge.reference), "success")
    return redirect(url_for("staff_pledges.show", reference=pledge.reference))


CONFIRM = _Decision(
    action=CONFIRM_ACTION, form=PledgeConfirmForm, slot="confirm_form", read=_received,
    question=_confirm_question,
    carry_out=lambda pledge, form, received: pledges.confirm_pledge(
        pledge, received, form.received_on.data),
    done=_confirmed)

CANCEL = _Decision(
    action=CANCEL_ACTION, form=PledgeCancelForm, slot="cancel_form",
    read=lambda _pledge, form: pledges.check_reason(form.reason.data),
    question=_cancel_question,
    carry_out=lambda pledge, _form, reason: pledges.cancel_pledge(pledge, reason),
    done=_cancelled)


@staff_pledges_bp.route("/<reference>/confirm", methods=["POST"])
@roles(*STAFF)
def confirm_transfer(reference: str):
    """The money arrived: record the gift (after a confirmation page)."""
    return _decide(reference, CONFIRM)


@staff_pledges_bp.route("/<reference>/cancel", methods=["POST"])
@roles(*STAFF)
def cancel(reference: str):
    """No money will come: cancel the pledge with a reason (after a confirmation page)."""
    return _decide(reference, CANCEL)
