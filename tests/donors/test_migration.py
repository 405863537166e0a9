"""Migration 0009 (donors' sign-in links) goes down to 0008 and up again, on SQLite and on a
fresh PostgreSQL database, keeping what was there before it."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tracker.extensions import db


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_migration_0009_goes_down_and_up_again(backend_name: str, tmp_path: Path) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0009")
                inspector = sa.inspect(db.engine)
                assert "donor_sign_ins" in inspector.get_table_names()
                with db.engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO donors (email, name, created_at)"
                                         " VALUES ('kept@example.org', 'Kept', CURRENT_TIMESTAMP)"))
                    conn.execute(sa.text(
                        "INSERT INTO donor_sign_ins (donor_id, token_hash, created_at, expires_at)"
                        " SELECT id, :hash, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM donors"),
                        {"hash": "a" * 64})

                flask_migrate.downgrade(revision="0008")
                inspector = sa.inspect(db.engine)
                assert "donor_sign_ins" not in inspector.get_table_names()
                with db.engine.connect() as conn:
                    assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0008"
                    assert conn.scalar(sa.text("SELECT email FROM donors")) == "kept@example.org"

                flask_migrate.upgrade(revision="0009")
                inspector = sa.inspect(db.engine)
                checks = {c["name"] for c in inspector.get_check_constraints("donor_sign_ins")}
                assert "ck_donor_sign_ins_token_hash_sha256" in checks
                assert {i["name"] for i in inspector.get_indexes("donor_sign_ins")} >= {
                    "ix_donor_sign_ins_donor_id"}
                [unique] = inspector.get_unique_constraints("donor_sign_ins")
                assert unique["column_names"] == ["token_hash"]
                # the CHECK is back
                with db.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
                    conn.execute(sa.text(
                        "INSERT INTO donor_sign_ins (donor_id, token_hash, created_at,"
                        " expires_at) SELECT id, 'short', CURRENT_TIMESTAMP,"
                        " CURRENT_TIMESTAMP FROM donors"))
            finally:
                db.session.remove()
                db.engine.dispose()
