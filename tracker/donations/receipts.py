"""Donation receipts: numbered once (RT-000001, RT-000002 ...), never changed, emailed once.

A receipt and its email are written in the caller's transaction: if the gift is rolled back
the receipt number goes back to the counter and no email leaves (see ``tracker.core.outbox``).

Safety: a receipt carries only the donor's own amount, the case's *public* title and the
donation's opaque public id — never anything from a case's private fields or its people.
"""

from __future__ import annotations

from babel.dates import format_date

from tracker.core import outbox
from tracker.core.counters import next_value
from tracker.core.errors import Conflict
from tracker.core.money import Money, format_money
from tracker.core.time import as_utc, local_zone, utcnow
from tracker.donations.models import SUCCEEDED, Donation, Receipt
from tracker.extensions import db

GENERAL_FUND = "General fund"
NUMBER_FORMAT = "RT-%06d"
TEST_MODE_LINE = "TEST MODE — no money moved."


def receipt_for(donation: Donation) -> Receipt | None:
    """The receipt already issued for ``donation``, if any."""
    return db.session.scalar(db.select(Receipt).where(Receipt.donation_id == donation.id))


def issue_receipt(donation: Donation) -> Receipt:
    """Issue the receipt for a recorded gift, or return the one it already has.

    Flushes, does not commit. When the donor gave an email address, the receipt email is
    queued in the same transaction (at most once per receipt number). Raises Conflict for a
    donation that is not a recorded (succeeded) gift.
    """
    # Lock the donation (PostgreSQL) so two callers — the webhook and the success page —
    # cannot both number a receipt for it; the second waits and then finds the first's.
    status = db.session.scalar(
        db.select(Donation.status).where(Donation.id == donation.id).with_for_update()
    )
    existing = receipt_for(donation)
    if existing is not None:
        return existing
    if status != SUCCEEDED:
        raise Conflict("Only a recorded gift gets a receipt.")

    case = donation.case
    donor = donation.donor
    receipt = Receipt(
        number=NUMBER_FORMAT % next_value("receipt"),
        donation=donation,
        amount_minor=donation.amount_minor,
        currency=donation.currency,
        purpose=(case.public_title if case is not None else "") or GENERAL_FUND,
        donor_name=donation.display_name or (donor.name if donor is not None else "") or "",
        issued_at=utcnow(),
    )
    db.session.add(receipt)
    db.session.flush()

    if donor is not None and donor.email:
        outbox.queue(
            "receipt",
            f"receipt:{receipt.number}",
            donor.email,
            f"Your receipt {receipt.number}",
            receipt_text(receipt),
        )
    return receipt


def receipt_text(receipt: Receipt) -> str:
    """The receipt as plain English text: the email body, and a downloadable receipt.

    Uses only the receipt's frozen fields and the donation's public id and gateway.
    """
    donation = receipt.donation
    issued_on = as_utc(receipt.issued_at).astimezone(local_zone()).date()
    lines = [
        "Thank you for your gift.",
        "",
        f"Receipt number: {receipt.number}",
        f"Date: {format_date(issued_on, format='long', locale='en')}",
        f"Amount: {format_money(Money(receipt.amount_minor, receipt.currency))}",
        f"Purpose: {receipt.purpose}",
        f"Donation reference: {donation.public_id}",
    ]
    if donation.gateway == "sandbox":
        lines += ["", TEST_MODE_LINE]
    lines += ["", "Please keep this receipt for your records."]
    return "\n".join(lines) + "\n"
