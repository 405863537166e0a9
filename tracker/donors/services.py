"""A donor's own page: the sign-in link, the donor's session, their gifts and receipts.

Signing in, without a password:

1. ``request_link(email, link_for)``: a donor asks for a link. Whether or not the address is
   a donor's, the caller answers the same; only a known donor who was not anonymized gets a
   link, by email (through the outbox, in the donor's language). The token is random
   (``secrets.token_urlsafe(32)``); only its SHA-256 is stored, for LINK_LIFETIME.
2. ``link_is_open(token)``: opening the link shows a page with a button and changes nothing
   (mail scanners open links to look at them).
3. ``consume_link(token)``: the button signs in. One conditional UPDATE (``used_at IS NULL AND
   expires_at > now``, donor not anonymized) marks the link used, so of two clicks at once
   exactly one signs in; a used, expired or unknown link is refused (LinkNotValid) and
   nothing changes.

The used link's row then stands for the session: ``session_donor`` checks it on every page
(signed out? donor anonymized since?), and ``end_session`` ends it for good.

What a donor sees is read from their donations, their receipts and the ledger: gifts as given
(amount and currency the donor paid), what was refunded or taken back by their bank (in the
same currency), and per fiscal year (cut on the ledger's ``booked_at`` in the NGO's time zone,
like every report) the year's gifts and returns with a total per currency. Different
currencies are never added together. Only the donor's own rows are read, and nothing about a
case beyond its public title.

Every function flushes at most; the caller commits (and mail leaves after the commit).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import delete, func, insert, literal, or_, select, update

from tracker.cases.models import RescueCase
from tracker.core.errors import DomainError
from tracker.core.i18n import current_locale, known, language
from tracker.core.money import Money
from tracker.core.time import (
    as_utc,
    fiscal_year_bounds_utc,
    fiscal_year_dates,
    fiscal_year_of,
    local_zone,
    utcnow,
)
from tracker.core.types import UTCDateTime
from tracker.core.validation import normalize_email
from tracker.donations.models import (
    EXPIRED,
    FAILED,
    FLAGGED,
    PENDING,
    SUCCEEDED,
    Donation,
    Donor,
    Receipt,
)
from tracker.donations.receipts import PRIVATE_CASE, purpose_text
from tracker.donors.models import DonorSignIn
from tracker.extensions import db
from tracker.ledger.models import (
    ADJUSTMENT,
    COVER_DISPUTE_WON,
    COVER_DISPUTED,
    COVER_MOVEMENTS,
    COVER_REFUNDED,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE_COVER,
    GIFT,
    REFUND,
    LedgerEntry,
)
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage
from tracker.organization.identity import current_identity

#: how long a sign-in link works
LINK_LIFETIME = timedelta(minutes=15)
#: links one donor may have waiting at once; asking again sends nothing until one is used or
#: expires (nobody can fill a donor's inbox through the form)
MAX_OPEN_LINKS = 3
#: the outbox kind of the sign-in email
MAIL_KIND = "donor-sign-in"
#: longer than any token we make (43 characters); anything longer is not one of ours
MAX_TOKEN_LENGTH = 100

#: ledger movements of a donor's gift that the donor sees: money given, and money returned
RETURN_KINDS: tuple[str, ...] = (REFUND, DISPUTE, DISPUTE_REVERSAL)
#: a gift's fee cover (what the donor added to pay the card fee) is given too: on the receipt
ANNUAL_KINDS: tuple[str, ...] = (GIFT, FEE_COVER, *RETURN_KINDS, ADJUSTMENT)

#: a gift's status as its donor reads it
STATUS_LABELS = {
    SUCCEEDED: lazy_pgettext("a donor's gift status", "Received"),
    PENDING: _l("Waiting for payment"),
    FAILED: _l("Not completed"),
    EXPIRED: _l("Not completed"),
    FLAGGED: _l("Being checked"),
}
#: what each line of an annual receipt is
LINE_LABELS = {
    GIFT: _l("Gift"),
    FEE_COVER: _l("Payment fee you covered"),
    REFUND: _l("Refund"),
    DISPUTE: _l("Returned by your bank"),
    DISPUTE_REVERSAL: _l("Bank return reversed"),
    ADJUSTMENT: _l("Correction"),
}
#: a fee cover's line when a refund or a dispute moved it (its memo says which)
COVER_LINE_LABELS = {
    COVER_REFUNDED: _l("Payment fee cover refunded"),
    COVER_DISPUTED: _l("Payment fee cover returned by your bank"),
    COVER_DISPUTE_WON: _l("Payment fee cover return reversed"),
}


class LinkNotValid(DomainError):
    """The sign-in link was used already, has expired, or never existed."""

    status_code = 410


def hash_token(token: str) -> str:
    """The hex SHA-256 of a sign-in token: all the database keeps of it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def purpose_label(purpose: str | None, general_fund: bool) -> str:
    """What a gift was for, in the current language: the case's public title, or the general
    fund (receipts store its English name, which is translated: ``receipts.purpose_text``)."""
    return purpose_text(purpose, general_fund)


