"""Transfers donors make themselves to the organization's bank or ゆうちょ account.

A yen one-off gift on the donate form may be a *pledge* instead of a checkout: the donor is
shown the account details (set by admins on the organization's page) and a short reference
code to write before their name in the transfer name (振込依頼人名). A pledge is no money: it
never counts toward any total. When the transfer arrives, staff confirm the pledge with the
date and the amount actually received; that records an offline gift through
``services.record_offline_gift`` (the one way gifts are typed in) with the code as its
reference, and issues its receipt. Staff may instead cancel a pledge, giving a reason.

Every function flushes and leaves the commit to its caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from tracker import audit
from tracker.cases.models import RescueCase
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.i18n import current_locale, known
from tracker.core.links import public_url
from tracker.core.locks import lock_row
from tracker.core.money import Money, format_money
from tracker.core.time import as_utc, local_today, local_zone, utcnow
from tracker.core.validation import check_length, normalize_email
from tracker.donations import notices, receipts, services
from tracker.donations.models import (
    CANCELLED,
    CONFIRMED,
    PLEDGED,
    REFERENCE_ALPHABET,
    REFERENCE_LENGTH,
    Donation,
    Pledge,
    new_reference,
)
from tracker.extensions import db
from tracker.organization.identity import Identity, current_identity

#: the only currency a transfer to a Japanese account is pledged in
PLEDGE_CURRENCY = "JPY"
#: a pledge older than this without its money is marked as overdue on the staff page
OVERDUE_DAYS = 30
REASON_MIN, REASON_MAX = 5, 500
#: the words for each status of a pledge
STATUS_LABELS = {PLEDGED: _l("Waiting for the transfer"), CONFIRMED: _l("Money received"),
                 CANCELLED: lazy_pgettext("pledge status", "Cancelled")}
ACCOUNT_TYPE_WORDS = {"futsu": _l("Ordinary (futsu)"), "toza": _l("Current (toza)")}


def transfers_offered(currency: str | None = None) -> bool:
    """Whether the donate form offers a transfer of one's own (an account is set), for
    ``currency`` when given (yen only)."""
    if currency is not None and currency != PLEDGE_CURRENCY:
        return False
    return current_identity().takes_transfers


def create_pledge(case: RescueCase | None, amount: Money, *, name: str = "",
                  email: str | None = None, locale: str | None = None) -> Pledge:
    """Record a donor's promise to transfer ``amount`` (yen, one-off) to the organization's
    account, and queue the account details to ``email`` when given, in the donor's language.

    DomainError (with the form field) when transfers are not offered, the amount is not yen
    or outside the limits, a text is too long or the email is not one; Conflict when the case
    takes no gifts now."""
    if amount.currency != PLEDGE_CURRENCY:
        raise DomainError(_("A transfer to our account is possible for gifts in yen only."),
                          field="currency")
    if not current_identity().takes_transfers:
        raise DomainError(_("Transfers to our own account are not offered at the moment; "
                            "please pay online."))
    if amount.amount_minor <= 0:
        raise DomainError(_("Enter an amount greater than zero."), field="amount")
    maximum = current_app.config["TRACKER_MAX_GIFT_MINOR"]
    if amount.amount_minor > maximum:
        raise DomainError(_("The largest gift we accept is %(amount)s.",
                            amount=format_money(Money(maximum, amount.currency),
                                                 current_locale())), field="amount")
    if not services.accepts_gifts(case):
        raise Conflict(_("This case is not taking gifts now; please give to the general fund."))
    name = " ".join((name or "").split())
    check_length(name, 80, "name", _l("name"))
    address = normalize_email(email, field="email") if email else None
    pledge = Pledge(case_id=case.id if case else None, amount_minor=amount.amount_minor,
                    currency=amount.currency, email=address, name=name, locale=known(locale),
                    reference=_unused_reference())
    db.session.add(pledge)
    db.session.flush()
    audit.record("pledge.created", pledge, case_id=pledge.case_id,
                 after={"reference": pledge.reference, "amount": str(amount)})
    if address:
        _queue_instructions(pledge)
    return pledge


def _unused_reference() -> str:
    """A reference code no pledge has yet (29^6 ≈ 600 million codes: a clash is rare)."""
    for _attempt in range(20):
        code = new_reference()
        if db.session.scalar(db.select(Pledge.id).where(Pledge.reference == code)) is None:
            return code
    raise Conflict(_("Please try again."))  # pragma: no cover - 20 clashes in a row


def normalize_reference(text: str) -> str:
    """A code as staff or a bank statement may write it: upper case, no spaces, full-width
    letters and digits made ASCII (ＡＢ１２ → AB12)."""
    folded = "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text or "")
    return "".join(folded.split()).upper()


def looks_like_reference(text: str) -> bool:
    """Whether ``text`` (normalized) could be a reference code."""
    return len(text) == REFERENCE_LENGTH and all(c in REFERENCE_ALPHABET for c in text)


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One line of the account details: what it is, and its value."""

    label: str
    value: str


