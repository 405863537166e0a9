"""The staff money desk: every gift with its settlement and ledger, offline gifts typed in,
corrections by audited adjustment, and card refunds through the payment gateway.

Nothing here edits a donation: money changes only by new ledger entries, each audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from tracker import audit
from tracker.audit import AuditEntry
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core import confirm, labels
from tracker.core.access import roles
from tracker.core.errors import Conflict, DomainError, form_status
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale
from tracker.core.money import Money, MoneyError, format_money, parse_amount
from tracker.core.query import BadQuery, int_arg
from tracker.core.time import local_today
from tracker.core.transactions import transaction
from tracker.donations import adjustments, receipts
from tracker.donations import recording as payments
from tracker.donations import services as donation_services
from tracker.donations.adjustments import status_name
from tracker.donations.models import DONATION_STATUSES, SUCCEEDED, Donation, PresetNote
from tracker.donations.staff_forms import (
    GENERAL_FUND,
    AdjustForm,
    MessageDecisionForm,
    OfflineGiftForm,
    RefundForm,
    parse_signed_amount,
)
from tracker.extensions import db
from tracker.ledger import reads
from tracker.ledger.reads import GiftMoney
from tracker.payments.gateway import GatewayError, get_gateway

staff_gifts_bp = Blueprint("staff_gifts", __name__, url_prefix="/staff/gifts")
#: what each preset amount of a case's donation form pays for
staff_presets_bp = Blueprint("staff_presets", __name__, url_prefix="/staff/cases")

STAFF = ("staff", "admin")
PAGE_SIZE = 100
#: the confirmation token's name for a refund (tracker.core.confirm)
REFUND_ACTION = "gift.refund"
GATEWAY_DOWN = _l("The payment service did not answer; nothing was refunded.")
#: cases that may take an offline gift (record_offline_gift refuses the others)
_CLOSED_TO_GIFTS = (workflow.CLOSED, workflow.REQUESTED)


def _money(amount_minor: int | None, currency: str | None) -> Money | None:
    return Money(amount_minor, currency) if amount_minor is not None and currency else None


@dataclass(frozen=True, slots=True)
class GiftRow:
    """One gift as the desk shows it: what the donor paid, what settled, what moved since."""

    donation: Donation
    amount: Money
    gross: Money | None
    fee: Money | None
    net: Money | None
    refunded: Money | None
    adjusted: Money | None
    total: Money | None
    received: datetime | None

    @classmethod
    def build(cls, donation: Donation, money: GiftMoney) -> GiftRow:
        """The row for ``donation`` with its ledger sums (``money``)."""
        base = donation.settled_currency
        return cls(
            donation=donation,
            amount=Money(donation.amount_minor, donation.currency),
            gross=_money(donation.gross_minor, base),
            fee=_money(donation.fee_minor, base),
            net=_money(donation.net_minor, base),
            refunded=_money(money.refunded_minor, base),
            adjusted=_money(money.adjusted_minor, base),
            total=_money(money.total_minor, base),
            received=donation.settled_at or donation.created_at,
        )

    @property
    def channel_label(self) -> str:
        """"Card", "Bank transfer" or "Cash"."""
        return labels.label("channel", self.donation.channel)

    @property
    def donor_name(self) -> str:
        """The donor's name as staff typed it or the donor gave it ("" when none)."""
        donor = self.donation.donor
        return (donor.name if donor is not None else "") or self.donation.display_name or ""


def _rows(donations: list[Donation]) -> list[GiftRow]:
    money = reads.gift_money(d.id for d in donations)
    return [GiftRow.build(d, money.get(d.id, GiftMoney())) for d in donations]


def _gift(public_id: str) -> Donation:
    donation = db.session.scalar(
        db.select(Donation).where(Donation.public_id == public_id[:40])
        .options(joinedload(Donation.case), joinedload(Donation.donor))
    )
    if donation is None:
        abort(404)
    return donation


# --- the list --------------------------------------------------------------------------------


