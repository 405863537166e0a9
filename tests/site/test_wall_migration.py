"""Migration 0027 (donor-wall message review) on a database that already has gifts, their
ledger entries and receipts: messages already on walls become approved, the rest none, the
CHECK holds, the ledger's triggers still roll up, and down and up again both work. On SQLite
it must not rebuild ``donations`` (dropping it fails on the ledger's foreign keys once there
are gifts, as a first version of the migration did). SQLite and a fresh PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tests.payments.test_channel_migration import _ENTRY, _GIFT, MONTH
from tracker.extensions import db


def _statuses(conn: sa.Connection) -> dict[str, str]:
    return dict(conn.execute(sa.text("SELECT public_id, message_status FROM donations")).all())


def _entries(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text(
        "SELECT COALESCE(SUM(entries), 0) FROM ledger_month_totals WHERE kind = 'gift'")).scalar())


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_migration_0027_keeps_gifts_and_approves_messages_already_shown(
        backend_name: str, tmp_path: Path) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0026")
                with db.engine.begin() as conn:
                    for pid in ("don_said", "don_quiet"):
                        conn.execute(sa.text(_GIFT), {
                            "pid": pid, "channel": "card", "gateway": "sandbox",
                            "status": "succeeded", "f": False, "awaiting": None,
                            "settled": "JPY", "gross": 5000, "fee": 0, "net": 5000})
                    conn.execute(sa.text(
                        "UPDATE donations SET message = 'Stay strong' WHERE public_id = 'don_said'"))
                    conn.execute(sa.text(_ENTRY), {"month": MONTH})
                    assert _entries(conn) == 2

                flask_migrate.upgrade(revision="0027")
                with db.engine.connect() as conn:
                    assert _statuses(conn) == {"don_said": "approved", "don_quiet": "none"}
                with db.engine.begin() as conn:  # the triggers still roll up new entries
                    conn.execute(sa.text(_ENTRY), {"month": MONTH})
                    assert _entries(conn) == 4
                with db.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text("UPDATE donations SET message_status = 'shown'"))

                flask_migrate.downgrade(revision="0026")
                with db.engine.connect() as conn:
                    columns = [c["name"] for c in sa.inspect(conn).get_columns("donations")]
                    assert "message_status" not in columns
                flask_migrate.upgrade(revision="0027")
                with db.engine.connect() as conn:
                    assert _statuses(conn) == {"don_said": "approved", "don_quiet": "none"}
            finally:
                db.session.remove()
                db.engine.dispose()
