"""Donor privacy: give a donor everything we hold about them, or anonymize them.

``export_donor`` gathers one donor's data: their donor row, each of their gifts (with its
receipt and ledger movements, never a staff memo), the emails the outbox holds for them and
the personal data the payment gateway reported in its events. Cases appear only as the public
pages show them (slug and public title); nothing about another donor is read.

``anonymize_donor`` removes the personal data and keeps the accounts: amounts, currencies,
dates, statuses, gateway ids and every ledger entry stay exactly as they were, and so does
the donor row (with ``anonymized_at`` set), so totals, reports and rollups do not move.
What is redacted, table by table:

* ``donors``: email (NULL, so the address is free for a new donor row), name, locale;
* ``donations``: display_name, receipt_name, message, locale and wants_updates of every gift,
  and what it said about a tax receipt (asked or not, the reading, postal code and address);
  the donor's name or email where staff typed it into a bank reference or a flag reason;
* ``recurring_gifts``: display_name, receipt_name, locale and the tax-receipt columns of every
  monthly gift (each
  month's gift is copied from them). A monthly gift that is not cancelled refuses the whole
  anonymization (``MonthlyGiftsLive``): the gateway must stop taking money first, see
  ``tracker.donors.anonymize``, which cancels them and then calls ``anonymize_donor``;
* ``donor_sign_ins``: every sign-in link and session of the donor is deleted (by
  ``tracker.donors.anonymize``, through ``tracker.donors.services.forget_sign_ins``);
* ``receipts``: a donor_name becomes "Anonymized donor" (number, amount, purpose and date stay);
* ``rescue_cases``: updated_at of a case whose public donor wall showed the donor's name or
  message is bumped, so cached public pages are rendered again (nothing is removed);
* ``outbox_messages``: unsent mail to the donor is deleted; sent mail keeps its kind, subject
  and dates, loses its address, body and extra headers (an unsubscribe link);
* ``payment_events``: the gateway's personal fields (customer and billing details, emails,
  phone, address, card details, receipt URL) in the stored payloads of the donor's payments;
* ``case_follows``: every follow of the donor's address is deleted (``tracker.cases.follows``);
* ``audit_entries``: the donor's name and email in the before/after data of entries about the
  donor, their gifts or their monthly gifts (and the email in any other entry but a staff
  user's own), and the client address of such entries that no staff member made (the
  donor's own browser).

What each erased column holds afterwards is ``ERASED`` (table -> column -> value);
``tests/donations/test_personal_columns.py`` classifies every column of the donor's tables
and fails when a new one is neither erased here nor declared not personal.

Receipts are immutable by database triggers; since migration 0007 the UPDATE trigger lets
exactly one change through: ``donor_name`` becoming ANONYMIZED_NAME with every other column
as it was (see ``_redact_receipts``).

Left as they are: ledger memos (append-only; the ones naming the donor are counted and staff
told), a staff account with the same email (``users`` and its own audit entries), mail files
already written to disk or sent, and what the payment gateway itself keeps. A redacted
payment event no longer matches its gateway signature; it was verified when it arrived.

Both functions flush and leave the commit to their caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from tracker import audit
from tracker.audit import AuditEntry
from tracker.cases import follows
from tracker.cases.models import RescueCase
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.locks import lock_row
from tracker.core.time import as_utc, utcnow
from tracker.donations.models import Donation, Donor, Pledge, Receipt
from tracker.donations.receipts import ANONYMIZED_NAME, receipt_text
from tracker.extensions import db
from tracker.ledger import reads
from tracker.ledger.models import LedgerEntry
from tracker.mail.outbox import OutboxMessage
from tracker.monthly.models import CANCELED, RecurringGift
from tracker.payments.models import PaymentEvent

EXPORT_FORMAT = "rescue-tracker/donor-export/1"
#: what an anonymized receipt says instead of the donor's name
#: what replaces the donor's name or email inside free text
REDACTED = "[redacted]"
#: the address of a sent email once its recipient is anonymized (RFC 2606: never delivered)
ANONYMIZED_ADDRESS = "anonymized@invalid"
ANONYMIZED_BODY = "[Removed when the recipient was anonymized.]"
#: a gift's tax-receipt addressee (and whether one was asked for: it says the donor files
#: taxes in Japan)
TAX_RECEIPT_ERASED: dict[str, Any] = {"tax_receipt_requested": None, "receipt_kana": None,
                                      "receipt_postal_code": None, "receipt_address": None}
#: what each erased column of a donor's rows holds once they are anonymized
ERASED: dict[str, dict[str, Any]] = {
    "donors": {"email": None, "name": "", "locale": None, "tax_name": "", "tax_kana": "",
               "tax_postal_code": "", "tax_address": ""},
    "donations": {"display_name": "", "receipt_name": None, "message": "", "locale": None,
                  "wants_updates": False, **TAX_RECEIPT_ERASED},
    "recurring_gifts": {"display_name": "", "receipt_name": None, "locale": None,
                        **TAX_RECEIPT_ERASED},
    "pledges": {"email": None, "name": "", "locale": None},
}
REASON_MIN, REASON_MAX = 10, 500
#: a name shorter than this is not searched for inside free text; nor is a word of a name
#: shorter than MIN_WORD
MIN_TERM, MIN_WORD = 2, 3

#: keys of a gateway object that hold a person's data (Stripe: Checkout Session, Charge,
#: PaymentIntent); their values are exported and then removed, ids and amounts stay
PERSONAL_KEYS = frozenset({
    "customer_details", "customer_email", "billing_details", "receipt_email", "shipping",
    "shipping_details", "collected_information", "custom_fields", "payment_method_details",
    "receipt_url", "email", "name", "phone", "address",
    # an Invoice's copy of its customer
    "customer_name", "customer_address", "customer_phone", "customer_shipping",
    "customer_tax_ids",
})

# --- export ----------------------------------------------------------------------------------


def _when(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat()


def _case(donation: Donation | RecurringGift) -> dict[str, Any] | None:
    """The case as its public page shows it; None is the general fund."""
    return _public_case_of(donation.case)


def _public_case(case_id: int) -> dict[str, Any] | None:
    """The case with this id as its public page shows it."""
    return _public_case_of(db.session.get(RescueCase, case_id))


def _public_case_of(case: RescueCase | None) -> dict[str, Any] | None:
    if case is None:
        return None
    if not case.is_public:
        return {"slug": None, "title": "A rescue case that is not public"}
    return {"slug": case.slug, "title": case.public_title}


def _ledger(donation: Donation) -> list[dict[str, Any]]:
    """The gift's money movements: kind, amounts and dates (never a staff memo)."""
    entries = reads.entries_of(donation.id)
    return [{
        "kind": e.kind, "amount_minor": e.amount_minor, "currency": e.currency,
        "original_amount_minor": e.original_amount_minor, "original_currency": e.original_currency,
        "booked_at": _when(e.booked_at), "gateway_ref": e.gateway_ref,
    } for e in entries]


