"""More tests for the ledger (tracker.ledger; was tracker.donations.ledger), written against
mutation testing (issue 16).

Each test pins what a plausible slip in the ledger code would change: a transfer from the
general fund, donors counted with pending gifts, the bounds of ``raised_between``, which
entries a gift books and when. Entries are read back with plain SQL where it matters, so the
test does not agree with the ORM objects the code returned. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.budgets.support import budgeted_case, pay, staff_member
from tests.factories import give, make_case
from tracker.budgets.services import book_disbursement
from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.core.time import as_utc, utcnow
from tracker.donations import services as donation_services
from tracker.donations.models import Donation
from tracker.donations.services import book_gift
from tracker.extensions import db
from tracker.ledger import book, reads
from tracker.ledger.models import LedgerEntry

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)



def _id(case: RescueCase | None) -> int | None:
    """The ledger's writers take a case's id (None: the general fund)."""
    return case.id if case is not None else None

def entry_rows(where: str = "1 = 1", **params) -> list[tuple]:
    """Ledger rows (kind, case_id, donation_id, amount, currency, original amount and currency,
    gateway_ref, transfer_group, memo, created_by_id), oldest first, with plain SQL."""
    return [tuple(r) for r in db.session.execute(sa.text(
        "SELECT kind, case_id, donation_id, amount_minor, currency, original_amount_minor,"
        " original_currency, gateway_ref, transfer_group, memo, created_by_id"
        f" FROM ledger_entries WHERE {where} ORDER BY id"  # noqa: S608  (test's own SQL)
    ), params)]


def booked_at(entry_id: int) -> datetime:
    value = db.session.execute(
        sa.text("SELECT booked_at FROM ledger_entries WHERE id = :id"), {"id": entry_id}
    ).scalar_one()
    if isinstance(value, str):  # SQLite hands back text for a raw SELECT
        value = datetime.fromisoformat(value)
    return as_utc(value)


def pending_donation(case: RescueCase | None, amount_minor: int, email: str | None = None,
                     currency: str = "JPY") -> Donation:
    donor = donation_services.find_or_create_donor(email, "")
    donation = Donation(case_id=case.id if case else None, donor=donor, amount_minor=amount_minor,
                        currency=currency, channel="card", gateway="sandbox")
    db.session.add(donation)
    db.session.flush()
    return donation


def mark_settled(donation: Donation, gross_minor: int, fee_minor: int = 0) -> None:
    """Give a donation its settlement figures by hand (what ``settle`` does before booking)."""
    donation.settled_currency = "JPY"
    donation.gross_minor, donation.fee_minor = gross_minor, fee_minor
    donation.net_minor = gross_minor - fee_minor


def settled_gift(case: RescueCase | None, amount_minor: int, *, fee_minor: int = 0,
                 currency: str = "JPY", at: datetime | None = None,
                 email: str | None = None) -> Donation:
    """A card gift settled at the configured rate (at ``at``), booked through the service."""
    donation = pending_donation(case, amount_minor, email, currency)
    donation_services.settle(
        donation,
        donation_services.configured_settlement(Money(amount_minor, currency), fee_minor),
        settled_at=at,
    )
    db.session.commit()
    return donation


def adjustment(case: RescueCase | None, amount_minor: int, *, at: datetime,
               currency: str = "JPY", created_at: datetime | None = None) -> LedgerEntry:
    entry = LedgerEntry(kind="adjustment", case_id=case.id if case else None,
                        amount_minor=amount_minor, currency=currency, booked_at=at,
                        created_at=created_at or utcnow(), memo="correction")
    db.session.add(entry)
    db.session.commit()
    return entry


# --- gifts ------------------------------------------------------------------------------------


def test_gift_ref_names_the_donation():
    assert book.gift_ref("don_abc") == "donation:don_abc"


def test_a_settled_gift_books_a_gift_and_a_fee_entry(app):
    case = make_case("gift-case", status="fundraising")
    donation = settled_gift(case, 1_000, fee_minor=45, currency="USD", at=T0,
                            email="gina@example.org")
    ref = f"donation:{donation.public_id}"
    assert entry_rows("donation_id = :id", id=donation.id) == [
        ("gift", case.id, donation.id, 1_500, "JPY", 1_000, "USD", ref, None, "", None),
        ("fee", case.id, donation.id, -45, "JPY", None, None, ref, None, "", None),
    ]
    ids = db.session.scalars(sa.select(LedgerEntry.id).where(LedgerEntry.donation_id == donation.id))
    assert [booked_at(i) for i in ids] == [T0, T0]


def test_a_gift_without_a_fee_books_no_fee_entry(app):
    donation = settled_gift(None, 3_000, at=T0)
    assert [r[0] for r in entry_rows("donation_id = :id", id=donation.id)] == ["gift"]
    assert entry_rows("donation_id = :id", id=donation.id)[0][1] is None  # the general fund


def test_book_gift_returns_the_flushed_entries_gift_first(app):
    case = make_case("returned", status="fundraising")
    donation = pending_donation(case, 2_000)
    mark_settled(donation, 2_000, 70)
    entries = book_gift(donation, booked_at=T0)
    assert [(e.kind, e.amount_minor) for e in entries] == [("gift", 2_000), ("fee", -70)]
    assert all(e.id is not None for e in entries)  # flushed: the UNIQUE check has run
    db.session.commit()
    assert [booked_at(e.id) for e in entries] == [T0, T0]


def test_book_gift_books_at_the_given_time_then_at_settlement_then_now(app):
    case = make_case("when", status="fundraising")
    settled_at = T0 + timedelta(days=3)

    given = pending_donation(case, 1_000)
    mark_settled(given, 1_000)
    given.settled_at = settled_at
    [entry] = book_gift(given, booked_at=T0)
    db.session.commit()
    assert booked_at(entry.id) == T0

    at_settlement = pending_donation(case, 1_000)
    mark_settled(at_settlement, 1_000)
    at_settlement.settled_at = settled_at
    [entry] = book_gift(at_settlement)
    db.session.commit()
    assert booked_at(entry.id) == settled_at

    before = utcnow()
    unsettled_time = pending_donation(case, 1_000)
    mark_settled(unsettled_time, 1_000)
    [entry] = book_gift(unsettled_time)
    db.session.commit()
    assert before - timedelta(seconds=1) <= booked_at(entry.id) <= utcnow() + timedelta(seconds=1)


@pytest.mark.parametrize(("gross", "currency"), [(None, "JPY"), (1_000, None), (None, None)])
def test_book_gift_refuses_a_donation_that_is_not_fully_settled(app, gross, currency):
    donation = pending_donation(None, 1_000)
    donation.gross_minor, donation.settled_currency = gross, currency
    with pytest.raises(ValueError, match="^a donation must be settled before it is booked$"):
        book_gift(donation)
    db.session.rollback()
    assert entry_rows() == []


# --- transfers --------------------------------------------------------------------------------


def test_a_transfer_from_the_general_fund_to_a_case(app):
    case = make_case("from-fund", status="fundraising")
    settled_gift(None, 10_000, at=T0)
    staff = staff_member("mover@example.org")
    out, into = book.book_transfer(_id(None), _id(case), Money(4_000, "JPY"), memo="urgent",
                                   created_by_id=staff.id)
    assert out.id is not None and into.id is not None
    db.session.commit()
    rows = entry_rows("kind = 'transfer'")
    group = rows[0][8]
    assert len(group) == 32 and int(group, 16) >= 0
    assert rows == [
        ("transfer", None, None, -4_000, "JPY", None, None, None, group, "urgent", staff.id),
        ("transfer", case.id, None, 4_000, "JPY", None, None, None, group, "urgent", staff.id),
    ]
    assert [out.id, into.id] == sorted([out.id, into.id])
    assert booked_at(out.id) == booked_at(into.id)
    assert reads.money_by_case([case.id])[case.id].raised_minor == 4_000


def test_a_transfer_from_a_case_to_the_general_fund(app):
    case = make_case("to-fund", status="fundraising")
    give(case, 5_000)
    out, into = book.book_transfer(_id(case), _id(None), Money(1_000, "JPY"))
    db.session.commit()
    assert (out.case_id, out.amount_minor) == (case.id, -1_000)
    assert (into.case_id, into.amount_minor) == (None, 1_000)
    assert (out.memo, out.created_by_id, into.memo, into.created_by_id) == ("", None, "", None)
    assert reads.money_by_case([case.id])[case.id].raised_minor == 4_000


def test_two_transfers_have_two_groups(app):
    a = make_case("group-a", status="fundraising")
    b = make_case("group-b", status="fundraising")
    first = book.book_transfer(_id(a), _id(b), Money(1, "JPY"))
    second = book.book_transfer(_id(b), _id(a), Money(1, "JPY"))
    assert first[0].transfer_group == first[1].transfer_group
    assert first[0].transfer_group != second[0].transfer_group


@pytest.mark.parametrize("amount", [0, -1, -5_000])
def test_a_transfer_must_be_positive(app, amount):
    a = make_case("pos-a", status="fundraising")
    with pytest.raises(ValueError, match="^transfer amounts are positive$"):
        book.book_transfer(_id(a), _id(None), Money(amount, "JPY"))
    assert entry_rows() == []


def test_the_smallest_transfer_is_one_minor_unit(app):
    a = make_case("one-a", status="fundraising")
    out, into = book.book_transfer(_id(a), _id(None), Money(1, "JPY"))
    assert (out.amount_minor, into.amount_minor) == (-1, 1)


# --- disbursements ----------------------------------------------------------------------------


def test_a_foreign_currency_disbursement_books_base_and_original_amounts(app):
    case, lines = budgeted_case("paid-in-usd")
    staff = staff_member("payer@example.org")
    d = pay(case, lines["guides"], 20_000, "USD", actor=staff)  # $200.00 at 150 = 30,000 yen
    assert entry_rows("kind = 'disbursement'") == [
        ("disbursement", case.id, None, -30_000, "JPY", -20_000, "USD", None, None, "", staff.id),
    ]
    assert db.session.scalar(sa.select(LedgerEntry.disbursement_id)
                             .where(LedgerEntry.kind == "disbursement")) == d.id


def test_book_disbursement_returns_the_flushed_entry_at_the_given_time(app):
    case, lines = budgeted_case("returned-disb", raised=500_000)
    staff, approver = staff_member("p2@example.org"), staff_member("p3@example.org")
    d = pay(case, lines["guides"], 200_000, actor=staff)  # above the threshold: waits
    assert entry_rows("kind = 'disbursement'") == []
    d.status, d.decided_by_id, d.decided_at = "approved", approver.id, utcnow()
    db.session.flush()
    entry = book_disbursement(d, booked_at=T0)
    assert entry.id is not None
    assert (entry.kind, entry.amount_minor, entry.disbursement_id) == ("disbursement", -200_000, d.id)
    db.session.commit()
    assert booked_at(entry.id) == T0
    assert reads.money_by_case([case.id])[case.id].spent_minor == 200_000


# --- money_by_case ----------------------------------------------------------------------------


def test_case_money_defaults_and_held():
    assert reads.CaseMoney() == reads.CaseMoney(raised_minor=0, donors=0, last_moved=None,
                                                  spent_minor=0)
    assert reads.CaseMoney(raised_minor=10_000, spent_minor=2_500).held_minor == 7_500
    assert reads.CaseMoney().held_minor == 0


def test_money_by_case_of_no_cases_is_empty(app):
    assert reads.money_by_case([]) == {}
    assert reads.money_by_case(iter([])) == {}
    assert reads.raised_by_case([]) == {}


def test_money_by_case_takes_any_iterable_once(app):
    case = make_case("gen", status="fundraising")
    give(case, 1_000, email="g@example.org")
    result = reads.money_by_case(cid for cid in [case.id])
    assert result[case.id].raised_minor == 1_000
    assert result[case.id].donors == 1


def test_a_case_with_nothing_gets_zeroes_and_no_last_movement(app):
    empty = make_case("nothing-yet", status="fundraising")
    other = make_case("has-money", status="fundraising")
    give(other, 1_000, email="o@example.org")
    result = reads.money_by_case([empty.id, other.id])
    assert result[empty.id] == reads.CaseMoney(0, 0, None, 0)
    assert result[other.id].donors == 1
    assert reads.raised_by_case([empty.id]) == {empty.id: 0}


def test_donors_count_only_succeeded_gifts(app):
    case = make_case("pending-gifts", status="fundraising")
    give(case, 1_000, email="paid@example.org")
    pending_donation(case, 5_000, "pending@example.org")
    failed = pending_donation(case, 5_000, "failed@example.org")
    failed.status = "failed"
    db.session.commit()
    money = reads.money_by_case([case.id])[case.id]
    assert money.donors == 1
    assert money.raised_minor == 1_000


def test_donors_of_a_case_with_only_pending_gifts_are_none(app):
    case = make_case("only-pending", status="fundraising")
    pending_donation(case, 5_000, "p1@example.org")
    pending_donation(case, 5_000, "p2@example.org")
    db.session.commit()
    assert reads.money_by_case([case.id])[case.id] == reads.CaseMoney()


def test_donors_of_the_general_fund_and_other_cases_are_not_counted(app):
    a = make_case("donors-a", status="fundraising")
    b = make_case("donors-b", status="fundraising")
    give(a, 1_000, email="x@example.org")
    give(b, 1_000, email="y@example.org")
    give(b, 1_000, email="z@example.org")
    give(None, 1_000, email="w@example.org")
    result = reads.money_by_case([a.id])
    assert list(result) == [a.id]
    assert result[a.id].donors == 1
    assert reads.money_by_case([a.id, b.id])[b.id].donors == 2


def test_money_by_case_raised_spent_and_last_movement(app):
    case, lines = budgeted_case("full-books", raised=50_000)
    other = make_case("other-books", status="fundraising")
    staff = staff_member("books@example.org")
    settled_gift(case, 10_000, fee_minor=400, at=T0, email="card@example.org")
    early = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    late = datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
    # Corrections written down at known times: "last moved" is the latest write of raised money.
    adjustment(case, 700, at=T0, created_at=late)
    adjustment(case, -200, at=T0, created_at=early)
    moved_before_payout = reads.money_by_case([case.id])[case.id].last_moved
    pay(case, lines["guides"], 30_000, actor=staff)
    pay(case, lines["transport"], 5_000, actor=staff)
    book.book_transfer(_id(case), _id(other), Money(1_500, "JPY"))
    db.session.commit()

    money = reads.money_by_case([case.id, other.id])
    # 50,000 + 10,000 (fee not subtracted) + 700 - 200 - 1,500 out
    assert money[case.id].raised_minor == 59_000
    assert money[case.id].spent_minor == 35_000
    assert money[case.id].held_minor == 24_000
    assert money[case.id].donors == 2
    assert money[other.id].raised_minor == 1_500
    assert money[other.id].spent_minor == 0
    assert reads.raised_by_case([case.id, other.id]) == {case.id: 59_000, other.id: 1_500}

    # Paying out does not count as money moving; the transfer does.
    assert moved_before_payout is not None and moved_before_payout.tzinfo is not None
    last = db.session.execute(sa.text(
        "SELECT max(created_at) FROM ledger_entries WHERE case_id = :id AND kind = 'transfer'"
    ), {"id": case.id}).scalar_one()
    if isinstance(last, str):
        last = datetime.fromisoformat(last)
    assert money[case.id].last_moved == as_utc(last)
    assert money[case.id].last_moved.utcoffset() == timedelta(0)


def test_last_movement_ignores_payouts_and_fees(app):
    case, lines = budgeted_case("moved", raised=0)
    when = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    adjustment(case, 60_000, at=T0, created_at=when)
    pay(case, lines["guides"], 10_000, actor=staff_member("payout@example.org"))
    money = reads.money_by_case([case.id])[case.id]
    assert money.last_moved == when
    assert (money.raised_minor, money.spent_minor, money.donors) == (60_000, 10_000, 0)


def test_a_case_that_only_paid_out_has_no_last_movement(app):
    case, lines = budgeted_case("only-paid", raised=0)
    when = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    pay(case, lines["guides"], 10_000, actor=staff_member("only@example.org"))
    adjustment(None, 1, at=T0, created_at=when)  # the general fund's, not the case's
    money = reads.money_by_case([case.id])[case.id]
    assert money == reads.CaseMoney(raised_minor=0, donors=0, last_moved=None, spent_minor=10_000)
    assert money.held_minor == -10_000


# --- raised_between ---------------------------------------------------------------------------


@pytest.fixture
def dated_books(app):
    """Entries booked around a window [START, END) of June 2025."""
    case, lines = budgeted_case("dated", raised=0)
    other = make_case("dated-other", status="fundraising")
    start, end = T0, T0 + timedelta(days=30)
    settled_gift(case, 1_000, at=start, email="first@example.org")  # on the start: in
    settled_gift(case, 2_000, fee_minor=90, at=start + timedelta(days=1))  # in; its fee is not
    settled_gift(None, 4_000, at=end - timedelta(microseconds=1))  # general fund, last moment
    settled_gift(other, 10_000, currency="USD", at=start + timedelta(days=2))  # $100: 15,000 yen
    settled_gift(case, 8_000, at=end)  # on the end: out
    settled_gift(case, 16_000, at=start - timedelta(microseconds=1))  # just before: out
    adjustment(case, -300, at=start + timedelta(days=3))  # in
    adjustment(case, 777, at=start + timedelta(days=3), currency="USD")  # not base currency
    db.session.add(LedgerEntry(
        kind="transfer", case_id=case.id, amount_minor=-500, currency="JPY",
        transfer_group="g1", booked_at=start + timedelta(days=4)))
    db.session.add(LedgerEntry(
        kind="transfer", case_id=other.id, amount_minor=900, currency="JPY",
        transfer_group="g1", booked_at=start + timedelta(days=4)))
    db.session.commit()
    pay(case, lines["guides"], 600, actor=staff_member("dated@example.org"))  # booked recently
    return start, end


def test_raised_between_sums_gifts_in_the_window(dated_books):
    start, end = dated_books
    # 1,000 + 2,000 + 4,000 + 15,000 - 300
    assert reads.raised_between(start, end, "JPY") == 21_700


def test_raised_between_over_all_time_leaves_out_fees_transfers_and_payouts(dated_books):
    everything = reads.raised_between(datetime(2000, 1, 1, tzinfo=UTC),
                                       datetime(2100, 1, 1, tzinfo=UTC), "JPY")
    assert everything == 21_700 + 8_000 + 16_000
    assert isinstance(everything, int)


def test_raised_between_counts_only_the_base_currency(dated_books):
    start, end = dated_books
    assert reads.raised_between(start, end, "USD") == 777


def test_raised_between_of_an_empty_window_is_zero(dated_books):
    start, _ = dated_books
    assert reads.raised_between(start, start, "JPY") == 0
    result = reads.raised_between(datetime(2001, 1, 1, tzinfo=UTC),
                                   datetime(2002, 1, 1, tzinfo=UTC), "JPY")
    assert result == 0 and isinstance(result, int)


def test_raised_between_one_moment(dated_books):
    start, end = dated_books
    assert reads.raised_between(start, start + timedelta(microseconds=1), "JPY") == 1_000
    assert reads.raised_between(end - timedelta(microseconds=1), end, "JPY") == 4_000
    assert reads.raised_between(end, end + timedelta(microseconds=1), "JPY") == 8_000
