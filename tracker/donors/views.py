"""A donor's own page under /my: sign in with an emailed link, see every gift, download the
receipts (one per gift, and one per fiscal year).

Every route is public to the access check (``tracker.core.access``): donors have no staff
account. The donor's pages check the donor's own session instead (``session["donor_id"]``,
apart from Flask-Login's staff session) and send anyone without one to /my/sign-in. The
session ends after TRACKER_SESSION_IDLE_MINUTES without a request or TRACKER_SESSION_MAX_HOURS
in all, like a staff session (``tracker.accounts.auth.session_ended``), and when the donor
signs out or is anonymized. Nothing under /my is stored by a browser or proxy
(``tracker.web.security``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from tracker.accounts import auth
from tracker.core import confirm
from tracker.core.access import public
from tracker.core.errors import DomainError, form_status
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale, language
from tracker.core.links import public_url
from tracker.core.money import Money, format_money, parse_amount
from tracker.core.transactions import transaction
from tracker.donations.models import Donor
from tracker.donors import pdf, services, tax
from tracker.donors.forms import ButtonForm, LinkRequestForm, MonthlyAmountForm, TaxAddresseeForm
from tracker.monthly import services as recurring
from tracker.monthly.models import CANCELED
from tracker.payments.gateway import GatewayError

bp = Blueprint("donors", __name__, url_prefix="/my")

#: the confirmation token's name for cancelling a monthly gift (tracker.core.confirm)
CANCEL_ACTION = "monthly.cancel"

#: the donor's session, kept apart from the staff session's keys
DONOR_ID, SIGN_IN_ID, STARTED, SEEN = "donor_id", "donor_sign_in", "donor_signed_in_at", "donor_seen_at"
DONOR_KEYS = (DONOR_ID, SIGN_IN_ID, STARTED, SEEN)


def _forget_donor() -> None:
    for key in DONOR_KEYS:
        session.pop(key, None)


def signed_in_donor() -> Donor | None:
    """The donor signed in in this browser, or None. A session that ran out (idle, too old,
    signed out elsewhere, donor anonymized) is forgotten here, with a word to the donor."""
    if DONOR_ID not in session:
        return None
    donor = None
    if auth.session_ended(STARTED, SEEN) is None:
        donor = services.session_donor(session.get(DONOR_ID), session.get(SIGN_IN_ID))
    if donor is None:
        _forget_donor()
        flash(_("Your session ended; please sign in again."), "info")
    return donor


def donor_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view gets the signed-in donor as its first argument; without one, the visitor is
    sent to ask for a sign-in link."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        donor = signed_in_donor()
        if donor is None:
            return redirect(url_for("donors.sign_in"))
        return view(donor, *args, **kwargs)

    return wrapper


def link_url(token: str, locale: str) -> str:
    """The absolute URL of a sign-in link, for the email, opening in ``locale`` (``?lang=``,
    which the pages after it keep).

    On TRACKER_PUBLIC_URL when that is set: anyone may ask for a link for anyone's address,
    and a link built on the request's Host header would let them send a donor a link to a
    host of their choosing, which would then receive the donor's token when it is opened.
    """
    return public_url("donors.link", token=token, lang=locale)


def _pdf(donor: Donor, document: Any, make: Callable[[Any], bytes], filename: str) -> Response:
    """``make(document)`` as a PDF download in the donor's language (the page's when the
    donor's is not known); 404 when there is no such document for this donor."""
    if document is None:
        abort(404)
    with language(donor.locale or current_locale()):
        body = make(document)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- signing in ------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    """Ask for a sign-in link. The answer is the same page whether or not the address is a
    donor's; a link is emailed only to a known donor."""
    if DONOR_ID in session and signed_in_donor() is not None:
        return redirect(url_for("donors.page"))
    form = LinkRequestForm()
    if form.validate_on_submit():
        try:
            with transaction():
                services.request_link(form.email.data, link_url)
        except DomainError as exc:
            apply_error(form, exc)
            return render_template("donors/sign_in.html", form=form), form_status(exc)
        return render_template("donors/link_sent.html")
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("donors/sign_in.html", form=form), status


def _link_gone() -> tuple[str, int]:
    return render_template("donors/link_gone.html"), 410


