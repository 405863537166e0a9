"""Figures by fiscal year, summed from the ledger and the people table."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func

from tracker.cases import workflow
from tracker.cases.models import PERSON_RESCUED, Beneficiary, RescueCase
from tracker.core.money import Money
from tracker.core.time import fiscal_year_bounds_utc, fiscal_year_dates, local_zone
from tracker.donations import ledger
from tracker.extensions import db


@dataclass(frozen=True, slots=True)
class YearSummary:
    """Headline figures of one fiscal year."""

    fiscal_year: int
    lives_saved: int
    raised: Money


def lives_saved(fiscal_year: int) -> int:
    """People in public cases whose rescue date falls in the fiscal year (local dates)."""
    start, end = fiscal_year_dates(fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
    return int(
        db.session.scalar(
            db.select(func.count(Beneficiary.id))
            .join(RescueCase, RescueCase.id == Beneficiary.case_id)
            .where(
                Beneficiary.status == PERSON_RESCUED,
                Beneficiary.rescued_on >= start,
                Beneficiary.rescued_on < end,
                RescueCase.status.in_(workflow.PUBLIC_STATUSES),
            )
        )
        or 0
    )


def year_summary(fiscal_year: int) -> YearSummary:
    """Lives saved and money raised (gifts less refunds and disputes) in a fiscal year."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    start, end = fiscal_year_bounds_utc(
        fiscal_year, current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"], local_zone()
    )
    return YearSummary(
        fiscal_year=fiscal_year,
        lives_saved=lives_saved(fiscal_year),
        raised=Money(ledger.raised_between(start, end, base), base),
    )
