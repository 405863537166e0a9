"""The donor's forms: ask for a sign-in link, use it, sign out."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField
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
