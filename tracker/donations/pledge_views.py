"""The staff's list of pledged transfers: find one by its reference code, confirm it when the
money arrives (an offline gift and its receipt), or cancel it with a reason. Both ask first."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from tracker.core import confirm
from tracker.core.access import roles
from tracker.core.errors import DomainError, form_status
from tracker.core.forms import apply_error
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


@staff_pledges_bp.route("/<reference>/confirm", methods=["POST"])
@roles(*STAFF)
def confirm_transfer(reference: str):
    """The money arrived: record the gift (after a confirmation page)."""
    pledge = _pledge(reference)
    form = PledgeConfirmForm()
    status = 422
    if form.validate_on_submit():
        try:
            with transaction():
                received = parse_amount(form.amount.data, pledge.currency,
                                        locale=current_locale())
                actor = confirm.staff_actor()
                if not confirm.confirmed(CONFIRM_ACTION, pledge.id, actor):
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
                            pledged=format_money(Money(pledge.amount_minor, pledge.currency),
                                                 current_locale())))
                    return confirm.ask(
                        CONFIRM_ACTION, pledge.id, actor,
                        title=_("Confirm the transfer %(code)s?", code=pledge.reference),
                        consequences=consequences,
                        button=_("Record the gift of %(amount)s",
                                 amount=format_money(received, current_locale())),
                        back_url=url_for("staff_pledges.show", reference=pledge.reference),
                    )
                donation = pledges.confirm_pledge(pledge, received, form.received_on.data)
        except DomainError as exc:
            if isinstance(exc, MoneyError):
                exc.field = "amount"
            apply_error(form, exc)
            status = form_status(exc)
        else:
            flash(_("Transfer %(code)s recorded as a gift.", code=pledge.reference), "success")
            return redirect(url_for("staff_gifts.show", public_id=donation.public_id))
    db.session.refresh(pledge)
    return _render(pledge, confirm_form=form, status=status)


@staff_pledges_bp.route("/<reference>/cancel", methods=["POST"])
@roles(*STAFF)
def cancel(reference: str):
    """No money will come: cancel the pledge with a reason (after a confirmation page)."""
    pledge = _pledge(reference)
    form = PledgeCancelForm()
    status = 422
    if form.validate_on_submit():
        try:
            with transaction():
                reason = pledges.check_reason(form.reason.data)
                actor = confirm.staff_actor()
                if pledge.status != PLEDGED:
                    pledges.cancel_pledge(pledge, reason)  # raises the Conflict that says why
                if not confirm.confirmed(CANCEL_ACTION, pledge.id, actor):
                    return confirm.ask(
                        CANCEL_ACTION, pledge.id, actor,
                        title=_("Cancel the pledge %(code)s?", code=pledge.reference),
                        consequences=[_("The pledge leaves the list of transfers we wait for. "
                                        "This cannot be undone; a transfer that still arrives "
                                        "is recorded as an offline gift.")],
                        button=_("Cancel the pledge"),
                        back_url=url_for("staff_pledges.show", reference=pledge.reference),
                    )
                pledges.cancel_pledge(pledge, reason)
        except DomainError as exc:
            apply_error(form, exc)
            status = form_status(exc)
        else:
            flash(_("Pledge %(code)s cancelled.", code=pledge.reference), "success")
            return redirect(url_for("staff_pledges.show", reference=pledge.reference))
    db.session.refresh(pledge)
    return _render(pledge, cancel_form=form, status=status)
