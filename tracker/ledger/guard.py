"""The ledger's append-only guard in the database: triggers that refuse UPDATE and DELETE.

Used by the migrations that create the ledger and that rebuild it (SQLite rebuilds a table to
change its CHECKs, and the triggers go with the old table). A correction is a new entry,
never an edit. PostgreSQL's TRUNCATE is left alone: it is for test teardown.
"""

from __future__ import annotations

from typing import Any

MESSAGE = "ledger entries are append-only; book a correcting entry instead"

_PG_GUARD = f"""
CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
"""
_SQLITE_GUARD = [
    f"CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN "
    f"SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN "
    f"SELECT RAISE(ABORT, '{MESSAGE}'); END",
]


def create_ledger_guard(op: Any) -> None:
    """Create the triggers (``op`` is Alembic's operations object)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
    else:
        for statement in _SQLITE_GUARD:
            op.execute(statement)


def drop_ledger_guard(op: Any, *, drop_function: bool = False) -> None:
    """Drop the triggers (and, on PostgreSQL, the function when asked)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    suffix = " ON ledger_entries" if postgres else ""
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update" + suffix)
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_delete" + suffix)
    if postgres and drop_function:
        op.execute("DROP FUNCTION IF EXISTS ledger_entries_append_only()")
