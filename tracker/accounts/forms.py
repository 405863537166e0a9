"""Sign-in, second-factor code and account-security forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tracker.core.forms import Form


class LoginForm(Form):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class CodeForm(Form):
    """A 6-digit code from an authenticator app."""

    code = StringField(
        _l("6-digit code"),
        validators=[DataRequired(message=_l("Type the 6-digit code from your authenticator app.")),
                    Length(max=16)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "16"},
    )


class ButtonForm(Form):
    """Only the CSRF token: a button that changes something."""
