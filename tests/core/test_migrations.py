"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

* Alembic's autogenerate comparison (with type comparison on) finds nothing to migrate after
  the migrations ran, and demonstrably does find a column, a table or a type the migrations
  lack.
* CHECK constraints, which autogenerate does not compare, are compared separately: the
  migrated schema against one built straight from the models with ``create_all``.
* ``flask --app tracker db upgrade`` run as a real command builds the schema on a fresh
  database, is a no-op the second time, and refuses to start without SECRET_KEY.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import tracker.models  # noqa: F401  (every table registered on db.metadata)
from tests.conftest import postgres_url
from tracker.config import normalize_database_url
from tracker.extensions import db

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations"
APP_TABLES = frozenset(db.metadata.tables)


# --- autogenerate comparison ------------------------------------------------------------------


def schema_differences(connection: sa.Connection, metadata: sa.MetaData) -> list[Any]:
    """What ``flask db migrate`` would put in a new migration, types included."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, metadata)


def _flatten(diffs: list[Any]) -> list[tuple]:
    """compare_metadata nests column modifications in lists; flatten them to tuples."""
    flat: list[tuple] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def copy_of_models_metadata() -> sa.MetaData:
    copy = sa.MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def test_flask_migrate_compares_types_too(app):
    """`flask db migrate` must notice type changes, not just new and dropped columns."""
    assert app.extensions["migrate"].configure_args.get("compare_type") is True


def test_models_and_migrations_agree(app, backend):
    with db.engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) == APP_TABLES | {"alembic_version"}
        diffs = schema_differences(connection, db.metadata)
    assert diffs == [], f"models and migrations disagree on {backend}: {diffs}"


def test_the_comparison_fails_when_models_and_migrations_disagree(app, backend):
    """Prove the check above has teeth: a model change without a migration is reported."""
    changed = copy_of_models_metadata()
    changed.tables["donors"].append_column(sa.Column("nickname", sa.String(40), nullable=True))
    sa.Table("donor_notes", changed, sa.Column("id", sa.Integer, primary_key=True))
    changed.tables["users"].c.role.type = sa.String(64)  # was String(16)
    changed.tables["rescue_cases"].c.public_region.nullable = True  # was NOT NULL

    with db.engine.connect() as connection:
        assert schema_differences(connection, copy_of_models_metadata()) == []  # copy is faithful
        diffs = _flatten(schema_differences(connection, changed))

    found = {(d[0], d[2], d[3]) if d[0].startswith("modify_") else d[0:1] for d in diffs}
    names = {(d[0], d[1].name) for d in diffs if d[0] == "add_table"}
    names |= {(d[0], d[2], d[3].name) for d in diffs if d[0] == "add_column"}
    assert ("add_table", "donor_notes") in names
    assert ("add_column", "donors", "nickname") in names
    assert ("modify_type", "users", "role") in found  # only seen with compare_type on
    assert ("modify_nullable", "rescue_cases", "public_region") in found
    assert len(diffs) == 4, diffs


# --- CHECK constraints and foreign keys (autogenerate skips CHECKs) ---------------------------


def _normalize_sql(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def reflected_rules(connection: sa.Connection, schema: str | None = None) -> dict[str, Any]:
    """Every table's named CHECK constraints (with their SQL) and foreign keys, as reflected."""
    inspector = sa.inspect(connection)
    rules: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names(schema=schema)):
        if table == "alembic_version":
            continue
        checks = {
            (c["name"], _normalize_sql(c["sqltext"]))
            for c in inspector.get_check_constraints(table, schema=schema)
        }
        foreign_keys = {
            (
                fk["name"],
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
                (fk.get("options") or {}).get("ondelete"),
            )
            for fk in inspector.get_foreign_keys(table, schema=schema)
        }
        rules[table] = {"checks": checks, "foreign_keys": foreign_keys}
    return rules


@contextlib.contextmanager
def rules_of(metadata: sa.MetaData, backend: str) -> Iterator[dict[str, Any]]:
    """The rules of a schema built with ``metadata.create_all`` (thrown away afterwards).

    PostgreSQL: inside a rolled-back transaction, in a scratch schema of the test database, so
    the server itself renders both sides' CHECK expressions. SQLite: a private in-memory file.
    """
    if backend == "postgresql":
        schema = f"probe_{uuid.uuid4().hex[:10]}"
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                translated = connection.execution_options(schema_translate_map={None: schema})
                metadata.create_all(translated)
                yield reflected_rules(connection, schema=schema)
            finally:
                transaction.rollback()
    else:
        engine = sa.create_engine("sqlite://")
        try:
            with engine.begin() as connection:
                metadata.create_all(connection)
                yield reflected_rules(connection)
        finally:
            engine.dispose()


