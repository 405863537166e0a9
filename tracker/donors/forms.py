"""The donor's forms: ask for a sign-in link, use it, sign out."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length

from tracker.core.forms import AmountField, Form, NoControlCharacters


class LinkRequestForm(Form):
    """The address the donor gave with their gifts."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter the email address you gave with your gifts.")),
                    Length(max=254, message=_l("An email address has at most 254 characters.")),
                    NoControlCharacters()],
        render_kw={"autocomplete": "email"},
    )


class ButtonForm(Form):
    """Only the CSRF token: the "Sign in" button under a link, and "Sign out"."""


class MonthlyAmountForm(Form):
    """A new amount for a monthly gift, in the gift's own currency."""

    amount = AmountField(
        _l("New monthly amount"),
        validators=[DataRequired(_l("Type the new monthly amount.")), Length(max=30),
                    NoControlCharacters()],
        render_kw={"inputmode": "decimal"},
    )


class TaxAddresseeForm(Form):
    """Who the donor's tax receipts (寄附金受領証明書) are made out to."""

    name = StringField(_l("Name on the tax receipt"),
                       validators=[Length(max=200), NoControlCharacters()],
                       render_kw={"autocomplete": "name"})
    kana = StringField(_l("Reading of the name (katakana)"),
                       validators=[Length(max=200), NoControlCharacters()])
    postal_code = StringField(_l("Postal code"),
                              validators=[Length(max=10), NoControlCharacters()],
                              render_kw={"autocomplete": "postal-code", "inputmode": "numeric"})
    address = StringField(_l("Address"), validators=[Length(max=300), NoControlCharacters()],
                          render_kw={"autocomplete": "street-address"})