@bp.route("/sign-in/<token>", methods=["GET", "POST"])
@public
def link(token: str):
    """The page a sign-in link opens: a button that signs in (GET), and the button (POST).

    Opening the link uses nothing (mail scanners open links to look at them), so it still
    works when the donor presses the button. Pressing it signs in once and starts the
    donor's session; a used, expired or unknown link answers 410 and changes nothing.
    """
    form = ButtonForm()
    if request.method == "GET":
        if not services.link_is_open(token):
            return _link_gone()
        return render_template("donors/use_link.html", form=form, token=token)
    if not form.validate_on_submit():
        return render_template("donors/use_link.html", form=form, token=token), 422
    try:
        with transaction():
            sign_in = services.consume_link(token)
    except services.LinkNotValid:
        return _link_gone()
    _forget_donor()
    session[DONOR_ID] = sign_in.donor_id
    session[SIGN_IN_ID] = sign_in.id
    auth.start_session(STARTED, SEEN)
    return redirect(url_for("donors.page"), 303)


@bp.post("/sign-out")
@public
def sign_out():
    """End the donor's session, here and in any copy of its cookie."""
    form = ButtonForm()
    if form.validate_on_submit() and SIGN_IN_ID in session:
        with transaction():
            services.end_session(session.get(SIGN_IN_ID))
    _forget_donor()
    flash(_("You are signed out."), "info")
    return redirect(url_for("donors.sign_in"), 303)


# --- the donor's page ------------------------------------------------------------------------


@bp.get("/")
@public
@donor_required
def page(donor: Donor):
    """Every gift of the signed-in donor, with receipts and annual receipts to download."""
    return _page(donor)


def _page(donor: Donor, amount_form: MonthlyAmountForm | None = None,
          amount_for: str | None = None, status: int = 200,
          tax_form: TaxAddresseeForm | None = None):
    monthly = recurring.gifts_of(donor)
    tax_suggested = False
    if tax_form is None:
        addressee = tax.addressee_of(donor)
        suggestion = tax.suggested_addressee(donor)
        if suggestion is not None:
            # filled in from a gift, never saved until the donor presses save
            addressee, tax_suggested = suggestion, True
        tax_form = TaxAddresseeForm(formdata=None, name=addressee.name, kana=addressee.kana,
                                    postal_code=addressee.postal_code, address=addressee.address)
    return render_template("donors/page.html", donor=donor, page=services.donor_page(donor),
                           tax_form=tax_form, tax_years=tax.tax_years(donor),
                           tax_suggested=tax_suggested,
                           tax_ready=tax.addressee_of(donor).complete,
                           sign_out_form=ButtonForm(), monthly=monthly,
                           monthly_amounts={g.public_id: Money(g.amount_minor, g.currency)
                                            for g in monthly},
                           cancel_form=ButtonForm(), amount_form=amount_form or MonthlyAmountForm(),
                           amount_for=amount_for), status


def _own_monthly(donor: Donor, public_id: str):
    gift = recurring.gift_of(donor, public_id)
    if gift is None:
        abort(404)  # another donor's gift answers exactly like one that does not exist
    return gift


def _donor_label(donor: Donor) -> str:
    return f"donor:{donor.id}"