def _case_title(rescue_case: RescueCase | None) -> str | None:
    """A case's title as a donor may read it, in the current language
    (``RescueCase.text``): only while the case is public; None for the general fund."""
    if rescue_case is None:
        return None
    return rescue_case.text(current_locale()).title if rescue_case.is_public else PRIVATE_CASE


# --- the sign-in link ------------------------------------------------------------------------


def _donor_by_email(email: str) -> Donor | None:
    return db.session.scalar(select(Donor).where(Donor.email == email))


def _dead_links(now: datetime):  # noqa: ANN202 - a SQL condition
    """Links that can no longer open anything: expired unused ones, and sessions that were
    ended or are past TRACKER_SESSION_MAX_HOURS."""
    oldest_session = now - timedelta(hours=current_app.config["TRACKER_SESSION_MAX_HOURS"])
    return or_((DonorSignIn.used_at.is_(None)) & (DonorSignIn.expires_at <= now),
               DonorSignIn.ended_at.is_not(None),
               DonorSignIn.used_at < oldest_session)


def _forget_old_links(donor_id: int, now: datetime) -> None:
    """Delete the donor's links that can no longer open anything."""
    db.session.execute(
        delete(DonorSignIn)
        .where(DonorSignIn.donor_id == donor_id, _dead_links(now))
        .execution_options(synchronize_session=False)
    )


def prune_sign_ins(now: datetime | None = None) -> int:
    """Delete every donor's links and sessions that can no longer open anything (the
    worker does it hourly, so no trace of old sign-ins is kept); how many rows went.
    Flushes; the caller commits."""
    return db.session.execute(
        delete(DonorSignIn).where(_dead_links(now or utcnow()))
        .execution_options(synchronize_session=False)
    ).rowcount


def forget_sign_ins(donor: Donor) -> int:
    """Delete every sign-in link and session of ``donor`` (when they are anonymized): any
    session they had ends, and no trace of when they signed in is kept. How many rows went."""
    return db.session.execute(
        delete(DonorSignIn).where(DonorSignIn.donor_id == donor.id)
        .execution_options(synchronize_session=False)
    ).rowcount


#: where the stand-in email of an unknown address is addressed (RFC 2606: never delivered);
#: it is deleted again in the same transaction, so it is never committed
NOBODY = "nobody@invalid"


def _add_link(donor_id: int, token_hash: str, now: datetime) -> int | None:
    """Store a sign-in link for the live donor ``donor_id`` unless they have MAX_OPEN_LINKS
    waiting: one INSERT ... SELECT, which adds nothing (and returns None) for an unknown or
    anonymized donor, or one with too many links waiting."""
    waiting = (select(func.count()).select_from(DonorSignIn)
               .where(DonorSignIn.donor_id == donor_id, DonorSignIn.used_at.is_(None),
                      DonorSignIn.expires_at > now).scalar_subquery())
    source = (select(Donor.id, literal(token_hash), literal(now, UTCDateTime()),
                     literal(now + LINK_LIFETIME, UTCDateTime()))
              .where(Donor.id == donor_id, Donor.anonymized_at.is_(None), Donor.email.is_not(None),
                     waiting < MAX_OPEN_LINKS))
    return db.session.execute(
        insert(DonorSignIn)
        .from_select(["donor_id", "token_hash", "created_at", "expires_at"], source)
        .returning(DonorSignIn.id)
    ).scalar()


