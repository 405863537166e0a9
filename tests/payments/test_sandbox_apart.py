"""The sandbox stands apart: ``tracker.payments`` implements Stripe and the interface, and
finds the sandbox only through its gateway registry; it never imports ``tracker.sandbox``."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

import tracker.payments

PAYMENTS = Path(tracker.payments.__file__).parent
SANDBOX_IMPORT = re.compile(r"^\s*(from|import)\s+tracker\.sandbox\b|import_module\(.tracker\.sandbox",
                            re.MULTILINE)


def test_payments_never_imports_the_sandbox() -> None:
    graph = grimp.build_graph("tracker", cache_dir=None)
    assert not graph.chain_exists(importer="tracker.payments", imported="tracker.sandbox",
                                  as_packages=True)
    # not even inside a function (grimp sees those too, but say it in words as well)
    for path in PAYMENTS.glob("*.py"):
        assert not SANDBOX_IMPORT.search(path.read_text(encoding="utf-8")), path.name


def test_the_payments_gateway_module_holds_no_sandbox() -> None:
    text = (PAYMENTS / "gateway.py").read_text(encoding="utf-8")
    assert "SandboxGateway" not in text and "SandboxSession" not in text
