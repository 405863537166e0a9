"""The organization's identity as a plain read-only value, read once per request.

``current_identity()`` is what pages, mail and receipts call. It sends one statement (the one
row by its key, without the logo's bytes) and keeps the answer for the rest of the request;
outside a request (the worker, a command) each call reads afresh, so a long-running worker
never signs mail with an old identity. With no row yet it returns the defaults: the name
"Rescue Tracker" and MAIL_FROM as the sender.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from email.utils import formataddr, parseaddr

from babel.dates import format_date
from flask import current_app, g, has_app_context, has_request_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from tracker.core.i18n import current_locale, language
from tracker.extensions import db
from tracker.organization.models import IDENTITY_ID, Organization

#: the name shown until an admin sets one (translated in Japanese)
DEFAULT_NAME = "Rescue Tracker"
_G_KEY = "tracker_identity"


def _pick(english: str, japanese: str, locale: str) -> str:
    """The text in ``locale``, else the one in the other language (either may be empty)."""
    if locale == "ja":
        return japanese or english
    return english or japanese


@dataclass(frozen=True, slots=True)
class IdentityFields:
    """What an admin sets of the organization's identity: the form's input
    (``services.IdentityInput``) and, with the logo and version, ``Identity``."""

    name_en: str = ""
    name_ja: str = ""
    legal_name_en: str = ""
    legal_name_ja: str = ""
    representative_en: str = ""
    representative_ja: str = ""
    postal_code: str = ""
    address_en: str = ""
    address_ja: str = ""
    corporate_number: str = ""
    certified: bool = False
    certified_on: date | None = None
    certifying_authority_en: str = ""
    certifying_authority_ja: str = ""
    contact_email: str = ""
    sender_email: str = ""
    bank_name: str = ""
    bank_branch_name: str = ""
    bank_branch_number: str = ""
    bank_account_type: str = ""
    bank_account_number: str = ""
    bank_account_holder: str = ""
    yucho_symbol: str = ""
    yucho_number: str = ""
    yucho_branch_name: str = ""
    yucho_branch_number: str = ""
    yucho_account_type: str = ""
    yucho_account_number: str = ""
    yucho_account_holder: str = ""


@dataclass(frozen=True, slots=True)
class Identity(IdentityFields):
    """Who runs the site, as shown on pages, mail and receipts. Read-only."""

    logo_name: str | None = None
    #: 0 while nothing is stored; bumped by every saved change (page fingerprints carry it)
    version: int = 0

    @property
    def is_default(self) -> bool:
        """Nothing has been saved yet."""
        return self.version == 0

    @property
    def has_bank_account(self) -> bool:
        """A bank account donors can transfer to is set (bank name and account number)."""
        return bool(self.bank_name and self.bank_account_number)

    @property
    def has_yucho_account(self) -> bool:
        """A Japan Post Bank account is set (its 記号 and 番号)."""
        return bool(self.yucho_symbol and self.yucho_number)

    @property
    def takes_transfers(self) -> bool:
        """Donors may pledge a transfer: at least one account is set."""
        return self.has_bank_account or self.has_yucho_account

    def name(self, locale: str | None = None) -> str:
        """The organization's name in ``locale`` (the page's language by default)."""
        return _pick(self.name_en, self.name_ja, locale or current_locale())

    def legal_name(self, locale: str | None = None) -> str:
        """The legal name in ``locale``, falling back to the other language, then the name."""
        locale = locale or current_locale()
        return _pick(self.legal_name_en, self.legal_name_ja, locale) or self.name(locale)

    def representative(self, locale: str | None = None) -> str:
        """The representative's name and title in ``locale`` (or the other language's)."""
        return _pick(self.representative_en, self.representative_ja, locale or current_locale())

    def address(self, locale: str | None = None) -> str:
        """Postal code first (〒100-0001), then the address in ``locale``; empty when unset."""
        text = _pick(self.address_en, self.address_ja, locale or current_locale())
        if self.postal_code:
            return f"〒{self.postal_code} {text}".strip()
        return text

    def certifying_authority(self, locale: str | None = None) -> str:
        """The authority that certified the NPO, in ``locale`` (or the other language's)."""
        return _pick(self.certifying_authority_en, self.certifying_authority_ja,
                     locale or current_locale())

    def certification(self, locale: str | None = None) -> str:
        """The certified NPO's status in a sentence, in ``locale``; empty when not certified."""
        if not self.certified or self.certified_on is None:
            return ""
        with language(locale or current_locale()) as code:
            return _("Certified NPO (認定NPO法人) since %(date)s, certified by %(authority)s",
                     date=format_date(self.certified_on, format="long", locale=code),
                     authority=self.certifying_authority(code))

    def sender(self, locale: str | None = None) -> str:
        """The From header of a mail in ``locale``: the sender address with the name as display
        name; MAIL_FROM (the setting) as it is while nothing is stored."""
        mail_from = current_app.config.get("MAIL_FROM") or f"{DEFAULT_NAME} <no-reply@localhost>"
        if self.is_default:
            return mail_from
        address = self.sender_email or parseaddr(mail_from)[1] or "no-reply@localhost"
        return formataddr((self.name(locale), address))


def default_identity() -> Identity:
    """The identity while no admin has saved one: the app's name, nothing else."""
    japanese = DEFAULT_NAME
    if has_app_context():
        with language("ja"):
            japanese = _(DEFAULT_NAME)
    return Identity(name_en=DEFAULT_NAME, name_ja=japanese)


_COLUMNS = [column for column in Organization.__table__.columns if column.name not in (
    "id", "updated_at")]
_READ = select(*_COLUMNS).where(Organization.id == IDENTITY_ID)


def _read() -> Identity:
    try:
        row = db.session.connection().execute(_READ).mappings().first()
    except SQLAlchemyError as exc:
        # a page answering an error (the database away, a failed transaction) still needs a
        # header and footer: the defaults then. When the connection itself broke, its
        # transaction is gone: end it here, so that the page's next query meets the outage
        # as one (a 503) instead of a session left waiting for a rollback (a 500)
        if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
            with contextlib.suppress(Exception):
                db.session.rollback()
        return default_identity()
    if row is None:
        return default_identity()
    values = {key: ("" if value is None and key not in ("certified_on", "logo_name") else value)
              for key, value in row.items()}
    values["certified"] = bool(values["certified"])
    return Identity(**values)


def current_identity() -> Identity:
    """The organization's identity: read once per request, afresh outside requests."""
    if not has_request_context():
        return _read()
    found = g.get(_G_KEY)
    if found is None:
        found = _read()
        setattr(g, _G_KEY, found)
    return found


def forget() -> None:
    """Drop this request's copy (after saving a change, so the same request shows it)."""
    if has_request_context():
        g.pop(_G_KEY, None)


def site_version() -> int:
    """What public pages' fingerprints carry: changes with the identity, logo and pages."""
    return current_identity().version