def request_link(email: str, link_for: Callable[[str, str], str]) -> bool:
    """Email a sign-in link to the donor with this address, if there is one.

    ``link_for(token, locale)`` makes the absolute URL of the link, opening in ``locale``.
    Raises DomainError (field "email") for a malformed address; otherwise returns whether a
    link was queued, which the caller must not reveal: a link goes only to a known donor who
    was not anonymized and has fewer than MAX_OPEN_LINKS links waiting. The email is written
    in the donor's language (else the page's) and
    holds the link and plain text only, nothing about their gifts.

    The work is the same whether or not a link goes out, so that the time of the answer does
    not tell whether an address is a donor's: the same statements run (the link's INSERT
    adds no row for an unknown address), an email is written and queued either way, and the
    one for nobody is deleted again before the commit. The mail itself is sent by the outbox,
    never in the request.
    """
    address = normalize_email(email, field="email")
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    now = utcnow()
    donor = _donor_by_email(address)
    donor_id = donor.id if donor is not None else 0
    _forget_old_links(donor_id, now)
    link_id = _add_link(donor_id, token_hash, now)
    sending = link_id is not None and donor is not None and donor.email is not None
    # The donor's language (else the page's they asked on): the mail is written in it and the
    # link carries it (?lang=), so /my/ opens in it whatever the browser that opens the mail says.
    locale = known(donor.locale if sending else None) or current_locale()
    url = link_for(token, locale)
    with language(locale):
        subject = _("Your sign-in link")
        body = sign_in_email(url)
    # Keyed by the hash, not the row id: a deleted row's id may be handed out again (SQLite).
    message = outbox.queue(MAIL_KIND, f"{MAIL_KIND}:{token_hash}",
                           donor.email if sending else NOBODY, subject, body,
                           locale=locale if sending else None)
    # The stand-in goes again (for a real link this deletes nothing).
    db.session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.id == (message.id if message is not None else 0),
               OutboxMessage.to_address == NOBODY)
        .execution_options(synchronize_session=False)
    )
    if not sending and message is not None:
        db.session.expunge(message)
    return sending


def sign_in_email(url: str) -> str:
    """The sign-in email's text in the current language: the link and how to use it."""
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    return "\n\n".join([
        _("Hello,"),
        _("You asked to see your gifts to %(ngo)s. Open this link within %(minutes)d minutes "
          "to sign in:", ngo=current_identity().name(), minutes=minutes),
        url,
        _("The link works once. If you did not ask for it, you can ignore this email: "
          "nothing changes and nobody can sign in without the link."),
        _("Thank you for your support."),
    ]) + "\n"


def _live_link(token: str, now: datetime):  # noqa: ANN202 - a SQL condition
    live_donors = select(Donor.id).where(Donor.anonymized_at.is_(None))
    return ((DonorSignIn.token_hash == hash_token(token)) & DonorSignIn.used_at.is_(None)
            & (DonorSignIn.expires_at > now) & DonorSignIn.donor_id.in_(live_donors))


def _well_formed(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH


def link_is_open(token: str) -> bool:
    """Whether ``token`` would sign in now (unused, not expired, donor not anonymized).
    Reads only: opening a link must not use it."""
    if not _well_formed(token):
        return False
    return db.session.scalar(select(DonorSignIn.id).where(_live_link(token, utcnow()))) is not None


def consume_link(token: str) -> DonorSignIn:
    """Use the link: it is marked used and its row returned, or LinkNotValid is raised and
    nothing changes. One conditional UPDATE decides, so two uses at once sign in once."""
    if not _well_formed(token):
        raise LinkNotValid(_("This link has expired or was already used; ask for a new one."))
    now = utcnow()
    used = db.session.execute(
        update(DonorSignIn).where(_live_link(token, now)).values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise LinkNotValid(_("This link has expired or was already used; ask for a new one."))
    return db.session.scalars(
        select(DonorSignIn).where(DonorSignIn.token_hash == hash_token(token))
        .execution_options(populate_existing=True)
    ).one()


# --- the donor's session ---------------------------------------------------------------------


def session_donor(donor_id: object, sign_in_id: object) -> Donor | None:
    """The donor of a session started by sign-in ``sign_in_id``, or None when that session
    is not (or no longer) valid: signed out, another donor's, or the donor anonymized."""
    if not isinstance(donor_id, int) or not isinstance(sign_in_id, int):
        return None
    row = db.session.execute(
        select(DonorSignIn, Donor).join(Donor, Donor.id == DonorSignIn.donor_id)
        .where(DonorSignIn.id == sign_in_id, DonorSignIn.donor_id == donor_id,
               DonorSignIn.used_at.is_not(None), DonorSignIn.ended_at.is_(None),
               Donor.anonymized_at.is_(None))
    ).first()
    return row[1] if row else None


def end_session(sign_in_id: object) -> None:
    """Sign out: the session started by ``sign_in_id`` ends for every copy of its cookie."""
    if isinstance(sign_in_id, int):
        db.session.execute(
            update(DonorSignIn).where(DonorSignIn.id == sign_in_id, DonorSignIn.ended_at.is_(None))
            .values(ended_at=utcnow()).execution_options(synchronize_session=False)
        )


# --- the donor's gifts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GiftLine:
    """One of the donor's gifts as their page shows it."""

    public_id: str
    #: the day of the gift in the NGO's time zone (received, settled or started)
    day: date
    #: the case's public title, or "" for the general fund
    purpose: str
    general_fund: bool
    #: what the donor gave, in their currency
    amount: Money
    status: str
    #: refunded or taken back by the donor's bank so far, in the gift's currency (positive)
    returned: Money | None
    receipt_number: str | None

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))

    @property
    def purpose_label(self) -> str:
        return purpose_label(self.purpose, self.general_fund)


