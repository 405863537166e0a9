"""Staff donor pages: find a donor, see their gifts, give them their data, anonymize them.

Staff and admins only. The export is a download (audited ``donor.exported``, never stored by
a cache); anonymizing needs a reason and the word ANONYMIZE typed out, and is audited
``donor.anonymized`` (see ``tracker.donors.privacy``).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from tracker.core import confirm, labels
from tracker.core.access import roles
from tracker.core.errors import DomainError, form_status
from tracker.core.forms import Form, apply_error
from tracker.core.i18n import current_locale
from tracker.core.money import Money, format_money
from tracker.core.transactions import transaction
from tracker.donations.adjustments import status_name
from tracker.donations.models import Donation, Donor, Receipt
from tracker.donors import anonymize as anonymizing
from tracker.donors import privacy
from tracker.extensions import db
from tracker.monthly.models import CANCELED, RecurringGift
from tracker.payments.gateway import GatewayError

staff_donors_bp = Blueprint("staff_donors", __name__, url_prefix="/staff/donors")

STAFF = ("staff", "admin")
PAGE_SIZE = 100
CONFIRM_WORD = "ANONYMIZE"
#: the confirmation token's name for anonymizing a donor (tracker.core.confirm)
ANONYMIZE_ACTION = "donor.anonymize"
def _channel(channel: str) -> str:
    return labels.label("channel", channel)


class AnonymizeForm(Form):
    """Why, and the confirmation word typed out."""

    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Say why the donor is anonymized.")),
        Length(min=privacy.REASON_MIN, max=privacy.REASON_MAX,
               message=_l("Give a reason of %(min)d to %(max)d characters.",
                          min=privacy.REASON_MIN, max=privacy.REASON_MAX)),
    ])
    confirm = StringField(_l("Type %(word)s to confirm", word=CONFIRM_WORD), validators=[
        DataRequired(_l("Type %(word)s to confirm.", word=CONFIRM_WORD)), Length(max=40),
    ])

    def validate_confirm(self, field) -> None:  # noqa: ANN001
        """Exactly the word (surrounding spaces aside)."""
        if (field.data or "").strip() != CONFIRM_WORD:
            raise ValidationError(_("Type %(word)s in capitals to confirm.", word=CONFIRM_WORD))


def _donor(donor_id: int) -> Donor:
    return db.get_or_404(Donor, donor_id)


@staff_donors_bp.route("/")
@roles(*STAFF)
def index():
    """Donors, newest first; ?q= finds them by part of an email or name, or by id."""
    q = " ".join(request.args.get("q", "").split())[:200]
    gifts = (select(Donation.donor_id, func.count().label("gifts"))
             .group_by(Donation.donor_id).subquery())
    query = (select(Donor, func.coalesce(gifts.c.gifts, 0))
             .outerjoin(gifts, gifts.c.donor_id == Donor.id).order_by(Donor.id.desc()))
    if q:
        needle = q.lower()
        conditions = [Donor.email.contains(needle, autoescape=True),
                      func.lower(Donor.name).contains(needle, autoescape=True)]
        number = q.lstrip("#")
        if number.isdigit() and len(number) < 10:
            conditions.append(Donor.id == int(number))
        query = query.where(or_(*conditions))
    rows = db.session.execute(query.limit(PAGE_SIZE)).all()
    return render_template("staff/donors.html", rows=rows, q=q, limit=PAGE_SIZE)


def _render_donor(donor: Donor, form: AnonymizeForm | None = None, status: int = 200):
    donations = list(db.session.scalars(
        select(Donation).where(Donation.donor_id == donor.id)
        .options(joinedload(Donation.case)).order_by(Donation.id.desc())
    ))
    numbers = dict(db.session.execute(
        select(Receipt.donation_id, Receipt.number)
        .where(Receipt.donation_id.in_([d.id for d in donations] or [-1]))
    ).all())
    gifts = [(d, Money(d.amount_minor, d.currency), numbers.get(d.id)) for d in donations]
    return render_template(
        "staff/donor_detail.html", donor=donor, gifts=gifts,
        form=form or AnonymizeForm(formdata=None), confirm_word=CONFIRM_WORD,
        status_name=status_name, channel_name=_channel,
    ), status


@staff_donors_bp.route("/<int:donor_id>")
@roles(*STAFF)
def show(donor_id: int):
    """One donor: who they are, their gifts, and the privacy actions."""
    return _render_donor(_donor(donor_id))


@staff_donors_bp.route("/<int:donor_id>/export.json")
@roles(*STAFF)
def export(donor_id: int):
    """Everything we hold about the donor, as a JSON download (audited)."""
    donor = _donor(donor_id)
    with transaction():  # the export is audited
        data = privacy.export_donor(donor, actor=current_user._get_current_object())
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="donor-{donor_id}.json"'
    return response


@staff_donors_bp.route("/<int:donor_id>/anonymize", methods=["POST"])
@roles(*STAFF)
def anonymize(donor_id: int):
    """Remove the donor's personal data, keeping their gifts' money (audited)."""
    donor = _donor(donor_id)
    form = AnonymizeForm()
    status = 422
    if donor.anonymized_at is not None:
        # Refused whatever the form says: a second anonymization changes nothing.
        form.form_errors.append(_("This donor was already anonymized on %(date)s; nothing was "
                                  "changed.", date=donor.anonymized_at.strftime("%Y-%m-%d")))
        status = 409
    elif form.validate_on_submit():
        actor = confirm.staff_actor()
        if not confirm.confirmed(ANONYMIZE_ACTION, donor.id, actor):
            return confirm.ask(
                ANONYMIZE_ACTION, donor.id, actor,
                title=_("Anonymize donor #%(id)d?", id=donor.id),
                consequences=_anonymize_consequences(donor),
                button=_("Anonymize this donor"),
                back_url=url_for("staff_donors.show", donor_id=donor.id),
            )
        try:
            with transaction():  # then the gateway reports the cancelled monthly gifts
                done = anonymizing.anonymize_donor(donor, current_user._get_current_object(),
                                                   form.reason.data)
        except DomainError as exc:
            apply_error(form, exc)
            status = form_status(exc)
        except GatewayError:
            # The gateway refused to stop a monthly gift: erasing now would leave it charging
            # a donor who can no longer sign in to stop it. Nothing is erased.
            form.form_errors.append(_("The payment service did not cancel the donor's monthly "
                                      "gift, so nothing was erased. Please try again later."))
            status = 503
        else:
            flash(_("Donor #%(id)d anonymized: %(gifts)d gifts, %(receipts)d receipts, "
                    "%(emails)d emails and %(events)d payment records redacted.",
                    id=donor_id, gifts=done.donations, receipts=done.receipts,
                    emails=done.emails_deleted + done.emails_redacted,
                    events=done.payment_events), "success")
            if done.ledger_memos_left:
                flash(_("%(count)d ledger memos mention the donor; the ledger is append-only, so "
                        "they were left as they are.", count=done.ledger_memos_left), "warning")
            return redirect(url_for("staff_donors.show", donor_id=donor_id))
    return _render_donor(_donor(donor_id), form=form, status=status)


def _anonymize_consequences(donor: Donor) -> list[str]:
    """What anonymizing ``donor`` will do, in words and amounts."""
    totals = db.session.execute(
        select(Donation.currency, func.count(), func.sum(Donation.amount_minor))
        .where(Donation.donor_id == donor.id).group_by(Donation.currency)
        .order_by(Donation.currency)
    ).all()
    gifts = sum(n for _currency, n, _total in totals)
    amounts = ", ".join(format_money(Money(int(total or 0), currency), current_locale())
                        for currency, _n, total in totals)
    receipts = db.session.scalar(
        select(func.count()).select_from(Receipt).join(Donation, Receipt.donation_id == Donation.id)
        .where(Donation.donor_id == donor.id)) or 0
    running = db.session.scalar(
        select(func.count()).select_from(RecurringGift)
        .where(RecurringGift.donor_id == donor.id, RecurringGift.status != CANCELED)
    ) or 0
    lines = [_("The name and email of donor #%(id)d are erased, with the names and messages on "
               "their gifts and what the payment service told us about them.", id=donor.id)]
    if gifts:
        lines.append(ngettext(
            "Their %(num)d gift (%(amounts)s) keeps its amount, date and status; every total "
            "stays the same.",
            "Their %(num)d gifts (%(amounts)s in all) keep their amounts, dates and statuses; "
            "every total stays the same.", gifts, amounts=amounts))
    if receipts:
        lines.append(ngettext("%(num)d receipt then reads “Anonymized donor”.",
                              "%(num)d receipts then read “Anonymized donor”.", receipts))
    if running:
        lines.append(ngettext(
            "Their %(num)d monthly gift is cancelled first, at the payment service: nothing more "
            "is charged. If the payment service refuses, nothing is erased.",
            "Their %(num)d monthly gifts are cancelled first, at the payment service: nothing "
            "more is charged. If the payment service refuses, nothing is erased.", running))
    lines.append(_("Nobody can find out afterwards who they were."))
    return lines
