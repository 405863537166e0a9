"""The only code that writes ledger entries.

Each function books one kind of money movement from plain values (ids, ``Money``, times), so
the ledger depends on nothing but ``core``: the domains that decide *whether* money moved
(donations, payments, budgets, cases) call these to write down *that* it did. Amounts are
signed by kind here, once, and the database's CHECKs and unique references refuse the rest:

* a gift's entries carry the reference ``donation:<public id>``; UNIQUE (kind, gateway_ref)
  stops a gift, a refund, a dispute or a fee being booked twice;
* a disbursement's entry is UNIQUE per approval.

Nothing here commits: the caller's transaction decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from tracker.core import bulk
from tracker.core.money import Money
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.ledger.models import (
    ADJUSTMENT,
    COVER_DISPUTE_WON,
    COVER_DISPUTED,
    COVER_REFUNDED,
    DISBURSEMENT,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE,
    FEE_COVER,
    GIFT,
    REFUND,
    TRANSFER,
    LedgerEntry,
)


def gift_ref(public_id: str) -> str:
    """The ledger reference of a donation's gift and fee entries (one of each, at most)."""
    return f"donation:{public_id}"


def _add(*entries: LedgerEntry) -> None:
    db.session.add_all(entries)
    db.session.flush()


def book_gift(*, donation_id: int, case_id: int | None, public_id: str, gross: Money, fee: Money,
              given: Money, booked_at: datetime, cover: Money | None = None,
              cover_given: Money | None = None) -> list[LedgerEntry]:
    """Book a settled gift: a gift entry for the gross (``given`` is what the donor paid, in
    their currency) and a fee entry if the gateway kept a fee. ``gross`` and ``fee`` are in
    the base currency. With a fee cover (what the donor added to pay the card fee: ``cover``
    in base, ``cover_given`` in their currency), ``gross`` and ``given`` are the gift's part
    only and the cover is a ``fee_cover`` entry of its own."""
    if fee.currency != gross.currency:
        raise ValueError("a gift's fee is in the currency of its gross")
    # UNIQUE (kind, gateway_ref): the database itself refuses a second gift for a donation.
    ref = gift_ref(public_id)
    entries = [
        LedgerEntry(
            kind=GIFT, case_id=case_id, donation_id=donation_id,
            amount_minor=gross.amount_minor, currency=gross.currency,
            original_amount_minor=given.amount_minor, original_currency=given.currency,
            gateway_ref=ref, booked_at=booked_at,
        )
    ]
    if cover is not None and cover.amount_minor:
        if cover.currency != gross.currency or cover.amount_minor < 0:
            raise ValueError("a fee cover is positive, in the currency of its gift's gross")
        entries.append(
            LedgerEntry(
                kind=FEE_COVER, case_id=case_id, donation_id=donation_id,
                amount_minor=cover.amount_minor, currency=cover.currency,
                original_amount_minor=cover_given.amount_minor if cover_given else None,
                original_currency=cover_given.currency if cover_given else None,
                gateway_ref=ref, booked_at=booked_at,
            )
        )
    if fee.amount_minor:
        entries.append(
            LedgerEntry(
                kind=FEE, case_id=case_id, donation_id=donation_id,
                amount_minor=-fee.amount_minor, currency=fee.currency,
                gateway_ref=ref, booked_at=booked_at,
            )
        )
    _add(*entries)
    return entries


def book_cover_take_back(*, donation_id: int, case_id: int | None, base: Money, original: Money,
                         ref: str, cause: str) -> LedgerEntry:
    """Book the fee-cover part of a refund or a dispute (``cause``: ``REFUND`` or ``DISPUTE``;
    amounts positive here, negative on the ledger), beside the entry of the gift's part under
    the same reference."""
    memo = {REFUND: COVER_REFUNDED, DISPUTE: COVER_DISPUTED}.get(cause)
    if memo is None:
        raise ValueError(f"a fee cover is taken back by a refund or a dispute, not {cause}")
    entry = LedgerEntry(
        kind=FEE_COVER, case_id=case_id, donation_id=donation_id,
        amount_minor=-base.amount_minor, currency=base.currency,
        original_amount_minor=-original.amount_minor, original_currency=original.currency,
        gateway_ref=ref, memo=memo,
    )
    _add(entry)
    return entry


def book_cover_dispute_reversal(opened: LedgerEntry) -> LedgerEntry:
    """A won dispute gives back the fee cover's share it took: the exact opposite of the
    dispute's ``fee_cover`` entry ``opened``, under ``<dispute id>:won``."""
    if opened.kind != FEE_COVER or opened.memo != COVER_DISPUTED:
        raise ValueError("only a dispute's share of a fee cover is given back by winning it")
    entry = LedgerEntry(
        kind=FEE_COVER, case_id=opened.case_id, donation_id=opened.donation_id,
        amount_minor=-opened.amount_minor, currency=opened.currency,
        original_amount_minor=-(opened.original_amount_minor or 0) or None,
        original_currency=opened.original_currency, gateway_ref=f"{opened.gateway_ref}:won",
        memo=COVER_DISPUTE_WON,
    )
    _add(entry)
    return entry


