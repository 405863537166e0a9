"""Tax receipts (寄附金受領証明書): what a donor in Japan files with their tax return.

Japanese donation deductions are claimed per calendar year, so a tax receipt covers January
to December (the annual receipt per fiscal year, September to August, stays beside it) and is
available from January for the year before. It lists every gift received in the year in yen
(a dollar gift at its settled yen amount, the dollars beside it) less what was returned in
the year, with the date each was received, and carries what a certified NPO's receipt needs:
the organization's legal name, address, representative and certification
(``tracker.organization``), the donor's name with 様 and their address, and the statement
that the money was received as a donation for the organization's specified non-profit
activities. The signed-in donor sets the addressee (name, its reading in katakana, postal
code and address) on their page: never a name typed on a gift, which anyone could type.

Each issue is recorded (``TaxReceipt``); from the second on, the receipt says it is a reissue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import current_app
from sqlalchemy import select

from tracker.core.money import Money
from tracker.core.time import as_utc, local_today, local_zone, utcnow
from tracker.donations.addressee import check_addressee
from tracker.donations.models import Donation, Donor
from tracker.donors.models import TaxReceipt
from tracker.extensions import db
from tracker.ledger.models import (
    ADJUSTMENT,
    COVER_MOVEMENTS,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE_COVER,
    GIFT,
    REFUND,
    LedgerEntry,
)
from tracker.monthly.models import RecurringGift

#: what a tax receipt counts: gifts, less what went back (refunds, disputes), and corrections.
#: What a donor added to cover the card fee was given to the organization too: it is on the
#: gift's line, and its share of a refund or dispute is returned with the gift's.
TAX_KINDS = (GIFT, FEE_COVER, REFUND, DISPUTE, DISPUTE_REVERSAL, ADJUSTMENT)
NUMBER_FORMAT = "TR-%d-%06d"


@dataclass(frozen=True, slots=True)
class Addressee:
    name: str
    kana: str
    postal_code: str
    address: str

    @property
    def complete(self) -> bool:
        return bool(self.name and self.postal_code and self.address)


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One money movement of the year: the day it was received (or returned) and its yen."""

    day: date
    kind: str
    amount: Money
    #: the amount as given when it was another currency (a dollar gift), else None
    original: Money | None


@dataclass(frozen=True, slots=True)
class TaxReceiptDocument:
    year: int
    number: str
    addressee: Addressee
    lines: list[TaxLine]
    total: Money
    issued_on: date
    #: the day it was first issued, when this copy is a reissue
    reissue_of: date | None
    test_mode: bool


def addressee_of(donor: Donor) -> Addressee:
    return Addressee(donor.tax_name, donor.tax_kana, donor.tax_postal_code, donor.tax_address)


def suggested_addressee(donor: Donor) -> Addressee | None:
    """For a donor who has not set their addressee yet: the one typed on their newest gift (or
    monthly gift) that asked for a tax receipt, to fill in the form on their page. Only a
    suggestion: it is stored only when the donor presses save (anyone can type any name on a
    gift with someone's email)."""
    if donor.tax_name:
        return None
    newest = None
    for model in (Donation, RecurringGift):
        row = db.session.scalars(
            select(model).where(model.donor_id == donor.id, model.tax_receipt_requested.is_(True))
            .order_by(model.created_at.desc(), model.id.desc()).limit(1)).first()
        if row is not None and (newest is None or as_utc(row.created_at) > as_utc(newest.created_at)):
            newest = row
    if newest is None:
        return None
    return Addressee(newest.receipt_name or "", newest.receipt_kana or "",
                     newest.receipt_postal_code or "", newest.receipt_address or "")


def set_addressee(donor: Donor, name: str, kana: str, postal_code: str, address: str) -> Addressee:
    """Check and store who the donor's tax receipts are addressed to (flushes). DomainError
    (with the field) for a missing name or address, a reading not in katakana or a postal
    code that is not seven digits."""
    name, kana, postal_code, address = check_addressee(name, kana, postal_code, address)
    donor.tax_name, donor.tax_kana, donor.tax_address = name, kana, address
    donor.tax_postal_code = postal_code
    db.session.flush()
    return addressee_of(donor)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    zone = local_zone()
    return (datetime(year, 1, 1, tzinfo=zone).astimezone(UTC),
            datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC))


