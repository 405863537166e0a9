"""Giving: the donation form, the hand-off to checkout and the thank-you page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_name
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from tracker.cases import public as public_view
from tracker.cases.models import RescueCase
from tracker.core.access import public
from tracker.core.errors import DomainError
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale, language
from tracker.core.money import Money, exponent, format_money, format_plain, parse_amount
from tracker.core.transactions import transaction
from tracker.donations import pledges, receipts, services
from tracker.donations import recording as payments
from tracker.donations.forms import DonationForm
from tracker.donations.models import PENDING, SUCCEEDED, Donation
from tracker.donors import pdf
from tracker.donors import services as donor_services
from tracker.donors.views import signed_in_donor
from tracker.extensions import db
from tracker.monthly import services as recurring
from tracker.monthly.models import RecurringGift
from tracker.organization.identity import current_identity
from tracker.payments.gateway import (
    CheckoutRequest,
    CheckoutStart,
    GatewayError,
    SubscriptionCheckoutRequest,
    get_gateway,
)
from tracker.site.public import case_fingerprint
from tracker.web import pagecache

bp = Blueprint("donations", __name__)

#: the words for a gift that did not go through, on its thank-you page
STATUS_LABELS = {"failed": _l("failed"), "expired": _l("expired"), "flagged": _l("flagged")}

#: the session key listing the gifts started in this browser (newest last), whose receipts
#: its thank-you pages offer as a PDF even when no email was given
GIFTS_HERE = "gifts_here"
GIFTS_REMEMBERED = 10

GATEWAY_DOWN = _l("The payment service did not answer. Nothing was charged; please try again.")


def default_currency(currencies: list[str], locale: str) -> str:
    """The currency the form opens with: yen on Japanese pages, US dollars on English ones
    (when configured), else the first configured currency."""
    wanted = {"ja": "JPY", "en": "USD"}.get(locale)
    return wanted if wanted in currencies else currencies[0]


def _form() -> DonationForm:
    currencies = current_app.config["TRACKER_CURRENCIES"]
    form = DonationForm()
    locale = current_locale()
    labels = {(c, m): format_money(Money(m, c), locale, drop_zero_cents=True) for c in currencies
              for m in services.PRESETS.get(c, ())}
    names = {c: get_currency_name(c, locale=locale) for c in currencies}
    form.configure(names, services.PRESETS, labels)
    if not form.is_submitted():
        chosen = default_currency(currencies, locale)
        form.currency.data = chosen
        first = services.PRESETS.get(chosen, ())
        form.preset.data = f"{chosen}:{first[1]}" if len(first) > 1 else "other"
    return form


def _gift_amount(form: DonationForm) -> Money:
    """The amount in the chosen currency: a typed amount wins over a preset (typing in the box
    is the donor's latest word; the page's script clears the preset as they type); else the
    chosen preset, which must be one of the chosen currency's (a DomainError at "preset"
    otherwise: the server never converts or guesses)."""
    typed = (form.amount.data or "").strip()
    # blank (or only spaces: the form's Optional() lets them through unchecked) is no choice
    chosen = (form.preset.data or "").strip()
    preset = chosen if chosen and chosen != "other" else None
    preset_currency, _sep, minor = (preset or "").partition(":")
    currency = (form.currency.data or "").strip() or preset_currency
    if not currency:
        raise DomainError(_("Choose the currency you want to give in."), field="currency")
    if typed:
        return parse_amount(typed, currency, locale=current_locale())
    if preset is None:
        raise DomainError(_("Type the amount you want to give."), field="amount")
    if preset_currency != currency:
        raise DomainError(_("The amount you chose is not in the currency you chose. Choose one "
                            "of the amounts in %(currency)s, or type one.",
                            currency=get_currency_name(currency, locale=current_locale())),
                          field="preset")
    return Money(int(minor), currency)


def _tax_receipt(form: DonationForm) -> dict:
    """What the donor typed for a tax receipt (checked by the service, and only when asked)."""
    return {"tax_receipt": bool(form.tax_receipt.data),
            "receipt_name": form.receipt_name.data or "",
            "receipt_kana": form.receipt_kana.data or "",
            "receipt_postal_code": form.receipt_postal_code.data or "",
            "receipt_address": form.receipt_address.data or ""}


def _description(case: RescueCase | None) -> str:
    """What the gateway's page calls the gift: the case's public title, nothing else."""
    return (_("Gift: %(title)s", title=case.text(current_locale()).title) if case
            else _("Gift: general fund"))[:200]


def _signed_in_donor_id() -> int | None:
    """The donor signed in on this browser, who alone may change their stored details by
    giving (see ``services.prepare_donor``)."""
    donor = signed_in_donor()
    return donor.id if donor is not None else None


def _public_case(case_id: int | None) -> RescueCase | None:
    """The gift's case for its thank-you page, if the public may see it: a case staff took
    off the public site is not named (the page then reads like a gift without a case, as the
    receipt says "A rescue case")."""
    case = db.session.get(RescueCase, case_id) if case_id is not None else None
    return case if case is not None and case.is_public else None


def _cancel_url(case: RescueCase | None) -> str:
    return (url_for("donations.give_to_case", slug=case.slug, _external=True)
            if case else url_for("donations.give", _external=True))


@dataclass(frozen=True, slots=True)
class _Checkout:
    """A gift waiting for its checkout: how to ask the gateway for one, and how to record
    what became of the request (each in its own transaction)."""

    open: Callable[[], CheckoutStart]
    started: Callable[[str], None]
    failed: Callable[[], None]


def _hand_off(form: DonationForm, begin: Callable[[], _Checkout]):
    """The money path, written once for one-off and monthly gifts: create the pending gift and
    commit it *before* calling the gateway (the checkout's idempotency key and metadata point
    at it, whatever happens next); then open the checkout and record its session, or mark
    the gift as not started when the gateway does not answer. Returns the redirect to the
    checkout, or None with the form's errors set."""
    try:
        with transaction():
            checkout = begin()
    except DomainError as exc:
        apply_error(form, exc)
        return None
    try:
        with transaction():
            start = checkout.open()
            checkout.started(start.session_id)
    except GatewayError:
        with transaction():
            checkout.failed()
        form.form_errors.append(str(GATEWAY_DOWN))
        return None
    return redirect(start.url, code=303)


