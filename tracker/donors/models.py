"""Sign-in links sent to donors, each also the record of the session it started.

Only a SHA-256 hash of a link's token is stored: the token itself is in the email alone, so
someone reading this table cannot sign in as anyone. A link is used at most once (a
conditional UPDATE, see ``tracker.donors.services.consume_link``) and only before it expires;
the row then stands for the donor's session, so signing out ends that session on the server
as well, not only in the browser that signed out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db


class DonorSignIn(db.Model):
    """One sign-in link sent to a donor, and the session it started once it was used."""

    __tablename__ = "donor_sign_ins"
    __table_args__ = (
        CheckConstraint("length(token_hash) = 64", name="token_hash_sha256"),
        # A session names its row by id: an id is never handed out again, also on SQLite
        # (which would otherwise reuse the id of the newest row once it was deleted).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"), index=True)
    #: hex SHA-256 of the token in the link (the token itself is never stored)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the link opens nothing from this moment on
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: when the link was used to sign in (at most once)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the session it started was ended by signing out
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaxReceipt(db.Model):
    """That a donor's tax receipt for a calendar year was issued: when first, when last and
    how often. The receipt itself is made again from the ledger each time; from the second
    issue on it says it is a reissue (再発行)."""

    __tablename__ = "tax_receipts"
    __table_args__ = (UniqueConstraint("donor_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"))
    year: Mapped[int]
    first_issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issues: Mapped[int] = mapped_column(default=1, server_default="1")