@staff_gifts_bp.route("/")
@roles(*STAFF)
def index():
    """Gifts, newest first; ?case=<slug>|general&status=<status>&before=<id> narrow it down."""
    query = (db.select(Donation).options(joinedload(Donation.case), joinedload(Donation.donor))
             .order_by(Donation.id.desc()))
    problems = []
    case_filter = request.args.get("case", "").strip()[:80]
    status = request.args.get("status", "").strip()[:16]
    try:
        before = int_arg("before", minimum=1)
    except BadQuery:
        before = None
        problems.append(_("The page marker must be a number."))
    if case_filter == GENERAL_FUND:
        query = query.where(Donation.case_id.is_(None))
    elif case_filter:
        case_id = db.session.scalar(db.select(RescueCase.id).where(RescueCase.slug == case_filter))
        if case_id is None:
            problems.append(_("No case with the address '%(slug)s'.", slug=case_filter))
        query = query.where(Donation.case_id == case_id)
    if status:
        if status not in DONATION_STATUSES:
            problems.append(_("'%(status)s' is not a gift status.", status=status))
        query = query.where(Donation.status == status)
    if before is not None:
        query = query.where(Donation.id < before)
    donations = [] if problems else list(db.session.scalars(query.limit(PAGE_SIZE)).unique())
    cases = db.session.execute(
        db.select(RescueCase.slug, RescueCase.public_title).order_by(RescueCase.slug)
    ).all()
    return render_template(
        "staff/gifts.html", rows=_rows(donations), cases=cases, statuses=DONATION_STATUSES,
        status_name=status_name,
        filters={"case": case_filter, "status": status}, problems=problems,
        next_before=donations[-1].id if len(donations) == PAGE_SIZE else None,
    ), (400 if problems else 200)


# --- offline gifts ---------------------------------------------------------------------------


def _offline_form() -> OfflineGiftForm:
    form = OfflineGiftForm()
    cases = db.session.execute(
        db.select(RescueCase.slug, RescueCase.public_title)
        .where(RescueCase.status.not_in(_CLOSED_TO_GIFTS)).order_by(RescueCase.public_title)
    ).all()
    form.configure([(slug, f"{title} ({slug})") for slug, title in cases],
                   current_app.config["TRACKER_CURRENCIES"])
    if not form.is_submitted():
        wanted = request.args.get("case", "")
        form.case.data = wanted if wanted in dict(form.case.choices) else GENERAL_FUND
        form.currency.data = current_app.config["TRACKER_BASE_CURRENCY"]
        form.received_on.data = local_today()
    return form


@staff_gifts_bp.route("/new", methods=["GET", "POST"])
@roles(*STAFF)
def new():
    """Record a bank transfer or cash gift, and issue its receipt (emailed when there is an
    address). ?case=<slug> preselects the case."""
    form = _offline_form()
    status = 200
    if form.validate_on_submit():
        try:
            with transaction():
                amount = parse_amount(form.amount.data, form.currency.data)
                case = None
                if form.case.data != GENERAL_FUND:
                    case = db.session.scalar(
                        db.select(RescueCase).where(RescueCase.slug == form.case.data))
                    if case is None:
                        raise DomainError(_("Choose a case from the list, or the general fund."),
                                          field="case")
                gift = donation_services.OfflineGift(
                    amount=amount, channel=form.channel.data, received_on=form.received_on.data,
                    donor_name=form.donor_name.data.strip(),
                    donor_email=form.donor_email.data or None,
                    reference=(form.reference.data or "").strip(),
                )
                donation = donation_services.record_offline_gift(case, gift)
                receipt = receipts.issue_receipt(donation)
        except DomainError as exc:
            if isinstance(exc, Conflict) and exc.field is None:
                exc.field = "case"  # the only state an offline gift depends on is its case's
            apply_error(form, exc)
            status = form_status(exc)
        else:
            flash(_("Gift recorded; receipt %(number)s issued.", number=receipt.number), "success")
            return redirect(url_for("staff_gifts.show", public_id=donation.public_id))
    elif form.is_submitted():
        status = 422
    return render_template("staff/gifts_new.html", form=form,
                           base_currency=current_app.config["TRACKER_BASE_CURRENCY"]), status


