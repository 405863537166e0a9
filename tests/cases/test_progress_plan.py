"""The case-progress query (``ledger.money_by_case``) reads the all-time rollups per case
(``case_totals``, ``case_donor_counts``), never the ledger: a viral case with a hundred
thousand gifts costs what a new one does. Its rows are found by the primary key's case_key.
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
    return seen


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
def test_case_progress_reads_the_case_rollups_by_key_never_the_ledger(app, backend, many_cases,
                                                                      count):
    statements = _statements(many_cases[:count])
    assert len(statements) == 2
    assert not any("ledger_entries" in s or "donations" in s for s, _ in statements), statements
    connection = db.session.connection()
    for statement, parameters in statements:
        if backend == "sqlite":
            plan = [row[3] for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters)]
            assert any(step.startswith("SEARCH case_") for step in plan), plan
            assert not any(step.startswith("SCAN") for step in plan), plan
        else:
            # On a small table PostgreSQL rightly prefers a sequential scan; with that option
            # taken away it must find the cases' rows by the key.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(
                "EXPLAIN " + statement, parameters))
            assert "Seq Scan" not in plan, plan
            assert "Index Cond: (case_key" in plan, plan
    db.session.rollback()


def test_case_progress_counts_each_donor_once_however_often_they_gave(app, many_cases):
    from tests.factories import make_case as new_case

    case = new_case("repeat-donors", status=workflow.FUNDRAISING)
    for _ in range(3):
        give(case, 500, email="same@example.org")
    give(case, 700, email="other@example.org")
    money = ledger.money_by_case([case.id])[case.id]
    assert (money.donors, money.raised_minor) == (2, 2_200)
