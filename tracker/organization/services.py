"""Saving the organization's identity, logo and pages: checks, then flush (the caller commits
and audits, in the same transaction).

Every saved change bumps ``Organization.version``, which every public page's fingerprint
carries (``tracker.web.pagecache``): a change shows on the next request of every worker.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from typing import Any

from flask_babel import gettext as _

from tracker.core.errors import DomainError
from tracker.core.images import EXTENSIONS, reencode
from tracker.core.time import local_today, utcnow
from tracker.core.validation import normalize_email
from tracker.extensions import db
from tracker.organization import identity
from tracker.organization.models import (
    IDENTITY_ID,
    ORG_LANGUAGES,
    PAGE_SLUGS,
    Organization,
    OrganizationLogo,
    SitePage,
)

#: a Japanese postal code: 100-0001 (the hyphen is added when typed without it)
_POSTAL_CODE = re.compile(r"^(\d{3})-?(\d{4})$")
_CORPORATE_NUMBER = re.compile(r"^\d{13}$")


def corporate_number_valid(number: str) -> bool:
    """The National Tax Agency's check digit: the first of the 13 digits is
    9 - ((sum of the 12 base digits, each times 1 or 2 alternately, the last digit times 1)
    mod 9). A typo in any one digit fails it."""
    if not _CORPORATE_NUMBER.match(number):
        return False
    base = [int(digit) for digit in reversed(number[1:])]
    total = sum(digit * (1 if place % 2 == 0 else 2) for place, digit in enumerate(base))
    return int(number[0]) == 9 - total % 9
#: the longest page text accepted
PAGE_MAX = 20_000


#: what the admin's form holds (text as typed, trimmed by the form): the identity's own fields
IdentityInput = identity.IdentityFields


#: where a wrong value is reported: ``refuse(reason, field)``
Refuse = Callable[[str, str], None]


class IdentityErrors(DomainError):
    """Every field of the identity that cannot be kept, at once: ``errors`` holds
    ``(field, reason)`` pairs; ``field`` and ``reason`` are the first of them."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors[0][1], field=errors[0][0])
        self.errors = errors


#: how many digits each number of an account has (at most; a branch number exactly)
_DIGITS = {"bank_branch_number": (3, 3), "bank_account_number": (1, 8), "yucho_symbol": (5, 5),
           "yucho_number": (1, 8), "yucho_branch_number": (3, 3), "yucho_account_number": (1, 8)}
ACCOUNT_TYPES = ("futsu", "toza")
#: katakana, the long-vowel mark, spaces and the few signs banks accept in a holder's name
_KANA = re.compile(r"^[\u30a0-\u30ff\uff66-\uff9f 　（）().,\-ー・／/]+$")


def _check_account(values: dict[str, Any], refuse: Refuse) -> None:
    """The bank and ゆうちょ details: digits where digits go, a known account type, katakana
    for the holder; each account complete or empty. Each wrong field goes to ``refuse``."""
    for name, (least, most) in _DIGITS.items():
        value = values[name].replace("-", "").replace(" ", "")
        values[name] = value
        if value and not (value.isascii() and value.isdigit() and least <= len(value) <= most):
            if least == most:
                refuse(_("Write this as %(count)d digits.", count=most), name)
            else:
                refuse(_("Write this as up to %(count)d digits.", count=most), name)
    for prefix in ("bank", "yucho"):
        kind = values[f"{prefix}_account_type"]
        if kind and kind not in ACCOUNT_TYPES:
            refuse(_("Choose the type of account."), f"{prefix}_account_type")
        holder = values[f"{prefix}_account_holder"]
        if holder and not _KANA.match(holder):
            refuse(_("Write the account holder's name in katakana, as the bank "
                     "writes it."), f"{prefix}_account_holder")
    bank = ("bank_name", "bank_branch_name", "bank_branch_number", "bank_account_type",
            "bank_account_number", "bank_account_holder")
    if any(values[name] for name in bank):
        for name in bank:
            if not values[name]:
                refuse(_("Give every detail of the bank account, or none."), name)
    yucho = ("yucho_symbol", "yucho_number", "yucho_account_holder")
    if any(values[name] for name in (*yucho, "yucho_branch_name", "yucho_branch_number",
                                     "yucho_account_type", "yucho_account_number")):
        for name in yucho:
            if not values[name]:
                refuse(_("Give the 記号, the 番号 and the holder's name of the ゆうちょ "
                         "account."), name)