# --- one gift --------------------------------------------------------------------------------


def _render_gift(donation: Donation, *, adjust_form: AdjustForm | None = None,
                 refund_form: RefundForm | None = None, status: int = 200):
    [row] = _rows([donation])
    refund_form = refund_form or RefundForm(formdata=None)
    adjust_form = adjust_form or AdjustForm(formdata=None)
    remaining = None
    if donation.refunded_by_gateway and donation.status == SUCCEEDED:
        money = reads.gift_money([donation.id]).get(donation.id, GiftMoney())
        remaining = Money(donation.amount_minor - money.refunded_original_minor, donation.currency)
        # What the page shows as refunded is what the form says it saw (see RefundForm).
        refund_form.seen_refunded.data = money.refunded_original_minor
    entries = reads.entries_of(donation.id)
    trail = list(db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.object_type == Donation.__tablename__,
                                    AuditEntry.object_id == donation.id)
        .order_by(AuditEntry.id)
    ))
    return render_template(
        "staff/gifts_detail.html", row=row, donation=donation, entries=entries, trail=trail,
        receipt=receipts.receipt_for(donation), remaining=remaining,
        adjust_form=adjust_form, refund_form=refund_form, money_of=_money,
        status_name=status_name, message_form=MessageDecisionForm(),
    ), status


@staff_gifts_bp.route("/<public_id>")
@roles(*STAFF)
def show(public_id: str):
    """One gift: settlement, ledger entries, receipt, audit trail and what can be done."""
    return _render_gift(_gift(public_id))


@staff_gifts_bp.route("/<public_id>/adjust", methods=["POST"])
@roles(*STAFF)
def adjust(public_id: str):
    """Correct an offline gift by a signed base-currency amount; the reason is required."""
    donation = _gift(public_id)
    form = AdjustForm()
    status = 422
    if form.validate_on_submit():
        try:
            with transaction():
                amount = parse_signed_amount(form.amount.data,
                                             donation.settled_currency
                                             or current_app.config["TRACKER_BASE_CURRENCY"])
                adjustments.adjust_gift(donation, amount.amount_minor, form.reason.data,
                                        current_user._get_current_object())
        except DomainError as exc:
            apply_error(form, exc)
            status = form_status(exc)
        else:
            flash(_("Adjustment booked."), "success")
            return redirect(url_for("staff_gifts.show", public_id=public_id))
    return _render_gift(_gift(public_id), adjust_form=form, status=status)


@staff_gifts_bp.route("/<public_id>/refund", methods=["POST"])
@roles(*STAFF)
def refund(public_id: str):
    """Refund a card gift through the gateway, all that is left or part of it."""
    donation = _gift(public_id)
    form = RefundForm()
    status = 422
    if form.validate_on_submit():
        seen = form.seen_refunded.data
        try:
            with transaction():
                if (form.amount.data or "").strip():
                    amount_minor = parse_amount(form.amount.data, donation.currency).amount_minor
                else:
                    # Blank means everything that was left when the form was shown.
                    amount_minor = donation.amount_minor - seen
                actor = confirm.staff_actor()
                if not confirm.confirmed(REFUND_ACTION, donation.public_id, actor):
                    # (checking wrote nothing, so the block ends keeping nothing)
                    locked, _reason, refunded = payments.check_refund(
                        donation, amount_minor, form.reason.data, get_gateway(),
                        expected_refunded_minor=seen)
                    return confirm.ask(
                        REFUND_ACTION, donation.public_id, actor,
                        title=_("Refund gift %(id)s?", id=donation.public_id),
                        consequences=_refund_consequences(locked, amount_minor, refunded),
                        button=_("Refund %(amount)s", amount=format_money(
                            Money(amount_minor, donation.currency), current_locale())),
                        back_url=url_for("staff_gifts.show", public_id=public_id),
                    )
                refund_id = payments.refund_donation(
                    donation, amount_minor, form.reason.data, current_user._get_current_object(),
                    get_gateway(), expected_refunded_minor=seen,
                )
        except DomainError as exc:
            if isinstance(exc, MoneyError):
                exc.field = "amount"  # the currency is the gift's own, never the staff's input
            apply_error(form, exc)
            status = form_status(exc)
        except GatewayError as exc:
            current_app.logger.warning("refund of %s failed: %s", public_id, exc)
            # Nothing was booked; the attempt itself is worth knowing about.
            with transaction():
                audit.record("donation.refund_failed", _gift(public_id), case_id=donation.case_id,
                             after={"error": str(exc)[:200]})
            form.form_errors.append(str(GATEWAY_DOWN))
            status = 502
        else:
            flash(_("Refund %(id)s booked.", id=refund_id), "success")
            return redirect(url_for("staff_gifts.show", public_id=public_id))
    return _render_gift(_gift(public_id), refund_form=form, status=status)