def book_take_back(kind: str, *, donation_id: int, case_id: int | None, base: Money,
                   original: Money, ref: str, memo: str) -> LedgerEntry:
    """Book money taken back from a gift: a ``refund`` or a ``dispute`` (amounts positive
    here, negative on the ledger), once per gateway reference."""
    if kind not in (REFUND, DISPUTE):
        raise ValueError(f"not money taken back: {kind}")
    entry = LedgerEntry(
        kind=kind, case_id=case_id, donation_id=donation_id,
        amount_minor=-base.amount_minor, currency=base.currency,
        original_amount_minor=-original.amount_minor, original_currency=original.currency,
        gateway_ref=ref, memo=memo,
    )
    _add(entry)
    return entry


def book_fee(*, donation_id: int, case_id: int | None, fee: Money, ref: str, memo: str) -> LedgerEntry:
    """Book a cost the gateway charged for a gift (e.g. for handling a dispute), positive."""
    entry = LedgerEntry(
        kind=FEE, case_id=case_id, donation_id=donation_id, amount_minor=-fee.amount_minor,
        currency=fee.currency, gateway_ref=ref, memo=memo,
    )
    _add(entry)
    return entry


def book_dispute_reversal(opened: LedgerEntry, *, memo: str) -> LedgerEntry:
    """Book a won dispute: the exact opposite of the dispute entry ``opened``, same reference."""
    if opened.kind != DISPUTE:
        raise ValueError("only a dispute is reversed")
    entry = LedgerEntry(
        kind=DISPUTE_REVERSAL, case_id=opened.case_id, donation_id=opened.donation_id,
        amount_minor=-opened.amount_minor, currency=opened.currency,
        original_amount_minor=-(opened.original_amount_minor or 0) or None,
        original_currency=opened.original_currency, gateway_ref=opened.gateway_ref, memo=memo,
    )
    _add(entry)
    return entry


def book_adjustment(*, donation_id: int, case_id: int | None, amount: Money, memo: str,
                    created_by_id: int | None) -> LedgerEntry:
    """Book a signed correction of a recorded gift (the gift's own entries stay as they are)."""
    entry = LedgerEntry(
        kind=ADJUSTMENT, case_id=case_id, donation_id=donation_id, amount_minor=amount.amount_minor,
        currency=amount.currency, memo=memo, created_by_id=created_by_id,
    )
    _add(entry)
    return entry


def book_transfer(from_case_id: int | None, to_case_id: int | None, amount: Money, *, memo: str = "",
                  created_by_id: int | None = None) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money between cases (None is the general fund) as two linked ledger entries."""
    if amount.amount_minor <= 0:
        raise ValueError("transfer amounts are positive")
    group = uuid.uuid4().hex
    now = utcnow()
    out = LedgerEntry(
        kind=TRANSFER, case_id=from_case_id, amount_minor=-amount.amount_minor,
        currency=amount.currency, transfer_group=group, memo=memo, booked_at=now,
        created_by_id=created_by_id,
    )
    into = LedgerEntry(
        kind=TRANSFER, case_id=to_case_id, amount_minor=amount.amount_minor,
        currency=amount.currency, transfer_group=group, memo=memo, booked_at=now,
        created_by_id=created_by_id,
    )
    _add(out, into)
    return out, into


def book_disbursement(*, disbursement_id: int, case_id: int, base: Money, original: Money,
                      booked_at: datetime, created_by_id: int | None) -> LedgerEntry:
    """Book an approved disbursement (``base`` positive: money out; negative: its reversal,
    money back). UNIQUE (disbursement_id): the database refuses to count one approval twice."""
    entry = LedgerEntry(
        kind=DISBURSEMENT, case_id=case_id, disbursement_id=disbursement_id,
        amount_minor=-base.amount_minor, currency=base.currency,
        original_amount_minor=-original.amount_minor, original_currency=original.currency,
        booked_at=booked_at, created_by_id=created_by_id,
    )
    _add(entry)
    return entry


#: the columns of a row for ``write_bulk``, in this order
BULK_COLUMNS: tuple[str, ...] = (
    "id", "kind", "case_id", "donation_id", "amount_minor", "currency", "original_amount_minor",
    "original_currency", "gateway_ref", "memo", "booked_at", "booked_month", "created_at",
)


def write_bulk(conn: Connection, rows: list[tuple], *, sqlite_params: int) -> None:
    """Write many entries at once (the demo seeder's million gifts): tuples in ``BULK_COLUMNS``
    order, values already in the driver's form (``tracker.core.bulk``), each with its local
    ``booked_month``. The database's CHECKs, unique references and rollup triggers apply as
    to any other entry."""
    bulk.write_rows(conn, LedgerEntry.__table__.name, BULK_COLUMNS, rows, sqlite_params=sqlite_params)


def insert_rows(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a few entries given as full column mappings (booked_month included) in one
    executemany, inside the caller's transaction."""
    rows = list(rows)
    if rows:
        conn.execute(LedgerEntry.__table__.insert(), rows)
