"""Mails to a donor when their monthly gift changes: a new amount, or cancelled (by them,
by staff, or by the gateway after failed payments). Sent through
``tracker.donations.notices`` (once per change, in the donor's language, public fields only).
"""

from __future__ import annotations

from flask_babel import gettext as _

from tracker.core.money import Money, format_money
from tracker.core.time import utcnow
from tracker.donations import notices
from tracker.monthly.models import RecurringGift


def _reference(gift: RecurringGift) -> str:
    return _("Monthly gift reference: %(reference)s", reference=gift.public_id)


def amount_changed(gift: RecurringGift, before_minor: int) -> bool:
    """Tell the donor their monthly gift is now ``gift.amount_minor`` (was ``before_minor``)."""

    def write(locale: str) -> tuple[str, list[str]]:
        now = format_money(Money(gift.amount_minor, gift.currency), locale)
        was = format_money(Money(before_minor, gift.currency), locale)
        return _("Your monthly gift is now %(amount)s", amount=now), [
            _("Your monthly gift has changed from %(before)s to %(after)s a month.",
              before=was, after=now),
            _("The new amount applies from your next monthly payment."),
            _("Purpose: %(purpose)s", purpose=notices.purpose_of(gift.case)),
            _reference(gift),
        ]

    key = f"monthly-amount:{gift.public_id}:{utcnow().isoformat()}"
    return notices.send("monthly", key, gift.donor.email if gift.donor else None, gift.locale, write,
                        name=gift.receipt_name or "")


def cancelled(gift: RecurringGift) -> bool:
    """Tell the donor their monthly gift is cancelled (once per gift: a cancellation is final)."""

    def write(locale: str) -> tuple[str, list[str]]:
        amount = format_money(Money(gift.amount_minor, gift.currency), locale)
        return _("Your monthly gift has been cancelled"), [
            _("Your monthly gift of %(amount)s has been cancelled. No further payments will "
              "be taken.", amount=amount),
            _("The gifts you have already made stay as they are, with their receipts."),
            _("Purpose: %(purpose)s", purpose=notices.purpose_of(gift.case)),
            _reference(gift),
        ]

    return notices.send("monthly", f"monthly-cancelled:{gift.public_id}",
                        gift.donor.email if gift.donor else None, gift.locale, write,
                        name=gift.receipt_name or "")
