"""``flask reports``: keep the monthly rollups honest."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from tracker.extensions import db
from tracker.ledger import rollups

reports_cli = AppGroup("reports", help="Report rollups.")

_TABLES = ("ledger_month_totals", "gift_amount_months", "donor_months", "donor_years",
           "case_totals", "case_donors", "case_donor_counts")


def _snapshot() -> dict[str, list[tuple]]:
    return {table: sorted(tuple(row) for row in db.session.execute(sa.text(f"SELECT * FROM {table}")))  # noqa: S608
            for table in _TABLES}


@reports_cli.command("check")
def check() -> None:
    """Compare the rollups with the ledger; exit 1 if they differ (nothing is changed)."""
    kept = _snapshot()
    rollups.rebuild_in_session()
    fresh = _snapshot()
    db.session.rollback()
    differing = [t for t in _TABLES if kept[t] != fresh[t]]
    if differing:
        raise click.ClickException(
            f"The rollups differ from the ledger in {', '.join(differing)}; "
            "run `flask reports rebuild`.")
    click.echo(f"The rollups match the ledger ({sum(len(v) for v in kept.values())} rows).")


@reports_cli.command("rebuild")
def rebuild() -> None:
    """Recompute every rollup from the ledger and make the triggers again (after changing
    TRACKER_FISCAL_YEAR_START_MONTH), in one transaction."""
    rollups.rebuild_in_session(triggers=True)
    db.session.commit()
    click.echo("The rollups were rebuilt from the ledger.")
