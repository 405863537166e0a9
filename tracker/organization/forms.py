"""The admin's forms for the identity and the pages, and the public contact form.

The forms check shape only (lengths, a readable date); the rules (postal code, corporate
number, certification, email addresses) live in ``services``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tracker.core.forms import Form
from tracker.organization.services import PAGE_MAX, IdentityInput

#: the account types a Japanese bank account has (stored codes: words on the page)
ACCOUNT_TYPE_LABELS = {"": _l("(none)"), "futsu": _l("Ordinary (futsu)"),
                       "toza": _l("Current (toza)")}
TOO_LONG = _l("Field cannot be longer than %(max)d characters.")
#: the longest contact message accepted
MESSAGE_MAX = 5000


def _text(label, maximum: int, **kwargs) -> StringField:  # noqa: ANN001 - a lazy string
    return StringField(label, validators=[Length(max=maximum, message=TOO_LONG)], **kwargs)


def _account_types() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in ACCOUNT_TYPE_LABELS.items()]


class IdentityForm(Form):
    """Who runs the site: names, address, registration, addresses for mail, logo."""

    name_en = _text(_l("Name (English)"), 120)
    name_ja = _text(_l("Name (Japanese)"), 120)
    legal_name_en = _text(_l("Legal name (English)"), 200)
    legal_name_ja = _text(_l("Legal name (Japanese)"), 200)
    representative_en = _text(_l("Representative (English)"), 120)
    representative_ja = _text(_l("Representative (Japanese)"), 120)
    postal_code = _text(_l("Postal code"), 10)
    address_en = _text(_l("Address (English)"), 300)
    address_ja = _text(_l("Address (Japanese)"), 300)
    corporate_number = _text(_l("Corporate number (13 digits, optional)"), 20)
    certified = BooleanField(_l("Certified NPO (認定NPO法人)"))
    certified_on = DateField(_l("Date of certification"), validators=[Optional()],
                             format="%Y-%m-%d")
    certifying_authority_en = _text(_l("Certifying authority (English)"), 120)
    certifying_authority_ja = _text(_l("Certifying authority (Japanese)"), 120)
    contact_email = EmailField(_l("Contact email (receives the contact form; named in every mail)"),
                               validators=[Length(max=254, message=TOO_LONG)])
    sender_email = EmailField(_l("Sender address for mail (From)"),
                              validators=[Length(max=254, message=TOO_LONG)])
    bank_name = _text(_l("Bank name"), 60)
    bank_branch_name = _text(_l("Branch name"), 60)
    bank_branch_number = _text(_l("Branch number (3 digits)"), 10)
    bank_account_type = SelectField(_l("Account type"), choices=_account_types, default="")
    bank_account_number = _text(_l("Account number"), 12)
    bank_account_holder = _text(_l("Account holder (in katakana)"), 120)
    yucho_symbol = _text(_l("Symbol (記号, 5 digits)"), 10)
    yucho_number = _text(_l("Number (番号)"), 12)
    yucho_branch_name = _text(_l("Branch name for transfers from other banks (店名)"), 60)
    yucho_branch_number = _text(_l("Branch number for transfers from other banks (店番)"), 10)
    yucho_account_type = SelectField(_l("Account type for transfers from other banks (預金種目)"),
                                     choices=_account_types, default="")
    yucho_account_number = _text(_l("Account number for transfers from other banks (口座番号)"), 12)
    yucho_account_holder = _text(_l("Account holder (in katakana)"), 120)
    logo = FileField(_l("Logo (PNG or JPEG; metadata is removed)"))
    remove_logo = BooleanField(_l("Remove the logo"))

    def to_input(self) -> IdentityInput:
        """The typed values for ``services.update_identity``."""
        values = {}
        for name in IdentityInput.__dataclass_fields__:
            data = getattr(self, name).data
            if name == "certified":
                values[name] = bool(data)
            elif name == "certified_on":
                values[name] = data
            else:
                values[name] = data or ""
        return IdentityInput(**values)


class PageForm(Form):
    """A page's text in English and in Japanese (Markdown; either may be empty)."""

    body_en = TextAreaField(_l("Text in English (Markdown)"),
                            validators=[Length(max=PAGE_MAX, message=TOO_LONG)])
    body_ja = TextAreaField(_l("Text in Japanese (Markdown)"),
                            validators=[Length(max=PAGE_MAX, message=TOO_LONG)])


class ContactForm(Form):
    """A visitor's message to the organization."""

    name = StringField(_l("Your name"), validators=[
        DataRequired(_l("Tell us your name.")), Length(max=120, message=TOO_LONG)])
    email = EmailField(_l("Your email address (we reply to it; it is never shown)"), validators=[
        DataRequired(_l("Give an email address we can reply to.")),
        Length(max=254, message=TOO_LONG)])
    message = TextAreaField(_l("Message"), validators=[
        DataRequired(_l("Write your message.")), Length(max=MESSAGE_MAX, message=TOO_LONG)])
