"""Public money pages: the transparency report per fiscal year (directors' reports come here)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from tracker.cases.models import RescueCase
from tracker.core import audit, pagecache
from tracker.core.access import public, roles
from tracker.core.errors import DomainError
from tracker.core.money import Money, format_money
from tracker.core.time import current_fiscal_year
from tracker.donations.models import CHANNELS, DONATION_STATUSES
from tracker.extensions import db
from tracker.reports import charts, exports, services
from tracker.reports import funding as funding_module
from tracker.reports.exports import csv_response, major

bp = Blueprint("reports", __name__)


def _known_year(fiscal_year: int) -> list[int]:
    """The fiscal years on record (newest first); 404 unless ``fiscal_year`` is one."""
    years = services.transparency_years()
    if fiscal_year not in years:
        abort(404, description=f"There are no figures for the fiscal year {fiscal_year}. "
                               f"Years on record: {years[-1]} to {years[0]}.")
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
    years = _known_year(fiscal_year)

    def render() -> str:
        return render_template("reports/transparency.html", t=services.transparency(fiscal_year),
                               years=years, current=current_fiscal_year())

    return pagecache.serve(("transparency", fiscal_year), services.transparency_fingerprint, render)


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
        abort(400, description=f"“{raw[:20]}” is not a fiscal year; pick one like 2025.")
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
    """The report's charts as inline SVG."""
    money = lambda minor: format_money(Money(minor, report.currency))  # noqa: E731
    return {
        "months": charts.bar_chart(
            f"Net gifts per month, fiscal year {report.fiscal_year}",
            [(m.strftime("%b"), f.net) for m, f in report.by_month], format_value=money,
            description="Gifts less refunds and disputes, month by month."),
        "channels": charts.hbar_chart(
            "Gifts by channel", [(label, f.gifts) for _, label, f in report.by_channel],
            format_value=money, description="Gross gifts received through each channel."),
        "cases": charts.hbar_chart(
            "Raised per case in the year",
            [(c.title, c.raised_in_year) for c in sorted(
                report.cases, key=lambda c: -c.raised_in_year)[:15] if c.raised_in_year],
            format_value=money, description="The fifteen cases that raised most this year."),
    }


#: table name -> (title, header, rows of a report)
def _summary_rows(r):  # noqa: ANN001, ANN202
    t = r.totals
    return [["Gifts (gross)", major(t.gifts, r.currency)], ["Refunds", major(t.refunds, r.currency)],
            ["Disputes", major(t.disputes, r.currency)],
            ["Corrections", major(t.adjustments, r.currency)], ["Net", major(t.net, r.currency)],
            ["Card fees", major(t.fees, r.currency)],
            ["Net after fees", major(t.net_after_fees, r.currency)], ["Gifts (count)", t.gift_count],
            ["Average gift", major(r.average_gift, r.currency)],
            ["Median gift", major(r.median_gift, r.currency)],
            ["People rescued", r.people_rescued], ["Paid out", major(r.spent, r.currency)],
            ["Paid out per person rescued", major(r.spent_per_person, r.currency)],
            ["Donors", r.donors.active], ["New donors", r.donors.new],
            ["Returning donors", r.donors.returning], ["LYBUNT donors", r.donors.lybunt],
            ["SYBUNT donors", r.donors.sybunt]]


def _flow_cells(f, currency):  # noqa: ANN001, ANN202
    return [f.gift_count, major(f.gifts, currency), major(f.refunds, currency),
            major(f.disputes, currency), major(f.adjustments, currency), major(f.net, currency),
            major(f.fees, currency), major(f.net_after_fees, currency)]


FLOW_HEADER = ["gifts (count)", "gifts", "refunds", "disputes", "corrections", "net", "fees",
               "net after fees"]

TABLES = {
    "summary": ("Summary", lambda r: ["figure", f"amount ({r.currency})"], _summary_rows),
    "months": ("By month", lambda r: ["month", *FLOW_HEADER],
               lambda r: [[m.strftime("%Y-%m"), *_flow_cells(f, r.currency)] for m, f in r.by_month]),
    "channels": ("By channel", lambda r: ["channel", *FLOW_HEADER],
                 lambda r: [[label, *_flow_cells(f, r.currency)] for _, label, f in r.by_channel]),
    "currencies": ("By currency", lambda r: [
        "currency", "gifts (original)", "refunds (original)", "disputes (original)",
        "net (original)", *[f"{h} ({r.currency})" for h in FLOW_HEADER]],
        lambda r: [[c.currency, major(c.original_gifts, c.currency),
                    major(c.original_refunds, c.currency), major(c.original_disputes, c.currency),
                    major(c.original_net, c.currency), *_flow_cells(c.base, r.currency)]
                   for c in r.by_currency]),
    "cases": ("Cases", lambda r: [
        "case", "title", "status", "goal", "raised in year", "raised to year end", "paid out in year",
        "people", "rescued in year", "rescued to date"],
        lambda r: [[c.slug, c.title, c.status, major(c.goal, r.currency),
                    major(c.raised_in_year, r.currency), major(c.raised_to_date, r.currency),
                    major(c.spent_in_year, r.currency), c.people, c.rescued_in_year,
                    c.rescued_to_date] for c in r.cases]),
}
LAPSED = ("lybunt", "sybunt")


@bp.route("/reports/<int:fiscal_year>/<table>.csv")
@roles(*DIRECTORS)
def funding_csv(fiscal_year: int, table: str):
    """Any table of the report as CSV; lybunt/sybunt give the full lists of lapsed donors."""
    _known_year(fiscal_year)
    if table not in TABLES and table not in LAPSED:
        abort(404, description=f"There is no table “{table[:40]}”; pick one of "
                               f"{', '.join([*TABLES, *LAPSED])}.")
    audit.record("report.exported", "reports", after={"fiscal_year": fiscal_year, "table": table})
    db.session.commit()
    if table in LAPSED:
        donors = funding_module.lapsed_donors(table, fiscal_year)
        return csv_response(f"{table}-fy{fiscal_year}.csv", ["donor", "name", "email", "last gift month"],
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
        audit.record("report.exported", "donations", after={"filters": filters.as_args()})
        db.session.commit()
        return csv_response("donations.csv", exports.DONATION_HEADER,
                            exports.stream_donations(current_app._get_current_object(), filters))
    rows = [exports.donation_row(d) for d in db.session.scalars(
        exports.donations_query(filters).limit(100)).unique()]
    return render_template(
        "reports/donations.html", rows=rows, filters=filters, args=request.args, error=None,
        header=exports.DONATION_HEADER, case_choices=_case_choices(), options=_filter_options())


def _case_choices() -> list[tuple[str, str]]:
    return [("general", "General fund"), *db.session.execute(
        db.select(RescueCase.slug, RescueCase.public_title).order_by(RescueCase.public_title)).all()]


def _filter_options() -> dict[str, list[str]]:
    return {"channel": list(CHANNELS), "status": list(DONATION_STATUSES),
            "currency": list(current_app.config["TRACKER_CURRENCIES"])}
