"""Staff forms for cases and the people in them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from tracker.cases import workflow
from tracker.cases.models import TRACKS
from tracker.core import labels
from tracker.core.forms import AmountField, Form, NoControlCharacters
from tracker.core.images import ALT_MAX

#: track -> its label in the case form
TRACK_LABELS = labels.table("track")
#: track -> how the staff case page names it ("journey track")
TRACK_NAMES = {"journey": _l("journey track"), "legal": _l("legal track")}


def _outcome_label(outcome: str) -> str:
    return workflow.OUTCOME_LABELS.get(outcome) or outcome.replace("_", " ").capitalize()


def _choices(labels: dict) -> list[SelectChoice]:
    """Select options from {value: label}; a label may be lazy (shown in the page's language),
    which WTForms' dict shorthand does not take."""
    return [SelectChoice(value, label) for value, label in labels.items()]


class CaseForm(Form):
    """Open a case. Public fields are shown to everyone; private ones to staff only."""

    public_title = StringField(_l("Public title"), validators=[DataRequired(), Length(max=200)])
    slug = StringField(_l("Address (slug)"), validators=[DataRequired(), Length(min=3, max=80)])
    public_region = StringField(_l("Coarse region"), validators=[DataRequired(), Length(max=80)])
    public_summary = TextAreaField(_l("Public summary (Markdown)"), validators=[Length(max=20000)])
    public_title_ja = StringField(_l("Public title in Japanese"), validators=[Length(max=200)])
    public_region_ja = StringField(_l("Coarse region in Japanese"), validators=[Length(max=80)])
    public_summary_ja = TextAreaField(_l("Public summary in Japanese (Markdown)"),
                                      validators=[Length(max=20000)])
    track = SelectField(_l("Track"),
                        choices=_choices({t: TRACK_LABELS.get(t) or t.capitalize() for t in TRACKS}))
    goal = AmountField(_l("Funding goal"), validators=[DataRequired(), Length(max=30)])
    private_notes = TextAreaField(_l("Private notes (staff only)"), validators=[Length(max=20000)])
    private_contact = TextAreaField(_l("Private contact (staff only)"),
                                    validators=[Length(max=5000)])


class StatusForm(Form):
    """Move a case to another status."""

    target = SelectField(_l("New status"),
                         choices=_choices({s: workflow.LABELS[s] for s in workflow.STATUSES}))
    outcome = SelectField(
        _l("Outcome (when closing)"),
        choices=_choices({"": "—", **{o: _outcome_label(o) for o in workflow.OUTCOMES}}),
        validators=[Optional()],
    )


class PersonForm(Form):
    """Add a person to a case."""

    public_alias = StringField(_l("Public alias"), validators=[DataRequired(), Length(max=60)])
    age_band = SelectField(_l("Age band"), choices=_choices(labels.table("age_band")))
    private_name = StringField(_l("Real name (staff only)"), validators=[Length(max=200)])
    private_details = TextAreaField(_l("Private details (staff only)"),
                                    validators=[Length(max=5000)])


class RescuedForm(Form):
    """Mark a person rescued."""

    rescued_on = DateField(_l("Rescued on"), validators=[DataRequired()])
    note = TextAreaField(_l("Note (staff only)"), validators=[Length(max=5000)])


class EditCaseForm(CaseForm):
    """Edit a case; the slug is fixed once the case exists (links to it are out there)."""

    slug = None  # type: ignore[assignment]


class CloseForm(Form):
    """Close a case: why, and where the money it holds goes."""

    # No choice is made for staff: closing cannot be undone, so both are picked on purpose.
    outcome = SelectField(
        _l("Why the case closes"),
        choices=_choices({"": _l("— Choose —"),
                          **{o: _outcome_label(o) for o in workflow.OUTCOMES}}),
        validators=[DataRequired(_l("Choose why the case closes."))],
    )
    move_funds_to = SelectField(
        _l("Money the case holds"),
        choices=_choices({"": _l("— Choose —"),
                          "general": _l("Move it to the general fund"),
                          "case": _l("Move it to another case"),
                          "keep": _l("Leave it on this case")}),
        validators=[DataRequired(_l("Choose where the case's money goes."))],
    )
    target = SelectField(_l("Case that receives it"), choices={}, validate_choice=False,
                         validators=[Optional()])


class PublishForm(Form):
    """Publish a case: its page, progress and donate page become public (no fields)."""


class UnpublishForm(Form):
    """Pull a case back from the public; staff must tick the box to say they mean it."""

    confirm = BooleanField(
        _l("Yes, take this case off every public page"),
        validators=[InputRequired(message=_l(
            "Tick the box to confirm: the case's public page, progress and donate page will "
            "answer as if the case never existed, and its rescue reports go back to draft."))],
    )


class FollowForm(Form):
    """The address that gets a case's news (double opt-in: it confirms from a mail first)."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter the email address the news should go to.")),
                    Length(max=254, message=_l("An email address has at most 254 characters.")),
                    NoControlCharacters()],
        render_kw={"autocomplete": "email"},
    )


class FollowButtonForm(Form):
    """Only the CSRF token: the button under a confirmation link."""


class CoverForm(Form):
    """Upload a case's cover photo (checked for faces before the public sees it)."""

    photo = FileField(_l("Photo"), validators=[FileRequired(_l("Choose a photo to upload."))])
    alt_text = StringField(_l("Description (alt text)"),
                           validators=[Length(max=ALT_MAX, message=_l(
                               "Keep the description to %(max)d characters."))])


class RemoveCoverForm(Form):
    """Take the cover photo away."""
