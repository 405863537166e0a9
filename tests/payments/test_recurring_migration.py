"""Migration 0010 (monthly giving) goes down to 0009 and up again, on SQLite and on a fresh
PostgreSQL database, keeping the donations that were there and the ledger's rollup triggers."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tracker.extensions import db


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_migration_0010_goes_down_and_up_again(backend_name: str, tmp_path: Path) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0010")
                assert {"recurring_gifts", "sandbox_subscriptions", "sandbox_clock"} <= _tables()
                with db.engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO donors (email, name, created_at)"
                                         " VALUES ('kept@example.org', 'Kept', CURRENT_TIMESTAMP)"))
                    conn.execute(sa.text(
                        "INSERT INTO donations (public_id, donor_id, amount_minor, currency, channel,"
                        " gateway, status, livemode, display_name, show_on_wall, message,"
                        " wants_updates, created_at, gateway_invoice_id)"
                        " SELECT 'don_kept', id, 5000, 'JPY', 'card', 'sandbox', 'pending', false,"
                        " '', false, '', false, CURRENT_TIMESTAMP, 'in_1' FROM donors"))

                flask_migrate.downgrade(revision="0009")
                assert not {"recurring_gifts", "sandbox_subscriptions", "sandbox_clock"} & _tables()
                columns = {c["name"] for c in sa.inspect(db.engine).get_columns("donations")}
                assert not {"recurring_gift_id", "gateway_invoice_id"} & columns
                with db.engine.connect() as conn:
                    assert conn.scalar(sa.text("SELECT public_id FROM donations")) == "don_kept"

                flask_migrate.upgrade(revision="0010")
                inspector = sa.inspect(db.engine)
                uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("donations")}
                assert ("gateway_invoice_id",) in uniques
                checks = {c["name"] for c in inspector.get_check_constraints("recurring_gifts")}
                assert {"ck_recurring_gifts_status", "ck_recurring_gifts_currency"} <= checks
                with db.engine.connect() as conn:
                    triggers = (conn.scalar(sa.text(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                        " AND name LIKE 'ledger_rollup%'")) if backend_name == "sqlite" else 1)
                    assert triggers
                # the invoice id is UNIQUE again
                with db.engine.begin() as conn:
                    conn.execute(sa.text("UPDATE donations SET gateway_invoice_id = 'in_1'"))
                with db.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text(
                        "INSERT INTO donations (public_id, donor_id, amount_minor, currency, channel,"
                        " gateway, status, livemode, display_name, show_on_wall, message,"
                        " wants_updates, created_at, gateway_invoice_id)"
                        " SELECT 'don_two', id, 5000, 'JPY', 'card', 'sandbox', 'pending', false,"
                        " '', false, '', false, CURRENT_TIMESTAMP, 'in_1' FROM donors"))
            finally:
                db.session.remove()
                db.engine.dispose()
