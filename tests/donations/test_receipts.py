"""Receipts: never-reused numbers, issued once, immutable, and an email with public facts only.

Runs on SQLite and PostgreSQL (the ``app`` fixture is parametrized by backend).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from sqlalchemy.exc import DatabaseError

from tests.factories import give, make_case
from tracker.cases import services as case_services
from tracker.core.errors import Conflict
from tracker.core.money import Money
from tracker.core.time import local_today
from tracker.donations import receipts
from tracker.donations import services as donation_services
from tracker.donations.models import Donation, Receipt
from tracker.extensions import db
from tracker.ledger.models import LedgerIsAppendOnly
from tracker.mail.outbox import OutboxMessage

MARKERS = ("PRIVATE-MARKER-1", "PRIVATE-MARKER-2", "PRIVATE-MARKER-3", "PRIVATE-MARKER-4")


@pytest.fixture
def case(app):
    return make_case("six-survivors", status="fundraising", public_title="Six flood survivors")


def outbox_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_numbers_are_consecutive_and_unique(case):
    gifts = [give(case, 1_000 * (n + 1), email=f"donor{n}@example.org") for n in range(5)]

    numbers = [receipts.issue_receipt(gift).number for gift in gifts]
    db.session.commit()

    assert numbers == ["RT-000001", "RT-000002", "RT-000003", "RT-000004", "RT-000005"]
    stored = db.session.scalars(db.select(Receipt.number).order_by(Receipt.id)).all()
    assert stored == numbers


def test_issuing_twice_returns_the_same_receipt_and_queues_one_email(case):
    gift = give(case, 5_000, email="twice@example.org", name="Aiko")

    first = receipts.issue_receipt(gift)
    db.session.commit()
    second = receipts.issue_receipt(gift)
    db.session.commit()

    assert second.id == first.id and second.number == "RT-000001"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 1
    [message] = outbox_rows()
    assert (message.kind, message.dedupe_key) == ("receipt", "receipt:RT-000001")
    assert message.to_address == "twice@example.org"
    assert message.subject == "Your receipt RT-000001"
    # the next receipt takes the next number: the second call took none
    assert receipts.issue_receipt(give(case, 700)).number == "RT-000002"


def test_receipt_freezes_the_donors_amount_purpose_and_name(case):
    usd = give(case, 5_000, "USD", email="usd@example.org", name="Dana")
    general = give(None, 3_000, name="")

    to_case = receipts.issue_receipt(usd)
    to_fund = receipts.issue_receipt(general)
    db.session.commit()

    assert (to_case.amount_minor, to_case.currency) == (5_000, "USD")  # not the yen settled
    assert to_case.purpose == "Six flood survivors"
    assert to_case.donor_name == "Dana"
    assert to_case.donation_id == usd.id
    assert to_fund.purpose == "General fund"
    assert to_fund.donor_name == ""


def test_a_rolled_back_receipt_is_never_kept_and_committed_numbers_are_never_reused(
    case, backend
):
    first, second, third = (give(case, 1_000, email=f"d{n}@example.org") for n in range(3))

    assert receipts.issue_receipt(first).number == "RT-000001"
    db.session.commit()
    assert receipts.issue_receipt(second).number == "RT-000002"
    db.session.rollback()  # that receipt (and its email) never existed

    # SQLite takes the number back with the rollback; PostgreSQL's sequence skips it (a gap,
    # never a reuse), so concurrent gifts need not wait for each other's commits.
    n = 2 if backend == "sqlite" else 3
    assert receipts.issue_receipt(third).number == f"RT-{n:06d}"
    db.session.commit()
    assert receipts.issue_receipt(second).number == f"RT-{n + 1:06d}"
    db.session.commit()

    issued = db.session.execute(
        sa.select(Receipt.number, Receipt.donation_id).order_by(Receipt.number)
    ).all()
    assert issued == [("RT-000001", first.id), (f"RT-{n:06d}", third.id),
                      (f"RT-{n + 1:06d}", second.id)]
    assert [(m.dedupe_key, m.to_address) for m in outbox_rows()] == [
        ("receipt:RT-000001", "d0@example.org"),
        (f"receipt:RT-{n:06d}", "d2@example.org"),
        (f"receipt:RT-{n + 1:06d}", "d1@example.org"),
    ]


def test_receipt_cannot_be_changed_through_the_orm(case):
    receipt = receipts.issue_receipt(give(case, 5_000))
    db.session.commit()

    receipt.amount_minor = 1
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()

    assert db.session.get(Receipt, receipt.id).amount_minor == 5_000


@pytest.mark.parametrize("statement", [
    "UPDATE receipts SET amount_minor = 1 WHERE id = :id",
    "UPDATE receipts SET number = 'RT-999999' WHERE id = :id",
    "DELETE FROM receipts WHERE id = :id",
])
def test_receipt_cannot_be_changed_or_deleted_by_raw_sql(case, statement):
    receipt_id = receipts.issue_receipt(give(case, 5_000)).id
    db.session.commit()

    with pytest.raises(DatabaseError):
        db.session.execute(sa.text(statement), {"id": receipt_id})
    db.session.rollback()

    row = db.session.execute(
        sa.select(Receipt.number, Receipt.amount_minor).where(Receipt.id == receipt_id)
    ).one()
    assert tuple(row) == ("RT-000001", 5_000)


@pytest.mark.parametrize(("amount", "currency", "formatted"), [
    (5_000, "JPY", "¥5,000"),
    (5_000, "USD", "$50.00"),
])
def test_email_has_the_formatted_amount_and_public_facts_only(app, amount, currency, formatted):
    case = make_case(
        "flood-group", status="fundraising", public_title="Flood survivors appeal",
        public_region="Northeast China", private_notes="PRIVATE-MARKER-1",
        private_contact="PRIVATE-MARKER-4",
    )
    case_services.add_beneficiary(
        case, public_alias="Ms. K.", age_band="0-4",
        private_name="PRIVATE-MARKER-2", private_details="PRIVATE-MARKER-3",
    )
    db.session.commit()
    gift = give(case, amount, currency, email="donor@example.org", name="Kind Donor",
                reference="BANK-REF-77")

    receipt = receipts.issue_receipt(gift)
    db.session.commit()

    [message] = outbox_rows()
    body = message.body_text
    assert body == receipts.receipt_text(receipt)
    assert "Thank you" in body
    assert "Receipt number: RT-000001" in body
    assert f"Amount: {formatted}" in body
    assert "Purpose: Flood survivors appeal" in body
    assert f"Donation reference: {gift.public_id}" in body
    assert f"Date: {format_date(local_today(), format='long', locale='en')}" in body
    assert "TEST MODE" not in body  # an offline gift is real money
    # (the random public id is taken out so it cannot match a marker by chance)
    everything = " ".join([message.subject, message.to_address, body, receipt.purpose]).replace(
        gift.public_id, "")
    # the name typed on this gift is who the receipt is from (issue 18: the donor's name,
    # with 様 in Japanese); nothing else of theirs or of the case's people
    assert "Received from: Kind Donor" in body
    everything = everything.replace("Received from: Kind Donor", "")
    for leaked in (*MARKERS, "Ms. K.", "0-4", "Northeast China", "BANK-REF-77", "Kind Donor"):
        assert leaked not in everything


def test_receipt_date_is_the_issue_date_in_local_time(app, case, monkeypatch):
    monkeypatch.setitem(app.config, "TRACKER_TIMEZONE", "Asia/Tokyo")
    gift = give(case, 5_000)
    # 20:00 UTC on 31 August is already 1 September in Tokyo.
    late = Receipt(number="RT-000123", donation=gift, amount_minor=5_000, currency="JPY",
                   purpose="Six flood survivors", issued_at=datetime(2025, 8, 31, 20, 0, tzinfo=UTC))
    assert "Date: September 1, 2025" in receipts.receipt_text(late)

    issued = receipts.issue_receipt(gift)
    assert f"Date: {format_date(local_today(), format='long', locale='en')}" in (
        receipts.receipt_text(issued)
    )


def test_sandbox_gift_receipt_says_test_mode(case):
    donor = donation_services.find_or_create_donor("sandbox@example.org", "Sam")
    donation = Donation(case_id=case.id, donor=donor, amount_minor=5_000, currency="JPY",
                        channel="card", gateway="sandbox")
    db.session.add(donation)
    db.session.flush()
    donation_services.settle(donation, donation_services.configured_settlement(Money(5_000, "JPY")))

    receipts.issue_receipt(donation)
    db.session.commit()

    [message] = outbox_rows()
    assert "TEST MODE — no money moved." in message.body_text
    assert "Amount: ¥5,000" in message.body_text


def test_donor_without_email_gets_a_receipt_but_no_email(case):
    receipt = receipts.issue_receipt(give(case, 5_000, name="No Email"))
    db.session.commit()

    assert receipt.number == "RT-000001"
    assert receipt.donor_name == "No Email"
    assert outbox_rows() == []


def test_pending_donation_gets_no_receipt(case):
    donation = Donation(case_id=case.id, amount_minor=5_000, currency="JPY", gateway="sandbox")
    db.session.add(donation)
    db.session.flush()

    with pytest.raises(Conflict, match="Only a recorded gift gets a receipt."):
        receipts.issue_receipt(donation)
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 0
    assert outbox_rows() == []
    # no number was used up
    assert receipts.issue_receipt(give(case, 5_000)).number == "RT-000001"
