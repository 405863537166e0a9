"""Time helpers: UTC storage, the NGO's local time zone and its fiscal year.

Datetimes are stored in UTC. Day boundaries (what counts as "31 August") are taken in the
configured time zone, and fiscal years are named after the calendar year they start in:
with a September start, FY2025 runs from 1 Sept 2025 to 31 Aug 2026, as the NGO writes it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

#: no money date typed by staff (a gift received, a payment made) is earlier than this
EARLIEST_MONEY_DAY = date(2000, 1, 1)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC (a callable default for models)."""
    return datetime.now(UTC)


def local_zone() -> ZoneInfo:
    """The NGO's time zone from TRACKER_TIMEZONE."""
    return ZoneInfo(current_app.config["TRACKER_TIMEZONE"])


def zone_name() -> str:
    """The NGO's time zone as people call it, in the current language: "Japan time" (日本時間)
    for Asia/Tokyo; another zone by its name ("Europe/Berlin time")."""
    name = current_app.config["TRACKER_TIMEZONE"]
    if name == "Asia/Tokyo":
        return _("Japan time")
    return _("%(zone)s time", zone=name)


def local_today() -> date:
    """Today's date in the NGO's time zone."""
    return datetime.now(local_zone()).date()


def local_month(moment: datetime) -> date:
    """The first day of ``moment``'s month in the NGO's time zone (naive values are UTC)."""
    local = as_utc(moment).astimezone(local_zone())
    return date(local.year, local.month, 1)


def as_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values (SQLite hands those back) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def fiscal_year_of(day: date, start_month: int) -> int:
    """The fiscal year a local date falls in, named by the year the fiscal year starts."""
    return day.year if day.month >= start_month else day.year - 1


def fiscal_year_dates(year: int, start_month: int) -> tuple[date, date]:
    """First local day of fiscal ``year`` and first local day of the next one (half-open)."""
    start = date(year, start_month, 1)
    return start, date(year + 1, start_month, 1)


def fiscal_year_bounds_utc(year: int, start_month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The fiscal year as a half-open UTC interval, with day boundaries taken in ``zone``."""
    start, end = fiscal_year_dates(year, start_month)
    return (
        datetime.combine(start, time.min, zone).astimezone(UTC),
        datetime.combine(end, time.min, zone).astimezone(UTC),
    )


def current_fiscal_year() -> int:
    """The fiscal year that today (local time) falls in."""
    return fiscal_year_of(local_today(), current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
