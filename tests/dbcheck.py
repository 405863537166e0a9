"""Helpers that look at the database with plain SQL, shared by the integrity, rollup and
report tests: row counts, a refused write that leaves nothing behind, every rollup row, and a
card gift settled at a chosen moment."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.donations import services as donation_services
from tracker.donations.models import Donation
from tracker.extensions import db


def table_counts() -> dict[str, int]:
    """Rows in every table of the schema, counted with plain SQL."""
    return {name: db.session.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in db.metadata.tables}


def assert_refused(write: Callable[[], Any], backend: str, expect: str | tuple | dict) -> None:
    """``write`` raises IntegrityError naming ``expect``; afterwards nothing was written."""
    db.session.commit()
    before = table_counts()
    with pytest.raises(IntegrityError) as info:
        write()
        db.session.flush()
        db.session.commit()
    db.session.rollback()
    message = str(info.value.orig)
    if isinstance(expect, dict):
        expect = expect[backend]
    markers = (expect,) if isinstance(expect, str) else expect
    assert any(m in message for m in markers), f"expected one of {markers} in {message!r}"
    assert table_counts() == before, "a refused write left rows behind"


def rollup_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row (and each donor's first gift month), read with plain SQL in order."""
    def read(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in db.session.execute(sa.text(sql))]

    return {
        "ledger_month_totals": read(
            "SELECT month, case_key, kind, channel, currency, original_currency, slot, amount_minor, "
            "original_amount_minor, entries FROM ledger_month_totals "
            "ORDER BY month, case_key, kind, channel, currency, original_currency, slot"),
        "gift_amount_months": read(
            "SELECT month, amount_minor, slot, gifts FROM gift_amount_months"
            " ORDER BY month, amount_minor, slot"),
        "case_totals": read(
            "SELECT case_key, kind, slot, amount_minor, entries, last_created_at FROM case_totals"
            " ORDER BY case_key, kind, slot"),
        "case_donors": read("SELECT case_key, donor_id FROM case_donors ORDER BY case_key, donor_id"),
        "case_donor_counts": read(
            "SELECT case_key, slot, donors FROM case_donor_counts ORDER BY case_key, slot"),
        "donor_months": read(
            "SELECT donor_id, month, gifts, amount_minor FROM donor_months ORDER BY donor_id, month"),
        "donor_years": read(
            "SELECT donor_id, fiscal_year, gifts, amount_minor FROM donor_years"
            " ORDER BY donor_id, fiscal_year"),
        "first_gift_month": read("SELECT id, first_gift_month FROM donors ORDER BY id"),
    }


def card_gift(case: RescueCase | None, amount: int, at: datetime, currency: str = "JPY", *,
              fee: int = 0, email: str | None = None, name: str = "") -> Donation:
    """A card gift started like the donation form does and settled at ``at`` (committed), with
    a payment intent and charge so that it can be refunded and disputed."""
    donation = donation_services.start_donation(case, donation_services.GiftInput(
        amount=Money(amount, currency), name=name, email=email), "sandbox")
    token = secrets.token_hex(8)
    donation.gateway_payment_intent_id = f"pi_sbx_{token}"
    donation.gateway_charge_id = f"ch_sbx_{token}"
    donation_services.settle(donation, donation_services.configured_settlement(
        Money(amount, currency), fee), settled_at=at)
    db.session.commit()
    return donation