def _give_once(case: RescueCase | None, form: DonationForm):
    """Start a one-off gift and send the donor to the gateway's checkout."""
    gateway = get_gateway()

    def begin() -> _Checkout:
        gift = services.GiftInput(
            amount=_gift_amount(form), name=form.name.data or "", email=form.email.data or None,
            message=form.message.data or "", wall=form.wall.data,
            wants_updates=bool(form.wants_updates.data) and case is not None,
            locale=current_locale(), signed_in_donor_id=_signed_in_donor_id(),
            cover_fee=bool(form.cover_fee.data), **_tax_receipt(form),
        )
        donation = services.start_donation(case, gift, gateway.name)
        _remember_gift(donation.public_id)
        request = CheckoutRequest(
            donation_id=donation.public_id,
            amount=Money(donation.amount_minor, donation.currency),
            fee_cover=Money(donation.fee_cover_minor, donation.currency),
            fee_cover_label=_("Payment fee covered"),
            description=_description(case),
            success_url=url_for("donations.thanks", public_id=donation.public_id, _external=True),
            cancel_url=_cancel_url(case),
            customer_email=donation.donor.email if donation.donor else None,
            locale=donation.locale,
        )
        return _Checkout(open=lambda: gateway.create_checkout(request),
                         started=lambda session_id: services.checkout_started(donation.id, session_id),
                         failed=lambda: services.checkout_failed(donation.id))

    return _hand_off(form, begin)


def _give_monthly(case: RescueCase | None, form: DonationForm):
    """Start a monthly gift and send the donor to the gateway's subscription checkout."""
    gateway = get_gateway()

    def begin() -> _Checkout:
        gift = services.GiftInput(
            amount=_gift_amount(form), name=form.name.data or "", email=form.email.data or None,
            wall=form.wall.data, locale=current_locale(), signed_in_donor_id=_signed_in_donor_id(),
            **_tax_receipt(form),
        )
        monthly = recurring.start_recurring(case, gift, gateway.name)
        request = SubscriptionCheckoutRequest(
            recurring_gift_id=monthly.public_id,
            amount=Money(monthly.amount_minor, monthly.currency),
            description=_description(case),
            success_url=url_for("donations.monthly_thanks", public_id=monthly.public_id,
                                _external=True),
            cancel_url=_cancel_url(case), customer_email=monthly.donor.email,
            locale=monthly.locale,
        )
        return _Checkout(open=lambda: gateway.create_subscription_checkout(request),
                         started=lambda session_id: recurring.checkout_started(monthly.id, session_id),
                         failed=lambda: recurring.checkout_failed(monthly.id))

    return _hand_off(form, begin)


