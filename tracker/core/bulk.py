"""Writing many rows at once, below the ORM: COPY on PostgreSQL, multi-row INSERTs on SQLite.

For loads of a million rows (the demo seeder). Values must already be in the driver's own form
(naive UTC text for timestamps on SQLite, aware datetimes on PostgreSQL, ISO dates on SQLite):
SQLAlchemy's per-value conversion is skipped, and nothing else is. The database checks every
CHECK, foreign key and trigger as usual, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

from sqlalchemy.engine import Connection


def write_rows(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple], *,
               sqlite_params: int | None) -> None:
    """Write ``rows`` (tuples in ``columns`` order) into ``table`` (a name from our own
    models, never input). ``sqlite_params`` is SQLite's limit of parameters per statement;
    None on PostgreSQL (COPY)."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        # Many rows per statement: SQLite evaluates the CHECKs' IN lists once per statement
        # run, so one row per run (executemany) would cost twice as much. Statements come
        # in three sizes only, so the driver's statement cache keeps a few small programs.
        one = "(" + ", ".join("?" * len(columns)) + ")"
        start = 0
        for size in (max(1, (sqlite_params or 999) // len(columns)), 64):
            sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([one] * size)  # noqa: S608
            while len(rows) - start >= size:
                chunk = rows[start:start + size]
                conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
                start += size
        if start < len(rows):
            sql = f"INSERT INTO {table} ({names}) VALUES {one}"  # noqa: S608
            conn.exec_driver_sql(sql, rows[start:])
        return
    with conn.connection.dbapi_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
