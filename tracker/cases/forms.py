"""Staff forms for cases and the people in them."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tracker.cases import workflow
from tracker.cases.models import AGE_BANDS, TRACKS
from tracker.core.forms import Form


class CaseForm(Form):
    """Open a case. Public fields are shown to everyone; private ones to staff only."""

    public_title = StringField("Public title", validators=[DataRequired(), Length(max=200)])
    slug = StringField("Address (slug)", validators=[DataRequired(), Length(min=3, max=80)])
    public_region = StringField("Coarse region", validators=[DataRequired(), Length(max=80)])
    public_summary = TextAreaField("Public summary (Markdown)", validators=[Length(max=20000)])
    track = SelectField("Track", choices={t: t.capitalize() for t in TRACKS})
    goal = StringField("Funding goal", validators=[DataRequired(), Length(max=30)])
    private_notes = TextAreaField("Private notes (staff only)", validators=[Length(max=20000)])
    private_contact = TextAreaField("Private contact (staff only)", validators=[Length(max=5000)])


class StatusForm(Form):
    """Move a case to another status."""

    target = SelectField("New status", choices={s: workflow.LABELS[s] for s in workflow.STATUSES})
    outcome = SelectField(
        "Outcome (when closing)",
        choices={"": "—", **{o: o.replace("_", " ").capitalize() for o in workflow.OUTCOMES}},
        validators=[Optional()],
    )


class PersonForm(Form):
    """Add a person to a case."""

    public_alias = StringField("Public alias", validators=[DataRequired(), Length(max=60)])
    age_band = SelectField("Age band", choices={a: a for a in AGE_BANDS})
    private_name = StringField("Real name (staff only)", validators=[Length(max=200)])
    private_details = TextAreaField("Private details (staff only)", validators=[Length(max=5000)])


class RescuedForm(Form):
    """Mark a person rescued."""

    rescued_on = DateField("Rescued on", validators=[DataRequired()])
    note = TextAreaField("Note (staff only)", validators=[Length(max=5000)])


class EditCaseForm(CaseForm):
    """Edit a case; the slug is fixed once the case exists (links to it are out there)."""

    slug = None  # type: ignore[assignment]


class CloseForm(Form):
    """Close a case: why, and where the money it holds goes."""

    outcome = SelectField(
        "Why the case closes",
        choices={o: o.replace("_", " ").capitalize() for o in workflow.OUTCOMES},
    )
    move_funds_to = SelectField(
        "Money the case holds",
        choices={"general": "Move it to the general fund", "case": "Move it to another case",
                 "keep": "Leave it on this case"},
    )
    target = SelectField("Case that receives it", choices={}, validate_choice=False,
                         validators=[Optional()])
