"""Saving the organization's identity, logo and pages: checks, then flush (the caller commits
and audits, in the same transaction).

Every saved change bumps ``Organization.version``, which every public page's fingerprint
carries (``tracker.web.pagecache``): a change shows on the next request of every worker.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import fields
from datetime import date
from typing import Any

from flask_babel import gettext as _

from tracker.core.errors import DomainError
from tracker.core.images import EXTENSIONS, reencode
from tracker.core.time import utcnow
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
#: the longest page text accepted
PAGE_MAX = 20_000


#: what the admin's form holds (text as typed, trimmed by the form): the identity's own fields
IdentityInput = identity.IdentityFields


#: how many digits each number of an account has (at most; a branch number exactly)
_DIGITS = {"bank_branch_number": (3, 3), "bank_account_number": (1, 8), "yucho_symbol": (5, 5),
           "yucho_number": (1, 8), "yucho_branch_number": (3, 3), "yucho_account_number": (1, 8)}
ACCOUNT_TYPES = ("futsu", "toza")
#: katakana, the long-vowel mark, spaces and the few signs banks accept in a holder's name
_KANA = re.compile(r"^[\u30a0-\u30ff\uff66-\uff9f 　（）().,\-ー・／/]+$")


def _check_account(values: dict[str, Any]) -> None:
    """The bank and ゆうちょ details: digits where digits go, a known account type, katakana
    for the holder; each account complete or empty. DomainError at the first wrong field."""
    for name, (least, most) in _DIGITS.items():
        value = values[name].replace("-", "").replace(" ", "")
        values[name] = value
        if value and not (value.isascii() and value.isdigit() and least <= len(value) <= most):
            if least == most:
                raise DomainError(_("Write this as %(count)d digits.", count=most), field=name)
            raise DomainError(_("Write this as up to %(count)d digits.", count=most), field=name)
    for prefix in ("bank", "yucho"):
        kind = values[f"{prefix}_account_type"]
        if kind and kind not in ACCOUNT_TYPES:
            raise DomainError(_("Choose the type of account."), field=f"{prefix}_account_type")
        holder = values[f"{prefix}_account_holder"]
        if holder and not _KANA.match(holder):
            raise DomainError(_("Write the account holder's name in katakana, as the bank "
                                "writes it."), field=f"{prefix}_account_holder")
    bank = ("bank_name", "bank_branch_name", "bank_branch_number", "bank_account_type",
            "bank_account_number", "bank_account_holder")
    if any(values[name] for name in bank):
        for name in bank:
            if not values[name]:
                raise DomainError(_("Give every detail of the bank account, or none."), field=name)
    yucho = ("yucho_symbol", "yucho_number", "yucho_account_holder")
    if any(values[name] for name in (*yucho, "yucho_branch_name", "yucho_branch_number",
                                     "yucho_account_type", "yucho_account_number")):
        for name in yucho:
            if not values[name]:
                raise DomainError(_("Give the 記号, the 番号 and the holder's name of the ゆうちょ "
                                    "account."), field=name)


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
    """The values to store, or DomainError at the first field that is wrong."""
    values: dict[str, Any] = {}
    for item in fields(IdentityInput):
        value = getattr(data, item.name)
        values[item.name] = _one_line(value) if isinstance(value, str) else value
    for name, value in values.items():
        limit = _LIMITS.get(name)
        if isinstance(value, str) and limit and len(value) > limit:
            raise DomainError(_("Keep this to %(max)d characters.", max=limit), field=name)
    if not values["name_en"] and not values["name_ja"]:
        raise DomainError(_("Give the organization's name in at least one language."),
                          field="name_en")
    if values["postal_code"]:
        code = _POSTAL_CODE.match(values["postal_code"].replace("〒", "").strip())
        if code is None:
            raise DomainError(_("Write the postal code as 7 digits, like 100-0001."),
                              field="postal_code")
        values["postal_code"] = f"{code.group(1)}-{code.group(2)}"
    number = values["corporate_number"].replace("-", "").replace(" ", "")
    if number and not _CORPORATE_NUMBER.match(number):
        raise DomainError(_("The corporate number has 13 digits."), field="corporate_number")
    values["corporate_number"] = number
    if values["certified"]:
        if values["certified_on"] is None:
            raise DomainError(_("Give the date of the certification."), field="certified_on")
        if not values["certifying_authority_en"] and not values["certifying_authority_ja"]:
            raise DomainError(_("Name the authority that certified the organization."),
                              field="certifying_authority_en")
    else:
        values["certified_on"] = None
    values["contact_email"] = _checked_email(values["contact_email"], "contact_email")
    values["sender_email"] = _checked_email(values["sender_email"], "sender_email")
    _check_account(values)
    return values


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

