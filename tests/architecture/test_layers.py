"""The packages form layers without a cycle (README, "Layers").

``lint-imports`` checks the contracts in pyproject.toml (CI runs it too); the cycle check below
needs no contract: any package that reaches itself through another is a failure, whatever
the contracts say.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def package_graph() -> dict[str, set[str]]:
    """tracker's top-level packages and modules, each with those it imports (at run time)."""
    graph = grimp.build_graph("tracker", cache_dir=None, exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        here = module.split(".")[1] if "." in module else None
        if here is None:
            continue  # tracker/__init__.py: the app factory wires every package together
        for imported in graph.find_modules_directly_imported_by(module):
            there = imported.split(".")[1] if "." in imported else None
            if there is not None and there != here:
                edges.setdefault(here, set()).add(there)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every package that can reach itself, with one path that does it."""
    found = []
    for start in sorted(edges):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    found.append([*path, start])
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_the_package_graph_has_no_cycle():
    assert cycles(package_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"cases": {"posts"}, "posts": {"cases"}, "core": set()}) == [
        ["cases", "posts", "cases"], ["posts", "cases", "posts"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}})[0] == ["a", "b", "c", "a"]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_the_import_contracts_hold():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
    kept = [line for line in result.stdout.splitlines() if line.endswith(" KEPT")]
    assert len(kept) >= 2, result.stdout
