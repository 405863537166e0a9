"""Donation rules that do not depend on a gateway: donors, settlement, offline gifts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tracker import audit
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.database import upsert_insert
from tracker.core.errors import Conflict, DomainError
from tracker.core.locks import lock_row
from tracker.core.money import (
    Money,
    MoneyError,
    Settlement,
    check_gateway_limits,
    percent_up,
    settle_at_rate,
)
from tracker.core.time import local_zone, utcnow
from tracker.core.validation import check_length, check_staff_amount, email_key, normalize_email
from tracker.donations.addressee import check_addressee
from tracker.donations.models import (
    FAILED,
    MESSAGE_APPROVED,
    MESSAGE_NONE,
    MESSAGE_WAITING,
    SUCCEEDED,
    Donation,
    Donor,
    PresetNote,
)
from tracker.extensions import db
from tracker.ledger import book
from tracker.ledger.models import LedgerEntry


def configured_settlement(amount: Money, fee_minor: int = 0) -> Settlement:
    """Settle at the configured rate (sandbox and offline gifts; Stripe reports its own)."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    rates: dict[str, Decimal] = current_app.config["TRACKER_EXCHANGE_RATES"]
    if amount.currency not in rates:
        raise DomainError(
            _("No exchange rate to %(base)s is configured for %(currency)s "
              "(set TRACKER_EXCHANGE_RATES).", base=base, currency=amount.currency),
            field="currency",
        )
    return settle_at_rate(amount, base, rates[amount.currency], fee_minor=fee_minor)


def find_or_create_donor(email: str | None, name: str = "") -> Donor:
    """One donor per email address; a gift without an email gets a donor of its own.

    A new donor row gets ``name``; an existing donor's stored data is never changed here
    (whoever types an address is not necessarily its owner, see ``prepare_donor``).

    Two first gifts from one new address can arrive at the same moment: the row is inserted
    with ON CONFLICT DO NOTHING (on both engines), so the second waits for the first and then
    finds its row, where a plain INSERT would fail on the UNIQUE email (a 500 to a donor).
    """
    return _find_or_create_donor(email, name)[0]


def _find_or_create_donor(email: str | None, name: str = "") -> tuple[Donor, bool]:
    """(the donor, whether this call created the row)."""
    email = email_key(email) if email else None
    if not email:
        donor = Donor(email=None, name=name)
        db.session.add(donor)
        db.session.flush()
        return donor, True
    donor = db.session.scalar(db.select(Donor).where(Donor.email == email))
    if donor is not None:
        return donor, False
    created = db.session.execute(upsert_insert(Donor).values(email=email, name=name)
                                 .on_conflict_do_nothing(index_elements=[Donor.email])
                                 .returning(Donor.id)).scalar() is not None
    donor = db.session.scalars(
        db.select(Donor).where(Donor.email == email).execution_options(populate_existing=True)
    ).one()
    return donor, created


def settle(donation: Donation, settlement: Settlement, *, settled_at: datetime | None = None) -> None:
    """Mark a pending donation succeeded with its settlement and book it on the ledger."""
    if donation.status == SUCCEEDED:
        raise Conflict(_("This donation is already recorded."))
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    if settlement.gross.currency != base or settlement.fee.currency != base:
        raise DomainError(_("Settlements are in the base currency, %(base)s.", base=base))
    donation.settled_currency = base
    donation.gross_minor = settlement.gross.amount_minor
    donation.fee_minor = settlement.fee.amount_minor
    donation.net_minor = settlement.net.amount_minor
    donation.exchange_rate = settlement.rate
    donation.settled_at = settled_at or utcnow()
    donation.status = SUCCEEDED
    db.session.flush()
    book_gift(donation)


def book_gift(donation: Donation, *, booked_at: datetime | None = None) -> list[LedgerEntry]:
    """Write a settled donation's gift (and fee) on the ledger, booked at ``booked_at``, else
    when it settled, else now; returns the entries (flushed)."""
    if donation.gross_minor is None or donation.settled_currency is None:
        raise ValueError("a donation must be settled before it is booked")
    base = donation.settled_currency
    gross, given = donation.gross_minor, donation.amount_minor
    cover = cover_given = None
    if donation.fee_cover_minor:
        # the fee cover's share of what settled, rounded down: the gift's part takes the rest,
        # so the two entries add up to the gross exactly
        cover_minor = gross * donation.fee_cover_minor // donation.amount_minor
        if cover_minor:
            cover = Money(cover_minor, base)
            cover_given = Money(donation.fee_cover_minor, donation.currency)
            gross -= cover_minor
            given -= donation.fee_cover_minor
    return book.book_gift(
        donation_id=donation.id, case_id=donation.case_id, public_id=donation.public_id,
        gross=Money(gross, base), fee=Money(donation.fee_minor or 0, base),
        given=Money(given, donation.currency), cover=cover, cover_given=cover_given,
        booked_at=booked_at or donation.settled_at or utcnow(),
    )