def _pledge(case: RescueCase | None, form: DonationForm):
    """Record a pledge to transfer to our own account (no checkout) and show its details."""
    if form.frequency.data == "monthly":
        form.form_errors.append(_("A transfer to our account is for one-off gifts: choose "
                                  "“Give once”, or pay monthly online."))
        return None
    try:
        with transaction():
            pledge = pledges.create_pledge(case, _gift_amount(form), name=form.name.data or "",
                                           email=form.email.data or None,
                                           locale=current_locale())
    except DomainError as exc:
        apply_error(form, exc)
        return None
    return redirect(url_for("donations.pledge", public_id=pledge.public_id), code=303)


def _form_page(slug: str | None):
    """The form as everyone first sees it, kept like a public page (validated by the case's
    fingerprint: its progress, whether it takes gifts; 404 for a case the public cannot see)
    with each visitor's CSRF token put in: a spike of donors costs an index probe and a string
    replacement per visit, not a render."""

    def render() -> str:
        case = public_view.get_public_case(slug) if slug is not None else None
        if slug is not None and case is None:
            abort(404)
        return _render_give(case, _form())

    fingerprint = ((lambda: case_fingerprint(slug)) if slug is not None
                   else (lambda: ("general fund",)))
    return pagecache.serve_form(("give", slug or ""), fingerprint, render, generate_csrf)


def _give(case: RescueCase | None):
    if case is not None and not services.accepts_gifts(case):
        # the same notice as the page shows, and nothing read or written
        return render_template("donations/not_taking_gifts.html", case=case), 409
    form = _form()
    if form.validate_on_submit():
        if form.bank_transfer.data:
            response = _pledge(case, form)
        else:
            response = (_give_monthly(case, form) if form.frequency.data == "monthly"
                        else _give_once(case, form))
        if response is not None:
            return response
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return _render_give(case, form), status


def _render_give(case: RescueCase | None, form: DonationForm) -> str:
    if case is not None and not services.accepts_gifts(case):
        return render_template("donations/not_taking_gifts.html", case=case)
    progress = public_view.progress_for([case])[case.id] if case else None
    locale = current_locale()
    notes = services.preset_notes(case.id, locale) if case is not None else {}
    return render_template("donations/give.html", form=form, case=case, progress=progress,
                           sandbox=get_gateway().name == "sandbox", notes=notes,
                           fee=_fee_terms(locale),
                           monthly=form.frequency.data == "monthly",
                           tax_receipt=bool(form.tax_receipt.data),
                           transfers=pledges.transfers_offered())


def _fee_terms(locale: str) -> dict:
    """What the page's script needs to say the payment fee live, the same as the server computes
    it (``services.card_fee_cover``): the percent as a fraction, and per currency its fixed
    fee, decimals and how an amount is written around its digits (¥1,080 / 1,080円 / $0.90),
    which the "other amount" box also shows around it, with an example amount in it."""
    config = current_app.config
    numerator, denominator = Decimal(config["TRACKER_CARD_FEE_PERCENT"]).as_integer_ratio()
    currencies = {}
    for code in config["TRACKER_CURRENCIES"]:
        places = exponent(code)
        zero = "0." + "0" * places if places else "0"
        written = format_money(Money(0, code), locale)
        prefix, _sep, suffix = written.partition(zero)
        # what the "other amount" box shows greyed as an example: 2,000 (yen), 20 (dollars)
        example = format_plain(Money(2000 if places == 0 else 20 * 10**places, code))
        currencies[code] = {"places": places, "prefix": prefix, "suffix": suffix,
                            "fixed": config["TRACKER_CARD_FEE_FIXED"].get(code, 0),
                            "placeholder": _("e.g. %(amount)s", amount=example.removesuffix(
                                "." + "0" * places) if places else example)}
    percent = format(Decimal(config["TRACKER_CARD_FEE_PERCENT"]).normalize(), "f")
    return {"numerator": numerator, "denominator": denominator * 100, "percent": percent,
            "currencies": currencies}


