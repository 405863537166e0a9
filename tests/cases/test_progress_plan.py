"""The case-progress query (``ledger.money_by_case``) must read its sums from the covering
(case_id, kind, amount_minor, created_at) index. With statistics, SQLite's planner preferred
the (case_id, id) index that serves the GROUP BY order and then visited every table row of
those cases (fees included); at a million gifts that is the slow path.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.factories import give, make_case
from tracker.cases import workflow
from tracker.extensions import db
from tracker.ledger import reads as ledger


def _statements(ids: list[int]) -> list[tuple[str, object]]:
    """The SQL ``money_by_case(ids)`` sends, with its parameters."""
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        ledger.money_by_case(ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    return [(s, p) for s, p in seen if "ledger_entries" in s]


@pytest.fixture
def many_cases(app):
    cases = [make_case(f"plan-case-{i}", status=workflow.FUNDRAISING) for i in range(40)]
    for i, case in enumerate(cases):
        for _ in range(3 + i % 5):
            give(case, 1_000 + i)
    give(None, 5_000)
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return [c.id for c in cases]


@pytest.mark.parametrize("count", [1, 12, 40])
def test_case_progress_probes_the_case_and_kind_index(app, backend, many_cases, count):
    [(statement, parameters)] = _statements(many_cases[:count])
    connection = db.session.connection()
    if backend == "sqlite":
        plan = [row[3] for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters)]
        ledger_steps = [step for step in plan if "ledger_entries" in step]
        assert ledger_steps, plan
        assert all(step.startswith(
            "SEARCH ledger_entries USING COVERING INDEX ix_ledger_entries_case_progress")
            for step in ledger_steps), plan
        assert not any(step.startswith("SCAN") for step in plan), plan
    else:
        # On a small table PostgreSQL rightly prefers a sequential scan; with that option
        # taken away it must find the cases' entries by an index on case_id.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(
            "EXPLAIN " + statement, parameters))
        assert "Seq Scan on ledger_entries" not in plan, plan
        assert "Index Cond: (case_id" in plan, plan
    db.session.rollback()
