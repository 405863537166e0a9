"""Staff pages for a case's budget and the payments out of it, and the approvals queue.

These pages show payees, notes and receipts, so every view of them is audited; nothing here
is public (the public sees ``services.public_budget`` on the case page, by category only).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tracker import audit
from tracker.budgets import services
from tracker.budgets.forms import (
    BudgetOptionsForm,
    DecisionForm,
    DisbursementForm,
    LineForm,
    ReasonForm,
)
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases import public as public_view
from tracker.cases.models import RescueCase
from tracker.core.access import roles
from tracker.core.errors import Conflict, DomainError, form_status
from tracker.core.forms import apply_error
from tracker.core.images import read_upload
from tracker.core.money import Money, MoneyError, parse_amount, parse_rate
from tracker.core.time import local_today
from tracker.core.transactions import transaction
from tracker.extensions import db
from tracker.ledger import reads

bp = Blueprint("budgets", __name__, url_prefix="/staff")

STAFF = ("staff", "admin")


def _refused(form, exc: DomainError) -> None:  # noqa: ANN001
    """Show why the attempt was refused (``transaction()`` has already undone it): at the
    field, and as a message when the refusal is about the case's state (a closed case's page
    has no forms to show it in)."""
    apply_error(form, exc)
    if isinstance(exc, Conflict):
        flash(exc.reason, "error")


def _case(case_id: int) -> RescueCase:
    case = db.session.get(RescueCase, case_id)
    if case is None:
        abort(404)
    return case


def _line_form(form: LineForm | None = None) -> LineForm:
    form = form or LineForm()
    form.category.choices = services.category_choices()
    return form


def _disbursement_form(case: RescueCase, form: DisbursementForm | None = None) -> DisbursementForm:
    fresh = form is None
    form = form or DisbursementForm()
    form.line.choices = [(str(line.id), services.category_label(line.category))
                         for line in services.lines_for(case.id)]
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    currencies = [base, *[c for c in current_app.config["TRACKER_CURRENCIES"] if c != base]]
    form.currency.choices = [(c, c) for c in currencies]
    if fresh:
        form.spent_on.data = local_today()
    return form


def _render(case: RescueCase, *, options_form=None, line_form=None, disbursement_form=None,
            reason_form=None, code: int = 200):
    options = options_form or BudgetOptionsForm(
        goal_follows_budget=case.goal_follows_budget, show_budget=case.show_budget)
    money = reads.money_by_case([case.id])[case.id]
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    return render_template(
        "staff/budget.html",
        case=case,
        progress=public_view.progress_for([case])[case.id],
        figures=services.budget_figures(case),
        held=Money(money.held_minor, base),
        disbursements=services.disbursements_for(case.id),
        options_form=options,
        line_form=_line_form(line_form),
        disbursement_form=_disbursement_form(case, disbursement_form),
        reason_form=reason_form or ReasonForm(),
        decision_form=DecisionForm(),
        threshold=services.approval_threshold(),
        category_label=services.category_label,
        today=local_today(),
    ), code


@bp.route("/cases/<int:case_id>/budget")
@roles(*STAFF)
def budget(case_id: int):
    """Budget against actual, line by line, and every payment with its (private) payee."""
    case = _case(case_id)
    with transaction():
        audit.record("case.budget_viewed", case, case_id=case.id)
    return _render(case)


@bp.route("/cases/<int:case_id>/budget/options", methods=["POST"])
@roles(*STAFF)
def options(case_id: int):
    case = _case(case_id)
    form = BudgetOptionsForm()
    if form.validate_on_submit():
        try:
            with transaction():
                changed = services.set_options(case,
                                               goal_follows_budget=form.goal_follows_budget.data,
                                               show_budget=form.show_budget.data)
        except DomainError as exc:
            _refused(form, exc)
            return _render(_case(case_id), options_form=form, code=form_status(exc))
        flash(_("Saved.") if changed else _("Nothing changed."), "success")
        return redirect(url_for("budgets.budget", case_id=case.id))
    return _render(case, options_form=form, code=422)


@bp.route("/cases/<int:case_id>/budget/lines", methods=["POST"])
@roles(*STAFF)
def set_line(case_id: int):
    """Plan a category (a category already planned gets the new amount)."""
    case = _case(case_id)
    form = _line_form()
    if form.validate_on_submit():
        try:
            with transaction():
                planned = parse_amount(form.planned.data,
                                       current_app.config["TRACKER_BASE_CURRENCY"])
                services.set_line(case, form.category.data, planned, form.private_note.data or "")
        except DomainError as exc:
            if isinstance(exc, MoneyError):
                exc.field = "planned"
            _refused(form, exc)
            return _render(_case(case_id), line_form=form, code=form_status(exc))
        flash(_("%(category)s planned.", category=services.category_label(form.category.data)),
              "success")
        return redirect(url_for("budgets.budget", case_id=case.id))
    return _render(case, line_form=form, code=422)


@bp.route("/cases/<int:case_id>/budget/lines/<int:line_id>/remove", methods=["POST"])
@roles(*STAFF)
def remove_line(case_id: int, line_id: int):
    case = _case(case_id)
    form = DecisionForm()
    line = db.session.get(BudgetLine, line_id)
    if line is None or line.case_id != case.id:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    try:
        with transaction():
            services.remove_line(line)
    except DomainError as exc:
        flash(exc.reason, "error")
        return _render(_case(case_id), code=form_status(exc))
    flash(_("Budget line removed."), "success")
    return redirect(url_for("budgets.budget", case_id=case.id))


@bp.route("/cases/<int:case_id>/disbursements", methods=["POST"])
@roles(*STAFF)
def record(case_id: int):
    """Record a payment out of the case; above the threshold it waits for a second approver."""
    case = _case(case_id)
    form = _disbursement_form(case, DisbursementForm())
    if form.validate_on_submit():
        upload = form.receipt.data
        try:
            with transaction():
                amount = parse_amount(form.amount.data, form.currency.data or "")
                data = services.DisbursementInput(
                    line_id=_chosen_line(form),
                    spent_on=form.spent_on.data, amount=amount, payee=form.payee.data or "",
                    rate=parse_rate(form.rate.data), note=form.note.data or "",
                )
                receipt = (read_upload(upload.stream)
                           if upload and getattr(upload, "filename", "") else None)
                disbursement = services.record_disbursement(case, data, actor=current_user,
                                                            today=local_today(), receipt=receipt)
        except DomainError as exc:
            if isinstance(exc, MoneyError) and exc.field not in ("rate", "amount"):
                exc.field = "amount"
            _refused(form, exc)
            return _render(_case(case_id), disbursement_form=form, code=form_status(exc))
        flash(_("Payment recorded; it counts now.") if disbursement.status == "approved" else
              _("Payment recorded. It is above the approval threshold, so it counts once another "
                "staff member approves it."), "success")
        return redirect(url_for("budgets.budget", case_id=case.id))
    return _render(case, disbursement_form=form, code=422)


def _chosen_line(form: DisbursementForm) -> int:
    """The budget line picked, if it is one of the offered ones (0: none, the service says so)."""
    offered = {value for value, _ in form.line.choices}
    return int(form.line.data) if form.line.data in offered else 0


# --- one disbursement ------------------------------------------------------------------------


def _disbursement(disbursement_id: int) -> Disbursement:
    disbursement = db.session.get(Disbursement, disbursement_id)
    if disbursement is None:
        abort(404)
    return disbursement


def _back(disbursement: Disbursement, to_queue: bool):
    return redirect(url_for("budgets.approvals") if to_queue
                    else url_for("budgets.budget", case_id=disbursement.case_id))


@bp.route("/disbursements/")
@roles(*STAFF)
def approvals():
    """Payments awaiting a second staff member's approval, across all cases."""
    with transaction():
        pending = services.pending_approvals()
        audit.record("disbursement.queue_viewed", "disbursements")
    return render_template("staff/approvals.html", pending=pending,
                           decision_form=DecisionForm(), reason_form=ReasonForm(),
                           category_label=services.category_label)


