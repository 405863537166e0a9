"""Monthly rollups of the ledger, kept by the database in the same transaction as the ledger.

Reports over a million gifts cannot sum the ledger on every page view, and a stored total
must never drift from it. So the totals are kept by triggers on ``ledger_entries`` (AFTER
INSERT, on SQLite and PostgreSQL alike): every entry, however it is written (the ORM, a bulk
insert, a migration), adds itself to its month's rows in the same transaction, or not at all.
The ledger is append-only, so inserts are the only change there is.

Months are local calendar months (``ledger_entries.booked_month``, set from ``booked_at`` in
TRACKER_TIMEZONE when the entry is written), so any fiscal year (which starts on the first of
a month) is an exact union of months.

* ``ledger_month_totals``: per month, case (0 = general fund), kind, channel, currency and
  original currency: the sums of amount and original amount, and the number of entries.
* ``gift_amount_months``: per month and gift amount (base currency), how many gifts: the exact
  median gift without sorting a year's gifts.
* ``donor_months``: per donor and month, gifts and their sum; and ``donors.first_gift_month``:
  new, returning and lapsed donors (LYBUNT, SYBUNT) without scanning every gift.

``rebuild()`` recomputes them all from the ledger (after a bulk load with the triggers off,
or to check them: the tests compare both ways).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db


class LedgerMonthTotal(db.Model):
    """The ledger summed per month, case, kind, channel and currency (kept by triggers)."""

    __tablename__ = "ledger_month_totals"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    #: the case's id, 0 for the general fund (a key cannot be NULL)
    case_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: the donation's channel (card, bank_transfer, cash), "" for money not from a donation
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    #: the donor's currency (for a fee, its donation's), "" for money not from a donation
    original_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    original_amount_minor: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(Integer)


class GiftAmountMonth(db.Model):
    """How many gifts of each base amount were booked in a month (kept by triggers)."""

    __tablename__ = "gift_amount_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gifts: Mapped[int] = mapped_column(Integer)


class DonorMonth(db.Model):
    """A donor's gifts in a month (kept by triggers)."""

    __tablename__ = "donor_months"
    __table_args__ = (Index("ix_donor_months_month_donor", "month", "donor_id"),)

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"),
                                          primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    gifts: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


# --- the triggers ---------------------------------------------------------------------------

_CHANNEL = "COALESCE((SELECT channel FROM donations WHERE donations.id = NEW.donation_id), '')"
_DONOR = "(SELECT donor_id FROM donations WHERE donations.id = NEW.donation_id)"
_DONATION_CURRENCY = "(SELECT currency FROM donations WHERE donations.id = NEW.donation_id)"

_TOTALS_UPSERT = f"""
INSERT INTO ledger_month_totals (month, case_key, kind, channel, currency, original_currency,
                                 amount_minor, original_amount_minor, entries)
VALUES (NEW.booked_month, COALESCE(NEW.case_id, 0), NEW.kind, {_CHANNEL}, NEW.currency,
        COALESCE(NEW.original_currency, {_DONATION_CURRENCY}, ''), NEW.amount_minor,
        COALESCE(NEW.original_amount_minor, 0), 1)
ON CONFLICT (month, case_key, kind, channel, currency, original_currency) DO UPDATE SET
    amount_minor = ledger_month_totals.amount_minor + excluded.amount_minor,
    original_amount_minor = ledger_month_totals.original_amount_minor
                            + excluded.original_amount_minor,
    entries = ledger_month_totals.entries + 1;
"""
_GIFT_AMOUNT_UPSERT = """
INSERT INTO gift_amount_months (month, amount_minor, gifts)
VALUES (NEW.booked_month, NEW.amount_minor, 1)
ON CONFLICT (month, amount_minor) DO UPDATE SET gifts = gift_amount_months.gifts + 1;
"""
_DONOR_MONTH_UPSERT = f"""
INSERT INTO donor_months (donor_id, month, gifts, amount_minor)
SELECT {_DONOR}, NEW.booked_month, 1, NEW.amount_minor WHERE {_DONOR} IS NOT NULL
ON CONFLICT (donor_id, month) DO UPDATE SET
    gifts = donor_months.gifts + 1,
    amount_minor = donor_months.amount_minor + excluded.amount_minor;
"""
_FIRST_GIFT = f"""
UPDATE donors SET first_gift_month = NEW.booked_month
WHERE id = {_DONOR} AND (first_gift_month IS NULL OR first_gift_month > NEW.booked_month);
"""

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER ledger_rollup_totals AFTER INSERT ON ledger_entries BEGIN {_TOTALS_UPSERT} END",
    "CREATE TRIGGER ledger_rollup_gifts AFTER INSERT ON ledger_entries WHEN NEW.kind = 'gift' "
    f"BEGIN {_GIFT_AMOUNT_UPSERT} {_DONOR_MONTH_UPSERT} {_FIRST_GIFT} END",
]
PG_TRIGGERS = f"""
CREATE OR REPLACE FUNCTION ledger_rollup() RETURNS trigger AS $$
BEGIN
    {_TOTALS_UPSERT}
    IF NEW.kind = 'gift' THEN
        {_GIFT_AMOUNT_UPSERT}
        {_DONOR_MONTH_UPSERT}
        {_FIRST_GIFT}
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_rollup AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_rollup();
"""
_TRIGGER_NAMES = ("ledger_rollup_totals", "ledger_rollup_gifts", "ledger_rollup")


