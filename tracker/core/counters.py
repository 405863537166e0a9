"""Never-reused counters (receipt numbers).

PostgreSQL: a sequence per counter (``<name>_number_seq``): ``nextval`` holds no lock, so
concurrent gifts are not serialized on one row; a rolled-back transaction leaves a gap and the
number is never handed out again. SQLite (one writer at a time anyway): a row in ``counters``
incremented inside the caller's transaction, so a rollback takes the number back.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db

#: counters backed by a PostgreSQL sequence (created by the migrations)
SEQUENCES = {"receipt": "receipt_number_seq"}


class Counter(db.Model):
    """One named counter."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def next_value(name: str) -> int:
    """The next value of counter ``name``: unique and increasing, never reused."""
    if db.session.get_bind().dialect.name == "postgresql":
        if name not in SEQUENCES:
            raise ValueError(f"no sequence for counter {name!r}")
        return int(db.session.execute(text(f"SELECT nextval('{SEQUENCES[name]}')")).scalar_one())
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
