"""CSV downloads: streamed, spreadsheet-safe, and the filters of the donation list.

A cell that a spreadsheet would read as a formula (text starting with = + - @, a tab or a
carriage return) gets a leading apostrophe. The start is judged after NFKC and after dropping
leading invisible characters, so a full-width ``＝``, a small ``﹦`` or a zero-width space
before ``=`` is caught too (spreadsheets and the people reading them see through those).
Amounts are written as numbers (Decimal in major units), never as text, so a refund's minus
sign stays a number and is not neutralized.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Flask, Response, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from tracker.cases.models import RescueCase
from tracker.cases.services import SLUG_RE
from tracker.core.errors import DomainError
from tracker.core.money import Money, MoneyError, normalize_currency
from tracker.core.time import EARLIEST_MONEY_DAY, local_zone
from tracker.donations.models import CHANNELS, DONATION_STATUSES, Donation
from tracker.extensions import db

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: invisible characters that are not format characters (Cf) but render as nothing
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u034f")


def _invisible(char: str) -> bool:
    # Cf: zero-width spaces and joiners, bidi controls, BOM, soft hyphen, word joiner…
    return unicodedata.category(char) == "Cf" or char in _INVISIBLE


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula, look-alikes included."""
    head = unicodedata.normalize("NFKC", text[:64])
    index = 0
    while index < len(head) and _invisible(head[index]):
        index += 1
    head = head[index:]
    # any other control character at the start (a newline, NUL) is no name either
    return head.startswith(_FORMULA_STARTS) or (head != "" and unicodedata.category(head[0]) == "Cc")


def safe_cell(value: Any) -> Any:
    """A value as it may go into a CSV cell: text that looks like a formula is neutralized."""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def major(minor: int | None, currency: str | None) -> Any:
    """An amount in major units as a number (Decimal), or "" when there is none."""
    if minor is None or not currency:
        return ""
    return Money(minor, currency).to_decimal()


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Response:
    """Stream ``rows`` as a CSV download (UTF-8 with BOM, so spreadsheets read Japanese)."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([safe_cell(h) for h in header])
        for count, row in enumerate(rows, start=1):
            writer.writerow([safe_cell(v) for v in row])
            if count % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response  # (no-store: every /reports response, see tracker.web.security)


# --- the donation list -----------------------------------------------------------------------


@dataclass(frozen=True)
class DonationFilters:
    """Checked filters of the donation list; every field optional."""

    start: date | None = None
    end: date | None = None
    case: str | None = None  # a case slug, or "general" for the general fund
    channel: str | None = None
    currency: str | None = None
    status: str | None = None

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in {
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "", "case": self.case or "",
            "channel": self.channel or "", "currency": self.currency or "",
            "status": self.status or "",
        }.items() if v}


def _day(raw: str, name: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise DomainError(_("Write the from date as YYYY-MM-DD, like 2025-09-01.") if name == "from"
                          else _("Write the to date as YYYY-MM-DD, like 2025-09-01."),
                          field=name) from None
    if day < EARLIEST_MONEY_DAY or day.year > 9000:
        raise DomainError(_("The from date is out of range; check the year.") if name == "from"
                          else _("The to date is out of range; check the year."), field=name)
    return day


def parse_filters(args: Any) -> DonationFilters:
    """Read the donation list's query string; DomainError (with the field) when malformed."""
    start, end = _day(args.get("from", ""), "from"), _day(args.get("to", ""), "to")
    if start and end and start > end:
        raise DomainError(_("The 'from' date is after the 'to' date; swap them."), field="from")
    case = args.get("case", "").strip() or None
    if case and case != "general" and (
            len(case) > 80 or not SLUG_RE.fullmatch(case)
            or db.session.scalar(select(RescueCase.id).where(RescueCase.slug == case)) is None):
        raise DomainError(_("There is no case with that address."), field="case")
    channel = args.get("channel", "").strip() or None
    if channel and channel not in CHANNELS:
        raise DomainError(_("Channel is one of %(choices)s.", choices=", ".join(CHANNELS)),
                          field="channel")
    currency = args.get("currency", "").strip() or None
    if currency:
        try:
            currency = normalize_currency(currency)
        except MoneyError as exc:
            raise DomainError(exc.reason, field="currency") from None
    status = args.get("status", "").strip() or None
    if status and status not in DONATION_STATUSES:
        raise DomainError(_("Status is one of %(choices)s.", choices=", ".join(DONATION_STATUSES)),
                          field="status")
    return DonationFilters(start, end, case, channel, currency, status)


