"""The ledger's writers and reads, each on its own (tracker.ledger.book, tracker.ledger.reads).

The domains' tests reach these through refunds, disputes, corrections and the demo loader; here
each function is pinned directly, row by row with plain SQL, so that moving or reshaping the
ledger cannot change what it writes or reads unnoticed (mutation testing found these unchecked).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.budgets.support import staff_member
from tests.donations.test_ledger_mutants import T0, booked_at, entry_rows, settled_gift
from tests.factories import give, make_case
from tracker.core.money import Money
from tracker.core.time import local_month
from tracker.extensions import db
from tracker.ledger import book, reads
from tracker.ledger.models import DISPUTE, FEE, GIFT, REFUND, LedgerEntry
from tracker.ledger.reads import GiftMoney


def usd_gift(slug: str = "usd-gift"):  # noqa: ANN201
    """A $100.00 card gift settled at 15,000 yen (rate 150), fee 450 yen."""
    case = make_case(slug, status="fundraising")
    return case, settled_gift(case, 10_000, fee_minor=450, currency="USD", at=T0)


# --- writers ----------------------------------------------------------------------------------


def test_a_gift_whose_fee_is_in_another_currency_is_refused(app):
    case = make_case("fee-currency", status="fundraising")
    with pytest.raises(ValueError, match="^a gift's fee is in the currency of its gross$"):
        book.book_gift(donation_id=1, case_id=case.id, public_id="don_x", gross=Money(1_000, "JPY"),
                       fee=Money(3, "USD"), given=Money(1_000, "JPY"), booked_at=T0)
    assert entry_rows() == []


@pytest.mark.parametrize(("kind", "memo"), [(REFUND, "refund"), (DISPUTE, "dispute opened")])
def test_money_taken_back_is_booked_negative_in_both_currencies(app, kind, memo):
    case, donation = usd_gift(f"taken-{kind}".replace("_", "-"))
    entry = book.book_take_back(kind, donation_id=donation.id, case_id=case.id,
                                base=Money(7_500, "JPY"), original=Money(5_000, "USD"),
                                ref=f"{kind}_1", memo=memo)
    assert entry.id is not None  # flushed
    db.session.commit()
    assert entry_rows("kind = :k", k=kind) == [
        (kind, case.id, donation.id, -7_500, "JPY", -5_000, "USD", f"{kind}_1", None, memo, None)]


@pytest.mark.parametrize("kind", [GIFT, FEE, "adjustment", "transfer", "dispute_reversal"])
def test_only_refunds_and_disputes_are_money_taken_back(app, kind):
    case, donation = usd_gift(f"not-taken-{kind}".replace("_", "-"))
    with pytest.raises(ValueError, match=f"^not money taken back: {kind}$"):
        book.book_take_back(kind, donation_id=donation.id, case_id=case.id, base=Money(1, "JPY"),
                            original=Money(1, "USD"), ref="x", memo="x")


def test_a_gateway_fee_is_booked_negative_in_the_base_currency(app):
    case, donation = usd_gift("fee")
    entry = book.book_fee(donation_id=donation.id, case_id=case.id, fee=Money(1_500, "JPY"),
                          ref="dispute-fee:txn_1", memo="dispute fee")
    assert entry.id is not None
    db.session.commit()
    assert entry_rows("gateway_ref = 'dispute-fee:txn_1'") == [
        ("fee", case.id, donation.id, -1_500, "JPY", None, None, "dispute-fee:txn_1", None,
         "dispute fee", None)]


def test_a_won_dispute_is_the_exact_opposite_of_the_dispute(app):
    case, donation = usd_gift("won")
    opened = book.book_take_back(DISPUTE, donation_id=donation.id, case_id=case.id,
                                 base=Money(15_000, "JPY"), original=Money(10_000, "USD"),
                                 ref="dp_1", memo="dispute opened")
    reversal = book.book_dispute_reversal(opened, memo="dispute won")
    assert reversal.id is not None and reversal.id != opened.id
    db.session.commit()
    assert entry_rows("gateway_ref = 'dp_1'") == [
        ("dispute", case.id, donation.id, -15_000, "JPY", -10_000, "USD", "dp_1", None,
         "dispute opened", None),
        ("dispute_reversal", case.id, donation.id, 15_000, "JPY", 10_000, "USD", "dp_1", None,
         "dispute won", None),
    ]


def test_a_dispute_without_an_original_amount_is_reversed_without_one(app):
    case, donation = usd_gift("won-no-original")
    opened = LedgerEntry(kind=DISPUTE, case_id=case.id, donation_id=donation.id, amount_minor=-900,
                         currency="JPY", gateway_ref="dp_2", memo="")
    db.session.add(opened)
    db.session.flush()
    book.book_dispute_reversal(opened, memo="won")
    db.session.commit()
    assert entry_rows("kind = 'dispute_reversal'") == [
        ("dispute_reversal", case.id, donation.id, 900, "JPY", None, None, "dp_2", None, "won", None)]


@pytest.mark.parametrize("kind", [REFUND, FEE, GIFT])
def test_only_a_dispute_is_reversed(app, kind):
    entry = LedgerEntry(kind=kind, amount_minor=-1, currency="JPY")
    with pytest.raises(ValueError, match="^only a dispute is reversed$"):
        book.book_dispute_reversal(entry, memo="x")


@pytest.mark.parametrize("amount", [-2_500, 700])
def test_an_adjustment_is_booked_signed_with_who_and_why(app, amount):
    case = make_case(f"adjusted{amount}", status="fundraising")
    donation = give(case, 10_000)
    staff = staff_member(f"adj{amount}@example.org")
    entry = book.book_adjustment(donation_id=donation.id, case_id=case.id,
                                 amount=Money(amount, "JPY"), memo="typed wrongly", created_by_id=staff.id)
    assert entry.id is not None
    db.session.commit()
    assert entry_rows("kind = 'adjustment'") == [
        ("adjustment", case.id, donation.id, amount, "JPY", None, None, None, None, "typed wrongly",
         staff.id)]


def _bulk_row(conn: sa.Connection, entry_id: int, case_id: int, amount: int, moment: datetime) -> tuple:
    """A row in BULK_COLUMNS order, in the driver's own form (as the demo loader makes them)."""
    sqlite = conn.dialect.name == "sqlite"
    stamp = moment.astimezone(UTC).isoformat(" ", "microseconds")[:-6] if sqlite else moment
    month = local_month(moment)
    return (entry_id, "adjustment", case_id, None, amount, "JPY", None, None, None, "bulk",
            stamp, month.isoformat() if sqlite else month, stamp)