_LIMITS = {column.name: column.type.length for column in Organization.__table__.columns
           if getattr(column.type, "length", None)}


def _one_line(value: str) -> str:
    return " ".join((value or "").split())


def _checked_email(value: str, field: str) -> str:
    if not value:
        return ""
    try:
        return normalize_email(value, field)
    except DomainError:
        raise DomainError(_("Enter an email address like name@example.org."), field=field) from None


def _clean(data: IdentityInput) -> dict[str, Any]:
    """The values to store, or IdentityErrors naming every field that is wrong (one reason
    per field: the first found)."""
    errors: dict[str, str] = {}

    def refuse(reason: str, field: str) -> None:
        errors.setdefault(field, reason)

    values: dict[str, Any] = {}
    for item in fields(IdentityInput):
        value = getattr(data, item.name)
        values[item.name] = _one_line(value) if isinstance(value, str) else value
    for name, value in values.items():
        limit = _LIMITS.get(name)
        if isinstance(value, str) and limit and len(value) > limit:
            refuse(_("Keep this to %(max)d characters.", max=limit), name)
    if not values["name_en"] and not values["name_ja"]:
        refuse(_("Give the organization's name in at least one language."), "name_en")
    if values["postal_code"]:
        code = _POSTAL_CODE.match(values["postal_code"].replace("〒", "").strip())
        if code is None:
            refuse(_("Write the postal code as 7 digits, like 100-0001."), "postal_code")
        else:
            values["postal_code"] = f"{code.group(1)}-{code.group(2)}"
    number = values["corporate_number"].replace("-", "").replace(" ", "")
    if number and not _CORPORATE_NUMBER.match(number):
        refuse(_("The corporate number has 13 digits."), "corporate_number")
    elif number and not corporate_number_valid(number):
        refuse(_("This corporate number's check digit does not match: check each digit "
                 "against the National Tax Agency's record."), "corporate_number")
    values["corporate_number"] = number
    if values["certified"]:
        if values["certified_on"] is None:
            refuse(_("Give the date of the certification."), "certified_on")
        elif values["certified_on"] > local_today():
            refuse(_("The date of the certification cannot be in the future."), "certified_on")
        if not values["certifying_authority_en"] and not values["certifying_authority_ja"]:
            refuse(_("Name the authority that certified the organization."),
                   "certifying_authority_en")
    else:
        values["certified_on"] = None
    for name in ("contact_email", "sender_email"):
        try:
            values[name] = _checked_email(values[name], name)
        except DomainError as exc:
            refuse(exc.reason, name)
    _check_account(values, refuse)
    if errors:
        raise IdentityErrors(list(errors.items()))
    return values


def check_identity(data: IdentityInput, skip: set[str] | frozenset[str] = frozenset()) \
        -> list[tuple[str, str]]:
    """Every ``(field, reason)`` the save would refuse, leaving out the fields in ``skip``
    (those the form already refused), so one submission shows every error at once."""
    try:
        _clean(data)
    except IdentityErrors as exc:
        return [(field, reason) for field, reason in exc.errors if field not in skip]
    return []


def _row() -> Organization:
    """The one row, made on first save (locked on PostgreSQL so two saves queue up)."""
    row = db.session.scalar(db.select(Organization).where(Organization.id == IDENTITY_ID)
                            .with_for_update())
    if row is None:
        default = identity.default_identity()
        row = Organization(id=IDENTITY_ID, version=0, name_en=default.name_en,
                           name_ja=default.name_ja)
        db.session.add(row)
    return row