def _receipt(receipt: Receipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {
        "number": receipt.number, "issued_at": _when(receipt.issued_at),
        "amount_minor": receipt.amount_minor, "currency": receipt.currency,
        "purpose": receipt.purpose, "donor_name": receipt.donor_name,
        "text": receipt_text(receipt),
    }


def _donation(donation: Donation, receipt: Receipt | None) -> dict[str, Any]:
    settled = None
    if donation.settled_currency is not None:
        settled = {
            "currency": donation.settled_currency, "gross_minor": donation.gross_minor,
            "fee_minor": donation.fee_minor, "net_minor": donation.net_minor,
            "exchange_rate": str(donation.exchange_rate) if donation.exchange_rate is not None else None,
            "settled_at": _when(donation.settled_at),
        }
    return {
        "public_id": donation.public_id,
        "case": _case(donation),
        "general_fund": donation.case_id is None,
        "amount_minor": donation.amount_minor,
        "currency": donation.currency,
        "status": donation.status,
        "channel": donation.channel,
        "gateway": donation.gateway,
        "livemode": donation.livemode,
        "created_at": _when(donation.created_at),
        "received_on": _when(donation.received_on),
        "reference": donation.reference,
        "settlement": settled,
        "gateway_ids": {
            "checkout_session": donation.gateway_session_id,
            "payment_intent": donation.gateway_payment_intent_id,
            "charge": donation.gateway_charge_id,
        },
        "donor_entered": {
            "display_name": donation.display_name, "receipt_name": donation.receipt_name,
            "message": donation.message,
            "show_on_wall": donation.show_on_wall, "wants_updates": donation.wants_updates,
            **_tax_receipt_entered(donation),
        },
        "ledger": _ledger(donation),
        "receipt": _receipt(receipt),
    }


def _monthly_gift(gift: RecurringGift) -> dict[str, Any]:
    """A monthly gift as the donor set it up, with its gateway ids and what they typed."""
    return {
        "public_id": gift.public_id,
        "case": _case(gift),  # (the same shape: a gift's case, or None for the general fund)
        "general_fund": gift.case_id is None,
        "amount_minor": gift.amount_minor,
        "currency": gift.currency,
        "status": gift.status,
        "gateway": gift.gateway,
        "created_at": _when(gift.created_at),
        "started_at": _when(gift.started_at),
        "canceled_at": _when(gift.canceled_at),
        "current_period_end": _when(gift.current_period_end),
        "gateway_ids": {"checkout_session": gift.gateway_checkout_id,
                        "subscription": gift.gateway_subscription_id,
                        "customer": gift.gateway_customer_id},
        "donor_entered": {"display_name": gift.display_name, "receipt_name": gift.receipt_name,
                          "show_on_wall": gift.show_on_wall, "locale": gift.locale,
                          **_tax_receipt_entered(gift)},
    }


def _tax_receipt_entered(gift: Donation | RecurringGift) -> dict[str, Any]:
    """What the donor typed on the give form for a tax receipt (the name is receipt_name)."""
    return {"tax_receipt_requested": gift.tax_receipt_requested,
            "receipt_kana": gift.receipt_kana, "receipt_postal_code": gift.receipt_postal_code,
            "receipt_address": gift.receipt_address}


def export_donor(donor: Donor, *, actor: Any = None) -> dict[str, Any]:
    """Everything we hold about ``donor`` as JSON-ready data, and an audit entry
    ``donor.exported`` (counts only) in the session. Keys are stable; lists are in id order."""
    donations = _donations(donor)
    receipts = _receipts(donations)
    messages = _messages(donor, receipts.values())
    monthly = _monthly(donor)
    events = _events(donations, monthly)
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": _when(utcnow()),
        "donor": {
            "id": donor.id, "email": donor.email, "name": donor.name, "locale": donor.locale,
            "created_at": _when(donor.created_at),
            "first_gift_month": _when(donor.first_gift_month),
            "anonymized_at": _when(donor.anonymized_at),
        },
        "donations": [_donation(d, receipts.get(d.id)) for d in donations],
        "monthly_gifts": [_monthly_gift(g) for g in monthly],
        "emails": [{
            "kind": m.kind, "to": m.to_address, "subject": m.subject, "body": m.body_text,
            "queued_at": _when(m.created_at), "sent_at": _when(m.sent_at),
            "status": "sent" if m.sent_at is not None else "waiting",
        } for m in messages],
        "follows": [{
            "case": _public_case(f.case_id), "language": f.locale,
            "asked_at": _when(f.created_at), "confirmed_at": _when(f.confirmed_at),
        } for f in follows.follows_of(donor.email)],
        "payment_events": [{
            "gateway": e.gateway, "event_id": e.event_id, "type": e.type,
            "received_at": _when(e.received_at),
            "personal_data": dict(_personal_values(_load(e.payload))),
        } for e in events],
    }
    audit.record("donor.exported", donor, actor=actor, after={
        "donations": len(donations), "receipts": len(receipts), "emails": len(messages),
        "payment_events": len(events), "monthly_gifts": len(monthly),
    })
    db.session.flush()
    return data


