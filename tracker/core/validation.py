"""Input checks shared by several domains."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from tracker.core.errors import DomainError


def normalize_email(raw: str, field: str = "email") -> str:
    """Validate an email address and return it lower-cased; DomainError(field) if malformed."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(_("That email address is not valid: %(problem)s", problem=str(exc)),
                          field=field) from None


def check_length(value: str, maximum: int, field: str, label: str) -> None:
    """Refuse text longer than its column, with a message naming the field.

    ``label`` names the field in the sentence; pass it translatable (``lazy_gettext``)."""
    if len(value) > maximum:
        raise DomainError(_("Keep the %(label)s to %(maximum)d characters.",
                            label=str(label), maximum=maximum), field=field)
