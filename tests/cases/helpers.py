"""Builders for cases in tests (through the services, as the app does)."""

from __future__ import annotations

from tracker.cases import services
from tracker.core.money import Money
from tracker.extensions import db


def make_case(slug: str = "six-survivors", *, people: int = 0, status: str | None = None,
              goal: int = 1_000_000, **fields) -> services.RescueCase:
    """Create a case with ``people`` people, moved to ``status`` along the workflow."""
    data = services.CaseInput(
        slug=slug,
        public_title=fields.pop("public_title", "Six survivors"),
        public_region=fields.pop("public_region", "Northeast China"),
        goal=Money(goal, "JPY"),
        **fields,
    )
    case = services.create_case(data, "JPY")
    for i in range(people):
        services.add_beneficiary(case, public_alias=f"Person {chr(65 + i)}.", age_band="18-29")
    path = {
        None: [], "requested": [], "fundraising": ["fundraising"],
        "in_progress": ["fundraising", "in_progress"], "legal_action": ["legal_action"],
        "on_hold": ["fundraising", "on_hold"],
    }[status]
    for target in path:
        services.change_status(case, target)
    db.session.commit()
    return case