# --- what belongs to a donor -----------------------------------------------------------------


def _donations(donor: Donor) -> list[Donation]:
    return list(db.session.scalars(
        sa.select(Donation).where(Donation.donor_id == donor.id).order_by(Donation.id)
    ))


def _receipts(donations: list[Donation]) -> dict[int, Receipt]:
    if not donations:
        return {}
    rows = db.session.scalars(
        sa.select(Receipt).where(Receipt.donation_id.in_([d.id for d in donations]))
    )
    return {r.donation_id: r for r in rows}


def _messages(donor: Donor, receipts: Iterable[Receipt]) -> list[OutboxMessage]:
    """Mail addressed to the donor: by address, by their receipts, by their rescue reports."""
    conditions = [OutboxMessage.dedupe_key.like(f"rescue-report:%:{donor.id}")]
    if donor.email:
        conditions.append(sa.func.lower(OutboxMessage.to_address) == donor.email.lower())
    keys = [f"receipt:{r.number}" for r in receipts]
    if keys:
        conditions.append(OutboxMessage.dedupe_key.in_(keys))
    return list(db.session.scalars(
        sa.select(OutboxMessage).where(sa.or_(*conditions)).order_by(OutboxMessage.id)
    ))


def _pledges(donor: Donor, email: str | None) -> list[Pledge]:
    """The donor's pledged transfers: confirmed as their gifts, or made with their address."""
    mine = Pledge.donor_id == donor.id
    return list(db.session.scalars(
        sa.select(Pledge).where(sa.or_(mine, Pledge.email == email) if email else mine)
        .order_by(Pledge.id)))


