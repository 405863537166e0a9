"""Monthly giving in the directors' funding report: active monthly donors, the monthly
recurring amount per currency, recurring and one-off revenue, churn; on the page, in the
"monthly" CSV table and in Japanese; nothing about the people in the cases nor donors' emails.

The scenario is made as donors make it (the form, the TEST MODE checkout, ``flask sandbox
advance`` / ``card``, the donor's cancel): four monthly donors and one one-off gift.

* A gives ¥5,000 a month to a case: paid 3 times (¥15,000), active.
* B gives ¥3,000 a month to the general fund: paid once, then the card declines (past due).
* C gives $25.00 a month: paid twice (2 x ¥3,750 at USD=150), then cancels.
* D gives $10.00 a month: paid 3 times (3 x ¥1,500), active.
* E gives ¥10,000 once.

By hand: recurring revenue 15,000 + 3,000 + 7,500 + 4,500 = ¥30,000 in 9 gifts; one-off
¥10,000 in 1; active monthly donors 2 (A, D); monthly recurring amount ¥5,000 and $10.00 (not
added together); churn 1 cancelled of 4 running = 25.0 %.

The sandbox books every payment at the real moment, so all of it falls in the year under way.
A past year is made by moving the gifts' start and cancel dates back and booking one of B's
payments in it (a Core insert, as tests/reports/test_funding.py does for past dates).

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import fresh, pay_on_page, start_gift
from tests.payments.test_recurring import advance, card, reload, subscribe
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core import transactions
from tracker.core.time import current_fiscal_year, fiscal_year_bounds_utc, local_month, local_zone
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.monthly import services as recurring
from tracker.monthly.models import RecurringGift
from tracker.reports.funding import funding_report

SLUG = "six-survivors"
EMAILS = ("a-monthly@example.org", "b-monthly@example.org", "c-monthly@example.org",
          "d-monthly@example.org", "e-once@example.org")
SECRETS = ("Kim Secret-Name", "Hideout above the noodle shop", "+86 555 0100")


@pytest.fixture(autouse=True)
def _mail_to_tmp(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts of these tests go to a temporary folder, never the instance folder."""
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)


@pytest.fixture
def scenario(app: Flask, client, runner) -> dict[str, RecurringGift]:  # noqa: ANN001
    case = make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    case.private_notes, case.private_contact = SECRETS[1], SECRETS[2]
    person = db.session.scalars(sa.select(Beneficiary).where(Beneficiary.case_id == case.id)).first()
    person.private_name = SECRETS[0]
    db.session.commit()
    a = subscribe(client, SLUG, email=EMAILS[0])
    b = subscribe(client, None, email=EMAILS[1], preset="other", amount="3000", currency="JPY")
    c = subscribe(client, None, email=EMAILS[2], preset="USD:2500", currency="USD")
    d = subscribe(client, None, email=EMAILS[3], preset="other", amount="10", currency="USD")
    card(runner, b.gateway_subscription_id, "decline")
    assert "3 paid, 1 failed" in advance(runner, 32)
    recurring.cancel_recurring(reload(c), by="test")
    transactions.commit()
    assert "2 paid" in advance(runner, 32)
    _donation, session_id = start_gift(client, SLUG, preset="other", amount="10000", currency="JPY",
                                       email=EMAILS[4])
    assert pay_on_page(client, session_id).status_code == 303
    gifts = {"a": reload(a), "b": reload(b), "c": reload(c), "d": reload(d)}
    assert {k: g.status for k, g in gifts.items()} == {
        "a": "active", "b": "past_due", "c": "canceled", "d": "active"}
    paid = {k: len(db.session.scalars(sa.select(Donation.id).where(
        Donation.recurring_gift_id == g.id, Donation.status == "succeeded")).all())
        for k, g in gifts.items()}
    assert paid == {"a": 3, "b": 1, "c": 2, "d": 3}
    return gifts


def sign_in(client, auth, make_user, role: str = "director") -> None:  # noqa: ANN001
    user, password = make_user(role)
    assert auth.login(user.email, password).status_code in (302, 303)