@pytest.mark.parametrize("how_many", [0, 1, 5])
def test_the_bulk_writer_writes_every_row_in_the_columns_order(app, how_many):
    case = make_case(f"bulk{how_many}", status="fundraising")
    conn = db.session.connection()
    rows = [_bulk_row(conn, 9_000 + n, case.id, (n + 1) * 100 * (-1) ** n, T0) for n in range(how_many)]
    # two rows per statement on SQLite: the full chunks and the remainder both run
    book.write_bulk(conn, rows, sqlite_params=2 * len(book.BULK_COLUMNS))
    db.session.commit()
    assert book.BULK_COLUMNS[:5] == ("id", "kind", "case_id", "donation_id", "amount_minor")
    assert entry_rows() == [("adjustment", case.id, None, (n + 1) * 100 * (-1) ** n, "JPY", None,
                             None, None, None, "bulk", None) for n in range(how_many)]
    stored = db.session.execute(sa.select(LedgerEntry.id, LedgerEntry.booked_month)
                                .order_by(LedgerEntry.id)).all()
    assert [(i, m) for i, m in stored] == [(9_000 + n, date(2025, 6, 1)) for n in range(how_many)]
    assert all(booked_at(i) == T0 for i, _m in stored)


def test_the_bulk_writer_leaves_the_database_checks_on(app):
    case = make_case("bulk-check", status="fundraising")
    conn = db.session.connection()
    row = list(_bulk_row(conn, 9_100, case.id, 100, T0))
    row[1] = "gift"  # a gift needs a donation: the CHECK refuses it
    # SQLAlchemy wraps SQLite's error; PostgreSQL's COPY raises the driver's own
    with pytest.raises((IntegrityError, psycopg.errors.IntegrityError), match="donation_money_has_donation"):
        book.write_bulk(conn, [tuple(row)], sqlite_params=999)
    db.session.rollback()


def test_insert_rows_writes_full_rows_and_nothing_for_none(app):
    case = make_case("insert-rows", status="fundraising")
    conn = db.session.connection()
    book.insert_rows(conn, [])
    book.insert_rows(conn, iter([]))
    book.insert_rows(conn, ({
        "id": 9_200 + n, "kind": "transfer", "case_id": case.id, "donation_id": None,
        "disbursement_id": None, "amount_minor": 10 * (n + 1), "currency": "JPY",
        "original_amount_minor": None, "original_currency": None, "gateway_ref": None,
        "transfer_group": f"g{n}", "memo": "", "booked_at": T0, "booked_month": date(2025, 6, 1),
        "created_at": T0, "created_by_id": None,
    } for n in range(2)))
    db.session.commit()
    assert entry_rows() == [("transfer", case.id, None, 10, "JPY", None, None, None, "g0", "", None),
                            ("transfer", case.id, None, 20, "JPY", None, None, None, "g1", "", None)]


