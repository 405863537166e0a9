"""Helpers shared by every form."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import BooleanField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import ValidationError

from tracker.core.errors import DomainError
from tracker.core.text import clean_public_text

CONTROL_CHARACTERS_ERROR = _l("Remove the control characters from this field.")


def _has_control_characters(text: str, allowed: str = "\t\n\r") -> bool:
    return any((ord(ch) < 0x20 and ch not in allowed) or ord(ch) == 0x7F for ch in text)


class AmountField(StringField):
    """An amount of money as typed. Unlike other text, a bidirectional control in it is not
    dropped but left for the amount's parser to refuse: "\u202e5000" shows as "0005", and
    nobody should be charged an amount other than the one they saw."""


class NoControlCharacters:
    """Refuse control characters (tab, newline and carriage return excepted): nobody types
    them, and a NUL cannot even be stored (PostgreSQL refuses it in text)."""

    def __call__(self, form: FlaskForm, field: Any) -> None:
        if isinstance(field.data, str) and _has_control_characters(field.data):
            raise ValidationError(str(CONTROL_CHARACTERS_ERROR))


class AppTranslations:
    """WTForms' stock messages ("This field is required.", "Field cannot be longer than 80
    characters.") from the app's own catalog, in the language the request (or a
    ``language()`` block) is shown in; see tracker.core.form_messages. The text comes back
    unformatted: WTForms fills in its own placeholders."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


APP_TRANSLATIONS = AppTranslations()


class Form(FlaskForm):
    """The base of every form here.

    - Form fields only: Flask-WTF would read a JSON body as the form too, and hand its
      numbers, lists and nulls to validators that expect text (a 500). A JSON body is read as
      a form with no fields, so it fails validation like an empty form.
    - No NUL in any text field, whatever the form: PostgreSQL cannot store one, and nothing a
      person types contains it.
    - No bidirectional control character in any text field (passwords excepted): they are
      dropped as the field reads its data (tracker.core.text.clean_public_text), so a donor
      name, a message or a title cannot reorder what the public wall or page shows.
    - WTForms' stock messages in the page's language, from the app's catalog (AppTranslations).
    """

    class Meta:
        def get_translations(self, form: FlaskForm) -> AppTranslations:
            return APP_TRANSLATIONS

        def bind_field(self, form: FlaskForm, unbound_field: Any, options: dict[str, Any]) -> Any:
            field_class = unbound_field.field_class
            if (issubclass(field_class, StringField) and not issubclass(field_class, PasswordField)
                    and not issubclass(field_class, AmountField)):
                options = {**options, "filters": (*unbound_field.kwargs.get("filters", ()),
                                                  clean_public_text)}
            return super().bind_field(form, unbound_field, options)

        def wrap_formdata(self, form: FlaskForm, formdata: Any) -> Any:
            if has_request_context() and request.is_json and form.is_submitted():
                return ImmutableMultiDict()
            return super().wrap_formdata(form, formdata)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and "\x00" in field.data:
                # once: a field with NoControlCharacters has already said so
                if str(CONTROL_CHARACTERS_ERROR) not in field.errors:
                    field.errors = [*field.errors, str(CONTROL_CHARACTERS_ERROR)]
                ok = False
        return ok


def apply_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal at the field it names, or at the top of the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), exc.reason]
    else:
        form.form_errors.append(exc.reason)


class FaceDecisionForm(Form):
    """A staff decision about a photo: it names the photo staff looked at (its review version,
    tracker.core.faces.check_version), so a photo replaced meanwhile is not decided unseen."""

    looked_at = HiddenField()


class FaceBlurForm(FaceDecisionForm):
    """Blur the faces the check found in a held photo (tracker.core.faces)."""


class FaceConsentForm(FaceDecisionForm):
    """Show a held photo as it is: the person agreed (box and note both required; the service
    says so in words when either is missing)."""

    agreed = BooleanField(_l("The people shown agreed to appear on our public pages"))
    face_note = TextAreaField(_l("How they agreed (kept in the audit log)"))


class FaceNoPersonForm(FaceDecisionForm):
    """Show a photo in which the check found no face: staff looked and confirm on purpose that
    no person can be recognised in it (the service refuses an unticked box in words)."""

    looked = BooleanField(_l("I have looked: no person can be recognized in this photo"))


class FaceMarkForm(FaceDecisionForm):
    """An area staff saw a person in, in percent of the photo, to blur (the service checks the
    numbers and says what is wrong in words)."""

    left = StringField(_l("From the left edge (%)"))
    top = StringField(_l("From the top edge (%)"))
    width = StringField(_l("Width (%)"))
    height = StringField(_l("Height (%)"))
