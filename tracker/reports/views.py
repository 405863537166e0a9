"""Public money pages: the transparency report per fiscal year (directors' reports come here)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for

from tracker.core import pagecache
from tracker.core.access import public
from tracker.core.time import current_fiscal_year
from tracker.reports import services

bp = Blueprint("reports", __name__)


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
    years = services.transparency_years()
    if fiscal_year not in years:
        abort(404, description=f"There are no figures for the fiscal year {fiscal_year}. "
                               f"Years on record: {years[-1]} to {years[0]}.")

    def render() -> str:
        return render_template("reports/transparency.html", t=services.transparency(fiscal_year),
                               years=years, current=current_fiscal_year())

    return pagecache.serve(("transparency", fiscal_year), services.transparency_fingerprint, render)
