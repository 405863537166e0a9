"""Staff forms for budgets and disbursements."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tracker.budgets.services import LINE_NOTE_MAX, NOTE_MAX, PAYEE_MAX
from tracker.core.forms import Form
from tracker.donations.adjustments import REASON_MAX, REASON_MIN

REASON = [DataRequired(message="Say why: the reason is kept with the decision."),
          Length(min=REASON_MIN, max=REASON_MAX,
                 message=f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.")]


class BudgetOptionsForm(Form):
    """Whether the goal follows the budget, and whether donors see it."""

    goal_follows_budget = BooleanField("The funding goal is the budget total")
    show_budget = BooleanField("Show donors the budget and spending per category")


class LineForm(Form):
    """Plan (or re-plan) a category of a case's budget."""

    category = SelectField("Category", choices=[], validate_choice=False)
    planned = StringField("Planned amount", validators=[DataRequired(), Length(max=30)])
    private_note = StringField("Note (staff only)", validators=[Length(max=LINE_NOTE_MAX)])


class DisbursementForm(Form):
    """Money paid out against a budget line."""

    line = SelectField("Budget line", choices=[], validate_choice=False)
    spent_on = DateField("Paid on", validators=[DataRequired(message="Give the date it was paid.")])
    currency = SelectField("Currency", choices=[], validate_choice=False)
    amount = StringField("Amount", validators=[DataRequired(), Length(max=30)])
    rate = StringField("Exchange rate (base units per unit; empty for the configured rate)",
                       validators=[Optional(), Length(max=30)])
    payee = StringField("Payee (staff only)",
                        validators=[DataRequired(message="Describe who was paid."),
                                    Length(max=PAYEE_MAX)])
    note = TextAreaField("Note (staff only)", validators=[Length(max=NOTE_MAX)])
    receipt = FileField("Receipt photo (staff only; location data is removed)")


class DecisionForm(Form):
    """Approve a disbursement (no fields beyond CSRF)."""


class ReasonForm(Form):
    """Reject or reverse a disbursement, saying why."""

    reason = StringField("Reason", validators=REASON)
