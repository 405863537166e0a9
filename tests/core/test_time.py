"""Fiscal years: named by their start year, day boundaries in the NGO's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tracker.core.time import fiscal_year_bounds_utc, fiscal_year_dates, fiscal_year_of

TOKYO = ZoneInfo("Asia/Tokyo")


def test_fiscal_2015_runs_from_1_september_2015_to_31_august_2016():
    assert fiscal_year_dates(2015, 9) == (date(2015, 9, 1), date(2016, 9, 1))
    assert fiscal_year_of(date(2015, 9, 1), 9) == 2015
    assert fiscal_year_of(date(2016, 8, 31), 9) == 2015
    assert fiscal_year_of(date(2016, 9, 1), 9) == 2016


def test_a_gift_at_23_59_on_31_august_tokyo_time_is_in_the_old_year():
    start, end = fiscal_year_bounds_utc(2025, 9, TOKYO)
    late = datetime(2026, 8, 31, 23, 59, tzinfo=TOKYO).astimezone(UTC)
    assert start <= late < end
    # ...although in UTC it is still 31 August 14:59, and 1 September 00:00 Tokyo is next year.
    assert end == datetime(2026, 8, 31, 15, 0, tzinfo=UTC)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)), st.integers(1, 12))
def test_every_day_falls_in_exactly_the_fiscal_year_whose_dates_contain_it(day, start_month):
    year = fiscal_year_of(day, start_month)
    start, end = fiscal_year_dates(year, start_month)
    assert start <= day < end
