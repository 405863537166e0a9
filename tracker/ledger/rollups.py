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
* ``donor_months`` and ``donor_years``: per donor and month (and fiscal year), gifts and their
  sum; and ``donors.first_gift_month``: new, returning and lapsed donors (LYBUNT, SYBUNT)
  without scanning every gift. The triggers carry the fiscal year's start month: after
  changing TRACKER_FISCAL_YEAR_START_MONTH run ``flask reports rebuild``.

``rebuild()`` recomputes them all from the ledger (after a bulk load with the triggers off,
or to check them: the tests compare both ways).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.types import UTCDateTime
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
    #: which of the SLOTS rows of this group the entry went to (its id modulo SLOTS)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    original_amount_minor: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(Integer)


class GiftAmountMonth(db.Model):
    """How many gifts of each base amount were booked in a month (kept by triggers)."""

    __tablename__ = "gift_amount_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    gifts: Mapped[int] = mapped_column(Integer)


class DonorYear(db.Model):
    """A donor's gifts in a fiscal year (kept by triggers, which know the start month)."""

    __tablename__ = "donor_years"
    __table_args__ = (Index("ix_donor_years_year_donor", "fiscal_year", "donor_id"),)

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"),
                                          primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    gifts: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class DonorMonth(db.Model):
    """A donor's gifts in a month (kept by triggers)."""

    __tablename__ = "donor_months"
    __table_args__ = (Index("ix_donor_months_month_donor", "month", "donor_id"),)

    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id", ondelete="CASCADE"),
                                          primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    gifts: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class CaseTotal(db.Model):
    """All of a case's ledger per kind (key 0: the general fund), kept by triggers in slots.

    A public case page reads its money here: a few rows however many gifts the case has.
    """

    __tablename__ = "case_totals"

    case_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(Integer)
    #: the newest entry's ``created_at`` in this slot
    last_created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseDonor(db.Model):
    """That a donor gave to a case (a gift on the ledger): the case's donor count below."""

    __tablename__ = "case_donors"

    case_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    donor_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class CaseDonorCount(db.Model):
    """How many different donors gave to a case, in slots (``donor_id % SLOTS``)."""

    __tablename__ = "case_donor_counts"

    case_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    donors: Mapped[int] = mapped_column(Integer)


# --- the triggers ---------------------------------------------------------------------------

_CHANNEL = "COALESCE((SELECT channel FROM donations WHERE donations.id = NEW.donation_id), '')"
_DONOR = "(SELECT donor_id FROM donations WHERE donations.id = NEW.donation_id)"
_DONATION_CURRENCY = "(SELECT currency FROM donations WHERE donations.id = NEW.donation_id)"

#: Rows per rollup group: an entry goes to slot ``id % SLOTS`` of its group, so concurrent gifts
#: to one case in one month (a viral appeal) update different rows instead of queueing for one
#: row lock until each commits; readers sum over the slots. The slot is a function of the
#: entry alone, so ``rebuild()`` makes exactly the rows the triggers made.
SLOTS = 16

_TOTALS_UPSERT = f"""
INSERT INTO ledger_month_totals (month, case_key, kind, channel, currency, original_currency,
                                 {{slot_column}}amount_minor, original_amount_minor, entries)
VALUES (NEW.booked_month, COALESCE(NEW.case_id, 0), NEW.kind, {_CHANNEL}, NEW.currency,
        COALESCE(NEW.original_currency, {_DONATION_CURRENCY}, ''), {{slot_value}}NEW.amount_minor,
        COALESCE(NEW.original_amount_minor, 0), 1)
ON CONFLICT (month, case_key, kind, channel, currency, original_currency{{slot_key}}) DO UPDATE SET
    amount_minor = ledger_month_totals.amount_minor + excluded.amount_minor,
    original_amount_minor = ledger_month_totals.original_amount_minor
                            + excluded.original_amount_minor,
    entries = ledger_month_totals.entries + 1;
"""
_GIFT_AMOUNT_UPSERT = """
INSERT INTO gift_amount_months (month, amount_minor, {slot_column}gifts)
VALUES (NEW.booked_month, NEW.amount_minor, {slot_value}1)
ON CONFLICT (month, amount_minor{slot_key}) DO UPDATE SET gifts = gift_amount_months.gifts + 1;
"""


