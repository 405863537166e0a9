"""``flask backup PATH``: a consistent copy of the whole database while the app runs.

SQLite: the online backup API (pages copied under a read lock; writers wait, nobody stops).
PostgreSQL: ``pg_dump --format=custom`` (one snapshot of the whole database). Restoring is
described in README ("Backups"); the tests restore into a fresh database and compare totals.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from tracker import audit
from tracker.extensions import db


def backup_to(path: Path) -> str:
    """Write a backup of the app's database to ``path`` (which must not exist); returns
    what kind of backup it is. Raises click.ClickException with a clear message."""
    if path.exists():
        raise click.ClickException(f"{path} already exists; choose a new file name.")
    if not path.parent.is_dir():
        raise click.ClickException(f"The folder {path.parent} does not exist.")
    url = sa.engine.make_url(current_app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise click.ClickException("An in-memory database cannot be backed up.")
        source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        target = sqlite3.connect(path)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        kind = "SQLite database file"
    elif url.get_backend_name() == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise click.ClickException("pg_dump was not found; install the PostgreSQL client tools.")
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        result = subprocess.run(  # noqa: S603  (a fixed program and our own arguments)
            [pg_dump, "--format=custom", "--no-owner", f"--file={path}", f"--dbname={libpq}"],
            capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            path.unlink(missing_ok=True)
            raise click.ClickException(f"pg_dump failed: {result.stderr.strip()[:500]}")
        kind = "PostgreSQL custom-format dump (restore with pg_restore)"
    else:
        raise click.ClickException(f"Cannot back up a {url.get_backend_name()} database.")
    return kind


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_cli(path: Path) -> None:
    """Back up the whole database to PATH (a new file), safely while the app runs."""
    kind = backup_to(path)
    audit.record("backup.made", "database", actor_label="cli",
                 after={"file": path.name, "bytes": path.stat().st_size})
    db.session.commit()
    click.echo(f"Backed up to {path} ({kind}, {path.stat().st_size:,} bytes).")
