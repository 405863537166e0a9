"""Views end a request's transaction one way: through ``tracker.core.transactions``.

A view validates, calls a service inside ``with transaction():`` (kept when the block ends,
rolled back on any error) or ends a read-only or already-written transaction with ``commit()``.
A scan of the view modules, so that a hand-written ``db.session.commit()`` or
``db.session.rollback()`` fails here rather than in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRACKER = ROOT / "tracker"

#: view modules that are not named ``*views.py``
VIEW_MODULES = {
    "tracker/site/cases.py",
    "tracker/site/give.py",
    "tracker/site/audit.py",
}

#: (module, function) -> why it may end a transaction itself. Keep it short.
ALLOWED = {
    ("tracker/web/views.py", "http_error"):
        "error handler: a 5xx answer keeps nothing of the request a view did not finish",
    ("tracker/web/views.py", "domain_error"):
        "error handler: a DomainError no view caught is refused and its work undone",
    ("tracker/web/views.py", "server_error"):
        "error handler: an unhandled error keeps nothing (\"Nothing was saved.\")",
}



def _view_modules() -> list[str]:
    found = {str(path.relative_to(ROOT)) for path in TRACKER.rglob("*views.py")}
    return sorted(found | VIEW_MODULES)


def transaction_ends(source: str) -> list[tuple[str, int, str]]:
    """Each ``<anything>.commit(...)`` / ``<anything>.rollback(...)`` call in ``source``, as
    (enclosing function, line, method); module-level calls have the function ``""``."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                    and child.func.attr in {"commit", "rollback"}:
                found.append((function, child.lineno, child.func.attr))
            visit(child, function)

    visit(ast.parse(source), "")
    return found


def test_view_modules_leave_commit_and_rollback_to_the_transaction_helper():
    offenders = {}
    for module in _view_modules():
        source = (ROOT / module).read_text(encoding="utf-8")
        found = [f"line {line}: .{method}() in {function or '<module>'}"
                 for function, line, method in transaction_ends(source)
                 if (module, function) not in ALLOWED]
        if found:
            offenders[module] = found
    assert offenders == {}, (
        "End a view's transaction with tracker.core.transactions (with transaction(): ... or "
        "commit()), not by hand"
    )


def test_every_allowed_exception_is_still_needed():
    """An entry whose function no longer commits or rolls back is taken out of ALLOWED."""
    for module, function in ALLOWED:
        source = (ROOT / module).read_text(encoding="utf-8")
        assert any(found == function for found, _line, _method in transaction_ends(source)), \
            f"{module}:{function} no longer ends a transaction; remove it from ALLOWED"


def test_the_listed_modules_exist():
    for module in VIEW_MODULES | {module for module, _f in ALLOWED}:
        assert (ROOT / module).is_file(), module


def test_the_scan_notices_each_way_of_ending_a_transaction_by_hand():
    """The scan is only worth something if it fails on what it is there to stop."""
    assert transaction_ends("def v():\n    db.session.commit()\n") == [("v", 2, "commit")]
    assert transaction_ends("def v():\n    try:\n        f()\n    except E:\n"
                            "        db.session.rollback()\n") == [("v", 5, "rollback")]
    assert transaction_ends("session = db.session\nsession.commit()\n") == [("", 2, "commit")]
    assert transaction_ends("def v():\n    def inner():\n        s.rollback()\n") == \
        [("inner", 3, "rollback")]
    # the helpers themselves are the way to do it
    assert transaction_ends("def v():\n    with transaction():\n        f()\n    commit()\n") == []