@dataclass(frozen=True, slots=True)
class DonorPage:
    """Everything on a donor's page. (Monthly gifts will be listed beside ``gifts``; each of
    their payments is a donation like any other and so appears among ``gifts``.)"""

    gifts: list[GiftLine]
    #: fiscal years with money movements, newest first: one annual receipt each
    fiscal_years: list[int]


def _local_day(moment: datetime) -> date:
    return as_utc(moment).astimezone(local_zone()).date()


def _fiscal_year(moment: datetime) -> int:
    return fiscal_year_of(_local_day(moment), current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])


def donor_page(donor: Donor) -> DonorPage:
    """The donor's gifts (newest first) with their refunds and receipts, and the fiscal years
    their annual receipts cover. Reads this donor's rows only."""
    donations = list(db.session.execute(
        select(Donation, RescueCase)
        .outerjoin(RescueCase, RescueCase.id == Donation.case_id)
        .where(Donation.donor_id == donor.id)
        .order_by(Donation.created_at.desc(), Donation.id.desc())
    ).all())
    ids = [d.id for d, _title in donations] or [-1]
    receipts = dict(db.session.execute(
        select(Receipt.donation_id, Receipt.number).where(Receipt.donation_id.in_(ids))
    ).all())
    returned = dict(db.session.execute(
        select(LedgerEntry.donation_id, func.sum(LedgerEntry.original_amount_minor))
        .where(LedgerEntry.donation_id.in_(ids),
               # a refund of a covered gift gives back its fee cover too (a negative fee_cover)
               # (or holds it back with a dispute, and gives it again when the dispute is won)
               db.or_(LedgerEntry.kind.in_(RETURN_KINDS),
                      db.and_(LedgerEntry.kind == FEE_COVER, LedgerEntry.memo.in_(COVER_MOVEMENTS))),
               LedgerEntry.original_amount_minor.is_not(None))
        .group_by(LedgerEntry.donation_id)
    ).all())
    gifts = []
    for donation, rescue_case in donations:
        title = _case_title(rescue_case)
        back = -int(returned.get(donation.id) or 0)
        gifts.append(GiftLine(
            public_id=donation.public_id,
            day=donation.received_on or _local_day(donation.settled_at or donation.created_at),
            purpose=title or "",
            general_fund=donation.case_id is None,
            amount=Money(donation.amount_minor, donation.currency),
            status=donation.status,
            returned=Money(back, donation.currency) if back else None,
            receipt_number=receipts.get(donation.id),
        ))
    booked = db.session.scalars(
        select(LedgerEntry.booked_at).join(Donation, Donation.id == LedgerEntry.donation_id)
        .where(Donation.donor_id == donor.id, LedgerEntry.kind.in_(ANNUAL_KINDS))
    ).all()
    years = sorted({_fiscal_year(moment) for moment in booked}, reverse=True)
    return DonorPage(gifts=gifts, fiscal_years=years)


# --- receipts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    """What a receipt PDF says: the receipt's frozen facts and nothing else."""

    number: str
    donor_name: str
    day: date
    amount: Money
    purpose: str
    general_fund: bool
    test_mode: bool

    @property
    def purpose_label(self) -> str:
        return purpose_label(self.purpose, self.general_fund)


def receipt_of(donor: Donor, number: str) -> ReceiptDocument | None:
    """Receipt ``number`` if it is one of ``donor``'s, else None (also when it exists but is
    someone else's: the caller answers 404 either way)."""
    if not number or len(number) > 32:
        return None
    return _receipt_document(Receipt.number == number, Donation.donor_id == donor.id)


def receipt_of_gift(public_id: str) -> ReceiptDocument | None:
    """The receipt of the gift with this public id, if it has one. The caller decides who may
    see it (the thank-you page: only the browser that gave it)."""
    if not public_id or len(public_id) > 40:
        return None
    return _receipt_document(Donation.public_id == public_id)