def test_migrated_check_constraints_and_foreign_keys_match_the_models(app, backend):
    with db.engine.connect() as connection:
        migrated = reflected_rules(connection)
    with rules_of(db.metadata, backend) as from_models:
        assert set(migrated) == APP_TABLES
        for table in sorted(APP_TABLES):
            assert migrated[table] == from_models[table], f"{table} differs on {backend}"
    # not vacuous: the tables really carry their rules
    assert ("ck_ledger_entries_amount_sign" in {n for n, _ in migrated["ledger_entries"]["checks"]})
    assert sum(len(r["checks"]) for r in migrated.values()) >= 30


def _replace_check(table: sa.Table, name: str, sqltext: str) -> None:
    (old,) = [c for c in table.constraints
              if isinstance(c, sa.CheckConstraint) and c.name == f"ck_{table.name}_{name}"]
    table.constraints.remove(old)
    table.append_constraint(sa.CheckConstraint(sqltext, name=name))


def test_the_check_comparison_fails_when_a_check_is_missing_from_the_migrations(app, backend):
    """A new CHECK, or a new status added to an existing one, without a migration is caught.

    Autogenerate is blind to both, which is why the comparison above exists.
    """
    added = copy_of_models_metadata()
    added.tables["donors"].append_constraint(
        sa.CheckConstraint("length(name) <= 100", name="name_short")
    )
    widened = copy_of_models_metadata()  # e.g. a workflow status added in Python only
    _replace_check(
        widened.tables["rescue_cases"], "status",
        "status IN ('archived', 'closed', 'fundraising', 'in_progress', 'legal_action',"
        " 'on_hold', 'requested', 'rescued')",
    )
    with db.engine.connect() as connection:
        migrated = reflected_rules(connection)
        assert schema_differences(connection, added) == []
        assert schema_differences(connection, widened) == []
    with rules_of(added, backend) as from_models:
        assert migrated["donors"]["checks"] != from_models["donors"]["checks"]
        assert migrated["users"] == from_models["users"]
    with rules_of(widened, backend) as from_models:
        assert migrated["rescue_cases"]["checks"] != from_models["rescue_cases"]["checks"]
        assert {n for n, _ in migrated["rescue_cases"]["checks"]} == {
            n for n, _ in from_models["rescue_cases"]["checks"]
        }
        assert migrated["beneficiaries"] == from_models["beneficiaries"]


# --- `flask db upgrade` as a real command -----------------------------------------------------


def alembic_head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return head


def run_flask_db_upgrade(database_url: str, *, secret_key: str | None = "migration-test-key"):
    env = {
        k: v for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL"} and not k.startswith("FLASK_")
    }
    env["DATABASE_URL"] = database_url
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tracker", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@contextlib.contextmanager
def fresh_database(backend_name: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of that backend: a new SQLite file, or a new PostgreSQL database."""
    if backend_name == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.sqlite3")
        return
    server = postgres_url()
    if server is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    url = sa.make_url(normalize_database_url(server))
    name = f"tracker_migrate_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def inspect_database(database_url: str) -> tuple[set[str], list[str]]:
    """The table names and alembic version rows of a database."""
    engine = sa.create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            versions = (
                list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
                if "alembic_version" in tables else []
            )
    finally:
        engine.dispose()
    return tables, versions


def _output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_flask_db_upgrade_builds_the_schema_on_a_fresh_database(backend_name, tmp_path):
    with fresh_database(backend_name, tmp_path) as url:
        assert inspect_database(url) == (set(), [])

        first = run_flask_db_upgrade(url)
        assert first.returncode == 0, _output(first)
        assert "Running upgrade" in first.stderr + first.stdout
        tables, versions = inspect_database(url)
        assert tables == APP_TABLES | {"alembic_version"}
        assert versions == [alembic_head()]

        # Data written in between survives, and the second run changes nothing.
        engine = sa.create_engine(normalize_database_url(url))
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(
                    "INSERT INTO donors (email, name, created_at)"
                    " VALUES ('kept@example.org', 'Kept', CURRENT_TIMESTAMP)"
                ))
            second = run_flask_db_upgrade(url)
            assert second.returncode == 0, _output(second)
            assert "Running upgrade" not in second.stderr + second.stdout
            assert inspect_database(url) == (tables, versions)
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT email FROM donors")).scalars().all() == [
                    "kept@example.org"
                ]
        finally:
            engine.dispose()


def test_flask_db_upgrade_refuses_to_start_without_a_secret_key(tmp_path):
    database = tmp_path / "no-secret.sqlite3"
    result = run_flask_db_upgrade("sqlite:///" + str(database), secret_key=None)
    assert result.returncode != 0, _output(result)
    assert "SECRET_KEY" in result.stderr + result.stdout
    assert not database.exists()  # refused before touching the database