def tax_years(donor: Donor, today: date | None = None) -> list[int]:
    """Calendar years before this one in which the donor gave (newest first): each has a
    tax receipt. This year's comes in January."""
    today = today or local_today()
    booked = db.session.scalars(
        select(LedgerEntry.booked_at).join(Donation, Donation.id == LedgerEntry.donation_id)
        .where(Donation.donor_id == donor.id, LedgerEntry.kind == GIFT)
    ).all()
    years = {as_utc(moment).astimezone(local_zone()).year for moment in booked}
    return sorted((y for y in years if y < today.year), reverse=True)


def tax_receipt(donor: Donor, year: int, *, today: date | None = None,
                issue: bool = True) -> TaxReceiptDocument | None:
    """The donor's tax receipt for calendar ``year``, or None when there is none to give: the
    year is not over, or nothing was given in it (or less was kept than was returned). With
    ``issue`` the issue is recorded (the caller commits)."""
    today = today or local_today()
    if not 1900 <= year < today.year:
        return None
    start, end = _year_bounds(year)
    rows = db.session.execute(
        select(LedgerEntry, Donation.gateway)
        .join(Donation, Donation.id == LedgerEntry.donation_id)
        .where(Donation.donor_id == donor.id, LedgerEntry.kind.in_(TAX_KINDS),
               LedgerEntry.booked_at >= start, LedgerEntry.booked_at < end)
        .order_by(LedgerEntry.booked_at, LedgerEntry.id)
    ).all()
    if not any(entry.kind == GIFT for entry, _gateway in rows):
        return None
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    lines: list[TaxLine] = []
    # a fee cover (what the donor added to pay the card fee) goes on the line of the movement
    # it belongs to: the gift's own cover on the gift's line, a refund's or a dispute's share
    # on that refund's or dispute's line (same reference; a won dispute's under "<ref>:won")
    movement_lines: dict[tuple[int | None, str], int] = {}
    total, test_mode = 0, False
    for entry, gateway in rows:
        if entry.currency != base:
            continue  # never: the ledger books in the base currency
        original = None
        if entry.original_currency and entry.original_currency != base and entry.original_amount_minor:
            original = Money(entry.original_amount_minor, entry.original_currency)
        total += entry.amount_minor
        if entry.kind == FEE_COVER:
            key = (entry.donation_id,
                   entry.gateway_ref or "" if entry.memo in COVER_MOVEMENTS else GIFT)
            at = movement_lines.get(key)
            if at is not None:
                line = lines[at]
                joined = line.original + original if line.original and original else line.original
                lines[at] = TaxLine(day=line.day, kind=line.kind, original=joined,
                                    amount=line.amount + Money(entry.amount_minor, base))
                continue
        elif entry.kind == GIFT:
            movement_lines[(entry.donation_id, GIFT)] = len(lines)
        elif entry.kind == DISPUTE_REVERSAL:
            movement_lines[(entry.donation_id, f"{entry.gateway_ref}:won")] = len(lines)
        elif entry.gateway_ref:
            movement_lines[(entry.donation_id, entry.gateway_ref)] = len(lines)
        lines.append(TaxLine(day=as_utc(entry.booked_at).astimezone(local_zone()).date(),
                             kind=entry.kind, amount=Money(entry.amount_minor, base),
                             original=original))
        test_mode = test_mode or gateway == "sandbox"
    if total <= 0:
        return None
    reissue_of = None
    if issue:
        record = db.session.scalar(select(TaxReceipt).where(
            TaxReceipt.donor_id == donor.id, TaxReceipt.year == year).with_for_update())
        now = utcnow()
        if record is None:
            db.session.add(TaxReceipt(donor_id=donor.id, year=year, first_issued_at=now,
                                      last_issued_at=now, issues=1))
        else:
            record.issues += 1
            record.last_issued_at = now
            reissue_of = as_utc(record.first_issued_at).astimezone(local_zone()).date()
        db.session.flush()
    return TaxReceiptDocument(
        year=year, number=NUMBER_FORMAT % (year, donor.id), addressee=addressee_of(donor),
        lines=lines, total=Money(total, base), issued_on=today, reissue_of=reissue_of,
        test_mode=test_mode)
