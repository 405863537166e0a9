"""Builders for tests: cases and gifts made through the services, as the app makes them."""

from __future__ import annotations

from datetime import date

from flask import current_app

from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.donations import services as donation_services
from tracker.donations.models import Donation
from tracker.extensions import db

RECEIVED_ON = date(2025, 10, 1)

#: how to reach each status from 'requested' through the workflow
PATHS = {
    workflow.REQUESTED: [],
    workflow.FUNDRAISING: [workflow.FUNDRAISING],
    workflow.IN_PROGRESS: [workflow.FUNDRAISING, workflow.IN_PROGRESS],
    workflow.LEGAL_ACTION: [workflow.LEGAL_ACTION],
    workflow.ON_HOLD: [workflow.FUNDRAISING, workflow.ON_HOLD],
    workflow.CLOSED: [workflow.FUNDRAISING, workflow.CLOSED],
}


def base_currency() -> str:
    return current_app.config["TRACKER_BASE_CURRENCY"]


def make_case(
    slug: str = "six-survivors",
    *,
    people: int = 0,
    status: str = workflow.REQUESTED,
    goal: int = 1_000_000,
    outcome: str | None = None,
    **fields: str,
) -> RescueCase:
    """A case with ``people`` people, moved along the workflow to ``status`` (committed)."""
    case = case_services.create_case(
        case_services.CaseInput(
            slug=slug,
            public_title=fields.pop("public_title", "Six survivors"),
            public_region=fields.pop("public_region", "Northeast China"),
            goal=Money(goal, base_currency()),
            **fields,
        ),
        base_currency(),
    )
    for i in range(people):
        case_services.add_beneficiary(case, public_alias=f"Person {chr(65 + i)}.", age_band="18-29")
    for target in PATHS[status]:
        case_services.change_status(
            case, target, outcome=(outcome or "cancelled") if target == workflow.CLOSED else None
        )
    db.session.commit()
    return case


def give(
    case: RescueCase | None,
    amount_minor: int,
    currency: str = "JPY",
    *,
    email: str | None = None,
    name: str = "",
    channel: str = "bank_transfer",
    reference: str = "",
) -> Donation:
    """An offline gift recorded through the service (committed)."""
    donation = donation_services.record_offline_gift(
        case,
        donation_services.OfflineGift(
            amount=Money(amount_minor, currency),
            channel=channel,
            received_on=RECEIVED_ON,
            donor_name=name,
            donor_email=email,
            reference=reference,
        ),
    )
    db.session.commit()
    return donation
