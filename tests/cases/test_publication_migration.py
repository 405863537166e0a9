"""Migration 0011 decides which existing cases are public from their audit history.

A case whose history shows a move to fundraising or legal action is published at that moment,
by that actor; any other case (a request closed or put on hold, which the old status rule
showed) is private, and the migration prints which ones. On SQLite the table is rebuilt: its
people, and everything else pointing at it, must survive. Down to 0010 and up again works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.cases.models import Beneficiary, RescueCase
from tracker.extensions import db

T1 = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2025, 11, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2025, 12, 3, 9, 0, tzinfo=UTC)


def _case(conn, case_id: int, slug: str, status: str, outcome: str | None = None) -> None:
    conn.execute(sa.insert(RescueCase.__table__).values(
        id=case_id, slug=slug, public_title=f"Title {slug}", public_summary="",
        public_region="Region", track="journey", status=status, outcome=outcome,
        goal_amount_minor=1000, goal_currency="JPY", goal_follows_budget=False,
        show_budget=False, private_notes="", private_contact="", created_at=T1, updated_at=T1,
        # the old rule set published_at on any move out of "requested"
        published_at=None if status == "requested" else T1,
        completed_at=LATER if status == "closed" else None))
    conn.execute(sa.insert(Beneficiary.__table__).values(
        case_id=case_id, position=1, public_alias="Mr. A.", age_band="18-29", status="waiting",
        private_name="", private_details="", private_rescue_note="", created_at=T1))


def _moved(conn, case_id: int, status: str, when: datetime, actor_id: int | None) -> None:
    conn.execute(sa.insert(AuditEntry.__table__).values(
        created_at=when, actor_id=actor_id, actor_label="cli" if actor_id is None else "s@x.org",
        action="case.status", object_type="rescue_cases", object_id=case_id, case_id=case_id,
        before={"status": "requested"}, after={"status": status, "outcome": None}))


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_existing_cases_are_decided_from_their_audit_history(backend_name: str, tmp_path: Path,
                                                             capsys) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0010")
                with db.engine.begin() as conn:
                    conn.execute(sa.insert(User.__table__).values(
                        id=7, email="s@x.org", password_hash="x", role="staff", active=True,
                        session_version=1, created_at=T1))
                    _case(conn, 1, "appeal-opened", "in_progress")
                    _moved(conn, 1, "fundraising", T1, 7)
                    _moved(conn, 1, "in_progress", T2, 7)
                    _case(conn, 2, "legal-fight", "legal_action")
                    _moved(conn, 2, "legal_action", T2, None)
                    _case(conn, 3, "closed-request", "closed", "cancelled")
                    _moved(conn, 3, "closed", T2, 7)
                    _case(conn, 4, "held-request", "on_hold")
                    _moved(conn, 4, "on_hold", T2, 7)
                    _case(conn, 5, "fresh-request", "requested")
                    _case(conn, 6, "no-history", "fundraising")  # no audit trail at all
                    if backend_name == "postgresql":
                        for table in ("users", "rescue_cases"):
                            conn.execute(sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
                capsys.readouterr()

                flask_migrate.upgrade(revision="0011")
                printed = capsys.readouterr().out

                with db.engine.connect() as conn:
                    rows = {slug: (published, by) for slug, published, by in conn.execute(
                        sa.text("SELECT slug, published_at, published_by_id FROM rescue_cases"))}
                    people = conn.scalar(sa.text("SELECT count(*) FROM beneficiaries"))
                    audits = conn.scalar(sa.text(
                        "SELECT count(*) FROM audit_entries WHERE case_id IS NOT NULL"))

                def when(value):
                    if isinstance(value, str):
                        value = datetime.fromisoformat(value)
                    return value.replace(tzinfo=UTC) if value.tzinfo is None else value

                assert when(rows["appeal-opened"][0]) == T1 and rows["appeal-opened"][1] == 7
                assert when(rows["legal-fight"][0]) == T2 and rows["legal-fight"][1] is None
                for private in ("closed-request", "held-request", "fresh-request", "no-history"):
                    assert rows[private] == (None, None), private
                    assert private in printed
                assert "appeal-opened" not in printed and "legal-fight" not in printed
                assert "4 case(s) stay private" in printed
                # the SQLite rebuild kept everything that points at the cases
                assert (people, audits) == (6, 5)

                # the rule the migration adds: no publisher without a publication
                with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
                    conn.execute(sa.text(
                        "UPDATE rescue_cases SET published_by_id = 7 WHERE slug = 'fresh-request'"))

                flask_migrate.downgrade(revision="0010")
                columns = {c["name"] for c in sa.inspect(db.engine).get_columns("rescue_cases")}
                assert not {"published_by_id", "unpublished_at"} & columns
                with db.engine.connect() as conn:
                    assert conn.scalar(sa.text("SELECT count(*) FROM beneficiaries")) == 6
                flask_migrate.upgrade(revision="0011")
                columns = {c["name"] for c in sa.inspect(db.engine).get_columns("rescue_cases")}
                assert {"published_by_id", "unpublished_at"} <= columns
            finally:
                db.session.remove()
                db.engine.dispose()
