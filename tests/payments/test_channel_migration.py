"""Migration 0026 (payment channels): gifts already paid through the gateway by a konbini
voucher or a bank transfer leave "card" for their own channel, and the rollups the reports
read follow; going down puts them back. On SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tracker.extensions import db

_GIFT = ("INSERT INTO donations (public_id, amount_minor, currency, channel, gateway, status,"
         " livemode, display_name, show_on_wall, message, wants_updates, created_at,"
         " awaiting_method, settled_currency, gross_minor, fee_minor, net_minor, settled_at)"
         " VALUES (:pid, 5000, 'JPY', :channel, :gateway, :status, :f, '', :f, '', :f,"
         " CURRENT_TIMESTAMP, :awaiting, :settled, :gross, :fee, :net, CURRENT_TIMESTAMP)")
_ENTRY = ("INSERT INTO ledger_entries (kind, amount_minor, currency, memo, booked_at, created_at,"
          " donation_id, booked_month) SELECT 'gift', 5000, 'JPY', '', CURRENT_TIMESTAMP,"
          " CURRENT_TIMESTAMP, id, :month FROM donations WHERE status = 'succeeded'")

MONTH = date(2026, 12, 1)
GIFTS = [  # public id, channel, gateway, status, awaiting method, channel after 0026
    ("don_konbini", "card", "sandbox", "succeeded", "konbini", "konbini"),
    ("don_transfer", "card", "stripe", "succeeded", "bank_transfer", "bank_transfer"),
    ("don_card", "card", "sandbox", "succeeded", None, "card"),
    ("don_waiting", "card", "sandbox", "pending", "konbini", "card"),
    ("don_offline", "cash", "offline", "succeeded", None, "cash"),
]


def _channels(conn: sa.Connection) -> dict[str, str]:
    return dict(conn.execute(sa.text("SELECT public_id, channel FROM donations")).all())


def _rolled_up(conn: sa.Connection) -> dict[str, int]:
    return dict(conn.execute(sa.text(
        "SELECT channel, SUM(entries) FROM ledger_month_totals WHERE kind = 'gift'"
        " GROUP BY channel")).all())


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_migration_0026_moves_gifts_paid_later_to_their_channel(backend_name: str,
                                                                tmp_path: Path) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0024")
                with db.engine.begin() as conn:
                    for pid, channel, gateway, status, awaiting, _after in GIFTS:
                        settled = status == "succeeded"
                        conn.execute(sa.text(_GIFT), {
                            "pid": pid, "channel": channel, "gateway": gateway, "status": status,
                            "f": False, "awaiting": awaiting, "settled": "JPY" if settled else None,
                            "gross": 5000 if settled else None, "fee": 0 if settled else None,
                            "net": 5000 if settled else None})
                    conn.execute(sa.text(_ENTRY), {"month": MONTH})
                    assert _rolled_up(conn) == {"card": 3, "cash": 1}

                flask_migrate.upgrade(revision="0026")
                with db.engine.connect() as conn:
                    assert _channels(conn) == {pid: after for pid, *_x, after in GIFTS}
                    assert _rolled_up(conn) == {"card": 1, "cash": 1, "konbini": 1,
                                                "bank_transfer": 1}
                # and the triggers still roll up new entries
                with db.engine.begin() as conn:
                    conn.execute(sa.text(
                        "INSERT INTO ledger_entries (kind, amount_minor, currency, memo, booked_at,"
                        " created_at, donation_id, booked_month) SELECT 'gift', 5000, 'JPY', '',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, id, :month FROM donations"
                        " WHERE public_id = 'don_konbini'"), {"month": MONTH})
                    assert _rolled_up(conn)["konbini"] == 2

                flask_migrate.downgrade(revision="0024")
                with db.engine.connect() as conn:
                    assert set(_channels(conn).values()) == {"card", "cash"}
                    assert _rolled_up(conn) == {"card": 4, "cash": 1}
                # the old CHECK is back
                with db.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text("UPDATE donations SET channel = 'konbini'"))
            finally:
                db.session.remove()
                db.engine.dispose()