def donations_query(filters: DonationFilters) -> Select:
    """Donations matching ``filters``, newest first (dates are local days, inclusive, of when
    the money arrived)."""
    query = select(Donation).options(joinedload(Donation.case), joinedload(Donation.donor))
    zone = local_zone()
    # the day the money arrived (settled; offline gifts: the day received), else the day given
    when = func.coalesce(Donation.settled_at, Donation.created_at)
    if filters.start:
        query = query.where(when >= datetime.combine(filters.start, time.min, zone))
    if filters.end:
        query = query.where(when < datetime.combine(filters.end + timedelta(days=1), time.min, zone))
    if filters.case == "general":
        query = query.where(Donation.case_id.is_(None))
    elif filters.case:
        query = query.join(RescueCase, RescueCase.id == Donation.case_id).where(
            RescueCase.slug == filters.case)
    if filters.channel:
        query = query.where(Donation.channel == filters.channel)
    if filters.currency:
        query = query.where(Donation.currency == filters.currency)
    if filters.status:
        query = query.where(Donation.status == filters.status)
    return query.order_by(Donation.id.desc())


#: the donation list's columns (the CSV's header row), named in the requesting user's language
DONATION_HEADER = [
    _l("donation"), _l("created (local)"), _l("settled (local)"), _l("case"), _l("channel"),
    _l("gateway"), _l("status"), _l("amount"), _l("currency"), _l("gross"), _l("fee"), _l("net"),
    _l("base currency"), _l("rate"), _l("donor name"), _l("donor email"),
]
#: where donation_row puts the case (its slug, or "general fund"), the channel and the status
DONATION_CASE_COLUMN, DONATION_CHANNEL_COLUMN, DONATION_GATEWAY_COLUMN, DONATION_STATUS_COLUMN = \
    3, 4, 5, 6


def donation_header() -> list[str]:
    """DONATION_HEADER in the request's language, as plain text: a CSV is written after the
    request has ended, when a lazy string would fall back to English."""
    return [str(h) for h in DONATION_HEADER]


def donation_row(d: Donation) -> list[Any]:
    zone = local_zone()
    base = d.settled_currency
    donor = d.donor
    return [
        d.public_id, d.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        d.settled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if d.settled_at else "",
        d.case.slug if d.case else "general fund", d.channel, d.gateway, d.status,
        major(d.amount_minor, d.currency), d.currency, major(d.gross_minor, base),
        major(d.fee_minor, base), major(d.net_minor, base), base or "",
        d.exchange_rate if d.exchange_rate is not None else "",
        (donor.name if donor else "") or d.display_name, donor.email if donor and donor.email else "",
    ]


def stream_donations(app: Flask, filters: DonationFilters) -> Iterator[list[Any]]:
    """Every matching donation as a CSV row, read in chunks (a million rows fit in memory
    only as a stream). The stream runs after the view has returned, so it opens its own
    application context (and database session) for as long as it is read."""
    with app.app_context():
        try:
            result = db.session.execute(donations_query(filters).execution_options(yield_per=2000))
            for (donation,) in result:
                yield donation_row(donation)
        finally:
            db.session.remove()


def base_currency() -> str:
    return current_app.config["TRACKER_BASE_CURRENCY"]
