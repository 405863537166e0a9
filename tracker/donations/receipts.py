"""Donation receipts: numbered once (RT-000001, RT-000002 ...), never changed, emailed once.

A receipt and its email are written in the caller's transaction: if the gift is rolled back
the receipt number goes back to the counter and no email leaves (see ``tracker.mail.outbox``).

The email (and ``receipt_text``) is written in the language the donor gave in
(``Donation.locale``; None is the default language), whoever is asking: the webhook that
records the gift has no visitor at all.

Safety: a receipt carries only the donor's own amount, the case's *public* title and the
donation's opaque public id — never anything from a case's private fields or its people.
"""

from __future__ import annotations

from babel.dates import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext

from tracker.core.counters import next_value
from tracker.core.errors import Conflict
from tracker.core.i18n import current_locale, default_locale, known, language
from tracker.core.links import public_url
from tracker.core.money import Money, format_money
from tracker.core.time import as_utc, local_zone, utcnow
from tracker.donations.models import SUCCEEDED, Donation, Receipt
from tracker.extensions import db
from tracker.mail import outbox
from tracker.organization.identity import current_identity

#: the purpose stored on a receipt for the general fund (stored in English, shown translated)
GENERAL_FUND = "General fund"
GENERAL_FUND_LABEL = _l("General fund")
#: the purpose of a gift to a case that is not public (never its title: mail is a public surface)
PRIVATE_CASE = "A rescue case"
PRIVATE_CASE_LABEL = _l("A rescue case")
NUMBER_FORMAT = "RT-%06d"
#: what an anonymized receipt says instead of the donor's name (stored in English, shown
#: translated; ``tracker.donors.privacy`` writes it)
ANONYMIZED_NAME = "Anonymized donor"
ANONYMIZED_NAME_LABEL = _l("Anonymized donor")
TEST_MODE_LINE = _l("TEST MODE — no money moved.")


def receipt_donor_name(stored: str) -> str:
    """The name on a receipt as the current language writes it: a name as given, or the words
    for an anonymized donor (never the stored English in a Japanese receipt)."""
    return str(ANONYMIZED_NAME_LABEL) if stored == ANONYMIZED_NAME else stored


def donor_name_label(name: str | None) -> str:
    """The donor's name as a receipt prints it in the current language: in Japanese with 様
    after it, the anonymized marker translated (never stored English), "" when none."""
    if not name:
        return ""
    if name == ANONYMIZED_NAME:
        return receipt_donor_name(name)
    return pgettext("the donor's name on a receipt", "%(name)s", name=name)


def purpose_text(purpose: str | None, general_fund: bool) -> str:
    """What a gift was for, in the current language: the case's public title, or the stored
    English purposes (general fund, a case that is not public) translated."""
    if general_fund or not purpose or purpose == GENERAL_FUND:
        return str(GENERAL_FUND_LABEL)
    if purpose == PRIVATE_CASE:
        return str(PRIVATE_CASE_LABEL)
    return purpose


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
        raise Conflict(_("Only a recorded gift gets a receipt."))

    case = donation.case
    donor = donation.donor
    receipt = Receipt(
        number=NUMBER_FORMAT % next_value("receipt"),
        donation=donation,
        amount_minor=donation.amount_minor,
        currency=donation.currency,
        purpose=(GENERAL_FUND if case is None
                 # the title in the language the donor gave in (RescueCase.text)
                 else case.text(known(donation.locale) or default_locale()).title if case.is_public
                 else PRIVATE_CASE),
        # The name given on this gift (or none): never the stored donor's, which someone
        # else's gift with the same email would otherwise put on this receipt.
        donor_name=donation.receipt_name or donation.display_name or "",
        issued_at=utcnow(),
    )
    db.session.add(receipt)
    db.session.flush()

    if donor is not None and donor.email:
        with language(donation.locale):
            subject = _("Your receipt %(number)s", number=receipt.number)
            body = receipt_text(receipt)
        outbox.queue("receipt", f"receipt:{receipt.number}", donor.email, subject, body,
                     locale=donation.locale)
    return receipt


def receipt_text(receipt: Receipt) -> str:
    """The receipt as plain text in the donor's language (the donation's ``locale``): the
    email body, and a downloadable receipt. Amounts as that language writes them
    (¥5,000 / 5,000円), the date as a long date (September 1, 2025 / 2025年9月1日).

    Uses only the receipt's frozen fields and the donation's public id and gateway.
    """
    donation = receipt.donation
    issued_on = as_utc(receipt.issued_at).astimezone(local_zone()).date()
    with language(donation.locale):
        locale = current_locale()
        purpose = purpose_text(receipt.purpose, donation.case_id is None)
        name = donor_name_label(receipt.donor_name)
        lines = [
            _("Thank you for your gift."),
            "",
            _("Receipt number: %(number)s", number=receipt.number),
            _("Date: %(date)s", date=format_date(issued_on, format="long", locale=locale)),
            *([_("Received from: %(name)s", name=name)] if name else []),
            _("Amount: %(amount)s",
              amount=format_money(Money(receipt.amount_minor, receipt.currency), locale)),
            _("Purpose: %(purpose)s", purpose=purpose),
            _("Donation reference: %(reference)s", reference=donation.public_id),
        ]
        if donation.gateway == "sandbox":
            lines += ["", str(TEST_MODE_LINE)]
        lines += ["", _("Please keep this receipt for your records.")]
        if donation.tax_receipt_requested:
            lines += ["", _("You asked for a tax receipt (寄附金受領証明書). It covers a calendar "
                            "year: the one for %(year)d, with this gift, can be downloaded from "
                            "your page from January %(next)d. Sign in with this email address: "
                            "%(link)s", year=issued_on.year, next=issued_on.year + 1,
                            link=public_url("donors.sign_in", lang=locale))]
        identity = current_identity()
        if not identity.is_default:
            # who issued it: the signature under the mail repeats it, a download needs it
            lines += ["", _("Issued by: %(name)s", name=identity.legal_name(locale))]
            lines += [line for line in (identity.address(locale), identity.certification(locale))
                      if line]
    return "\n".join(lines) + "\n"
