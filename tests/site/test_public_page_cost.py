"""A public page costs the same however much history there is (issue 17).

Every public page is requested once with a small history and once after the history grew
(more gifts, more public cases open and completed, more posts): the number of statements it
sends must not change, no list on it may grow past its bound, and no statement may scan a
table that grows with history (the ledger, donations, donors, payment events, mail): each
statement's plan is read with EXPLAIN on the database it ran on (PostgreSQL with sequential
scans switched off, so that a missing index shows instead of a small-table shortcut).
Statements that read the ledger itself must be one of the known one-probe shapes.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.factories import give, make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.time import current_fiscal_year
from tracker.extensions import db
from tracker.posts import services as posts
from tracker.site.cases import HOME_COMPLETED_CASES, HOME_OPEN_CASES

#: tables whose size follows the number of gifts, donors, events or mails
GROWING = ("ledger_entries", "donations", "donors", "payment_events", "outbox_messages",
           "receipts", "audit_events", "donor_months", "donor_years", "case_donors")
#: the shapes of ledger reads a public page may send: one index probe each
LEDGER_PROBES = (
    re.compile(r"max\(ledger_entries\.id\)", re.I),
    re.compile(r"min\(ledger_entries\.booked_at\)", re.I),
    # the transparency page's entries dated after today (normally none)
    re.compile(r"ledger_entries\.booked_at >= .*ledger_entries\.booked_at <", re.I | re.S),
)


def _public_paths(slug: str, post_slug: str) -> dict[str, str]:
    return {
        "home": "/",
        "cases": "/cases",
        "case": f"/cases/{slug}",
        "progress": f"/cases/{slug}/progress.json",
        "people": f"/cases/{slug}/people.json",
        "post": f"/posts/{post_slug}",
        "transparency": f"/transparency/{current_fiscal_year()}",
        "donate form": f"/cases/{slug}/donate",
    }


def _post(slug: str, case_ids: tuple[int, ...]) -> None:
    posts.create_post(posts.PostInput(title=f"News {slug}", slug=slug, kind="update",
                                      body_markdown="Word from the field.", case_ids=case_ids,
                                      publish="publish"), author_id=None)
    db.session.commit()


def _completed_case(slug: str) -> None:
    case = make_case(slug, people=1, status=workflow.FUNDRAISING)
    case_services.mark_rescued(case.beneficiaries[0], date.today())
    db.session.commit()


def _requests(app, client, paths):  # noqa: ANN001, ANN202
    """The statements each page sends when rendered afresh (its cache emptied first)."""
    seen: dict[str, list[tuple[str, object]]] = {}
    bodies: dict[str, bytes] = {}
    current: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        current.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        for name, path in paths.items():
            app.extensions["tracker_pages"].clear()
            current.clear()
            response = client.get(path)
            assert response.status_code == 200, (name, response.status_code)
            seen[name] = list(current)
            bodies[name] = response.data
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    return seen, bodies


@pytest.fixture
def history(app):  # noqa: ANN001
    case = make_case("the-viral-case", people=3, status=workflow.FUNDRAISING)
    for i in range(3):
        give(case, 1_000 + i, email=f"first{i}@example.org")
    _completed_case("done-early")
    _post("first-news", (case.id,))
    return case


def _grow(case) -> None:  # noqa: ANN001
    for i in range(40):
        give(case, 500 + i, email=f"later{i}@example.org", name=f"Donor {i}")
    for i in range(HOME_OPEN_CASES + 2):
        other = make_case(f"more-open-{i}", status=workflow.FUNDRAISING)
        give(other, 700, email=f"other{i}@example.org")
    for i in range(HOME_COMPLETED_CASES + 2):
        _completed_case(f"done-{i}")
    for i in range(7):
        _post(f"more-news-{i}", (case.id,))


def _plan(backend: str, statement: str, parameters) -> str:  # noqa: ANN001
    connection = db.session.connection()
    if backend == "sqlite":
        return "\n".join(row[3] for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters))
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(row[0] for row in connection.exec_driver_sql(
        "EXPLAIN " + statement, parameters))


_TABLES = "|".join(GROWING)


def _scans_growing_table(backend: str, plan: str) -> list[str]:
    lines = plan.splitlines()
    if backend == "sqlite":
        # SCAN t (or SCAN t USING INDEX i): every row or index entry; SEARCH is a probe
        return [line for line in lines if re.search(rf"\bSCAN ({_TABLES})\b", line)]
    bad = [line for line in lines if re.search(rf"Seq Scan on ({_TABLES})\b", line)]
    # an index scan without a condition walks the whole index (unless a LIMIT or a max()
    # above it stops at the first row)
    for i, line in enumerate(lines):
        if re.search(rf"Index (?:Only )?Scan(?: Backward)? using \w+ on ({_TABLES})\b", line):
            detail = "\n".join(lines[i + 1:i + 4])
            above = "\n".join(lines[max(0, i - 3):i])
            if "Index Cond" not in detail and "Limit" not in above and "InitPlan" not in above:
                bad.append(line)
    return bad


def test_public_pages_cost_the_same_with_more_history(app, client, backend, history):
    """As many statements with more history, bounded lists, and no plan that scans a table
    growing with history (one test: growing the history is the slow part)."""
    paths = _public_paths(history.slug, "first-news")
    before, _ = _requests(app, client, paths)
    _grow(history)
    seen, bodies = _requests(app, client, paths)
    for name in paths:
        assert len(seen[name]) == len(before[name]), (
            name, [s for s, _ in seen[name]][len(before[name]):])
    home = bodies["home"].decode()
    assert home.count('class="case-card" data-') <= HOME_OPEN_CASES
    assert 'href="/cases"' in home  # the rest are on the list of cases
    assert home.count("everyone is safe") <= HOME_COMPLETED_CASES

    problems = []
    for name, statements in seen.items():
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            if "ledger_entries" in statement and not any(p.search(statement) for p in LEDGER_PROBES):
                problems.append((name, "reads the ledger", statement))
            plan = _plan(backend, statement, parameters)
            bad = _scans_growing_table(backend, plan)
            if bad:
                problems.append((name, bad, statement))
            db.session.rollback()
    assert not problems, "\n\n".join(map(repr, problems))


def test_the_checks_notice_a_scan_and_a_ledger_sum(app, backend, history):
    """The plan check is not blind: a sum over a case's ledger entries is refused by shape, and
    a query on an unindexed column of the ledger is seen to scan it."""
    statement = "SELECT sum(ledger_entries.amount_minor) FROM ledger_entries WHERE ledger_entries.case_id = 1"
    assert not any(p.search(statement) for p in LEDGER_PROBES)
    scan = "SELECT count(*) FROM ledger_entries WHERE ledger_entries.original_amount_minor > 5"
    assert _scans_growing_table(backend, _plan(backend, scan, ()))
    db.session.rollback()
    probe = db.session.execute(sa.text("SELECT max(id) FROM ledger_entries")).scalar()
    assert probe is not None
