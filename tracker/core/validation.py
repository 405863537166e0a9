"""Input checks shared by several domains."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _

from tracker.core.errors import DomainError
from tracker.core.i18n import current_locale
from tracker.core.money import Money, format_money


def _fold(raw: str | None) -> str:
    """NFKC, trimmed, case-folded: look-alikes typed differently become the same text."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()


def _canonical(raw: str | None) -> str:
    """The canonical address; raises EmailNotValidError when it is not an address."""
    return validate_email(_fold(raw), check_deliverability=False).normalized.casefold()


def email_key(raw: str | None) -> str:
    """The one form of an email address that every lookup and every count uses.

    Sign-in lockouts, the account lookup and donor lookups all go through here, so an
    address that differs only by width (``staff@ｅxample.org``), case or surrounding spaces
    is the same key everywhere: a lockout cannot be stepped around with a look-alike. Text
    that is not an address still gets a stable key (the lockout counts unknown input too).
    """
    try:
        return _canonical(raw)
    except EmailNotValidError:
        return _fold(raw)


def normalize_email(raw: str, field: str = "email") -> str:
    """Validate an email address and return its email_key form; DomainError(field) if malformed."""
    try:
        return _canonical(raw)
    except EmailNotValidError:
        # The library's own sentence is English only: say what to check in our words, which
        # have their translation (no English spliced into a Japanese message).
        raise DomainError(_email_problem(raw), field=field) from None


def _email_problem(raw: str) -> str:
    """Why ``raw`` is not an address, in the current language, from what is plainly wrong."""
    text = (raw or "").strip()
    if "@" not in text:
        return _("That email address is not valid: it needs an @ and a domain, like "
                 "name@example.org.")
    local, _at, domain = text.rpartition("@")
    if not local or not domain:
        return _("That email address is not valid: write the part before the @ and the domain "
                 "after it, like name@example.org.")
    if any(c.isspace() for c in text):
        return _("That email address is not valid: take out the spaces.")
    if "." not in domain:
        return _("That email address is not valid: the domain after the @ needs a dot, like "
                 "example.org.")
    return _("That email address is not valid: check it for typing mistakes.")


def check_length(value: str, maximum: int, field: str, label: str) -> None:
    """Refuse text longer than its column, with a message naming the field.

    ``label`` names the field in the sentence; pass it translatable (``lazy_gettext``)."""
    if len(value) > maximum:
        raise DomainError(_("Keep the %(label)s to %(maximum)d characters.",
                            label=str(label), maximum=maximum), field=field)


def check_staff_amount(money: Money, field: str = "amount", *, maximum: int | None = None) -> None:
    """Refuse an amount typed at a staff desk above ``maximum`` minor units (either sign).

    ``maximum`` defaults to TRACKER_MAX_STAFF_AMOUNT_MINOR (corrections, budget lines, payments
    out); offline gifts pass TRACKER_MAX_GIFT_MINOR, the cap of every gift. The message names
    the largest amount accepted, in the page's language, so a slip of the finger is clear.
    """
    if maximum is None:
        maximum = current_app.config["TRACKER_MAX_STAFF_AMOUNT_MINOR"]
    if abs(money.amount_minor) > maximum:
        largest = format_money(Money(maximum, money.currency), current_locale())
        raise DomainError(_("The largest amount accepted here is %(amount)s. Check the number "
                            "of digits.", amount=largest), field=field)


#: a money-desk reason: long enough to mean something to the next reader, short enough for memo
REASON_MIN, REASON_MAX = 10, 500


def check_reason(reason: str | None) -> str:
    """The reason for a money correction, stripped; DomainError(field "reason") unless it is
    REASON_MIN to REASON_MAX characters."""
    text = (reason or "").strip()
    if not text:
        raise DomainError(_("Say why: the reason is kept with the correction."), field="reason")
    if len(text) < REASON_MIN:
        raise DomainError(_("Give a reason of at least %(min)d characters.", min=REASON_MIN),
                          field="reason")
    if len(text) > REASON_MAX:
        raise DomainError(_("Keep the reason to %(max)d characters.", max=REASON_MAX),
                          field="reason")
    return text