def _snapshot(row: Organization) -> dict[str, Any]:
    """The stored fields as plain values, for the audit entry."""
    result: dict[str, Any] = {}
    for name in (item.name for item in fields(IdentityInput)):
        value = getattr(row, name, None)
        result[name] = value.isoformat() if isinstance(value, date) else value
    result["logo_name"] = row.logo_name
    return result


def _bump(row: Organization) -> None:
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()
    db.session.flush()
    identity.forget()


def update_identity(data: IdentityInput) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Save the identity; ``(before, after)`` of what changed for the audit, or None when
    nothing did. DomainError(field) for a value that cannot be kept. Flushes."""
    values = _clean(data)
    row = _row()
    before = _snapshot(row) if row.version else {}
    changed = {name: value for name, value in values.items() if getattr(row, name, None) != value}
    if not changed and row.version:
        return None
    for name, value in values.items():
        setattr(row, name, value)
    _bump(row)
    after = _snapshot(row)
    return ({k: before.get(k) for k in changed}, {k: after[k] for k in changed})


def set_logo(upload: bytes) -> str:
    """Re-encode an uploaded logo (no metadata kept), store it under a new random name and
    drop the old one; returns the new name. DomainError("logo") for a file that is not an
    image we can read. Flushes."""
    data, content_type, width, height = reencode(upload, field="logo")
    row = _row()
    name = f"{secrets.token_urlsafe(12)}.{EXTENSIONS[content_type]}"
    _drop_logo(row)
    db.session.add(OrganizationLogo(name=name, content_type=content_type, width=width,
                                    height=height, data=data))
    row.logo_name = name
    _bump(row)
    return name


def _drop_logo(row: Organization) -> None:
    if row.logo_name:
        db.session.execute(db.delete(OrganizationLogo).where(OrganizationLogo.name == row.logo_name))
        row.logo_name = None


def remove_logo() -> bool:
    """Take the logo away; False when there was none. Flushes."""
    row = _row()
    if not row.logo_name:
        return False
    _drop_logo(row)
    _bump(row)
    return True


def logo(name: str) -> OrganizationLogo | None:
    """The current logo by its public name (an old name finds nothing)."""
    return db.session.scalar(db.select(OrganizationLogo).where(OrganizationLogo.name == name))


def page_texts(slug: str) -> dict[str, str]:
    """A page's Markdown in each language it is written in (``{"en": ..., "ja": ...}``)."""
    rows = db.session.scalars(db.select(SitePage).where(SitePage.slug == slug))
    return {page.language: page.body_markdown for page in rows if page.body_markdown.strip()}


def page_in(slug: str, locale: str) -> tuple[str, str] | None:
    """``(language, markdown)`` of a page for a reader of ``locale``: theirs, else the other
    language's (the page then says so), else None (nothing written yet)."""
    texts = page_texts(slug)
    for code in (locale, *(c for c in ORG_LANGUAGES if c != locale)):
        if code in texts:
            return code, texts[code]
    return None


def update_page(slug: str, texts: dict[str, str]) -> dict[str, Any] | None:
    """Save a page's text in each language (empty: none in that language). For the audit, the
    languages whose text changed with their new length; None when nothing changed. Flushes."""
    if slug not in PAGE_SLUGS:
        raise DomainError(_("There is no such page."))
    changed: dict[str, Any] = {}
    for code in ORG_LANGUAGES:
        text = (texts.get(code) or "").strip()
        if len(text) > PAGE_MAX:
            raise DomainError(_("Keep the text to %(max)d characters.", max=PAGE_MAX),
                              field=f"body_{code}")
        page = db.session.get(SitePage, (slug, code))
        if page is None:
            if not text:
                continue
            page = SitePage(slug=slug, language=code, body_markdown="")
            db.session.add(page)
        if page.body_markdown != text:
            page.body_markdown = text
            page.updated_at = utcnow()
            changed[code] = len(text)
    if not changed:
        return None
    _bump(_row())
    return {"page": slug, "characters": changed}


def identity_form_data() -> dict[str, Any]:
    """The stored identity as form data (the defaults while nothing is stored)."""
    current = identity.current_identity()
    return {name: getattr(current, name) for name in (item.name for item in fields(IdentityInput))}