_CASE_TOTALS_UPSERT = """
INSERT INTO case_totals (case_key, kind, slot, amount_minor, entries, last_created_at)
VALUES (COALESCE(NEW.case_id, 0), NEW.kind, (NEW.id % {slots}), NEW.amount_minor, 1,
        NEW.created_at)
ON CONFLICT (case_key, kind, slot) DO UPDATE SET
    amount_minor = case_totals.amount_minor + excluded.amount_minor,
    entries = case_totals.entries + 1,
    last_created_at = {greatest}(case_totals.last_created_at, excluded.last_created_at);
"""
_CASE_DONOR_COUNT_UPSERT = f"""
INSERT INTO case_donor_counts (case_key, slot, donors)
SELECT COALESCE(NEW.case_id, 0), ({_DONOR} % {{slots}}), 1 WHERE {{condition}}
ON CONFLICT (case_key, slot) DO UPDATE SET donors = case_donor_counts.donors + 1;
"""
_CASE_DONOR_INSERT = f"""
INSERT INTO case_donors (case_key, donor_id)
SELECT COALESCE(NEW.case_id, 0), {_DONOR} WHERE {_DONOR} IS NOT NULL
ON CONFLICT (case_key, donor_id) DO NOTHING;
"""
#: SQLite (one writer at a time): count the donor when the pair is not there yet, then add it
_SQLITE_CASE_DONOR = _CASE_DONOR_COUNT_UPSERT.format(
    slots=SLOTS,
    condition=f"{_DONOR} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM case_donors WHERE "
              f"case_key = COALESCE(NEW.case_id, 0) AND donor_id = {_DONOR})",
) + _CASE_DONOR_INSERT
#: PostgreSQL: add the pair first; only the transaction whose insert went in counts it (a
#: concurrent one waits on the unique key, then finds the pair and does nothing)
_PG_CASE_DONOR = f"""
    {_CASE_DONOR_INSERT}
    IF FOUND THEN
        {_CASE_DONOR_COUNT_UPSERT.format(slots=SLOTS, condition="TRUE")}
    END IF;
"""


def _slotted(sql: str, slots: bool, entry: str = "NEW.id") -> str:
    """Fill in the slot column, value and key (or nothing, for the tables before 0013)."""
    if not slots:
        return sql.format(slot_column="", slot_value="", slot_key="")
    return sql.format(slot_column="slot, ", slot_value=f"({entry} % {SLOTS}), ", slot_key=", slot")


_DONOR_MONTH_UPSERT = f"""
INSERT INTO donor_months (donor_id, month, gifts, amount_minor)
SELECT {_DONOR}, NEW.booked_month, 1, NEW.amount_minor WHERE {_DONOR} IS NOT NULL
ON CONFLICT (donor_id, month) DO UPDATE SET
    gifts = donor_months.gifts + 1,
    amount_minor = donor_months.amount_minor + excluded.amount_minor;
"""
_DONOR_YEAR_UPSERT = f"""
INSERT INTO donor_years (donor_id, fiscal_year, gifts, amount_minor)
SELECT {_DONOR}, {{fiscal_year}}, 1, NEW.amount_minor WHERE {_DONOR} IS NOT NULL
ON CONFLICT (donor_id, fiscal_year) DO UPDATE SET
    gifts = donor_years.gifts + 1,
    amount_minor = donor_years.amount_minor + excluded.amount_minor;
"""


def fiscal_year_sql(month_column: str, dialect: str, start_month: int) -> str:
    """SQL for the fiscal year (named by its starting year) of a first-of-month date."""
    if not isinstance(start_month, int) or not 1 <= start_month <= 12:
        raise ValueError("the fiscal year starts in a month 1 to 12")
    if dialect == "postgresql":
        return (f"(EXTRACT(YEAR FROM {month_column})::int"
                f" - CASE WHEN EXTRACT(MONTH FROM {month_column}) < {start_month} THEN 1 ELSE 0 END)")
    return (f"(CAST(strftime('%Y', {month_column}) AS INTEGER)"
            f" - (CAST(strftime('%m', {month_column}) AS INTEGER) < {start_month}))")


