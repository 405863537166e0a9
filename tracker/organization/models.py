"""The organization's one row of identity, its logo, and the text of its own pages."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

#: the pages admins write (their addresses are /about, /contact and /privacy)
PAGE_SLUGS: tuple[str, ...] = ("about", "contact", "privacy")
#: the languages each field and page is written in
ORG_LANGUAGES: tuple[str, ...] = ("en", "ja")
#: the one row's key
IDENTITY_ID = 1
#: columns added to the stored row start empty
_EMPTY = text("''")


class Organization(db.Model):
    """Who runs this site: one row (``id`` = 1). Absent until an admin first saves it; until
    then ``identity.current_identity`` gives the defaults."""

    __tablename__ = "organization"
    __table_args__ = (CheckConstraint(f"id = {IDENTITY_ID}", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: bumped by every change of the identity, the logo or a page: public pages' fingerprints
    #: include it, so a change shows at once
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the name shown in the header and as the mail sender's display name
    name_en: Mapped[str] = mapped_column(String(120), default="")
    name_ja: Mapped[str] = mapped_column(String(120), default="")
    #: the registered legal name (footer, receipts)
    legal_name_en: Mapped[str] = mapped_column(String(200), default="")
    legal_name_ja: Mapped[str] = mapped_column(String(200), default="")
    representative_en: Mapped[str] = mapped_column(String(120), default="")
    representative_ja: Mapped[str] = mapped_column(String(120), default="")
    #: postal code first (〒100-0001), then the address in each language
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    address_en: Mapped[str] = mapped_column(String(300), default="")
    address_ja: Mapped[str] = mapped_column(String(300), default="")
    #: the 13-digit corporate number (法人番号), when registered
    corporate_number: Mapped[str] = mapped_column(String(13), default="")
    #: a certified NPO (認定NPO法人): since when, and by which authority
    certified: Mapped[bool] = mapped_column(Boolean, default=False)
    certified_on: Mapped[date | None] = mapped_column(Date)
    certifying_authority_en: Mapped[str] = mapped_column(String(120), default="")
    certifying_authority_ja: Mapped[str] = mapped_column(String(120), default="")
    #: where the contact form's messages go, and the address named in every mail's signature
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    #: the From address of every mail (empty: MAIL_FROM's address)
    sender_email: Mapped[str] = mapped_column(String(254), default="")
    #: the bank account donors may transfer to themselves (all optional; shown on the donate
    #: form's bank-transfer choice once bank name and account number are set)
    bank_name: Mapped[str] = mapped_column(String(60), default="", server_default=_EMPTY)
    bank_branch_name: Mapped[str] = mapped_column(String(60), default="", server_default=_EMPTY)
    bank_branch_number: Mapped[str] = mapped_column(String(3), default="", server_default=_EMPTY)
    #: "futsu" (普通) or "toza" (当座); empty when no account is set
    bank_account_type: Mapped[str] = mapped_column(String(8), default="", server_default=_EMPTY)
    bank_account_number: Mapped[str] = mapped_column(String(8), default="", server_default=_EMPTY)
    #: the account holder's name as the bank writes it, in katakana
    bank_account_holder: Mapped[str] = mapped_column(String(120), default="", server_default=_EMPTY)
    #: the Japan Post Bank (ゆうちょ銀行) account: 記号 and 番号 for transfers from another
    #: ゆうちょ account, and its 振込用 details (店名, 店番, 預金種目, 口座番号) for other banks
    yucho_symbol: Mapped[str] = mapped_column(String(5), default="", server_default=_EMPTY)
    yucho_number: Mapped[str] = mapped_column(String(8), default="", server_default=_EMPTY)
    yucho_branch_name: Mapped[str] = mapped_column(String(60), default="", server_default=_EMPTY)
    yucho_branch_number: Mapped[str] = mapped_column(String(3), default="", server_default=_EMPTY)
    yucho_account_type: Mapped[str] = mapped_column(String(8), default="", server_default=_EMPTY)
    yucho_account_number: Mapped[str] = mapped_column(String(8), default="", server_default=_EMPTY)
    yucho_account_holder: Mapped[str] = mapped_column(String(120), default="", server_default=_EMPTY)
    #: the current logo's public file name (a random token; a new logo gets a new name)
    logo_name: Mapped[str | None] = mapped_column(String(60))


class OrganizationLogo(db.Model):
    """The logo's pixels, re-encoded without metadata; only the current one is kept."""

    __tablename__ = "organization_logos"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SitePage(db.Model):
    """The text of an about, contact or privacy page in one language (Markdown)."""

    __tablename__ = "site_pages"
    __table_args__ = (
        CheckConstraint(f"slug IN {sql_in(PAGE_SLUGS)}", name="slug"),
        CheckConstraint(f"language IN {sql_in(ORG_LANGUAGES)}", name="language"),
    )

    slug: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    #: Markdown; rendered and sanitized as posts are (``web.templating.render_markdown``)
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