def _decide(disbursement_id: int, action: str, from_queue: bool):
    disbursement = _disbursement(disbursement_id)
    form = DecisionForm() if action == "approve" else ReasonForm()
    if not form.validate_on_submit():
        if isinstance(form, ReasonForm) and form.reason.errors:
            flash(" ".join(str(e) for e in form.reason.errors), "error")
            return _back(disbursement, from_queue), 303
        abort(400)
    try:
        with transaction():
            if action == "approve":
                services.approve(disbursement.id, actor=current_user)
                message = _("Approved: the payment counts now.")
            elif action == "reject":
                services.reject(disbursement.id, actor=current_user, reason=form.reason.data)
                message = _("Rejected: the payment does not count.")
            else:
                reversal = services.reverse(disbursement.id, actor=current_user,
                                            reason=form.reason.data, today=local_today())
                message = (_("Reversed.") if reversal.status == "approved" else
                           _("Reversal recorded; it counts once another staff member approves it."))
    except DomainError as exc:
        flash(exc.reason, "error")
        return _back(disbursement, from_queue), 303
    flash(message, "success")
    return _back(disbursement, from_queue), 303


@bp.route("/disbursements/<int:disbursement_id>/approve", methods=["POST"])
@roles(*STAFF)
def approve(disbursement_id: int):
    return _decide(disbursement_id, "approve", from_queue=True)


@bp.route("/disbursements/<int:disbursement_id>/reject", methods=["POST"])
@roles(*STAFF)
def reject(disbursement_id: int):
    return _decide(disbursement_id, "reject", from_queue=True)


@bp.route("/disbursements/<int:disbursement_id>/reverse", methods=["POST"])
@roles(*STAFF)
def reverse(disbursement_id: int):
    return _decide(disbursement_id, "reverse", from_queue=False)


@bp.route("/disbursements/<int:disbursement_id>/receipt")
@roles(*STAFF)
def receipt(disbursement_id: int):
    """The receipt photo: staff only, audited, never cached by a browser or proxy."""
    found = db.session.scalar(db.select(DisbursementReceipt).where(
        DisbursementReceipt.disbursement_id == disbursement_id))
    if found is None:
        abort(404)
    with transaction():
        audit.record("disbursement.receipt_viewed", found.disbursement,
                     case_id=found.disbursement.case_id)
    # (private, no-store and nosniff: every /staff response, see tracker.web.security)
    return Response(found.data, mimetype=found.content_type)
