"""The donation form."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import BooleanField, EmailField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from tracker.core.forms import AmountField, Form, NoControlCharacters

WALL_LABELS = {
    "anonymous": _l("List my gift as “Anonymous”"),
    "name": _l("Show my name"),
    "hidden": _l("Don't list my gift"),
}

#: once, or every month (a monthly gift: JPY or USD)
FREQUENCY_LABELS = {"once": _l("Give once"), "monthly": _l("Give monthly")}


def _frequency_choices() -> dict[str, str]:
    return {value: str(label) for value, label in FREQUENCY_LABELS.items()}


def _wall_choices() -> dict[str, str]:
    """The donor-wall choices in the request's language (WTForms wants plain strings)."""
    return {value: str(label) for value, label in WALL_LABELS.items()}


class DonationForm(Form):
    """Currency first, then an amount in it (a preset or one typed: a typed amount wins), the
    card fee covered or not, and optional name, email and message.

    Choices depend on settings, so the view fills them in (``configure``).
    """

    frequency = RadioField(_l("How often"), choices=_frequency_choices, default="once")
    currency = RadioField(_l("Currency"), choices=[], validators=[Optional()])
    preset = RadioField(_l("Amount"), choices=[], validate_choice=True, validators=[Optional()])
    amount = AmountField(_l("Other amount"),
                         validators=[Optional(), Length(max=30), NoControlCharacters()])
    cover_fee = BooleanField(_l("Cover the payment fee"))
    name = StringField(_l("Your name (optional)"),
                       validators=[Optional(), Length(max=80), NoControlCharacters()])
    email = EmailField(_l("Email for your receipt (optional)"),
                       validators=[Optional(), Length(max=254), NoControlCharacters()])
    message = TextAreaField(_l("Message (optional)"),
                            validators=[Optional(), Length(max=500), NoControlCharacters()])
    wall = RadioField(_l("On the donor wall"), choices=_wall_choices, default="anonymous")
    wants_updates = BooleanField(_l("Email me when the people in this case are safe"))
    #: a tax receipt for a tax return in Japan: its addressee, checked only when asked for
    #: (``services.tax_receipt_fields``; the fields are always on the page without script)
    tax_receipt = BooleanField(_l("I need a tax receipt (寄附金受領証明書) for a tax return in Japan"))
    receipt_name = StringField(_l("Name on the tax receipt"),
                               validators=[Optional(), Length(max=200), NoControlCharacters()],
                               render_kw={"autocomplete": "name"})
    receipt_kana = StringField(_l("Reading of the name (katakana)"),
                               validators=[Optional(), Length(max=200), NoControlCharacters()])
    receipt_postal_code = StringField(_l("Postal code"),
                                      validators=[Optional(), Length(max=10), NoControlCharacters()],
                                      render_kw={"autocomplete": "postal-code",
                                                 "inputmode": "numeric"})
    receipt_address = StringField(lazy_pgettext("a donor's postal address", "Address"),
                                  validators=[Optional(), Length(max=300), NoControlCharacters()],
                                  render_kw={"autocomplete": "street-address"})

    #: the second button: a yen one-off gift transferred by the donor to our own account
    bank_transfer = SubmitField(_l("Transfer to our bank account yourself"))

    def configure(self, currencies: dict[str, str], presets: dict[str, tuple[int, ...]],
                  labels: dict[tuple[str, int], str]) -> None:
        """Offer the configured currencies (code: its name in words) and their presets."""
        self.currency.choices = dict(currencies)
        self.preset.choices = {
            **{f"{c}:{m}": labels[(c, m)] for c in currencies for m in presets.get(c, ())},
            "other": _("Other amount"),
        }
