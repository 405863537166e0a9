"""The donation form."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from tracker.core.forms import Form, NoControlCharacters

WALL_LABELS = {
    "anonymous": "List my gift as “Anonymous”",
    "name": "Show my name",
    "hidden": "Don't list my gift",
}


class DonationForm(Form):
    """Amount (a preset or your own), currency, and optional name, email and message.

    Choices depend on settings, so the view fills them in (``configure``).
    """

    currency = SelectField("Currency of the other amount", choices=[])
    preset = RadioField("Amount", choices=[], validate_choice=True)
    amount = StringField("Other amount",
                         validators=[Optional(), Length(max=30), NoControlCharacters()])
    name = StringField("Your name (optional)",
                       validators=[Optional(), Length(max=80), NoControlCharacters()])
    email = EmailField("Email for your receipt (optional)",
                       validators=[Optional(), Length(max=254), NoControlCharacters()])
    message = TextAreaField("Message (optional)",
                            validators=[Optional(), Length(max=500), NoControlCharacters()])
    wall = RadioField("On the donor wall", choices=WALL_LABELS, default="anonymous")
    wants_updates = BooleanField("Email me when the people in this case are safe")

    def configure(self, currencies: list[str], presets: dict[str, tuple[int, ...]],
                  labels: dict[tuple[str, int], str]) -> None:
        """Offer the configured currencies and their preset amounts."""
        self.currency.choices = {c: c for c in currencies}
        self.preset.choices = {
            **{f"{c}:{m}": labels[(c, m)] for c in currencies for m in presets.get(c, ())},
            "other": "Other amount",
        }