def bank_lines(identity: Identity) -> list[AccountLine]:
    """The bank account's details in the current language (empty when none is set)."""
    if not identity.has_bank_account:
        return []
    return [AccountLine(_("Bank"), identity.bank_name),
            AccountLine(_("Branch"), f"{identity.bank_branch_name}（{identity.bank_branch_number}）"
                        if identity.bank_branch_number else identity.bank_branch_name),
            AccountLine(_("Account type"), str(ACCOUNT_TYPE_WORDS.get(identity.bank_account_type, ""))),
            AccountLine(_("Account number"), identity.bank_account_number),
            AccountLine(_("Account holder"), identity.bank_account_holder)]


def yucho_lines(identity: Identity) -> list[AccountLine]:
    """The ゆうちょ account's details in the current language (empty when none is set)."""
    if not identity.has_yucho_account:
        return []
    lines = [AccountLine(_("Symbol and number (from a ゆうちょ account)"),
                         f"{identity.yucho_symbol}-{identity.yucho_number}")]
    if identity.yucho_account_number:
        branch = identity.yucho_branch_name
        if identity.yucho_branch_number:
            branch = f"{branch}（{identity.yucho_branch_number}）"
        lines += [AccountLine(_("Branch (from other banks)"), branch),
                  AccountLine(_("Account type (from other banks)"),
                              str(ACCOUNT_TYPE_WORDS.get(identity.yucho_account_type, ""))),
                  AccountLine(_("Account number (from other banks)"),
                              identity.yucho_account_number)]
    lines.append(AccountLine(_("Account holder"), identity.yucho_account_holder))
    return lines


def transfer_name_example(reference: str) -> str:
    """How the transfer name is written: the code, then the donor's name in katakana."""
    return f"{reference} ヤマダ タロウ"


def _queue_instructions(pledge: Pledge) -> None:
    """The account details and the code, mailed in the donor's language (a donor's notice:
    their name with 様 and a line of thanks first)."""
    identity = current_identity()
    case = db.session.get(RescueCase, pledge.case_id) if pledge.case_id else None
    shown = case if case is not None and case.is_public else None

    def write(code: str) -> tuple[str, list[str]]:
        title = shown.text(code).title if shown is not None else None  # in the mail's language
        amount = format_money(Money(pledge.amount_minor, pledge.currency), code)
        link = public_url("donations.pledge", public_id=pledge.public_id, lang=code)
        subject = _("Your transfer of %(amount)s: reference %(code)s", amount=amount,
                    code=pledge.reference)[:200]
        lines = [
            (_("Thank you for your gift of %(amount)s to “%(title)s”.", amount=amount, title=title)
             if title else _("Thank you for your gift of %(amount)s.", amount=amount)),
            "",
            _("Please transfer the amount to one of these accounts, and write this code before "
              "your name in the transfer name (振込依頼人名):"),
            "",
            _("Reference code: %(code)s", code=pledge.reference),
            _("For example: %(example)s", example=transfer_name_example(pledge.reference)),
        ]
        for heading, details in ((_("Bank account"), bank_lines(identity)),
                                 (_("Japan Post Bank (ゆうちょ銀行)"), yucho_lines(identity))):
            if details:
                lines += ["", heading, *(_("%(label)s: %(value)s", label=line.label,
                                           value=line.value) for line in details)]
        lines += ["", _("The transfer fee is yours to pay. We confirm your gift when the money "
                        "arrives and then send the receipt."),
                  "", _("These details are also on this page:"), link]
        return subject, lines

    notices.send("pledge", f"pledge:{pledge.id}", pledge.email, pledge.locale, write,
                 name=pledge.name)


# --- staff -----------------------------------------------------------------------------------


def find(public_id: str) -> Pledge | None:
    """A pledge by the opaque id of its page."""
    return db.session.scalar(db.select(Pledge).where(Pledge.public_id == public_id))


def by_reference(reference: str) -> Pledge | None:
    """A pledge by its reference code (as written anywhere: see ``normalize_reference``)."""
    code = normalize_reference(reference)
    if not looks_like_reference(code):
        return None
    return db.session.scalar(db.select(Pledge).where(Pledge.reference == code))


def search(status: str | None, query: str = "", limit: int = 200) -> list[Pledge]:
    """Pledges with ``status`` (any when None), oldest first for the waiting ones; ``query``
    finds by reference code (a part of one too)."""
    statement = db.select(Pledge)
    if status:
        statement = statement.where(Pledge.status == status)
    code = normalize_reference(query)
    if code:
        if any(c not in REFERENCE_ALPHABET for c in code):
            return []  # codes are made of REFERENCE_ALPHABET alone: "%" or "-" match none
        statement = statement.where(Pledge.reference.contains(code, autoescape=True))
    order = Pledge.created_at.asc() if status == PLEDGED else Pledge.created_at.desc()
    return list(db.session.scalars(statement.order_by(order, Pledge.id).limit(limit)))