def _receipt_document(*conditions) -> ReceiptDocument | None:  # noqa: ANN002 - SQL conditions
    row = db.session.execute(
        select(Receipt, Donation.case_id, Donation.gateway)
        .join(Donation, Donation.id == Receipt.donation_id)
        .where(*conditions)
    ).first()
    if row is None:
        return None
    receipt, case_id, gateway = row
    return ReceiptDocument(
        number=receipt.number, donor_name=receipt.donor_name,
        day=_local_day(receipt.issued_at),
        amount=Money(receipt.amount_minor, receipt.currency), purpose=receipt.purpose,
        general_fund=case_id is None, test_mode=gateway == "sandbox",
    )


@dataclass(frozen=True, slots=True)
class AnnualLine:
    """One money movement on an annual receipt, in the currency the donor gave in."""

    day: date
    kind: str
    receipt_number: str | None
    purpose: str
    general_fund: bool
    #: signed: a gift is positive, a refund negative
    amount: Money

    #: a fee cover's memo: which movement it belongs to (the gift, a refund, a dispute)
    memo: str | None = None

    @property
    def kind_label(self) -> str:
        if self.kind == FEE_COVER and self.memo in COVER_LINE_LABELS:
            return str(COVER_LINE_LABELS[self.memo])
        return str(LINE_LABELS.get(self.kind, self.kind))

    @property
    def purpose_label(self) -> str:
        return purpose_label(self.purpose, self.general_fund)


@dataclass(frozen=True, slots=True)
class AnnualReceipt:
    """A fiscal year of one donor's gifts, with a total per currency."""

    fiscal_year: int
    first_day: date
    last_day: date
    donor_name: str
    lines: list[AnnualLine]
    #: one total per currency, by currency code; currencies are never added together
    totals: list[Money]
    test_mode: bool


def annual_receipt(donor: Donor, fiscal_year: int) -> AnnualReceipt | None:
    """The donor's gifts, refunds, bank returns and corrections booked in ``fiscal_year``
    (as the ledger cuts years: ``booked_at`` in the NGO's time zone), each in the currency
    the donor gave in, with a total per currency. None when the year has none of them (or
    is not a year the calendar can hold: it starts in 1900 to 9998)."""
    if not 1900 <= fiscal_year <= 9998:
        return None
    start_month = current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
    start, end = fiscal_year_bounds_utc(fiscal_year, start_month, local_zone())
    rows = db.session.execute(
        select(LedgerEntry, Donation.case_id, Donation.gateway, RescueCase,
               Receipt.number, Receipt.purpose)
        .join(Donation, Donation.id == LedgerEntry.donation_id)
        .outerjoin(RescueCase, RescueCase.id == Donation.case_id)
        .outerjoin(Receipt, Receipt.donation_id == Donation.id)
        .where(Donation.donor_id == donor.id, LedgerEntry.kind.in_(ANNUAL_KINDS),
               LedgerEntry.booked_at >= start, LedgerEntry.booked_at < end)
        .order_by(LedgerEntry.booked_at, LedgerEntry.id)
    ).all()
    if not rows:
        return None
    lines: list[AnnualLine] = []
    totals: dict[str, int] = {}
    test_mode = False
    for entry, case_id, gateway, rescue_case, number, receipt_purpose in rows:
        title = _case_title(rescue_case)
        if entry.original_currency and entry.original_amount_minor is not None:
            amount = Money(entry.original_amount_minor, entry.original_currency)
        else:  # a correction, booked in the base currency only
            amount = Money(entry.amount_minor, entry.currency)
        totals[amount.currency] = totals.get(amount.currency, 0) + amount.amount_minor
        lines.append(AnnualLine(
            day=_local_day(entry.booked_at), kind=entry.kind, receipt_number=number,
            purpose=receipt_purpose or title or "", general_fund=case_id is None, amount=amount,
            memo=entry.memo if entry.kind == FEE_COVER else None,
        ))
        test_mode = test_mode or gateway == "sandbox"
    first_day, next_start = fiscal_year_dates(fiscal_year, start_month)
    return AnnualReceipt(
        fiscal_year=fiscal_year, first_day=first_day, last_day=next_start - timedelta(days=1),
        # The donor's own stored name (which only they, signed in, can change), never a name
        # typed on one of the gifts: anyone may give with this address and type any name.
        donor_name=donor.name or "", lines=lines,
        totals=[Money(totals[code], code) for code in sorted(totals)], test_mode=test_mode,
    )
