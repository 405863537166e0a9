"""Public money pages: the transparency report per fiscal year (directors' reports come here)."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date, format_skeleton
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tracker import audit
from tracker.cases.models import RescueCase
from tracker.core import labels
from tracker.core.access import public, roles
from tracker.core.errors import DomainError
from tracker.core.i18n import current_locale
from tracker.core.money import Money, format_money
from tracker.core.time import current_fiscal_year
from tracker.core.transactions import transaction
from tracker.donations.models import CHANNELS, DONATION_STATUSES
from tracker.extensions import db
from tracker.reports import charts, exports, services
from tracker.reports import funding as funding_module
from tracker.reports.exports import csv_response, major
from tracker.web import pagecache

bp = Blueprint("reports", __name__)


# --- months and days in the page's language ---------------------------------------------------


def short_month(month: date) -> str:
    """A month's short name: "Nov" in English (as strftime's %b), "11月" in Japanese."""
    return format_date(month, "MMM", locale=current_locale())


def month_year(month: date) -> str:
    """A month of a year: "Nov 2025" in English (as strftime's %b %Y), "2025年11月" in Japanese."""
    return format_skeleton("yMMM", month, locale=current_locale())


def report_day(day: date) -> str:
    """A day written out: "1 September 2025" in English (as the reports always wrote it),
    "2025年9月1日" in Japanese."""
    locale = current_locale()
    if locale == "en":
        return format_date(day, "d MMMM y", locale=locale)
    return format_date(day, "long", locale=locale)


@bp.context_processor
def _date_helpers() -> dict[str, object]:
    return {"short_month": short_month, "month_year": month_year, "report_day": report_day}


def _known_year(fiscal_year: int) -> list[int]:
    """The fiscal years on record (newest first); 404 unless ``fiscal_year`` is one."""
    years = services.transparency_years()
    if fiscal_year not in years:
        abort(404, description=_(
            "There are no figures for the fiscal year %(year)s. Years on record: %(first)s to %(last)s.",
            year=fiscal_year, first=years[-1], last=years[0]))
    return years


@bp.route("/transparency")
@public
def transparency_index():
    """The year under way."""
    return redirect(url_for("reports.transparency", fiscal_year=current_fiscal_year()))


@bp.route("/transparency/<int:fiscal_year>")
@public
def transparency(fiscal_year: int):
    """Money in, money out by category, money held and people rescued in one fiscal year.

    Aggregates only: no case, donor, payee or date finer than the year is named here.
    """

    def fingerprint() -> tuple:
        # inside the fingerprint, so that the page cache's second answers without asking
        # which years there are (an unknown year is a 404 with its explanation)
        return (tuple(_known_year(fiscal_year)), services.transparency_fingerprint())

    def render() -> str:
        return render_template("reports/transparency.html", t=services.transparency(fiscal_year),
                               years=_known_year(fiscal_year), current=current_fiscal_year())

    return pagecache.serve(("transparency", fiscal_year), fingerprint, render)


# --- the directors' funding reports ----------------------------------------------------------

DIRECTORS = ("director", "admin")


@bp.route("/reports")
@roles(*DIRECTORS)
def reports_index():
    """The year under way, or the year picked in the form (?year=2024)."""
    raw = request.args.get("year", "").strip()
    if not raw:
        return redirect(url_for("reports.funding", fiscal_year=current_fiscal_year()))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        abort(400, description=_("“%(value)s” is not a fiscal year; pick one like 2025.",
                                 value=raw[:20]))
    return redirect(url_for("reports.funding", fiscal_year=int(raw)))


@bp.route("/reports/<int:fiscal_year>")
@roles(*DIRECTORS)
def funding(fiscal_year: int):
    """Gifts, refunds, disputes, fees and net; by month, case, channel and currency; donors
    new, returning and lapsed; average and median gift; people rescued and cost per person."""
    years = _known_year(fiscal_year)
    report = funding_module.funding_report(fiscal_year)
    return render_template("reports/funding.html", r=report, years=years,
                           charts=reports_charts(report), tables=TABLES)


def reports_charts(report):  # noqa: ANN001, ANN201
    """The report's charts as inline SVG, in the page's language (titles, month names,
    descriptions and amounts)."""
    locale = current_locale()
    money = lambda minor: format_money(Money(minor, report.currency), locale)  # noqa: E731
    return {
        "months": charts.bar_chart(
            _("Net gifts per month, fiscal year %(year)s", year=report.fiscal_year),
            [(short_month(m), f.net) for m, f in report.by_month], format_value=money,
            description=_("Gifts less refunds and disputes, month by month.")),
        "channels": charts.hbar_chart(
            _("Gifts by channel"), [(str(label), f.gifts) for _key, label, f in report.by_channel],
            format_value=money, description=_("Gross gifts received through each channel.")),
        "cases": charts.hbar_chart(
            _("Raised per case in the year"),
            [(c.title_in(locale)[0], c.raised_in_year) for c in sorted(
                report.cases, key=lambda c: -c.raised_in_year)[:15] if c.raised_in_year],
            format_value=money, description=_("The fifteen cases that raised most this year.")),
    }


#: table name -> (title, header, rows of a report). Headers and the summary's figure names are
#: in the requesting user's language (built at request time, as plain str for the CSV writer,
#: which runs after the request); data cells (numbers, ISO months, codes) are the same in any.
def _summary_rows(r):  # noqa: ANN001, ANN202
    t = r.totals
    return [[_("Gifts (gross)"), major(t.gifts, r.currency)], [_("Refunds"), major(t.refunds, r.currency)],
            [_("Disputes"), major(t.disputes, r.currency)],
            [_("Corrections"), major(t.adjustments, r.currency)], [_("Net"), major(t.net, r.currency)],
            [_("Payment fees"), major(t.fees, r.currency)],
            [_("Payment fees covered by donors"), major(t.fee_cover, r.currency)],
            [_("Net after fees"), major(t.net_after_fees, r.currency)],
            [_("Gifts (count)"), t.gift_count],
            [_("Average gift"), major(r.average_gift, r.currency)],
            [_("Median gift"), major(r.median_gift, r.currency)],
            [_("People rescued"), r.people_rescued], [_("Paid out"), major(r.spent, r.currency)],
            [_("Paid out per person rescued"), major(r.spent_per_person, r.currency)],
            [_("Donors"), r.donors.active], [_("New donors"), r.donors.new],
            [_("Returning donors"), r.donors.returning], [_("LYBUNT donors"), r.donors.lybunt],
            [_("SYBUNT donors"), r.donors.sybunt]]


def _flow_cells(f, currency):  # noqa: ANN001, ANN202
    return [f.gift_count, major(f.gifts, currency), major(f.refunds, currency),
            major(f.disputes, currency), major(f.adjustments, currency), major(f.net, currency),
            major(f.fees, currency), major(f.fee_cover, currency),
            major(f.net_after_fees, currency)]


FLOW_HEADER = [_l("gifts (count)"), _l("gifts"), _l("refunds"), _l("disputes"), _l("corrections"),
               _l("net"), _l("fees"), _l("fee cover"), _l("net after fees")]


def _flow_header() -> list[str]:
    return [str(h) for h in FLOW_HEADER]


def _in_currency(column: str, currency: str) -> str:
    """A column's name with the currency it is in: "net (JPY)"."""
    return _("%(column)s (%(currency)s)", column=column, currency=currency)


def _monthly_rows(r):  # noqa: ANN001, ANN202
    """The monthly-giving figures: (figure, currency, value); counts have no currency."""
    g = r.monthly
    rows = [[_("Active monthly donors now"), "", g.active_donors],
            [_("Active monthly gifts now"), "", g.active_gifts],
            [_("Monthly gifts with a failed payment now"), "", g.past_due_gifts],
            [_("Monthly donors at the year's end"), "",
             g.donors_at_year_end if g.donors_at_year_end is not None else ""]]
    rows += [[_("Monthly recurring amount"), m.currency, major(m.amount_minor, m.currency)]
             for m in g.monthly_money]
    rows += [[_("Recurring gifts in the year (count)"), "", g.recurring_count],
             [_("Recurring revenue in the year"), r.currency, major(g.recurring_gifts, r.currency)],
             [_("One-off gifts in the year (count)"), "", g.one_off_count],
             [_("One-off revenue in the year"), r.currency, major(g.one_off_gifts, r.currency)],
             [_("Monthly gifts cancelled in the year"), "", g.canceled_in_year],
             [_("Monthly gifts running in the year"), "", g.running_in_year],
             [_("Churn rate (percent)"), "", g.churn_percent if g.churn_percent is not None else ""]]
    return rows


TABLES = {
    "summary": (_l("Summary"), lambda r: [_("figure"), _("amount (%(currency)s)", currency=r.currency)],
                _summary_rows),
    "months": (_l("By month"), lambda r: [_("month"), *_flow_header()],
               lambda r: [[m.strftime("%Y-%m"), *_flow_cells(f, r.currency)] for m, f in r.by_month]),
    "channels": (_l("By channel"), lambda r: [_("channel"), *_flow_header()],
                 lambda r: [[str(label), *_flow_cells(f, r.currency)]
                            for _key, label, f in r.by_channel]),
    "currencies": (_l("By currency"), lambda r: [
        _("currency"), _("gifts (original)"), _("refunds (original)"), _("disputes (original)"),
        _("net (original)"), *[_in_currency(h, r.currency) for h in _flow_header()]],
        lambda r: [[c.currency, major(c.original_gifts, c.currency),
                    major(c.original_refunds, c.currency), major(c.original_disputes, c.currency),
                    major(c.original_net, c.currency), *_flow_cells(c.base, r.currency)]
                   for c in r.by_currency]),
    "cases": (_l("Cases"), lambda r: [
        _("case"), _("title"), _("status"), _("goal"), _("raised in year"), _("raised to year end"),
        _("paid out in year"), _("people"), _("rescued in year"), _("rescued to date")],
        lambda r: [[c.slug, c.title, c.status, major(c.goal, r.currency),
                    major(c.raised_in_year, r.currency), major(c.raised_to_date, r.currency),
                    major(c.spent_in_year, r.currency), c.people, c.rescued_in_year,
                    c.rescued_to_date] for c in r.cases]),
    "monthly": (_l("Monthly giving"), lambda r: [_("figure"), _("currency"), _("value")],
                _monthly_rows),
}
LAPSED = ("lybunt", "sybunt")


@bp.route("/reports/<int:fiscal_year>/<table>.csv")
@roles(*DIRECTORS)
def funding_csv(fiscal_year: int, table: str):
    """Any table of the report as CSV; lybunt/sybunt give the full lists of lapsed donors."""
    _known_year(fiscal_year)
    if table not in TABLES and table not in LAPSED:
        abort(404, description=_("There is no table “%(table)s”; pick one of %(tables)s.",
                                 table=table[:40], tables=", ".join([*TABLES, *LAPSED])))
    with transaction():
        audit.record("report.exported", "reports",
                     after={"fiscal_year": fiscal_year, "table": table})
    if table in LAPSED:
        donors = funding_module.lapsed_donors(table, fiscal_year)
        return csv_response(f"{table}-fy{fiscal_year}.csv",
                            [_("donor"), _("name"), _("email"), _("last gift month")],
                            [[d.donor_id, d.name, d.email or "",
                              d.last_gift_month.strftime("%Y-%m") if d.last_gift_month else ""]
                             for d in donors])
    _title, header, rows = TABLES[table]
    report = funding_module.funding_report(fiscal_year)
    return csv_response(f"{table}-fy{fiscal_year}.csv", header(report), list(rows(report)))


@bp.route("/reports/donations")
@roles(*DIRECTORS)
def donations():
    """Every donation, filtered by date range, case, channel, currency and status; the first
    hundred here, all of them as CSV (?format=csv)."""
    try:
        filters = exports.parse_filters(request.args)
    except DomainError as exc:
        return render_template(
            "reports/donations.html", rows=None, filters=None, args=request.args, error=exc,
            case_choices=_case_choices(), options=_filter_options()), 400
    if request.args.get("format") == "csv":
        with transaction():
            audit.record("report.exported", "donations", after={"filters": filters.as_args()})
        return csv_response("donations.csv", exports.donation_header(),
                            exports.stream_donations(current_app._get_current_object(), filters))
    rows = [_shown_row(d) for d in db.session.scalars(
        exports.donations_query(filters).limit(100)).unique()]
    return render_template(
        "reports/donations.html", rows=rows, filters=filters, args=request.args, error=None,
        header=exports.donation_header(), case_choices=_case_choices(), options=_filter_options())


def _shown_row(donation) -> list:  # noqa: ANN001
    """A donation's row as the page shows it: the CSV's row, with the general fund named in
    the page's language (the CSV keeps "general fund", a value like a case's slug) and its
    channel, gateway and status in words (the CSV keeps their codes, which its filters use)."""
    row = exports.donation_row(donation)
    row[exports.DONATION_CHANNEL_COLUMN] = labels.label("channel", donation.channel)
    row[exports.DONATION_STATUS_COLUMN] = labels.label("gift_status", donation.status)
    row[exports.DONATION_GATEWAY_COLUMN] = labels.label("gateway", donation.gateway)
    if donation.case is None:
        row[exports.DONATION_CASE_COLUMN] = _("general fund")
    return row


def _case_choices() -> list[tuple[str, str]]:
    return [("general", _("General fund")), *db.session.execute(
        db.select(RescueCase.slug, RescueCase.public_title).order_by(RescueCase.public_title)).all()]


def _filter_options() -> dict[str, list[str]]:
    return {"channel": list(CHANNELS), "status": list(DONATION_STATUSES),
            "currency": list(current_app.config["TRACKER_CURRENCIES"])}