def create_triggers(execute: Any, dialect: str) -> None:
    """Create the rollup triggers; ``execute`` runs one SQL string (op.execute or a
    connection's exec_driver_sql)."""
    if dialect == "postgresql":
        execute(PG_TRIGGERS)
    else:
        for statement in SQLITE_TRIGGERS:
            execute(statement)


def drop_triggers(execute: Any, dialect: str) -> None:
    suffix = " ON ledger_entries" if dialect == "postgresql" else ""
    for name in _TRIGGER_NAMES:
        execute(f"DROP TRIGGER IF EXISTS {name}{suffix}")


# --- rebuilding from the ledger -------------------------------------------------------------

_REBUILD = [
    "DELETE FROM ledger_month_totals",
    "DELETE FROM gift_amount_months",
    "DELETE FROM donor_months",
    """INSERT INTO ledger_month_totals (month, case_key, kind, channel, currency,
           original_currency, amount_minor, original_amount_minor, entries)
       SELECT l.booked_month, COALESCE(l.case_id, 0), l.kind, COALESCE(d.channel, ''),
              l.currency, COALESCE(l.original_currency, d.currency, ''), SUM(l.amount_minor),
              SUM(COALESCE(l.original_amount_minor, 0)), COUNT(*)
       FROM ledger_entries l LEFT JOIN donations d ON d.id = l.donation_id
       GROUP BY l.booked_month, COALESCE(l.case_id, 0), l.kind, COALESCE(d.channel, ''),
                l.currency, COALESCE(l.original_currency, d.currency, '')""",
    """INSERT INTO gift_amount_months (month, amount_minor, gifts)
       SELECT booked_month, amount_minor, COUNT(*) FROM ledger_entries WHERE kind = 'gift'
       GROUP BY booked_month, amount_minor""",
    """INSERT INTO donor_months (donor_id, month, gifts, amount_minor)
       SELECT d.donor_id, l.booked_month, COUNT(*), SUM(l.amount_minor)
       FROM ledger_entries l JOIN donations d ON d.id = l.donation_id
       WHERE l.kind = 'gift' AND d.donor_id IS NOT NULL
       GROUP BY d.donor_id, l.booked_month""",
    """UPDATE donors SET first_gift_month =
           (SELECT MIN(month) FROM donor_months WHERE donor_months.donor_id = donors.id)""",
]


def rebuild(execute: Any) -> None:
    """Recompute every rollup from the ledger (inside the caller's transaction)."""
    for statement in _REBUILD:
        execute(statement)


def rebuild_in_session() -> None:
    """``rebuild`` on the session's connection (the caller commits)."""
    connection = db.session.connection()
    rebuild(lambda sql: connection.execute(sa.text(sql)))
