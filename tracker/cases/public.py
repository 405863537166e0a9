"""What the public may know about a case: an allowlist, never a model dump.

Everything that leaves through a public page, JSON, a feed or an email is built here from
named public fields only (aliases, age band, coarse region, public texts, counts, sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func

from tracker.cases import workflow
from tracker.cases.models import PERSON_RESCUED, Beneficiary, RescueCase
from tracker.core import labels
from tracker.core.money import Money, exponent
from tracker.core.time import as_utc
from tracker.extensions import db
from tracker.ledger import reads


@dataclass(frozen=True, slots=True)
class CaseProgress:
    """Money and people progress of one case, all from the ledger and the people table."""

    slug: str
    status: str
    group_size: int
    rescued: int
    goal: Money
    raised: Money
    donors: int
    updated_at: datetime

    @property
    def money_percent(self) -> int:
        if self.goal.amount_minor <= 0:
            return 0
        return max(0, min(100, self.raised.amount_minor * 100 // self.goal.amount_minor))

    @property
    def people_percent(self) -> int:
        return self.rescued * 100 // self.group_size if self.group_size else 0

    @property
    def waiting(self) -> int:
        return self.group_size - self.rescued

    @property
    def completed(self) -> bool:
        return self.status == workflow.RESCUED

    @property
    def money_sample(self) -> Money:
        """1,234,567 (with every decimal of the currency: 1,234,567.89) in the case's currency.

        The page renders it with ``|money`` for static/live.js, which reads the symbol, the
        marks and their places off it, so the figures it writes match the server's exactly
        ("¥5,000", "5,000円", "$50.50") whatever the language and the currency.
        """
        places = exponent(self.goal.currency)
        fraction = int("987654321"[:places] or 0)
        return Money(1_234_567 * 10**places + fraction, self.goal.currency)


def progress_for(cases: Sequence[RescueCase]) -> dict[int, CaseProgress]:
    """Progress of many cases with a fixed number of grouped queries (no query per case)."""
    ids = [c.id for c in cases]
    if not ids:
        return {}
    money = reads.money_by_case(ids)
    people = {
        case_id: (int(total), int(saved))
        for case_id, total, saved in db.session.execute(
            db.select(
                Beneficiary.case_id,
                func.count(Beneficiary.id),
                func.count(Beneficiary.id).filter(Beneficiary.status == PERSON_RESCUED),
            )
            .where(Beneficiary.case_id.in_(ids))
            .group_by(Beneficiary.case_id)
        )
    }
    result = {}
    for case in cases:
        total, saved = people.get(case.id, (0, 0))
        updated = as_utc(case.updated_at)
        moved = money[case.id].last_moved
        if moved is not None and moved > updated:
            updated = moved
        result[case.id] = CaseProgress(
            slug=case.slug,
            status=case.status,
            group_size=total,
            rescued=saved,
            goal=Money(case.goal_amount_minor, case.goal_currency),
            raised=Money(money[case.id].raised_minor, case.goal_currency),
            donors=money[case.id].donors,
            updated_at=updated,
        )
    return result


def progress_json(progress: CaseProgress) -> dict[str, Any]:
    """The progress.json contract, exactly these keys and nothing else."""
    return {
        "case": progress.slug,
        "status": progress.status,
        "group_size": progress.group_size,
        "rescued": progress.rescued,
        "goal": {"amount_minor": progress.goal.amount_minor, "currency": progress.goal.currency},
        "raised": {
            "amount_minor": progress.raised.amount_minor,
            "currency": progress.raised.currency,
        },
        "donors": progress.donors,
        "updated_at": progress.updated_at.isoformat().replace("+00:00", "Z"),
    }


def people_json(case: RescueCase, progress: CaseProgress) -> dict[str, Any]:
    """``people.json``: the people table and its counts, read together so they agree.

    Public fields only (alias, age band, status and its words in the request's language),
    beside the counts the page's people bar shows; ``progress.json`` keeps its own contract.
    """
    return {
        "case": progress.slug,
        "group_size": progress.group_size,
        "rescued": progress.rescued,
        "waiting": progress.waiting,
        "people": [
            {"alias": p.alias, "age_band": p.age_band, "age_band_text": str(p.age_band_label),
             "status": p.status, "status_text": str(p.status_label)}
            for p in public_people(case)
        ],
    }


@dataclass(frozen=True, slots=True)
class PublicPerson:
    """A person as the public sees them."""

    alias: str
    age_band: str
    status: str
    status_label: str

    @property
    def age_band_label(self) -> str:
        """The age band as the reader's language writes it (18〜29歳)."""
        return labels.label("age_band", self.age_band)


def public_people(case: RescueCase) -> list[PublicPerson]:
    """The allowlisted view of a case's people."""
    return [
        PublicPerson(p.public_alias, p.age_band, p.status, p.status_label)
        for p in case.beneficiaries
    ]


def public_cases(statuses: frozenset[str] = workflow.OPEN_STATUSES, *,
                 limit: int | None = None) -> list[RescueCase]:
    """Published cases in the given statuses, newest first, at most ``limit`` of them (a
    private case in any status, on hold or closed included, is never listed)."""
    query = (
        db.select(RescueCase)
        .where(RescueCase.is_public, RescueCase.status.in_(statuses))
        .order_by(RescueCase.published_at.desc().nulls_last(), RescueCase.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def public_case_page(page: int, per_page: int) -> list[RescueCase]:
    """One page of every public case, open ones first, then newest first; one more than
    ``per_page`` when there is a next page."""
    is_open = RescueCase.status.in_(workflow.OPEN_STATUSES)
    return list(
        db.session.scalars(
            db.select(RescueCase)
            .where(RescueCase.is_public)
            .order_by(db.case((is_open, 0), else_=1), RescueCase.published_at.desc().nulls_last(),
                      RescueCase.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )


def get_public_case_by_id(case_id: int) -> RescueCase | None:
    """A case by id if the public may see it; None otherwise."""
    return db.session.scalar(db.select(RescueCase).where(RescueCase.id == case_id,
                                                         RescueCase.is_public))


def get_public_case(slug: str) -> RescueCase | None:
    """A case by slug if the public may see it (``RescueCase.is_public``); None for unknown,
    never published or unpublished cases alike."""
    return db.session.scalar(
        db.select(RescueCase).where(
            RescueCase.slug == slug, RescueCase.is_public
        )
    )