# --- reads ------------------------------------------------------------------------------------


def _refund(case, donation, base: int, original: int, ref: str):  # noqa: ANN001, ANN202
    return book.book_take_back(REFUND, donation_id=donation.id, case_id=case.id,
                               base=Money(base, "JPY"), original=Money(original, "USD"), ref=ref,
                               memo="refund")


def test_booked_sums_one_gifts_entries_of_the_kinds_asked_as_positives(app):
    case, donation = usd_gift("booked")
    _case2, other = usd_gift("booked-other")
    _refund(case, donation, 1_500, 1_000, "re_1")
    _refund(case, donation, 3_000, 2_000, "re_2")
    _refund(_case2, other, 4_500, 3_000, "re_3")
    book.book_take_back(DISPUTE, donation_id=donation.id, case_id=case.id, base=Money(100, "JPY"),
                        original=Money(70, "USD"), ref="dp_1", memo="")
    db.session.commit()
    assert reads.booked(donation.id, REFUND) == (4_500, 3_000)
    assert reads.booked(donation.id, REFUND, DISPUTE) == (4_600, 3_070)
    assert reads.booked(donation.id, "adjustment") == (0, 0)
    assert reads.booked(other.id, REFUND) == (4_500, 3_000)


def test_an_entry_is_found_by_its_kind_and_reference_together(app):
    case, donation = usd_gift("by-ref")
    refund = _refund(case, donation, 1_500, 1_000, "ref_1")
    db.session.commit()
    assert reads.entry_by_ref(REFUND, "ref_1").id == refund.id
    assert reads.entry_by_ref(DISPUTE, "ref_1") is None
    assert reads.entry_by_ref(REFUND, "ref_2") is None
    assert reads.is_booked(REFUND, "ref_1") is True
    assert reads.is_booked(DISPUTE, "ref_1") is False
    assert reads.is_booked(REFUND, "ref_2") is False


def test_a_gifts_entries_and_their_count_by_kind(app):
    case, donation = usd_gift("entries-of")
    _case2, other = usd_gift("entries-of-other")
    book.book_take_back(DISPUTE, donation_id=donation.id, case_id=case.id, base=Money(100, "JPY"),
                        original=Money(70, "USD"), ref="dp_a", memo="")
    opened = book.book_take_back(DISPUTE, donation_id=donation.id, case_id=case.id,
                                 base=Money(200, "JPY"), original=Money(140, "USD"), ref="dp_b", memo="")
    book.book_dispute_reversal(opened, memo="won")
    db.session.commit()
    entries = reads.entries_of(donation.id)
    assert [e.kind for e in entries] == ["gift", "fee", "dispute", "dispute", "dispute_reversal"]
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert [e.kind for e in reads.entries_of(other.id)] == ["gift", "fee"]
    assert reads.count_kinds(donation.id, DISPUTE, "dispute_reversal") == (2, 1)
    assert reads.count_kinds(donation.id, "dispute_reversal", DISPUTE, REFUND) == (1, 2, 0)
    assert reads.count_kinds(other.id, DISPUTE) == (0,)


def test_gift_money_sums_each_gifts_entries_by_kind(app):
    case, donation = usd_gift("gift-money")
    _refund(case, donation, 1_500, 1_000, "re_gm")
    book.book_take_back(DISPUTE, donation_id=donation.id, case_id=case.id, base=Money(3_000, "JPY"),
                        original=Money(2_000, "USD"), ref="dp_gm", memo="")
    offline = give(case, 8_000)
    book.book_adjustment(donation_id=offline.id, case_id=case.id, amount=Money(-500, "JPY"),
                         memo="typed wrongly", created_by_id=None)
    book.book_adjustment(donation_id=offline.id, case_id=case.id, amount=Money(200, "JPY"),
                         memo="and back", created_by_id=None)
    nothing = give(None, 1_000)
    db.session.commit()
    money = reads.gift_money(i for i in [donation.id, offline.id])
    assert money[donation.id] == GiftMoney(gift_minor=15_000, refunded_minor=1_500,
                                           refunded_original_minor=1_000, adjusted_minor=0,
                                           total_minor=15_000 - 1_500 - 3_000)
    assert money[offline.id] == GiftMoney(gift_minor=8_000, refunded_minor=0,
                                          refunded_original_minor=0, adjusted_minor=-300,
                                          total_minor=7_700)
    assert nothing.id not in money
    assert reads.gift_money([]) == {}
    assert GiftMoney() == GiftMoney(0, 0, 0, 0, 0)