def _refund_consequences(donation: Donation, amount_minor: int, refunded_minor: int) -> list[str]:
    """What a refund will do, in words and amounts."""
    locale = current_locale()
    amount = format_money(Money(amount_minor, donation.currency), locale)
    left = donation.amount_minor - refunded_minor - amount_minor
    total = format_money(Money(donation.amount_minor, donation.currency), locale)
    if donation.channel == "bank_transfer":
        # a bank transfer paid through the payment service goes back to a bank account, which
        # the payment service asks the donor for
        lines = [_("%(amount)s of gift %(id)s (%(total)s in all) goes back to the donor through "
                   "the payment service, which asks them for the bank account to send it to.",
                   amount=amount, id=donation.public_id, total=total)]
    else:
        lines = [_("%(amount)s of gift %(id)s (%(total)s in all) goes back to the card the "
                   "donor paid with, through the payment service.", amount=amount,
                   id=donation.public_id, total=total)]
    if donation.case is not None:
        lines.append(_("The refund is taken from what the case “%(title)s” has raised.",
                       title=donation.case.public_title))
    else:
        lines.append(_("The refund is taken from the general fund."))
    lines.append(_("%(left)s of the gift is left to refund after this.",
                   left=format_money(Money(left, donation.currency), locale)) if left
                 else _("The gift is then refunded in full."))
    return lines


# --- what each preset pays for -----------------------------------------------------------------


@staff_presets_bp.route("/<int:case_id>/presets", methods=["GET", "POST"])
@roles(*STAFF)
def preset_notes(case_id: int):
    """What each preset amount of a case's donation form pays for ("¥30,000 pays a guide for
    one person"), in English and Japanese; an empty box shows no note."""
    case = db.session.get(RescueCase, case_id)
    if case is None:
        abort(404)
    config = current_app.config
    presets = [(c, m) for c in config["TRACKER_CURRENCIES"] for m in donation_services.PRESETS.get(c, ())]
    status, error = 200, None
    if request.method == "POST":
        typed = {(c, m): (request.form.get(f"en-{c}-{m}", "")[:1000],
                          request.form.get(f"ja-{c}-{m}", "")[:1000]) for c, m in presets}
        try:
            with transaction():
                changed = donation_services.save_preset_notes(case, typed)
        except DomainError as exc:
            error, status = exc.reason, form_status(exc)
            current = typed
        else:
            flash(_("Saved: %(count)d notes changed.", count=changed), "success")
            return redirect(url_for("staff_presets.preset_notes", case_id=case.id))
    else:
        rows = db.session.scalars(db.select(PresetNote).where(PresetNote.case_id == case.id))
        current = {(r.currency, r.amount_minor): (r.text_en, r.text_ja) for r in rows}
    locale = current_locale()
    lines = [(c, m, format_money(Money(m, c), locale), *current.get((c, m), ("", "")))
             for c, m in presets]
    return render_template("staff/preset_notes.html", case=case, lines=lines, error=error,
                           maximum=donation_services.PRESET_NOTE_LENGTH), status