_FIRST_GIFT = f"""
UPDATE donors SET first_gift_month = NEW.booked_month
WHERE id = {_DONOR} AND (first_gift_month IS NULL OR first_gift_month > NEW.booked_month);
"""

def _sqlite_triggers(start_month: int, slots: bool) -> list[str]:
    donor_year = _DONOR_YEAR_UPSERT.format(
        fiscal_year=fiscal_year_sql("NEW.booked_month", "sqlite", start_month))
    totals, amounts = _slotted(_TOTALS_UPSERT, slots), _slotted(_GIFT_AMOUNT_UPSERT, slots)
    case_totals = _CASE_TOTALS_UPSERT.format(slots=SLOTS, greatest="max") if slots else ""
    case_donor = _SQLITE_CASE_DONOR if slots else ""
    return [
        "CREATE TRIGGER ledger_rollup_totals AFTER INSERT ON ledger_entries "
        f"BEGIN {totals} {case_totals} END",
        "CREATE TRIGGER ledger_rollup_gifts AFTER INSERT ON ledger_entries WHEN NEW.kind = 'gift' "
        f"BEGIN {amounts} {_DONOR_MONTH_UPSERT} {donor_year} {_FIRST_GIFT} {case_donor} END",
    ]


def _pg_triggers(start_month: int, slots: bool) -> str:
    donor_year = _DONOR_YEAR_UPSERT.format(
        fiscal_year=fiscal_year_sql("NEW.booked_month", "postgresql", start_month))
    case_totals = _CASE_TOTALS_UPSERT.format(slots=SLOTS, greatest="GREATEST") if slots else ""
    case_donor = _PG_CASE_DONOR if slots else ""
    return f"""
CREATE OR REPLACE FUNCTION ledger_rollup() RETURNS trigger AS $$
BEGIN
    {_slotted(_TOTALS_UPSERT, slots)}
    {case_totals}
    IF NEW.kind = 'gift' THEN
        {case_donor}
        {_slotted(_GIFT_AMOUNT_UPSERT, slots)}
        {_DONOR_MONTH_UPSERT}
        {donor_year}
        {_FIRST_GIFT}
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_rollup AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_rollup();
"""


def _start_month(start_month: int | None) -> int:
    if start_month is not None:
        return start_month
    from flask import current_app

    return current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
_TRIGGER_NAMES = ("ledger_rollup_totals", "ledger_rollup_gifts", "ledger_rollup")


def create_triggers(execute: Any, dialect: str, start_month: int | None = None, *,
                    slots: bool = True) -> None:
    """Create the rollup triggers; ``execute`` runs one SQL string (op.execute or a
    connection's exec_driver_sql). The fiscal year's start month (TRACKER_FISCAL_YEAR_START_
    MONTH by default) is written into them: after changing it, run ``flask reports rebuild``.
    ``slots=False`` makes them for the tables as they were before migration 0013 (for the
    migrations that ran then)."""
    start = _start_month(start_month)
    if dialect == "postgresql":
        execute(_pg_triggers(start, slots))
    else:
        for statement in _sqlite_triggers(start, slots):
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
    "DELETE FROM donor_years",
    """INSERT INTO ledger_month_totals (month, case_key, kind, channel, currency,
           original_currency, {slot_column}amount_minor, original_amount_minor, entries)
       SELECT l.booked_month, COALESCE(l.case_id, 0), l.kind, COALESCE(d.channel, ''),
              l.currency, COALESCE(l.original_currency, d.currency, ''), {slot_value}
              SUM(l.amount_minor), SUM(COALESCE(l.original_amount_minor, 0)), COUNT(*)
       FROM ledger_entries l LEFT JOIN donations d ON d.id = l.donation_id
       GROUP BY l.booked_month, COALESCE(l.case_id, 0), l.kind, COALESCE(d.channel, ''),
                l.currency, COALESCE(l.original_currency, d.currency, ''){slot_group}""",
    """INSERT INTO gift_amount_months (month, amount_minor, {slot_column}gifts)
       SELECT l.booked_month, l.amount_minor, {slot_value}COUNT(*) FROM ledger_entries l
       WHERE l.kind = 'gift'
       GROUP BY l.booked_month, l.amount_minor{slot_group}""",
    """INSERT INTO donor_months (donor_id, month, gifts, amount_minor)
       SELECT d.donor_id, l.booked_month, COUNT(*), SUM(l.amount_minor)
       FROM ledger_entries l JOIN donations d ON d.id = l.donation_id
       WHERE l.kind = 'gift' AND d.donor_id IS NOT NULL
       GROUP BY d.donor_id, l.booked_month""",
    """UPDATE donors SET first_gift_month =
           (SELECT MIN(month) FROM donor_months WHERE donor_months.donor_id = donors.id)""",
]


