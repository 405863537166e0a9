"""Staff forms for budgets and disbursements."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tracker.budgets.services import LINE_NOTE_MAX, NOTE_MAX, PAYEE_MAX
from tracker.core.forms import AmountField, Form
from tracker.core.validation import REASON_MAX, REASON_MIN

REASON = [DataRequired(message=_l("Say why: the reason is kept with the decision.")),
          Length(min=REASON_MIN, max=REASON_MAX,
                 message=_l("Give a reason of %(min)d to %(max)d characters.",
                            min=REASON_MIN, max=REASON_MAX))]


class BudgetOptionsForm(Form):
    """Whether the goal follows the budget, and whether donors see it."""

    goal_follows_budget = BooleanField(_l("The funding goal is the budget total"))
    show_budget = BooleanField(_l("Show donors the budget and spending per category"))


class LineForm(Form):
    """Plan (or re-plan) a category of a case's budget."""

    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    planned = StringField(_l("Planned amount"), validators=[DataRequired(), Length(max=30)])
    private_note = StringField(_l("Note (staff only)"), validators=[Length(max=LINE_NOTE_MAX)])


class DisbursementForm(Form):
    """Money paid out against a budget line."""

    line = SelectField(_l("Budget line"), choices=[], validate_choice=False)
    spent_on = DateField(_l("Paid on"),
                         validators=[DataRequired(message=_l("Give the date it was paid."))])
    currency = SelectField(_l("Currency"), choices=[], validate_choice=False)
    amount = AmountField(_l("Amount"), validators=[DataRequired(), Length(max=30)])
    rate = StringField(_l("Exchange rate (base units per unit; empty for the configured rate)"),
                       validators=[Optional(), Length(max=30)])
    payee = StringField(_l("Payee (staff only)"),
                        validators=[DataRequired(message=_l("Describe who was paid.")),
                                    Length(max=PAYEE_MAX)])
    note = TextAreaField(_l("Note (staff only)"), validators=[Length(max=NOTE_MAX)])
    receipt = FileField(_l("Receipt photo (staff only; location data is removed)"))


class DecisionForm(Form):
    """Approve a disbursement (no fields beyond CSRF)."""


class ReasonForm(Form):
    """Reject or reverse a disbursement, saying why."""

    reason = StringField(_l("Reason"), validators=REASON)