@dataclass(frozen=True, slots=True)
class OfflineGift:
    """A bank transfer or cash gift typed in by staff."""

    amount: Money
    channel: str
    received_on: date
    donor_name: str = ""
    donor_email: str | None = None
    reference: str = ""


def check_offline_gift(case: RescueCase | None, gift: OfflineGift) -> tuple[str | None, Settlement]:
    """Every check ``record_offline_gift`` makes, writing nothing (so a confirmation page can
    be shown only for a gift that will be recorded): the donor's normalized email and the
    settlement; DomainError at a field or Conflict otherwise."""
    if gift.channel not in ("bank_transfer", "cash"):
        raise DomainError(_("Offline gifts are bank transfers or cash."), field="channel")
    if gift.amount.amount_minor <= 0:
        raise DomainError(_("Enter an amount greater than zero."), field="amount")
    check_staff_amount(gift.amount, maximum=current_app.config["TRACKER_MAX_GIFT_MINOR"])
    check_length(gift.reference, 120, "reference", _l("reference"))
    check_length(gift.donor_name, 200, "donor_name", _l("donor's name"))
    email = normalize_email(gift.donor_email, field="donor_email") if gift.donor_email else None
    if case is not None and case.status in (workflow.CLOSED, workflow.REQUESTED):
        raise Conflict(_("Gifts cannot be booked to a case that is %(status)s.",
                         status=str(case.status_label).lower()))
    try:
        return email, configured_settlement(gift.amount)
    except MoneyError as exc:
        raise DomainError(exc.reason, field="amount") from None


def record_offline_gift(case: RescueCase | None, gift: OfflineGift) -> Donation:
    """Record a bank transfer or cash gift as a settled donation with its ledger entries."""
    email, settlement = check_offline_gift(case, gift)
    donor = find_or_create_donor(email, gift.donor_name)
    donation = Donation(
        case_id=case.id if case else None, donor=donor,
        amount_minor=gift.amount.amount_minor, currency=gift.amount.currency,
        channel=gift.channel, gateway="offline", received_on=gift.received_on,
        reference=gift.reference or None, display_name=gift.donor_name[:80],
        receipt_name=gift.donor_name.strip() or None,
    )
    db.session.add(donation)
    db.session.flush()
    # Book at local noon of the day received: safely inside that day (and its fiscal year).
    settled_at = datetime.combine(gift.received_on, time(12, 0), local_zone())
    settle(donation, settlement, settled_at=settled_at)
    audit.record("donation.offline", donation, case_id=donation.case_id,
                 after={"amount": str(gift.amount), "channel": gift.channel,
                        "received_on": gift.received_on.isoformat()})
    return donation


# --- online gifts ----------------------------------------------------------------------------

#: preset amounts offered on the donation form, in minor units per currency
PRESETS: dict[str, tuple[int, ...]] = {
    "JPY": (3_000, 5_000, 10_000, 30_000),
    "USD": (2_500, 5_000, 10_000, 25_000),
    "EUR": (2_500, 5_000, 10_000, 25_000),
}


@dataclass(frozen=True, slots=True)
class GiftInput:
    """What a donor typed on the donation form, already parsed."""

    amount: Money
    name: str = ""
    email: str | None = None
    message: str = ""
    #: "name" (show my name on the wall), "anonymous" (list me as Anonymous) or "hidden"
    wall: str = "anonymous"
    wants_updates: bool = False
    #: the language the donor gave in ("en"/"ja"; their receipt is written in it), or None
    locale: str | None = None
    #: the donor signed in on this browser (their own page), if any: only they may change
    #: what is stored about themselves by giving
    signed_in_donor_id: int | None = None
    #: "Cover the card fee": the checkout charges the gift plus ``card_fee_cover(amount)``
    cover_fee: bool = False
    #: "I need a tax receipt (寄附金受領証明書)": then the receipt's addressee as typed (the
    #: name is ``receipt_name``), checked by ``tax_receipt_fields``
    tax_receipt: bool = False
    receipt_name: str = ""
    receipt_kana: str = ""
    receipt_postal_code: str = ""
    receipt_address: str = ""


