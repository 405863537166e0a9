"""Gapless, never-reused counters (receipt numbers), incremented inside the caller's
transaction: a rollback takes the number back, a commit keeps it for good."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db


class Counter(db.Model):
    """One named counter."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def next_value(name: str) -> int:
    """Increment counter ``name`` and return the new value.

    The UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite) until the caller
    commits, so concurrent callers get distinct, consecutive numbers.
    """
    row = db.session.execute(
        text("UPDATE counters SET value = value + 1 WHERE name = :name RETURNING value"),
        {"name": name},
    ).first()
    if row is None:
        # First use: create the row; a concurrent first user may win the race, which is fine.
        db.session.execute(
            text("INSERT INTO counters (name, value) VALUES (:name, 0) ON CONFLICT (name) DO NOTHING"),
            {"name": name},
        )
        return next_value(name)
    return int(row[0])