def monthly_cells(html: str) -> dict[str, str]:
    """Text of every cell marked data-monthly, tags removed."""
    return {k: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", v)).strip()
            for k, v in re.findall(r'<td data-monthly="([^"]+)">(.*?)</td>', html, re.S)}


def read_csv(response) -> list[list[str]]:  # noqa: ANN001
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


# --- the figures -------------------------------------------------------------------------------


def test_figures_of_the_year_under_way(scenario) -> None:  # noqa: ANN001
    fresh()
    report = funding_report(current_fiscal_year())
    g = report.monthly
    assert (g.active_donors, g.active_gifts, g.past_due_gifts) == (2, 2, 1)
    assert g.monthly_amounts == {"JPY": 5000, "USD": 1000}
    assert [m.currency for m in g.monthly_money] == ["JPY", "USD"]  # the base currency first
    assert (g.recurring_gifts, g.recurring_count) == (30_000, 9)
    assert (g.one_off_gifts, g.one_off_count) == (10_000, 1)
    assert report.totals.gifts == 40_000 and report.totals.gift_count == 10
    assert (g.canceled_in_year, g.running_in_year) == (1, 4)
    assert str(g.churn_percent) == "25.0"
    assert g.year_over is False and g.donors_at_year_end is None


def _move_back(scenario: dict[str, RecurringGift]) -> int:
    """Put the gifts in last fiscal year: A started in it, B before it, C started and ended
    in it, D (as it is) only this year; and book one of B's payments in it. Returns last year."""
    year = current_fiscal_year() - 1
    start, end = fiscal_year_bounds_utc(year, 9, local_zone())
    fresh()
    moves = {"a": (start + timedelta(days=10), None),
             "b": (start - timedelta(days=40), None),
             "c": (start + timedelta(days=20), start + timedelta(days=100))}
    for key, (started, canceled) in moves.items():
        gift = db.session.get(RecurringGift, scenario[key].id)
        gift.started_at = started
        if canceled:
            gift.canceled_at = canceled
    b = scenario["b"]
    at = start + timedelta(days=5)
    donation = Donation(case_id=None, donor_id=b.donor_id, recurring_gift_id=b.id, amount_minor=3000,
                        currency="JPY", channel="card", gateway="sandbox", status="succeeded",
                        settled_currency="JPY", gross_minor=3000, fee_minor=0, net_minor=3000,
                        created_at=at, settled_at=at)
    db.session.add(donation)
    db.session.commit()
    db.session.execute(sa.insert(LedgerEntry.__table__).values(
        kind="gift", amount_minor=3000, currency="JPY", case_id=None, donation_id=donation.id,
        original_amount_minor=3000, original_currency="JPY", memo="test gift", booked_at=at,
        booked_month=local_month(at), created_at=at))
    db.session.commit()
    return year


def test_figures_of_a_past_year(scenario) -> None:  # noqa: ANN001
    year = _move_back(scenario)
    last = funding_report(year).monthly
    assert last.year_over is True
    # at the year's end A and B were running (B's past due counts as running), C had ended
    assert last.donors_at_year_end == 2
    assert (last.canceled_in_year, last.running_in_year) == (1, 3)
    assert str(last.churn_percent) == "33.3"
    assert (last.recurring_gifts, last.recurring_count) == (3000, 1)
    assert (last.one_off_gifts, last.one_off_count) == (0, 0)
    # "now" figures are today's whatever the year
    assert (last.active_donors, last.monthly_amounts) == (2, {"JPY": 5000, "USD": 1000})
    this = funding_report(current_fiscal_year()).monthly
    # this year: A, B and D ran (C ended last year); none cancelled
    assert (this.canceled_in_year, this.running_in_year) == (0, 3)
    assert str(this.churn_percent) == "0.0"


def test_no_monthly_gifts(app: Flask) -> None:
    g = funding_report(current_fiscal_year()).monthly
    assert (g.active_donors, g.monthly_amounts, g.recurring_gifts, g.one_off_gifts) == (0, {}, 0, 0)
    assert g.churn_percent is None


# --- the page and the CSV ----------------------------------------------------------------------


