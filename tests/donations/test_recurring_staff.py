"""The staff page of monthly gifts (/staff/recurring/): every gift with its donor, case,
amount, status, dates and failed attempts, counts per status and a status filter; staff and
admins only. The gifts are made as donors make them (the form and the TEST MODE checkout) and
moved on with ``flask sandbox advance`` / ``card`` and the donor's cancel, as in
tests/payments/test_recurring.py.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import fresh
from tests.payments.test_recurring import advance, card, reload, start_monthly, subscribe
from tracker.core import transactions
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly import services as recurring
from tracker.web.templating import local_datetime

SLUG = "six-survivors"


@pytest.fixture(autouse=True)
def _mail_to_tmp(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts of these tests go to a temporary folder, never the instance folder."""
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)


@pytest.fixture
def gifts(app: Flask, client, runner) -> dict:  # noqa: ANN001
    """Four monthly gifts: one paying, one whose renewal failed, one cancelled, one never
    paid (the donor left the checkout)."""
    make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")
    paying = subscribe(client, SLUG, email="paying@example.org", name="Aiko", wall="name")
    failing = subscribe(client, None, email="failing@example.org", preset="other", amount="3000",
                        currency="JPY")
    leaving = subscribe(client, None, email="leaving@example.org", preset="USD:2500", currency="USD")
    card(runner, failing.gateway_subscription_id, "decline")
    assert "2 paid, 1 failed" in advance(runner, 32)
    recurring.cancel_recurring(reload(leaving), by="test")
    transactions.commit()
    waiting, _path = start_monthly(client, SLUG, email="waiting@example.org")
    found = {name: reload(g) for name, g in
             (("paying", paying), ("failing", failing), ("leaving", leaving), ("waiting", waiting))}
    assert [g.status for g in found.values()] == ["active", "past_due", "canceled", "incomplete"]
    assert found["failing"].failed_attempts == 1
    return found


def sign_in(client, auth, make_user, role: str) -> None:  # noqa: ANN001
    user, password = make_user(role)
    assert auth.login(user.email, password).status_code in (302, 303)


def rows(html: str) -> dict[str, str]:
    """public id -> the row's HTML."""
    return dict(re.findall(r'<tr data-recurring="([^"]+)"[^>]*>(.*?)</tr>', html, re.S))


def cells(row: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def count(html: str, status: str) -> int:
    found = re.search(rf'<span data-count="{status}">(\d+)</span>', html)
    assert found, status
    return int(found.group(1))


def test_staff_see_every_monthly_gift_and_its_status(gifts, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    page = client.get("/staff/recurring/")
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    html = page.text
    assert {s: count(html, s) for s in ("all", "incomplete", "active", "past_due", "canceled")} == {
        "all": 4, "incomplete": 1, "active": 1, "past_due": 1, "canceled": 1}
    shown = rows(html)
    assert set(shown) == {g.public_id for g in gifts.values()}

    paying = cells(shown[gifts["paying"].public_id])
    # donor, case, amount, status, started, next payment, failed attempts, last paid
    assert paying[0].startswith(f"#{gifts['paying'].donor_id}") and "paying@example.org" in paying[0]
    assert paying[1] == "Six survivors" and paying[2] == "¥5,000" and paying[3] == "Active"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", paying[4]) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", paying[5])
    assert paying[6] == "0" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", paying[7])
    assert f'href="/staff/donors/{gifts["paying"].donor_id}"' in shown[gifts["paying"].public_id]

    failing = cells(shown[gifts["failing"].public_id])
    assert failing[1] == "General fund" and failing[2] == "¥3,000"
    assert failing[3] == "Payment failed; retrying" and failing[6] == "1"

    leaving = cells(shown[gifts["leaving"].public_id])
    assert leaving[2] == "$25.00" and leaving[3] == "Cancelled" and leaving[5] == "—"

    waiting = cells(shown[gifts["waiting"].public_id])
    assert waiting[3] == "Waiting for the first payment"
    assert waiting[4] == "—" and waiting[7] == "—"  # never started, never paid


def test_last_paid_is_the_latest_payment(gifts, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "admin")
    fresh()
    latest = db.session.scalar(db.select(db.func.max(Donation.settled_at)).where(
        Donation.recurring_gift_id == gifts["paying"].id))
    row = cells(rows(client.get("/staff/recurring/").text)[gifts["paying"].public_id])
    assert row[7] == local_datetime(latest, "%Y-%m-%d")
    assert len(db.session.scalars(db.select(Donation).where(
        Donation.recurring_gift_id == gifts["paying"].id)).all()) == 2


def test_filter_by_status(gifts, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    for status, name in (("active", "paying"), ("past_due", "failing"), ("canceled", "leaving"),
                         ("incomplete", "waiting")):
        page = client.get(f"/staff/recurring/?status={status}")
        assert page.status_code == 200
        assert set(rows(page.text)) == {gifts[name].public_id}, status
        assert count(page.text, "all") == 4  # the counts are of every gift
    bad = client.get("/staff/recurring/?status=paused")
    assert bad.status_code == 400 and "is not a monthly gift status" in bad.text
    assert rows(bad.text) == {}


def test_after_recovery_the_gift_is_active_again(gifts, client, runner, auth, make_user) -> None:  # noqa: ANN001
    card(runner, gifts["failing"].public_id, "ok")
    advance(runner, 1)
    sign_in(client, auth, make_user, "staff")
    html = client.get("/staff/recurring/").text
    row = cells(rows(html)[gifts["failing"].public_id])
    assert row[3] == "Active" and row[6] == "0"
    assert count(html, "active") == 2 and count(html, "past_due") == 0


def test_empty_list(app: Flask, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    page = client.get("/staff/recurring/")
    assert page.status_code == 200 and "No monthly gifts." in page.text
    assert count(page.text, "all") == 0


def test_the_dashboard_links_to_it(app: Flask, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    assert 'href="/staff/recurring/"' in client.get("/staff/").text


@pytest.mark.parametrize("role", ["director", None])
def test_only_staff_and_admins(app: Flask, client, auth, make_user, role) -> None:  # noqa: ANN001
    if role:
        sign_in(client, auth, make_user, role)
    response = client.get("/staff/recurring/")
    if role is None:
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        assert response.status_code == 403


def test_in_japanese(gifts, client, auth, make_user) -> None:  # noqa: ANN001
    sign_in(client, auth, make_user, "staff")
    html = client.get("/staff/recurring/?lang=ja").text
    assert "毎月寄付" in html and "失敗した回数" in html and "最終お支払い日" in html
    assert "5,000円" in cells(rows(html)[gifts["paying"].public_id])[2]
    assert "Payment failed; retrying" not in html and "Failed attempts" not in html
    english = client.get("/staff/recurring/?lang=en").text
    assert "Failed attempts" in english and "Payment failed; retrying" in english
