"""The ledger is the only source of totals: case progress is a SUM over ledger entries.

Figures are checked three ways: against literal numbers worked out by hand, against an
independent plain-SQL SUM over ``ledger_entries``, and against what the app reports
(``progress_for`` and ``/cases/<slug>/progress.json``). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app

from tests.factories import give, make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.cases.public import progress_for
from tracker.core.errors import Conflict, DomainError
from tracker.core.money import Money
from tracker.core.time import as_utc
from tracker.donations import services as donation_services
from tracker.donations.models import Donation, Donor
from tracker.donations.services import book_gift
from tracker.extensions import db
from tracker.ledger import book
from tracker.ledger import reads as ledger
from tracker.ledger.models import LedgerEntry, LedgerIsAppendOnly

# Written out here rather than imported, so a change to RAISED_KINDS has to be deliberate:
# every kind counts toward "raised" except fees, which are reported separately.
RAISED_KINDS_SQL = "('gift', 'refund', 'dispute', 'dispute_reversal', 'transfer', 'adjustment')"

PROGRESS_KEYS = {"case", "status", "group_size", "rescued", "goal", "raised", "donors",
                 "updated_at"}


def sql_raised(case_id: int) -> int:
    """Money raised for a case, summed with plain SQL over the ledger."""
    return int(db.session.execute(
        sa.text(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries"
            f" WHERE case_id = :case_id AND kind IN {RAISED_KINDS_SQL}"
        ),
        {"case_id": case_id},
    ).scalar_one())


def sql_sum(where: str = "1 = 1", **params) -> int:
    return int(db.session.execute(
        sa.text(f"SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE {where}"),
        params,
    ).scalar_one())


def table_count(name: str) -> int:
    return db.session.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()


@dataclass
class Books:
    """A small set of books: two fundraising cases, gifts, a refund, a fee and a transfer."""

    a: RescueCase
    b: RescueCase
    alice_jpy: Donation
    alice_usd: Donation
    bob: Donation
    anonymous: Donation
    erin: Donation
    carol: Donation


def card_gift_with_fee(case: RescueCase, amount_minor: int, fee_minor: int, email: str):
    """A sandbox card gift settled with a gateway fee (books a gift and a fee entry)."""
    donor = donation_services.find_or_create_donor(email, "Erin")
    donation = Donation(case_id=case.id, donor=donor, amount_minor=amount_minor, currency="JPY",
                        channel="card", gateway="sandbox")
    db.session.add(donation)
    db.session.flush()
    donation_services.settle(
        donation, donation_services.configured_settlement(Money(amount_minor, "JPY"), fee_minor)
    )
    db.session.commit()
    return donation


@pytest.fixture
def books(app) -> Books:
    a = make_case("case-a", goal=100_000, status="fundraising")
    b = make_case("case-b", goal=50_000, status="fundraising")
    alice_jpy = give(a, 5_000, email="alice@example.org", name="Alice")
    alice_usd = give(a, 1_000, "USD", email="  Alice@Example.ORG ", channel="cash")  # $10.00
    bob = give(a, 3_000, email="bob@example.org", name="Bob")
    anonymous = give(a, 1_000)  # no email: a donor of its own
    erin = card_gift_with_fee(a, 10_000, 300, "erin@example.org")
    carol = give(b, 2_000, email="carol@example.org")
    # Bob's gift is refunded in part.
    db.session.add(LedgerEntry(
        kind="refund", case_id=a.id, donation_id=bob.id, amount_minor=-1_000, currency="JPY",
        original_amount_minor=-1_000, original_currency="JPY", gateway_ref="re_bob_1",
        memo="partial refund",
    ))
    db.session.commit()
    # Staff move money from case A to case B.
    book.book_transfer(a.id, b.id, Money(2_500, "JPY"), memo="B needs it more")
    db.session.commit()
    return Books(a, b, alice_jpy, alice_usd, bob, anonymous, erin, carol)


# Worked out by hand from the fixture:
#   A: 5,000 + 1,500 (USD 10.00 at 150) + 3,000 + 1,000 + 10,000 - 1,000 refund - 2,500 out
#   B: 2,000 + 2,500 in
RAISED_A = 17_000
RAISED_B = 4_500
FEE_A = -300


# --- totals -----------------------------------------------------------------------------------


def test_case_raised_is_the_sum_over_the_ledger(books):
    progress = progress_for([books.a, books.b])
    assert progress[books.a.id].raised == Money(RAISED_A, "JPY")
    assert progress[books.b.id].raised == Money(RAISED_B, "JPY")
    assert progress[books.a.id].raised.amount_minor == sql_raised(books.a.id)
    assert progress[books.b.id].raised.amount_minor == sql_raised(books.b.id)
    assert ledger.raised_by_case([books.a.id, books.b.id]) == {
        books.a.id: RAISED_A, books.b.id: RAISED_B,
    }
    assert progress[books.a.id].goal == Money(100_000, "JPY")
    assert progress[books.a.id].money_percent == 17


def test_a_usd_gift_is_booked_at_the_configured_rate(books):
    assert current_app.config["TRACKER_EXCHANGE_RATES"]["USD"] == Decimal(150)
    donation = db.session.get(Donation, books.alice_usd.id)
    assert (donation.amount_minor, donation.currency) == (1_000, "USD")
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (1_500, 0, 1_500)
    assert donation.settled_currency == "JPY"
    assert donation.exchange_rate == Decimal(150)
    assert donation.status == "succeeded"
    rows = db.session.execute(sa.text(
        "SELECT kind, amount_minor, currency, original_amount_minor, original_currency"
        " FROM ledger_entries WHERE donation_id = :id"
    ), {"id": donation.id}).all()
    assert [tuple(r) for r in rows] == [("gift", 1_500, "JPY", 1_000, "USD")]


def test_an_offline_gift_is_booked_at_local_noon_of_the_day_received(books):
    entry = db.session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.donation_id == books.alice_jpy.id)
    )
    # 2025-10-01 12:00 in Asia/Tokyo is 03:00 UTC.
    assert as_utc(entry.booked_at) == datetime.fromisoformat("2025-10-01T03:00:00+00:00")


def test_fees_are_booked_but_not_subtracted_from_raised(books):
    fees = db.session.execute(sa.text(
        "SELECT donation_id, amount_minor FROM ledger_entries WHERE kind = 'fee'"
    )).all()
    assert [tuple(r) for r in fees] == [(books.erin.id, FEE_A)]
    everything_on_a = sql_sum("case_id = :id", id=books.a.id)
    assert everything_on_a == RAISED_A + FEE_A
    assert progress_for([books.a])[books.a.id].raised.amount_minor == RAISED_A


def test_a_refund_lowers_raised(books):
    refund = sql_sum("kind = 'refund' AND case_id = :id", id=books.a.id)
    assert refund == -1_000
    gifts = sql_sum("kind = 'gift' AND case_id = :id", id=books.a.id)
    assert gifts == 20_500
    assert gifts + refund - 2_500 == RAISED_A


def test_a_transfer_moves_money_between_cases_and_sums_to_zero(books):
    rows = db.session.execute(sa.text(
        "SELECT case_id, amount_minor, transfer_group FROM ledger_entries"
        " WHERE kind = 'transfer' ORDER BY amount_minor"
    )).all()
    assert [(r[0], r[1]) for r in rows] == [(books.a.id, -2_500), (books.b.id, 2_500)]
    assert rows[0][2] and rows[0][2] == rows[1][2]
    # Across the cases nothing was created or lost by the transfer.
    assert sql_raised(books.a.id) + sql_raised(books.b.id) == RAISED_A + RAISED_B == 21_500
    assert sql_sum("kind IN ('gift', 'refund')") == 20_500 + 2_000 - 1_000


def test_a_general_fund_gift_counts_toward_no_case(books):
    before = {cid: p.raised for cid, p in progress_for([books.a, books.b]).items()}
    general = give(None, 7_000, email="dave@example.org")
    assert general.case_id is None
    after = {cid: p.raised for cid, p in progress_for([books.a, books.b]).items()}
    assert after == before
    assert sql_sum("case_id IS NULL") == 7_000
    assert sql_sum() == RAISED_A + RAISED_B + FEE_A + 7_000
    assert progress_for([books.a])[books.a.id].donors == 4  # dave gave to no case


def test_donors_are_counted_once_per_email(books):
    progress = progress_for([books.a, books.b])
    # A: alice (twice, email typed differently), bob, the anonymous giver, erin.
    assert progress[books.a.id].donors == 4
    assert progress[books.b.id].donors == 1
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(Donor).where(Donor.email == "alice@example.org")
    ) == 1
    assert books.alice_jpy.donor_id == books.alice_usd.donor_id
    # An independent count: distinct donors of succeeded gifts to the case.
    assert db.session.execute(sa.text(
        "SELECT count(DISTINCT donor_id) FROM donations"
        " WHERE case_id = :id AND status = 'succeeded'"
    ), {"id": books.a.id}).scalar_one() == 4


def test_two_anonymous_gifts_are_two_donors(app):
    case = make_case("anon-case", status="fundraising")
    give(case, 1_000)
    give(case, 2_000)
    assert progress_for([case])[case.id].donors == 2


def test_a_case_without_money_has_zero_raised(app):
    case = make_case("empty-case", status="fundraising")
    progress = progress_for([case])[case.id]
    assert progress.raised == Money(0, "JPY")
    assert progress.donors == 0
    assert sql_raised(case.id) == 0


def test_transfers_and_gifts_refuse_nonsense(books):
    with pytest.raises(ValueError, match="positive"):
        book.book_transfer(books.a.id, books.b.id, Money(0, "JPY"))
    unsettled = Donation(case_id=books.a.id, amount_minor=100, currency="JPY")
    db.session.add(unsettled)
    db.session.flush()
    with pytest.raises(ValueError, match="settled"):
        book_gift(unsettled)
    db.session.rollback()


# --- append-only ------------------------------------------------------------------------------


def _ledger_snapshot() -> list[tuple]:
    return [tuple(r) for r in db.session.execute(sa.text(
        "SELECT id, kind, case_id, donation_id, amount_minor, currency, memo"
        " FROM ledger_entries ORDER BY id"
    ))]


def test_a_ledger_entry_cannot_be_updated(books):
    before = _ledger_snapshot()
    entry = db.session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.donation_id == books.bob.id,
                                     LedgerEntry.kind == "gift")
    )
    entry.amount_minor = 30_000
    entry.memo = "fixed it"
    with pytest.raises(LedgerIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert _ledger_snapshot() == before
    assert progress_for([books.a])[books.a.id].raised.amount_minor == RAISED_A


def test_a_ledger_entry_cannot_be_deleted(books):
    before = _ledger_snapshot()
    entry = db.session.scalar(sa.select(LedgerEntry).where(LedgerEntry.kind == "refund"))
    db.session.delete(entry)
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert _ledger_snapshot() == before


# --- progress.json ----------------------------------------------------------------------------


def test_progress_json_has_exactly_the_contract_keys_and_ledger_values(books, client):
    person_a = case_services.add_beneficiary(books.a, public_alias="Mr. Y.", age_band="30-49")
    case_services.add_beneficiary(books.a, public_alias="Ms. K.", age_band="5-11")
    case_services.mark_rescued(person_a, date(2025, 10, 2))
    db.session.commit()

    response = client.get("/cases/case-a/progress.json")
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert set(body) == PROGRESS_KEYS
    assert set(body["goal"]) == set(body["raised"]) == {"amount_minor", "currency"}
    assert body["case"] == "case-a"
    assert body["status"] == "fundraising"
    assert (body["group_size"], body["rescued"]) == (2, 1)
    assert body["goal"] == {"amount_minor": 100_000, "currency": "JPY"}
    assert body["raised"] == {"amount_minor": sql_raised(books.a.id), "currency": "JPY"}
    assert body["raised"]["amount_minor"] == RAISED_A
    assert body["donors"] == 4

    assert body["updated_at"].endswith("Z")
    updated = datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00"))
    last_entry = db.session.scalar(
        sa.select(sa.func.max(LedgerEntry.created_at)).where(LedgerEntry.case_id == books.a.id)
    )
    case = db.session.get(RescueCase, books.a.id)
    assert updated == max(as_utc(last_entry), as_utc(case.updated_at))


def test_progress_json_of_the_receiving_case_reflects_the_transfer(books, client):
    body = client.get("/cases/case-b/progress.json").get_json()
    assert body["raised"] == {"amount_minor": RAISED_B, "currency": "JPY"}
    assert body["donors"] == 1
    assert (body["group_size"], body["rescued"]) == (0, 0)


def test_a_requested_case_is_not_public(app, client):
    make_case("still-private", status=workflow.REQUESTED)
    assert client.get("/cases/still-private/progress.json").status_code == 404
    assert client.get("/cases/still-private").status_code == 404
    assert client.get("/cases/no-such-case/progress.json").status_code == 404


# --- gifts to cases that cannot take them ---------------------------------------------------


@pytest.mark.parametrize("status", [workflow.CLOSED, workflow.REQUESTED])
def test_an_offline_gift_to_a_closed_or_requested_case_is_refused(app, status):
    case = make_case(f"{status}-case", status=status)
    counts = {t: table_count(t) for t in ("donations", "ledger_entries", "donors")}
    gift = donation_services.OfflineGift(
        amount=Money(5_000, "JPY"), channel="bank_transfer", received_on=date(2025, 10, 1),
        donor_name="Late Donor", donor_email="late@example.org",
    )
    with pytest.raises(Conflict) as refused:
        donation_services.record_offline_gift(case, gift)
    assert isinstance(refused.value, DomainError)
    db.session.commit()  # nothing half-written is waiting in the session either
    assert {t: table_count(t) for t in counts} == counts
    assert sql_raised(case.id) == 0


@pytest.mark.parametrize(
    ("amount", "channel", "field"),
    [
        pytest.param(Money(5_000, "JPY"), "card", "channel", id="card-is-not-offline"),
        pytest.param(Money(0, "JPY"), "cash", "amount", id="zero"),
        pytest.param(Money(-5, "JPY"), "cash", "amount", id="negative"),
        pytest.param(Money(500, "GBP"), "cash", "currency", id="no-rate-configured"),
    ],
)
def test_an_invalid_offline_gift_writes_nothing(app, amount, channel, field):
    case = make_case("open-case", status="fundraising")
    counts = {t: table_count(t) for t in ("donations", "ledger_entries", "donors")}
    gift = donation_services.OfflineGift(amount=amount, channel=channel,
                                         received_on=date(2025, 10, 1))
    with pytest.raises(DomainError) as refused:
        donation_services.record_offline_gift(case, gift)
    assert refused.value.field == field
    db.session.commit()
    assert {t: table_count(t) for t in counts} == counts


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_minor = amount_minor * 2",
    "DELETE FROM ledger_entries",
])
def test_the_database_itself_refuses_to_change_or_delete_ledger_entries(app, statement):
    """Append-only holds below the ORM too: bulk statements and raw SQL are refused."""
    case = make_case("guarded-ledger", status="fundraising")
    give(case, 5000, "JPY")
    db.session.commit()
    before = db.session.execute(sa.text("SELECT id, amount_minor FROM ledger_entries")).all()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    after = db.session.execute(sa.text("SELECT id, amount_minor FROM ledger_entries")).all()
    assert after == before and before


@pytest.mark.parametrize(("overrides", "field"), [
    ({"reference": "R" * 121}, "reference"),
    ({"donor_name": "N" * 201}, "donor_name"),
    ({"donor_email": "not-an-email"}, "donor_email"),
])
def test_offline_gift_with_overlong_or_malformed_fields_is_refused_at_the_field(app, overrides, field):
    case = make_case("checked-gifts", status="fundraising")
    gift = donation_services.OfflineGift(
        amount=Money(5000, "JPY"), channel="cash", received_on=date(2025, 10, 1), **overrides
    )
    with pytest.raises(DomainError) as info:
        donation_services.record_offline_gift(case, gift)
    assert info.value.field == field
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Donation)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0