@bp.route("/donate", methods=["GET", "POST"])
@public
def give():
    """Give to the general fund."""
    if request.method == "GET":
        return _form_page(None)
    return _give(None)


@bp.route("/cases/<slug>/donate", methods=["GET", "POST"])
@public
def give_to_case(slug: str):
    """Give to one case."""
    if request.method == "GET":
        return _form_page(slug)
    case = public_view.get_public_case(slug)
    if case is None:
        abort(404)
    return _give(case)


@bp.route("/donations/monthly/<public_id>/thanks")
@public
def monthly_thanks(public_id: str):
    """Thank-you page of a monthly gift: active once its first payment is recorded."""
    monthly = db.session.scalar(db.select(RecurringGift).where(RecurringGift.public_id == public_id))
    if monthly is None:
        abort(404)
    return render_template(
        "donations/monthly_thanks.html", monthly=monthly,
        amount=Money(monthly.amount_minor, monthly.currency),
        case=_public_case(monthly.case_id),
    )


@bp.route("/donations/<public_id>/thanks")
@public
def thanks(public_id: str):
    """Thank-you page. It asks the gateway (server-side) about the donation's own session,
    ignoring anything in the URL, and records the payment if the webhook has not yet."""
    donation = db.session.scalar(db.select(Donation).where(Donation.public_id == public_id))
    if donation is None:
        abort(404)
    if donation.status == PENDING and donation.gateway_session_id:
        gateway = get_gateway()
        try:
            with transaction():
                facts = gateway.retrieve_session(donation.gateway_session_id)
                payments.record_payment(facts, gateway)
        except GatewayError:
            pass  # rolled back by the block; we will ask again on the next refresh
        db.session.refresh(donation)
    awaiting = donation.status == PENDING and donation.awaiting_method is not None
    instructions = None
    if awaiting and donation.gateway_payment_intent_id and _given_here(donation.public_id):
        try:
            instructions = get_gateway().payment_instructions(donation.gateway_payment_intent_id)
        except GatewayError:
            instructions = None  # the page says to wait; the details come on the next visit
    return render_template(
        "donations/thanks.html", donation=donation, confirmed=donation.status == SUCCEEDED,
        awaiting=awaiting, instructions=instructions,
        receipt=(receipts.receipt_for(donation)
                 if donation.status == SUCCEEDED and _given_here(donation.public_id) else None),
        waiting=donation.status == PENDING and not awaiting,
        amount=Money(donation.amount_minor, donation.currency),
        case=_public_case(donation.case_id),
        status_labels=STATUS_LABELS,
    )


@bp.route("/donations/pledges/<public_id>")
@public
def pledge(public_id: str):
    """A pledge's page: the amount, our account details and the code for the transfer name.
    Its address is the pledge's opaque id; the page names no donor."""
    found = pledges.find(public_id)
    if found is None:
        abort(404)
    identity = current_identity()
    return render_template(
        "donations/pledge.html", pledge=found, amount=Money(found.amount_minor, found.currency),
        case=_public_case(found.case_id), bank=pledges.bank_lines(identity),
        yucho=pledges.yucho_lines(identity),
        example=pledges.transfer_name_example(found.reference),
        status_labels=pledges.STATUS_LABELS,
    )


def _remember_gift(public_id: str) -> None:
    """Note in this browser's session that it started gift ``public_id``."""
    kept = [g for g in session.get(GIFTS_HERE, []) if isinstance(g, str) and g != public_id]
    session[GIFTS_HERE] = [*kept, public_id][-GIFTS_REMEMBERED:]


def _given_here(public_id: str) -> bool:
    """Whether this browser started gift ``public_id`` (its session says so)."""
    return public_id in session.get(GIFTS_HERE, [])


@bp.get("/donations/<public_id>/receipt.pdf")
@public
def thanks_receipt(public_id: str):
    """The receipt of a gift as a PDF, for the browser that gave it (even without an email),
    in the language it gave in. Any other browser, or a gift without a receipt yet, gets the
    same 404 as a gift that does not exist."""
    document = donor_services.receipt_of_gift(public_id) if _given_here(public_id) else None
    if document is None:
        abort(404)
    locale = db.session.scalar(db.select(Donation.locale).where(Donation.public_id == public_id))
    with language(locale or current_locale()):
        body = pdf.receipt_pdf(document)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{document.number}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
