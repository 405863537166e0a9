"""User accounts of the NGO's people (donors need no account)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.access import ROLES
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db


class User(UserMixin, db.Model):
    """A person who signs in: staff run cases, directors read reports, admins run the system."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('" + "', '".join(ROLES) + "')", name="role"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("session_version >= 1", name="session_version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sign-in name, stored lower-case so lookups are exact
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: argon2id hash in PHC format (parameters inside, so they can be raised later)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    #: a disabled user cannot sign in and loses any open session at once
    active: Mapped[bool] = mapped_column(default=True)
    #: part of the session identifier: bumping it ends every session of this user
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: TOTP second factor (RFC 6238): the base32 secret, set while enrolling
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: when the second factor was confirmed with a first code; NULL means not in use
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last 30-second time step a code was accepted for: a code is never accepted twice
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def is_active(self) -> bool:  # Flask-Login's hook
        return self.active

    def get_id(self) -> str:
        """Session identifier: id and session version, so a bumped version logs the user out."""
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
