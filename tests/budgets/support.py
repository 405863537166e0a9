"""Builders and checks shared by the budget tests: cases with budget lines, payments recorded
through the service, row counts to prove a refused action wrote nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from tests.factories import give, make_case
from tracker.accounts.models import User
from tracker.budgets import services
from tracker.budgets.models import BudgetLine, Disbursement
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.errors import DomainError
from tracker.core.money import Money
from tracker.core.time import local_today, local_zone
from tracker.extensions import db

#: tables a budget action may write to; a refused action must leave every count as it was
WATCHED = ("rescue_cases", "budget_lines", "disbursements", "disbursement_receipts",
           "ledger_entries", "audit_entries")

MARKER = "SAFEHOUSE-b9d2e1"


def today() -> date:
    return local_today()


def days_ago(n: int) -> date:
    return local_today() - timedelta(days=n)


def local_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), local_zone())


def staff_member(email: str, role: str = "staff") -> User:
    """A committed staff user. Written directly (no argon2 hash: these tests never sign in),
    which keeps each test well under a second."""
    user = User(email=email, password_hash="$argon2id$not-used-by-these-tests", role=role)
    db.session.add(user)
    db.session.commit()
    return user


def loaded(user):  # noqa: ANN001, ANN201
    """The user as a view has it (loaded, as Flask-Login's ``current_user`` is), not expired
    by an earlier commit (see test_reject_with_a_user_expired_by_a_commit)."""
    db.session.refresh(user)
    return user


def counts() -> dict[str, int]:
    """Rows in the watched tables, counted with plain SQL."""
    return {name: db.session.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in WATCHED}


def refused(exc_type: type[DomainError], field: str | None, call: Callable[[], Any]) -> DomainError:
    """``call`` raises exactly ``exc_type`` naming ``field``; after the rollback every watched
    table holds what it held before."""
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError) as info:
        call()
    db.session.rollback()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value.reason}"
    assert info.value.field == field, (info.value.field, info.value.reason)
    assert info.value.reason.strip()
    assert counts() == before, "a refused action left rows behind"
    return info.value


def budgeted_case(slug: str = "six-survivors", *, raised: int = 500_000,
                  lines: dict[str, int] | None = None,
                  status: str = workflow.FUNDRAISING) -> tuple[RescueCase, dict[str, BudgetLine]]:
    """A case with ``raised`` yen given and budget lines {category: planned} (committed)."""
    case = make_case(slug, status=status)
    if raised:
        give(case, raised)
    made = {}
    for category, planned in (lines if lines is not None
                              else {"guides": 300_000, "transport": 200_000}).items():
        made[category] = services.set_line(case, category, Money(planned, "JPY"))
    db.session.commit()
    return case, made


def entry(line: BudgetLine, amount_minor: int, currency: str = "JPY", *,
          rate: Decimal | None = None, spent_on: date | None = None, payee: str = "Guide K.",
          note: str = "") -> services.DisbursementInput:
    return services.DisbursementInput(
        line_id=line.id, spent_on=spent_on or days_ago(3), amount=Money(amount_minor, currency),
        payee=payee, rate=rate, note=note)


def pay(case: RescueCase, line: BudgetLine, amount_minor: int, currency: str = "JPY", *,
        actor, receipt: bytes | None = None, **fields) -> Disbursement:  # noqa: ANN001
    """Record a payment through the service and commit it."""
    disbursement = services.record_disbursement(
        case, entry(line, amount_minor, currency, **fields), actor=actor, today=today(),
        receipt=receipt)
    db.session.commit()
    return disbursement


def disbursement_entries(case_id: int) -> list[tuple]:
    """The case's disbursement ledger entries (amount, currency, original amount and currency,
    disbursement id), oldest first, read with plain SQL."""
    return [tuple(row) for row in db.session.execute(sa.text(
        "SELECT amount_minor, currency, original_amount_minor, original_currency, disbursement_id"
        " FROM ledger_entries WHERE case_id = :case_id AND kind = 'disbursement' ORDER BY id"
    ), {"case_id": case_id})]


def spent_sql(case_id: int) -> int:
    """Paid out of a case (positive), summed with plain SQL over the ledger."""
    return -int(db.session.execute(sa.text(
        "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries"
        " WHERE case_id = :case_id AND kind = 'disbursement'"
    ), {"case_id": case_id}).scalar_one())


def disbursement_row(disbursement_id: int) -> dict[str, Any]:
    """Every column of a disbursement as stored, read with plain SQL."""
    row = db.session.execute(sa.text("SELECT * FROM disbursements WHERE id = :id"),
                             {"id": disbursement_id}).mappings().one()
    return dict(row)


def jpeg_with_exif(marker: str = MARKER) -> bytes:
    """A small phone-like JPEG: EXIF with GPS, make, a description and a comment naming
    ``marker``."""
    image = Image.new("RGB", (96, 64), (200, 190, 170))
    image.paste((30, 30, 30), (10, 10, 80, 20))
    exif = Image.Exif()
    exif[0x010F] = "MarkerPhoneMaker"  # Make
    exif[0x010E] = f"Receipt from the safe house {marker}"  # ImageDescription
    exif[0x8825] = {1: "N", 2: (41.0, 48.0, 12.0), 3: "E", 4: (129.0, 30.0, 5.0)}  # GPSInfo
    out = BytesIO()
    image.save(out, "JPEG", exif=exif, comment=f"comment {marker}".encode(), quality=90)
    return out.getvalue()