def tax_receipt_fields(gift: GiftInput) -> dict[str, Any]:
    """The columns a gift (or monthly gift) stores about its tax receipt: when the donor asked
    for one, the addressee checked as the donor's page checks it (a DomainError at the give
    form's field otherwise) and an email, which their page (where the tax receipt is
    downloaded) needs to sign in; when not, nothing (whatever the hidden fields held)."""
    if not gift.tax_receipt:
        return {"tax_receipt_requested": None, "receipt_name": gift.name.strip() or None,
                "receipt_kana": None, "receipt_postal_code": None, "receipt_address": None}
    name, kana, postal_code, address = check_addressee(
        gift.receipt_name, gift.receipt_kana, gift.receipt_postal_code, gift.receipt_address,
        prefix="receipt_")
    if not (gift.email or "").strip():
        raise DomainError(_("Give your email address: your tax receipt is downloaded from "
                            "your page, which you sign in to by email."), field="email")
    return {"tax_receipt_requested": True, "receipt_name": name, "receipt_kana": kana or None,
            "receipt_postal_code": postal_code, "receipt_address": address}


def card_fee_cover(amount: Money) -> Money:
    """What "Cover the card fee" adds to a gift of ``amount``: TRACKER_CARD_FEE_PERCENT of it,
    rounded up to a whole minor unit (¥30,000 → ¥1,080; $10.50 → $0.38), plus the fixed fee
    of its currency (TRACKER_CARD_FEE_FIXED, none by default)."""
    config = current_app.config
    fee = percent_up(amount, config["TRACKER_CARD_FEE_PERCENT"])
    return fee + Money(config["TRACKER_CARD_FEE_FIXED"].get(amount.currency, 0), amount.currency)


WALL_CHOICES = ("name", "anonymous", "hidden")


#: the longest note on a preset (a short sentence: "pays a guide for one person")
PRESET_NOTE_LENGTH = 120


def save_preset_notes(case: RescueCase, notes: dict[tuple[str, int], tuple[str, str]]) -> int:
    """Set what each preset amount of ``case`` pays for: {(currency, amount_minor): (English,
    Japanese)}; empty text removes a note. Only the configured presets may carry one. Audited;
    the case's public pages change (``updated_at``). Returns how many notes changed."""
    offered = {(c, m) for c in current_app.config["TRACKER_CURRENCIES"] for m in PRESETS.get(c, ())}
    for key, (en, ja) in notes.items():
        if key not in offered:
            raise DomainError(_("That amount is not one of the form's presets."), field="notes")
        for text in (en, ja):
            if _has_control_characters(text):
                raise DomainError(_("Remove the control characters from the text."), field="notes")
            check_length(text, PRESET_NOTE_LENGTH, "notes", _l("note"))
    existing = {(row.currency, row.amount_minor): row for row in db.session.scalars(
        db.select(PresetNote).where(PresetNote.case_id == case.id))}
    changed: dict[str, list[str]] = {}
    for (currency, minor), (en, ja) in notes.items():
        en, ja = en.strip(), ja.strip()
        row = existing.get((currency, minor))
        if row is None and (en or ja):
            db.session.add(PresetNote(case_id=case.id, currency=currency, amount_minor=minor,
                                      text_en=en, text_ja=ja))
        elif row is not None and not (en or ja):
            db.session.delete(row)
        elif row is not None and (row.text_en, row.text_ja) != (en, ja):
            row.text_en, row.text_ja = en, ja
        else:
            continue
        changed[f"{currency} {minor}"] = [en, ja]
    if changed:
        case.updated_at = utcnow()
        db.session.flush()
        audit.record("case.preset_notes", case, case_id=case.id, after=changed)
    return len(changed)