def _monthly(donor: Donor) -> list[RecurringGift]:
    return list(db.session.scalars(
        sa.select(RecurringGift).where(RecurringGift.donor_id == donor.id).order_by(RecurringGift.id)
    ))


def _gateway_ids(donations: list[Donation], monthly: Iterable[RecurringGift] = ()) -> set[str]:
    ids: set[str] = set()
    for d in donations:
        ids.update(v for v in (d.public_id, d.gateway_session_id, d.gateway_payment_intent_id,
                               d.gateway_charge_id, d.gateway_invoice_id) if v)
    for g in monthly:
        ids.update(v for v in (g.public_id, g.gateway_checkout_id, g.gateway_subscription_id) if v)
    return ids


def _events(donations: list[Donation], monthly: Iterable[RecurringGift] = ()) -> list[PaymentEvent]:
    """Stored gateway events about the donor's payments.

    Found by the donation ids and the gateway's ids of the payments (a text match narrows
    the rows, then the parsed payload must carry one of the ids as a whole value), so an
    event about another donor is never taken.
    """
    ids = _gateway_ids(donations, monthly)
    if not ids:
        return []
    donation_ids = {d.id for d in donations}
    found: dict[int, PaymentEvent] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 100):
        conditions = [PaymentEvent.payload.contains(i, autoescape=True)
                      for i in wanted[start:start + 100]]
        conditions.append(PaymentEvent.donation_id.in_(donation_ids))
        for event in db.session.scalars(sa.select(PaymentEvent).where(sa.or_(*conditions))):
            if event.donation_id in donation_ids or ids & set(_strings(_load(event.payload))):
                found[event.id] = event
    return [found[k] for k in sorted(found)]