@bp.post("/monthly/<public_id>/cancel")
@public
@donor_required
def cancel_monthly(donor: Donor, public_id: str):
    """Cancel one of the signed-in donor's monthly gifts: nothing more is taken."""
    gift = _own_monthly(donor, public_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    actor = _donor_label(donor)
    if gift.status != CANCELED and not confirm.confirmed(CANCEL_ACTION, gift.public_id, actor):
        return confirm.ask(
            CANCEL_ACTION, gift.public_id, actor, staff=False,
            title=_("Cancel your monthly gift?"),
            consequences=_cancel_consequences(gift),
            button=_("Cancel this monthly gift"),
            back_url=url_for("donors.page"), back_label=_("Keep my monthly gift"),
        )
    try:
        with transaction():  # then the gateway reports the cancellation
            recurring.cancel_recurring(gift, by=actor)
    except DomainError as exc:
        flash(exc.reason, "error")
        return redirect(url_for("donors.page"), 303)
    except GatewayError:
        flash(_("The payment service did not answer; your monthly gift is unchanged. Please try again."),
              "error")
        return redirect(url_for("donors.page"), 303)
    flash(_("Your monthly gift is cancelled. Nothing more will be taken."), "info")
    return redirect(url_for("donors.page"), 303)


def _cancel_consequences(gift) -> list[str]:  # noqa: ANN001  (a RecurringGift)
    """What cancelling a monthly gift will do, in words and amounts, for the donor."""
    amount = format_money(Money(gift.amount_minor, gift.currency), current_locale())
    if gift.case is not None:
        first = _("Your monthly gift of %(amount)s to “%(title)s” stops now.", amount=amount,
                  title=gift.case.text(current_locale()).title)
    else:
        first = _("Your monthly gift of %(amount)s to the general fund stops now.", amount=amount)
    return [first,
            _("Nothing more will be taken from your card, from the next payment on."),
            _("The gifts you have already made stay as they are, with their receipts.")]


@bp.post("/monthly/<public_id>/amount")
@public
@donor_required
def change_monthly(donor: Donor, public_id: str):
    """Change the amount of one of the signed-in donor's monthly gifts (same currency), from
    the next payment on."""
    gift = _own_monthly(donor, public_id)
    form = MonthlyAmountForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _page(donor, form, public_id, 422)
    try:
        with transaction():  # then the gateway reports the new amount
            amount = parse_amount(form.amount.data, gift.currency, locale=current_locale())
            recurring.change_recurring_amount(gift, amount, by=_donor_label(donor))
    except DomainError as exc:  # MoneyError is one too
        form.amount.errors = [exc.reason]
        return _page(donor, form, public_id, form_status(exc))
    except GatewayError:
        form.amount.errors = [_("The payment service did not answer; your monthly gift is "
                                "unchanged. Please try again.")]
        return _page(donor, form, public_id, 503)
    flash(_("From the next payment on, your monthly gift is %(amount)s.",
            amount=format_money(amount, current_locale())), "info")
    return redirect(url_for("donors.page"), 303)


@bp.get("/receipts/<number>.pdf")
@public
@donor_required
def receipt(donor: Donor, number: str):
    """One of the donor's receipts as a PDF, in their language. Another donor's receipt is
    a 404, exactly like a receipt that does not exist."""
    return _pdf(donor, services.receipt_of(donor, number), pdf.receipt_pdf, f"receipt-{number}.pdf")


@bp.get("/annual/<int:fiscal_year>.pdf")
@public
@donor_required
def annual(donor: Donor, fiscal_year: int):
    """The donor's annual receipt for a fiscal year (named by the year it starts in) as a
    PDF, in their language; 404 for a year without their gifts."""
    return _pdf(donor, services.annual_receipt(donor, fiscal_year), pdf.annual_pdf,
                f"annual-receipt-FY{fiscal_year}.pdf")


# --- tax receipts (寄附金受領証明書) ------------------------------------------------------------


@bp.post("/tax-addressee")
@public
@donor_required
def tax_addressee(donor: Donor):
    """Set who the donor's tax receipts are made out to."""
    form = TaxAddresseeForm()
    if not form.validate_on_submit():
        return _page(donor, tax_form=form, status=422)
    try:
        with transaction():
            tax.set_addressee(donor, form.name.data or "", form.kana.data or "",
                              form.postal_code.data or "", form.address.data or "")
    except DomainError as exc:
        getattr(form, exc.field or "name").errors = [exc.reason]
        return _page(donor, tax_form=form, status=422)
    flash(_("Your tax receipts will be made out to %(name)s.", name=donor.tax_name), "info")
    return redirect(url_for("donors.page") + "#tax-receipts", 303)


@bp.get("/tax/<int:year>.pdf")
@public
@donor_required
def tax_receipt(donor: Donor, year: int):
    """The donor's tax receipt for a calendar year that is over, in their language; each
    download is recorded as an issue (a second copy says it is a reissue). 404 for a year
    without gifts or not over; the page asks for the addressee first when it is not set."""
    if not tax.addressee_of(donor).complete:
        flash(_("First enter who the tax receipt is made out to."), "error")
        return redirect(url_for("donors.page") + "#tax-receipts", 303)
    with transaction():
        document = tax.tax_receipt(donor, year)
    return _pdf(donor, document, pdf.tax_receipt_pdf, f"tax-receipt-{year}.pdf")
