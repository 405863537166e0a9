"""WTForms' stock validator and field messages, so that ``pybabel extract`` puts them in the
app's own catalog (tracker/translations), where the Japanese follows JA_STYLE: WTForms' own
Japanese catalog is incomplete and written otherwise (half-width commas, フィールド), and an
untranslated one shows English on a Japanese page. ``tracker.core.forms.Form`` reads them
from the app's catalog in the request's language. Nothing calls ``_`` or ``ngettext`` here at
run time but this list: they only mark the text, exactly as WTForms writes it."""

from __future__ import annotations


def _(text: str) -> str:
    return text


def ngettext(singular: str, plural: str, n: int) -> str:  # noqa: ARG001
    return singular


STOCK_MESSAGES: tuple[str, ...] = (
    _("Field must be equal to %(other_name)s."),
    ngettext("Field must be at least %(min)d character long.",
             "Field must be at least %(min)d characters long.", 1),
    ngettext("Field cannot be longer than %(max)d character.",
             "Field cannot be longer than %(max)d characters.", 1),
    ngettext("Field must be exactly %(max)d character long.",
             "Field must be exactly %(max)d characters long.", 1),
    _("Field must be between %(min)d and %(max)d characters long."),
    _("Number must be at least %(min)s."),
    _("Number must be at most %(max)s."),
    _("Number must be between %(min)s and %(max)s."),
    _("Date must be at least %(min)s."),
    _("Date must be at most %(max)s."),
    _("Date must be between %(min)s and %(max)s."),
    _("This field is required."),
    _("Invalid input."),
    _("Invalid email address."),
    _("Invalid URL."),
    _("Invalid value, must be one of: %(values)s."),
    _("Invalid value, can't be any of: %(values)s."),
    _("This field cannot be edited."),
    _("This field is disabled and cannot have a value."),
    _("Invalid Choice: could not coerce."),
    _("Not a valid choice."),
    _("Invalid choice(s): one or more data inputs could not be coerced."),
    ngettext("'%(value)s' is not a valid choice for this field.",
             "'%(value)s' are not valid choices for this field.", 1),
    _("Not a valid datetime value."),
    _("Not a valid date value."),
    _("Not a valid time value."),
    _("Not a valid week value."),
    _("Not a valid integer value."),
    _("Not a valid decimal value."),
    _("Not a valid float value."),
)
