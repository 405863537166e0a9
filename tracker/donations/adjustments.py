"""Corrections to recorded gifts: an audited adjustment entry on the ledger, never an edit.

An offline gift typed in wrongly (¥10,000 entered for ¥1,000, a bank charge discovered later)
is corrected by booking a signed ``adjustment`` entry against it; the donation row and its
gift entry stay exactly as first recorded, so the books show both the mistake and its
correction, who made it and why. Card gifts are corrected by refunds through the gateway
instead (``tracker.donations.recording.refund_donation``), because the money really moves.

What the ledger holds for each gift (``GiftMoney``) is read in ``tracker.ledger.reads``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _

from tracker import audit
from tracker.cases import workflow
from tracker.core import labels
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.i18n import current_locale
from tracker.core.money import Money, format_money
from tracker.core.validation import check_reason, check_staff_amount
from tracker.donations.models import SUCCEEDED, Donation
from tracker.donations.services import lock_donation
from tracker.ledger import book
from tracker.ledger.models import LedgerEntry
from tracker.ledger.reads import GiftMoney, gift_money

if TYPE_CHECKING:
    from tracker.accounts.models import User

def status_name(status: str) -> str:
    """A gift status for a staff page or message, in words and in its language ("Paid")."""
    return labels.label("gift_status", status)


def adjust_gift(donation: Donation, amount_minor: int, reason: str, actor: User | None) -> LedgerEntry:
    """Correct a recorded offline gift by ``amount_minor`` (signed, base currency).

    Books one ``adjustment`` ledger entry (memo = the reason, created_by = ``actor``) and an
    audit entry "donation.adjusted" with the gift's total before and after; the donation row
    is never edited. The donation is locked first so concurrent corrections serialize.

    Raises Conflict for a card gift (those are refunded), a gift that is not recorded, or a
    gift on a closed case; DomainError (field "amount" or "reason") for a zero or oversized
    amount, one that would take the gift's total below zero, or a missing reason.
    """
    locked = lock_donation(donation.public_id)
    if locked is None:
        raise NotFound(_("There is no such gift."))
    if locked.refunded_by_gateway:
        raise Conflict(_("Gifts paid through the payment service are corrected by a refund "
                         "through it, not by an adjustment."))
    if locked.status != SUCCEEDED or locked.settled_currency is None:
        raise Conflict(_("Only a recorded gift can be adjusted; this one is %(status)s.",
                         status=status_name(locked.status)))
    if locked.case is not None and locked.case.status == workflow.CLOSED:
        raise Conflict(_("The gift's case is closed; its money no longer changes."))
    reason = check_reason(reason)
    currency = locked.settled_currency
    if amount_minor == 0:
        raise DomainError(_("An adjustment of zero changes nothing; enter an amount like -1,000 "
                            "or 500."), field="amount")
    check_staff_amount(Money(amount_minor, currency))
    before = gift_money([locked.id]).get(locked.id, GiftMoney()).total_minor
    after = before + amount_minor
    if after < 0:
        stands = format_money(Money(before, currency), current_locale())
        raise DomainError(
            _("That would take the gift below zero: it stands at %(amount)s, so the largest "
              "reduction is -%(amount)s.", amount=stands),
            field="amount",
        )
    entry = book.book_adjustment(
        donation_id=locked.id, case_id=locked.case_id, amount=Money(amount_minor, currency),
        memo=reason, created_by_id=actor.id if actor is not None else None,
    )
    audit.record(
        "donation.adjusted", locked, case_id=locked.case_id, actor=actor,
        before={"total_minor": before, "currency": currency},
        after={"total_minor": after, "currency": currency, "adjustment_minor": amount_minor,
               "ledger_entry_id": entry.id, "reason": reason},
    )
    return entry
