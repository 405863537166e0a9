"""The ledger has one home: no code outside ``tracker/ledger/`` creates or inserts entries.

A scan of the source, so that a new shortcut (an ``LedgerEntry(...)`` in a service, a raw
``INSERT INTO ledger_entries`` in a loader) fails here rather than in review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TRACKER = Path(__file__).resolve().parents[2] / "tracker"
LEDGER = TRACKER / "ledger"
RAW_WRITE = re.compile(r"\b(INSERT\s+INTO|COPY|UPDATE|DELETE\s+FROM)\s+ledger_entries\b", re.I)


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def writes_to_the_ledger(source: str) -> list[str]:
    """Each place in ``source`` that writes a ledger entry other than through the ledger."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if _name(node.func) == "LedgerEntry":
                found.append(f"line {node.lineno}: LedgerEntry(...)")
            if _name(node.func) in {"insert", "write", "bulk_insert_mappings", "bulk_save_objects"} \
                    and any(_name(arg) == "LedgerEntry" for arg in node.args):
                found.append(f"line {node.lineno}: {_name(node.func)}(LedgerEntry, ...)")
        if isinstance(node, ast.Attribute) and node.attr in {"__table__", "__tablename__"} \
                and _name(node.value) == "LedgerEntry":
            found.append(f"line {node.lineno}: LedgerEntry.{node.attr}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_WRITE.search(node.value):
            found.append(f"line {node.lineno}: raw SQL writing ledger_entries")
    return found


def test_no_code_outside_the_ledger_writes_entries():
    offenders = {}
    for path in sorted(TRACKER.rglob("*.py")):
        if LEDGER in path.parents:
            continue
        found = writes_to_the_ledger(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(TRACKER.parent))] = found
    assert offenders == {}


def test_the_scan_notices_each_way_of_writing_an_entry():
    """The scan is only worth something if it fails on the shortcuts it is there to stop."""
    assert writes_to_the_ledger("db.session.add(LedgerEntry(kind='gift'))")
    assert writes_to_the_ledger("conn.execute(models.LedgerEntry.__table__.insert(), rows)")
    assert writes_to_the_ledger("db.session.execute(insert(LedgerEntry).values(kind='fee'))")
    assert writes_to_the_ledger("loader.write(LedgerEntry, COLUMNS, rows)")
    assert writes_to_the_ledger("conn.exec_driver_sql('INSERT INTO ledger_entries (id) VALUES (1)')")
    assert writes_to_the_ledger("sql = 'COPY ledger_entries (id) FROM STDIN'")
    assert not writes_to_the_ledger("db.select(LedgerEntry.amount_minor).where(LedgerEntry.kind == 'gift')")
    assert not writes_to_the_ledger("ids = loader.ids[LedgerEntry]")


def test_the_ledger_itself_is_where_entries_are_written():
    found = {path.name: writes_to_the_ledger(path.read_text(encoding="utf-8"))
             for path in LEDGER.glob("*.py")}
    assert found["book.py"], "the ledger's writers are in tracker/ledger/book.py"