def _has_control_characters(text: str) -> bool:
    """A note is one line: no control characters at all (newlines and tabs included)."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


class ShownNote(NamedTuple):
    """A preset's note as the form shows it, and the language it is written in (the page's,
    or the other one's when staff wrote none in the page's: the form marks it with ``lang``)."""

    text: str
    language: str


def preset_notes(case_id: int, locale: str) -> dict[tuple[str, int], ShownNote]:
    """What each preset amount of a case pays for, in ``locale`` (else the other language):
    {(currency, amount_minor): ShownNote}, only the ones staff have written."""
    rows = db.session.scalars(db.select(PresetNote).where(PresetNote.case_id == case_id))
    notes = {}
    for row in rows:
        if text := row.text(locale):
            own = row.text_ja if locale == "ja" else row.text_en
            language = locale if own else ("en" if locale == "ja" else "ja")
            notes[(row.currency, row.amount_minor)] = ShownNote(text, language)
    return notes


def accepts_gifts(case: RescueCase | None) -> bool:
    """Whether donors may give to this case now (None is the general fund, always open)."""
    return case is None or case.status in workflow.OPEN_STATUSES


def prepare_donor(case: RescueCase | None, gift: GiftInput) -> Donor:
    """Check a gift from the form (currency, the gateway's limits, the case taking gifts, the
    lengths and the wall choice) and return its donor, found by email or new.

    Anyone may type any address, so a gift links to the donor with that address but changes
    nothing stored about them (name, language) unless that donor is the one signed in; a new
    donor starts with what this gift says. What the gift itself says (its wall name, message,
    language) stays on the gift, and its receipt uses that, never the stored donor's name.
    """
    config = current_app.config
    if gift.amount.currency not in config["TRACKER_CURRENCIES"]:
        raise DomainError(_("We take gifts in %(currencies)s.",
                            currencies=", ".join(config["TRACKER_CURRENCIES"])),
                          field="currency")
    check_gateway_limits(gift.amount, maximum_minor=config["TRACKER_MAX_GIFT_MINOR"])
    if not accepts_gifts(case):
        raise Conflict(_("This case is not taking gifts now; please give to the general fund."))
    check_length(gift.name, 80, "name", _l("name"))
    check_length(gift.message, 500, "message", _l("message"))
    if gift.wall not in WALL_CHOICES:
        raise DomainError(_("Choose how you appear on the donor wall."), field="wall")
    if gift.wall == "name" and not gift.name.strip():
        raise DomainError(_("Give the name to show on the wall, or choose Anonymous."), field="name")
    email = normalize_email(gift.email, field="email") if gift.email else None
    donor, created = _find_or_create_donor(email, gift.name.strip())
    own = created or (gift.signed_in_donor_id is not None and gift.signed_in_donor_id == donor.id)
    if own and gift.locale:
        donor.locale = gift.locale  # the language of the donor's latest gift
    if own and not created and gift.name.strip():
        donor.name = gift.name.strip()
    return donor


def start_donation(case: RescueCase | None, gift: GiftInput, gateway_name: str) -> Donation:
    """Create a pending card donation after checking the amount against the gateway's limits.

    Nothing is sent anywhere here; the caller asks the gateway for a checkout afterwards.
    """
    tax_fields = tax_receipt_fields(gift)
    donor = prepare_donor(case, gift)
    cover = card_fee_cover(gift.amount) if gift.cover_fee else Money(0, gift.amount.currency)
    if cover.amount_minor:
        # the whole charge stays within the gateway's limits too
        check_gateway_limits(gift.amount + cover,
                             maximum_minor=current_app.config["TRACKER_MAX_GIFT_MINOR"])
    donation = Donation(
        case_id=case.id if case else None, donor=donor,
        amount_minor=gift.amount.amount_minor + cover.amount_minor, currency=gift.amount.currency,
        fee_cover_minor=cover.amount_minor,
        channel="card", gateway=gateway_name, status="pending",
        display_name=gift.name.strip() if gift.wall == "name" else "",
        show_on_wall=gift.wall != "hidden",
        message=gift.message.strip(), wants_updates=gift.wants_updates and donor.email is not None,
        # a message waits for staff before the public wall shows it (tracker.donations.messages)
        message_status=MESSAGE_WAITING if gift.message.strip() else MESSAGE_NONE,
        locale=gift.locale, **tax_fields,
    )
    db.session.add(donation)
    db.session.flush()
    return donation


def checkout_started(donation_id: int, session_id: str) -> None:
    """Remember the gateway's checkout session of a pending gift."""
    donation = db.session.get(Donation, donation_id)
    donation.gateway_session_id = session_id
    db.session.flush()


def checkout_failed(donation_id: int) -> None:
    """The gateway did not open a checkout for a pending gift: it failed, nothing was charged."""
    donation = db.session.get(Donation, donation_id)
    donation.status = FAILED
    db.session.flush()


def lock_donation(public_id: str) -> Donation | None:
    """Load a donation and hold its row until commit, so concurrent recorders serialize."""
    return lock_row(Donation, Donation.public_id == public_id, touch=Donation.status)


def wall(case: RescueCase, limit: int = 20) -> list[tuple[str, str, datetime]]:
    """The donor wall: (name or "Anonymous", message, when) for succeeded gifts, newest first.

    Donors who chose to be hidden are not listed at all. A message is shown only once staff
    approved it; until then (or when staff hid it) the entry shows the name alone. The message
    condition is in the selected column, not the WHERE clause, so the query still walks
    ``ix_donations_case_status_settled`` and stops at ``limit``.
    """
    approved_message = db.case((Donation.message_status == MESSAGE_APPROVED, Donation.message),
                               else_="")
    rows = db.session.execute(
        db.select(Donation.display_name, approved_message, Donation.settled_at)
        .where(Donation.case_id == case.id, Donation.status == SUCCEEDED,
               Donation.show_on_wall.is_(True))
        .order_by(Donation.settled_at.desc()).limit(limit)
    )
    anonymous = _("Anonymous")
    return [(name or anonymous, message, when) for name, message, when in rows]
