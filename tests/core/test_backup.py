"""``flask backup``: a backup restored into a fresh database holds every row and total, and
reconcile then records what the gateway had and the backup missed."""

from __future__ import annotations

import contextvars
import shutil
import subprocess
import uuid
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import make_app
from tests.dbcheck import rollup_snapshot, table_counts
from tests.factories import give, make_case
from tests.payments.helpers import pay_on_page, pay_without_delivery, start_gift
from tracker.cases import workflow
from tracker.extensions import db


def _figures() -> dict:
    """Every table's row count, the ledger summed per kind, every rollup row, receipts."""
    return {
        "counts": table_counts(),
        "ledger": sorted(tuple(r) for r in db.session.execute(sa.text(
            "SELECT kind, currency, SUM(amount_minor), COUNT(*) FROM ledger_entries"
            " GROUP BY kind, currency"))),
        "rollups": rollup_snapshot(),
        "receipts": sorted(db.session.scalars(sa.text("SELECT number FROM receipts"))),
        "donations": sorted(tuple(r) for r in db.session.execute(sa.text(
            "SELECT public_id, status, amount_minor, currency FROM donations"))),
    }


def _restore(backend: str, database_url: str, backup: Path, tmp_path: Path) -> tuple[str, callable]:
    """Restore ``backup`` as README says; returns the new database's URL and a clean-up."""
    if backend == "sqlite":
        restored = tmp_path / "restored.sqlite3"
        shutil.copyfile(backup, restored)
        return f"sqlite:///{restored}", lambda: None
    name = f"rt_restore_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sa.engine.make_url(database_url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(database_url).set(database=name)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={libpq}", str(backup)], check=True,
                   capture_output=True)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def test_a_backup_restores_every_total_and_reconcile_completes_it(
        app, client, runner, backend, database_url, tmp_path):  # noqa: ANN001
    case = make_case(status=workflow.FUNDRAISING, people=2)
    give(case, 12_000)
    give(None, 30, "USD")
    _, paid = start_gift(client, case.slug, email="donor@example.org")
    assert pay_on_page(client, paid).status_code == 303
    # paid at the gateway, but the event never arrived before the backup was taken
    _, missed = start_gift(client, case.slug, email="late@example.org")
    pay_without_delivery(missed)
    db.session.remove()
    before = _figures()

    backup = tmp_path / "tracker.backup"
    result = runner.invoke(args=["backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert backup.stat().st_size > 0 and "Backed up to" in result.output

    url, drop = _restore(backend, database_url, backup, tmp_path)
    restored = make_app(url)
    try:
        with restored.app_context():
            after = _figures()
            # the backup's own audit entry was written after the copy was taken
            assert {k: v for k, v in after["counts"].items() if k != "audit_entries"} == {
                k: v for k, v in before["counts"].items() if k != "audit_entries"}
            for key in ("ledger", "rollups", "receipts", "donations"):
                assert after[key] == before[key], key
            db.session.remove()
        cli = restored.test_cli_runner()

        def reconcile():  # noqa: ANN202
            # in an empty context: the CLI must not reuse the test's own (original) app context
            return contextvars.Context().run(cli.invoke, args=["stripe", "reconcile", "--since", "72h"])

        first = reconcile()
        assert first.exit_code == 0, first.output
        second = reconcile()
        assert second.exit_code == 0, second.output
        with restored.app_context():
            recorded = _figures()
            gifts = dict(((kind, currency), count) for kind, currency, _, count in recorded["ledger"])
            was = dict(((kind, currency), count) for kind, currency, _, count in before["ledger"])
            assert gifts[("gift", "JPY")] == was[("gift", "JPY")] + 1  # the missed one, once
            statuses = dict((public_id, status) for public_id, status, *_ in recorded["donations"])
            assert list(statuses.values()).count("pending") == 0
            db.session.remove()
    finally:
        with restored.app_context():
            db.engine.dispose()
        drop()


def test_backup_refuses_to_overwrite_or_write_nowhere(app, runner, tmp_path):
    existing = tmp_path / "already.backup"
    existing.write_bytes(b"keep me")
    result = runner.invoke(args=["backup", str(existing)])
    assert result.exit_code != 0 and "already exists" in result.output
    assert existing.read_bytes() == b"keep me"
    result = runner.invoke(args=["backup", str(tmp_path / "no-such-folder" / "x.backup")])
    assert result.exit_code != 0 and "does not exist" in result.output