#: the all-time tables per case (since 0013)
_REBUILD_CASES = [
    "DELETE FROM case_totals",
    "DELETE FROM case_donors",
    "DELETE FROM case_donor_counts",
    f"""INSERT INTO case_totals (case_key, kind, slot, amount_minor, entries, last_created_at)
        SELECT COALESCE(case_id, 0), kind, (id % {SLOTS}), SUM(amount_minor), COUNT(*),
               MAX(created_at)
        FROM ledger_entries GROUP BY COALESCE(case_id, 0), kind, (id % {SLOTS})""",
    """INSERT INTO case_donors (case_key, donor_id)
        SELECT DISTINCT COALESCE(l.case_id, 0), d.donor_id
        FROM ledger_entries l JOIN donations d ON d.id = l.donation_id
        WHERE l.kind = 'gift' AND d.donor_id IS NOT NULL""",
    f"""INSERT INTO case_donor_counts (case_key, slot, donors)
        SELECT case_key, (donor_id % {SLOTS}), COUNT(*) FROM case_donors
        GROUP BY case_key, (donor_id % {SLOTS})""",
]


def _rebuild_statement(sql: str, slots: bool) -> str:
    if not slots:
        return sql.format(slot_column="", slot_value="", slot_group="")
    return sql.format(slot_column="slot, ", slot_value=f"(l.id % {SLOTS}), ",
                      slot_group=f", (l.id % {SLOTS})")


_REBUILD_DONOR_YEARS = """
    INSERT INTO donor_years (donor_id, fiscal_year, gifts, amount_minor)
    SELECT donor_id, {fiscal_year}, SUM(gifts), SUM(amount_minor) FROM donor_months
    GROUP BY donor_id, {fiscal_year}"""


def rebuild(execute: Any, dialect: str | None = None, start_month: int | None = None, *,
            slots: bool = True) -> None:
    """Recompute every rollup from the ledger (inside the caller's transaction);
    ``slots=False`` for the tables as they were before migration 0013."""
    dialect = dialect or db.engine.dialect.name
    for statement in _REBUILD:
        execute(_rebuild_statement(statement, slots))
    if slots:
        for statement in _REBUILD_CASES:
            execute(statement)
    execute(_REBUILD_DONOR_YEARS.format(
        fiscal_year=fiscal_year_sql("month", dialect, _start_month(start_month))))


def rebuild_in_session(*, triggers: bool = False) -> None:
    """``rebuild`` on the session's connection (the caller commits); with ``triggers``, the
    triggers are made again too (after the fiscal year's start month changed)."""
    connection = db.session.connection()
    dialect = connection.dialect.name

    def execute(sql: str) -> None:
        connection.execute(sa.text(sql))  # text(): "%" is an operator here, not a placeholder

    if triggers:
        drop_triggers(execute, dialect)
        if dialect == "postgresql":
            execute("DROP FUNCTION IF EXISTS ledger_rollup()")
        create_triggers(execute, dialect)
    rebuild(execute, dialect)