def is_overdue(pledge: Pledge) -> bool:
    """A waiting pledge older than OVERDUE_DAYS."""
    return (pledge.status == PLEDGED
            and as_utc(pledge.created_at) < utcnow() - timedelta(days=OVERDUE_DAYS))


def _locked(pledge_id: int) -> Pledge:
    locked = lock_row(Pledge, Pledge.id == pledge_id, touch=Pledge.status)
    if locked is None:
        raise NotFound(_("There is no such pledge."))
    return locked


def _offline_gift(pledge: Pledge, received: Money, received_on: date) -> services.OfflineGift:
    """The offline gift a confirmed pledge becomes: the code as its reference."""
    return services.OfflineGift(amount=received, channel="bank_transfer",
                                received_on=received_on, donor_name=pledge.name,
                                donor_email=pledge.email, reference=pledge.reference)


def check_confirm(pledge: Pledge, received: Money, received_on: date) -> Pledge:
    """Check that ``pledge`` may be confirmed with this amount and date (the row locked):
    every check confirming makes, the offline gift's own (the cap of a gift, the case taking
    gifts) included, so the confirmation page is shown only for what will be recorded;
    DomainError or Conflict otherwise."""
    locked = _locked(pledge.id)
    if locked.status != PLEDGED:
        raise Conflict(_("This pledge is no longer waiting: it was %(status)s.",
                         status=str(STATUS_LABELS[locked.status]).lower()))
    if received.currency != locked.currency:
        raise DomainError(_("Enter the amount in yen."), field="amount")
    if received.amount_minor <= 0:
        raise DomainError(_("Enter an amount greater than zero."), field="amount")
    if received_on > local_today():
        raise DomainError(_("The date received cannot be in the future."), field="received_on")
    # the day it was pledged, in the organization's zone (as staff and the bank see days)
    if received_on < as_utc(locked.created_at).astimezone(local_zone()).date():
        raise DomainError(_("The money cannot have arrived before the pledge was made."),
                          field="received_on")
    case = db.session.get(RescueCase, locked.case_id) if locked.case_id else None
    services.check_offline_gift(case, _offline_gift(locked, received, received_on))
    return locked


def confirm_pledge(pledge: Pledge, received: Money, received_on: date) -> Donation:
    """The transfer arrived: record it as an offline gift with the code as its reference,
    issue its receipt (mailed when the donor gave an address) and link it to the pledge.
    The pledge's row is locked first, so confirming twice records one gift."""
    locked = check_confirm(pledge, received, received_on)
    case = db.session.get(RescueCase, locked.case_id) if locked.case_id else None
    donation = services.record_offline_gift(case, _offline_gift(locked, received, received_on))
    donation.locale = locked.locale
    if locked.locale and donation.donor is not None and not donation.donor.locale:
        # a donor first known by this pledge gets its language (their sign-in mail and
        # notices follow it); a known donor's own choice is left as it is
        donation.donor.locale = locked.locale
    db.session.flush()
    receipt = receipts.issue_receipt(donation)
    locked.status = CONFIRMED
    locked.donation_id = donation.id
    locked.donor_id = donation.donor_id
    locked.received_on = received_on
    locked.received_minor = received.amount_minor
    locked.closed_at = utcnow()
    db.session.flush()
    audit.record("pledge.confirmed", locked, case_id=locked.case_id,
                 before={"status": PLEDGED},
                 after={"status": CONFIRMED, "reference": locked.reference,
                        "pledged": str(Money(locked.amount_minor, locked.currency)),
                        "received": str(received), "received_on": received_on.isoformat(),
                        "donation": donation.public_id, "receipt": receipt.number})
    return donation


def check_reason(reason: str) -> str:
    """The reason for a cancellation, trimmed; DomainError("reason") when too short or long."""
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise DomainError(_("Say in a few words why the pledge is cancelled."), field="reason")
    if len(reason) > REASON_MAX:
        raise DomainError(_("Keep the reason to %(max)d characters.", max=REASON_MAX),
                          field="reason")
    return reason


def cancel_pledge(pledge: Pledge, reason: str) -> Pledge:
    """Cancel a waiting pledge (no money came, or the donor changed their mind)."""
    reason = check_reason(reason)
    locked = _locked(pledge.id)
    if locked.status != PLEDGED:
        raise Conflict(_("This pledge is no longer waiting: it was %(status)s.",
                         status=str(STATUS_LABELS[locked.status]).lower()))
    locked.status = CANCELLED
    locked.cancel_reason = reason
    locked.closed_at = utcnow()
    db.session.flush()
    audit.record("pledge.cancelled", locked, case_id=locked.case_id,
                 before={"status": PLEDGED}, after={"status": CANCELLED, "reason": reason})
    return locked