def test_the_page_shows_the_figures(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user)
    page = client.get(f"/reports/{current_fiscal_year()}")
    assert page.status_code == 200 and "private, no-store" in page.headers["Cache-Control"]
    assert monthly_cells(page.text) == {
        "active-donors": "2", "active-gifts": "2", "past-due-gifts": "1",
        "monthly-amount": "¥5,000 · $10.00", "recurring-revenue": "¥30,000 (9 gifts)",
        "one-off-revenue": "¥10,000 (1 gift)", "churn": "25.0% (1 of 4)"}
    assert "Monthly giving" in page.text
    assert "Churn: monthly gifts cancelled in the year, divided by those running" in page.text
    assert "At the year's end" not in page.text  # the year is not over


def test_a_past_year_page_shows_the_years_end(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    year = _move_back(scenario)
    sign_in(client, auth, make_user, "admin")
    page = client.get(f"/reports/{year}")
    assert page.status_code == 200
    cells = monthly_cells(page.text)
    assert cells["donors-at-year-end"] == "2" and cells["churn"] == "33.3% (1 of 3)"
    assert cells["recurring-revenue"] == "¥3,000 (1 gift)" and cells["one-off-revenue"] == "¥0 (0 gifts)"
    assert "At the year's end: donors with a monthly gift" in page.text


def test_the_monthly_csv(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user)
    table = read_csv(client.get(f"/reports/{current_fiscal_year()}/monthly.csv"))
    assert table[0] == ["figure", "currency", "value"]
    assert table[1:] == [
        ["Active monthly donors now", "", "2"], ["Active monthly gifts now", "", "2"],
        ["Monthly gifts with a failed payment now", "", "1"],
        ["Monthly donors at the year's end", "", ""],
        ["Monthly recurring amount", "JPY", "5000"], ["Monthly recurring amount", "USD", "10.00"],
        ["Recurring gifts in the year (count)", "", "9"],
        ["Recurring revenue in the year", "JPY", "30000"],
        ["One-off gifts in the year (count)", "", "1"], ["One-off revenue in the year", "JPY", "10000"],
        ["Monthly gifts cancelled in the year", "", "1"], ["Monthly gifts running in the year", "", "4"],
        ["Churn rate (percent)", "", "25.0"]]


def test_in_japanese(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user)
    year = current_fiscal_year()
    html = client.get(f"/reports/{year}?lang=ja").text
    for text in ("毎月寄付", "現在の毎月寄付の支援者数（有効）", "毎月寄付の月額合計", "解約率",
                 "年度内の毎月寄付による収入", "年度内の単発寄付による収入"):
        assert text in html, text
    cells = monthly_cells(html)
    assert cells["monthly-amount"] == "5,000円 · $10.00"
    assert cells["recurring-revenue"] == "30,000円（寄付9件）"
    assert cells["churn"] == "25.0%（4件中1件）"
    assert "Monthly giving" not in html and "Churn" not in html
    table = read_csv(client.get(f"/reports/{year}/monthly.csv", headers={"Accept-Language": "ja"}))
    assert table[0] == ["項目", "通貨", "値"]
    assert table[5][:2] == ["毎月寄付の月額合計", "JPY"]


def test_nothing_private_on_the_report(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user)
    year = current_fiscal_year()
    shown = [client.get(f"/reports/{year}").text, client.get(f"/reports/{year}?lang=ja").text,
             client.get(f"/reports/{year}/monthly.csv").get_data(as_text=True),
             client.get(f"/reports/{year}/summary.csv").get_data(as_text=True),
             client.get(f"/reports/{year}/cases.csv").get_data(as_text=True)]
    fresh()
    assert db.session.scalar(sa.select(RescueCase.private_notes)) == SECRETS[1]
    for text in shown:
        for secret in (*EMAILS, *SECRETS, "-monthly@", "-once@", "rg_", "sub_sbx_", "cus_sbx_"):
            assert secret not in text, secret


def test_directors_and_admins_only(scenario, client, auth, make_user) -> None:  # noqa: ANN001
    year = current_fiscal_year()
    response = client.get(f"/reports/{year}/monthly.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    sign_in(client, auth, make_user, "staff")
    assert client.get(f"/reports/{year}/monthly.csv").status_code == 403
    assert client.get(f"/reports/{year}").status_code == 403
