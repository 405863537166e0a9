"""The production-shaped tests (marked ``production``) run on PostgreSQL only: count them
under PostgreSQL in the suite's per-database report (they are not parametrized by backend)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if (item.path.is_relative_to(here) and item.get_closest_marker("production")
                and ("backend", "none") in item.user_properties):
            item.user_properties.remove(("backend", "none"))
            item.user_properties.append(("backend", "postgresql"))