def _load(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _personal_values(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every non-empty personal field in a gateway object."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if key in PERSONAL_KEYS:
                if item not in (None, "", {}, []):
                    yield here, item
            else:
                yield from _personal_values(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _personal_values(item, f"{path}[{i}]")


# --- anonymizing -----------------------------------------------------------------------------


@dataclass
class Redactions:
    """How much anonymizing changed, table by table (what the audit entry records)."""

    donor_fields: int = 0
    donations: int = 0
    donation_fields: int = 0
    #: monthly gifts whose name or language was erased
    monthly_gifts: int = 0
    receipts: int = 0
    emails_deleted: int = 0
    emails_redacted: int = 0
    payment_events: int = 0
    audit_entries: int = 0
    #: public case pages whose donor wall showed the donor's name or message
    case_pages_refreshed: int = 0
    #: ledger memos naming the donor: the ledger is append-only, so they stay (staff are told)
    ledger_memos_left: int = 0
    #: the cases the donor's address followed (``tracker.cases.follows``): deleted
    follows: int = 0
    #: pledged transfers whose donor's name, address or language was erased
    pledges: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Scrubber:
    """Replaces the donor's names and email inside free text, ignoring case.

    A term is matched as a whole word where it begins or ends with an ASCII letter or digit
    ("Ed" is not taken out of "ch_3aed..."), anywhere for other scripts (Japanese names are
    written without spaces). Names are also searched for word by word (a bank reference
    often reads "YAMADA TARO" for Taro Yamada), words of MIN_WORD characters or more.
    """

    def __init__(self, names: Iterable[str], email: str | None = None) -> None:
        terms: set[str] = set()
        for name in names:
            name = " ".join((name or "").split())
            if len(name) >= MIN_TERM:
                terms.add(name)
                terms.update(w for w in name.split(" ") if len(w) >= MIN_WORD)
        if email:
            terms.add(email)
        self.terms = sorted(terms, key=lambda t: (-len(t), t.lower()))
        self._pattern = (re.compile("|".join(self._regex(t) for t in self.terms), re.IGNORECASE)
                         if self.terms else None)

    @staticmethod
    def _regex(term: str) -> str:
        word = re.escape(term).replace(r"\ ", r"\s+")
        start = r"(?<![A-Za-z0-9_])" if term[0].isascii() and term[0].isalnum() else ""
        end = r"(?![A-Za-z0-9_])" if term[-1].isascii() and term[-1].isalnum() else ""
        return start + word + end

    def text(self, value: str | None) -> str | None:
        if not value or self._pattern is None:
            return value
        return self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string scrubbed; keys are kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def mentions(self, value: str | None) -> bool:
        return bool(value) and self._pattern is not None and self._pattern.search(value) is not None


def check_reason(reason: str | None) -> str:
    """Why the donor is anonymized, stripped; DomainError (field "reason") unless it is
    REASON_MIN to REASON_MAX characters."""
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        raise DomainError(_("Say why (at least %(min)d characters), e.g. \"Donor asked by email "
                            "on 3 May to be forgotten\".", min=REASON_MIN), field="reason")
    if len(text) > REASON_MAX:
        raise DomainError(_("Keep the reason to %(max)d characters.", max=REASON_MAX),
                          field="reason")
    return text


class MonthlyGiftsLive(Conflict):
    """The donor still has a monthly gift that is not cancelled: the gateway would go on
    taking money (and copying the donor's choices onto each month's gift), so nothing is
    erased until every one of them is cancelled at the gateway."""


def lock_donor(donor_id: int) -> Donor | None:
    """The donor row, held until commit so two anonymizations serialize (SQLite: a no-op
    UPDATE takes the database's write lock and opens the transaction)."""
    return lock_row(Donor, Donor.id == donor_id, touch=Donor.name)


def live_monthly_gifts(donor: Donor) -> list[RecurringGift]:
    """The donor's monthly gifts that are not cancelled (incomplete, active, past due)."""
    return [g for g in _monthly(donor) if g.status != CANCELED]


def anonymize_donor(donor: Donor, actor: Any, reason: str) -> Redactions:
    """Remove ``donor``'s personal data and keep their money as it is (see the module).

    Raises DomainError (field "reason") for a missing reason, NotFound for a donor that is
    gone, Conflict for one already anonymized and MonthlyGiftsLive while a monthly gift of
    theirs is not cancelled, with nothing changed. Adds the audit entry ``donor.anonymized``
    (donor id, the reason with the donor's name and email taken out, and the counts of what
    was redacted). Flushes; the caller commits or rolls back.
    """
    reason = check_reason(reason)
    donor_id = donor.id
    locked = lock_donor(donor_id)
    if locked is None:
        raise NotFound(_("There is no such donor."))
    if locked.anonymized_at is not None:
        raise Conflict(_("This donor was already anonymized on %(date)s; nothing was changed.",
                         date=locked.anonymized_at.strftime("%Y-%m-%d")))
    if live_monthly_gifts(locked):
        raise MonthlyGiftsLive(_("This donor has a monthly gift that is not cancelled; it must "
                                 "be cancelled with the payment service first. Nothing was "
                                 "erased."))

    donations = _donations(locked)
    monthly = _monthly(locked)
    receipts = _receipts(donations)
    messages = _messages(locked, receipts.values())
    events = _events(donations, monthly)
    email = (locked.email or "").lower() or None
    pledged = _pledges(locked, email)
    scrub = _Scrubber([locked.name, *(p.name for p in pledged), *(d.display_name for d in donations),
                       *(d.receipt_name for d in donations),
                       *(g.display_name for g in monthly), *(g.receipt_name for g in monthly),
                       *(r.donor_name for r in receipts.values() if r.donor_name != ANONYMIZED_NAME)],
                      email)
    done = Redactions()

    # Public case pages that list the donor's name or message on their wall: a newer
    # updated_at changes the pages' fingerprint, so no worker's page cache serves them again.
    walls = {d.case_id for d in donations
             if d.case_id is not None and d.show_on_wall and (d.display_name or d.message)}
    # The donations: what the donor typed, and their name wherever staff copied it.
    for donation in donations:
        changed = _erase(donation, reference=scrub.text(donation.reference),
                         flag_reason=scrub.text(donation.flag_reason))
        done.donation_fields += changed
        done.donations += bool(changed)
    # Pledged transfers: the donor's own (confirmed ones) and any made with their address.
    for pledge in pledged:
        done.pledges += bool(_erase(pledge, cancel_reason=scrub.text(pledge.cancel_reason)))
    # The monthly gifts: each month's gift copies its name and language from here.
    for gift in monthly:
        done.monthly_gifts += bool(_erase(gift))
    for case in db.session.scalars(sa.select(RescueCase).where(RescueCase.id.in_(sorted(walls) or [-1]))):
        case.updated_at = utcnow()
        done.case_pages_refreshed += 1
    db.session.flush()

    done.receipts = _redact_receipts(list(receipts.values()))
    done.emails_deleted, done.emails_redacted = _redact_messages(messages, scrub)
    done.payment_events = _redact_events(events, scrub)
    done.audit_entries = _redact_audit(locked, donations, monthly, email, scrub, pledged)
    done.ledger_memos_left = sum(
        scrub.mentions(memo) for memo in db.session.scalars(
            sa.select(LedgerEntry.memo).where(LedgerEntry.donation_id.in_([d.id for d in donations]))
        )
    ) if donations else 0

    # Following a case is personal data of its own: the address stops following every case.
    done.follows = follows.forget_email(email)
    done.donor_fields = _erase(locked)
    locked.anonymized_at = utcnow()
    db.session.flush()
    audit.record("donor.anonymized", locked, actor=actor,
                 after={"reason": scrub.text(reason), "redacted": done.as_dict()})
    db.session.flush()
    return done


def _erase(row: Any, **more: Any) -> int:
    """Set the row's ERASED columns (and ``more``); how many changed."""
    changed = 0
    for attribute, value in (ERASED[row.__tablename__] | more).items():
        if getattr(row, attribute) != value:
            setattr(row, attribute, value)
            changed += 1
    return changed


def _redact_receipts(receipts: list[Receipt]) -> int:
    """Put ANONYMIZED_NAME on the receipts, changing nothing else: the one update the
    receipts' guard trigger allows (migration 0007). A table UPDATE, since the ORM refuses any
    change to a Receipt."""
    ids = [r.id for r in receipts if r.donor_name not in ("", ANONYMIZED_NAME)]
    if not ids:
        return 0
    table = Receipt.__table__
    count = db.session.execute(
        sa.update(table).where(table.c.id.in_(ids)).values(donor_name=ANONYMIZED_NAME)
    ).rowcount
    for receipt in receipts:
        db.session.expire(receipt, ["donor_name"])
    return count


def _redact_messages(messages: list[OutboxMessage], scrub: _Scrubber) -> tuple[int, int]:
    """Delete the donor's unsent mail; keep sent mail without its address and body."""
    deleted = redacted = 0
    for message in messages:
        if message.sent_at is None:
            db.session.delete(message)
            deleted += 1
            continue
        changes = {"to_address": ANONYMIZED_ADDRESS, "body_text": ANONYMIZED_BODY,
                   "subject": scrub.text(message.subject), "last_error": scrub.text(message.last_error),
                   # an unsubscribe link names a follow of the address (deleted with it)
                   "headers_json": None}
        if any(getattr(message, k) != v for k, v in changes.items()):
            for key, value in changes.items():
                setattr(message, key, value)
            redacted += 1
    db.session.flush()
    return deleted, redacted


def _redact_events(events: list[PaymentEvent], scrub: _Scrubber) -> int:
    """Take the personal fields out of the stored gateway payloads (ids and amounts stay)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (None if k in PERSONAL_KEYS and v not in (None, "", {}, []) else strip(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    changed = 0
    for event in events:
        parsed = _load(event.payload)
        if isinstance(parsed, str):
            payload = scrub.text(parsed) or ""
        else:
            cleaned = scrub.data(strip(parsed))
            # Rewritten only when something personal was in it (the raw bytes stay otherwise).
            payload = (event.payload if cleaned == parsed
                       else json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False))
        note = scrub.text(event.note)
        if payload != event.payload or note != event.note:
            event.payload, event.note = payload, note
            changed += 1
    db.session.flush()
    return changed


def _redact_audit(donor: Donor, donations: list[Donation], monthly: list[RecurringGift],
                  email: str | None, scrub: _Scrubber, pledged: Iterable[Pledge] = ()) -> int:
    """Take the donor's name and email out of earlier audit entries.

    Entries about the donor, their gifts, monthly gifts or pledged transfers lose every
    mention of the name and email, and the client address when no staff member made them (the
    donor's own browser: the thank-you page, their own page, the donate form). Any other entry
    that carries the email loses it, except entries about a staff account (``users``), whose
    email is the account's own.
    """
    owned = {(Donor.__tablename__, donor.id)}
    owned.update((Donation.__tablename__, d.id) for d in donations)
    owned.update((RecurringGift.__tablename__, g.id) for g in monthly)
    pledge_ids = [p.id for p in pledged]
    owned.update((Pledge.__tablename__, i) for i in pledge_ids)
    own = sa.or_(
        sa.and_(AuditEntry.object_type == Donor.__tablename__, AuditEntry.object_id == donor.id),
        sa.and_(AuditEntry.object_type == Donation.__tablename__,
                AuditEntry.object_id.in_([d.id for d in donations] or [-1])),
        sa.and_(AuditEntry.object_type == RecurringGift.__tablename__,
                AuditEntry.object_id.in_([g.id for g in monthly] or [-1])),
        sa.and_(AuditEntry.object_type == Pledge.__tablename__,
                AuditEntry.object_id.in_(pledge_ids or [-1])),
    )
    conditions = [own]
    if email:
        as_text = [sa.func.lower(sa.cast(column, sa.Text)).contains(email, autoescape=True)
                   for column in (AuditEntry.before, AuditEntry.after)]
        conditions.append(sa.and_(AuditEntry.object_type != "users", sa.or_(*as_text)))
    email_only = _Scrubber([], email)
    changed = 0
    for entry in db.session.scalars(sa.select(AuditEntry).where(sa.or_(*conditions))):
        is_own = (entry.object_type, entry.object_id) in owned
        scrubber = scrub if is_own else email_only
        before, after = scrubber.data(entry.before), scrubber.data(entry.after)
        ip = None if is_own and entry.actor_id is None else entry.ip
        if (before, after, ip) != (entry.before, entry.after, entry.ip):
            entry.before, entry.after, entry.ip = before, after, ip
            changed += 1
    db.session.flush()
    return changed

