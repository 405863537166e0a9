"""Short mails that tell a donor what changed about their money: a refund of a gift, and (for
``tracker.monthly``) a monthly gift changed or cancelled.

Each is queued in the caller's transaction through the outbox (at most once per key, so a
webhook repeating what staff already did sends nothing more), in the language the donor gave
in, to the donor's own address only. Like receipts they carry the donor's own amounts, the
case's *public* title (or "A rescue case" for a case that is not public) and the gift's opaque
reference: never anything from a case's private fields or its people.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from tracker.core.i18n import current_locale, language
from tracker.core.money import Money, format_money
from tracker.donations.receipts import GENERAL_FUND_LABEL, PRIVATE_CASE_LABEL
from tracker.mail import outbox


def purpose_of(case) -> str:  # noqa: ANN001 - a RescueCase or None
    """What a gift was for, as a donor may read it (in the current language): the case's
    public title while the case is public, else the receipts' general labels."""
    if case is None:
        return str(GENERAL_FUND_LABEL)
    return case.text(current_locale()).title if case.is_public else str(PRIVATE_CASE_LABEL)


def send(kind: str, key: str, email: str | None, locale: str | None,
         write: Callable[[str], tuple[str, list[str]]], *, name: str = "") -> bool:
    """Queue one notice: ``write(locale)`` returns (subject, lines) and runs in the donor's
    language; the mail opens with the donor's ``name`` (when known) and a line of thanks.
    Nothing is sent without an address. Returns whether a mail was queued now (False when
    there is no address or the key was already used)."""
    if not email:
        return False
    with language(locale) as code:
        subject, lines = write(current_locale())
        opening = [_("Dear %(name)s,", name=name), ""] if name.strip() else []
        opening += [_("Thank you for your support."), ""]
    body = "\n".join(opening + lines) + "\n"
    return outbox.queue(kind, key, email, subject, body, locale=code) is not None


def refund_notice(donation, amount_minor: int, ref: str) -> bool:  # noqa: ANN001 - a Donation
    """Tell the donor that ``amount_minor`` of ``donation`` was refunded (once per refund)."""
    donor = donation.donor

    def write(locale: str) -> tuple[str, list[str]]:
        refunded = format_money(Money(amount_minor, donation.currency), locale)
        given = format_money(Money(donation.amount_minor, donation.currency), locale)
        lines = [
            _("We have refunded %(refunded)s of your gift of %(given)s.",
              refunded=refunded, given=given),
            _("Purpose: %(purpose)s", purpose=purpose_of(donation.case)),
            _("Donation reference: %(reference)s", reference=donation.public_id),
            "",
            _("The money goes back to the card or account you gave with; your bank may take "
              "a few days to show it."),
        ]
        return _("Your gift was refunded: %(amount)s", amount=refunded), lines

    return send("refund", f"refund:{ref}", donor.email if donor else None, donation.locale, write,
                name=donation.receipt_name or "")
