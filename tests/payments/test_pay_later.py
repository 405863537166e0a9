"""Yen gifts paid later: a convenience-store voucher (konbini) or a bank transfer, through the
sandbox end to end (the checkout completes unpaid; the gift waits, counts nothing, and counts
once when the payment arrives; a voucher that runs out ends as expired), the Stripe
parameters that offer them, and the voucher and transfer details read from a PaymentIntent.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.payments.helpers import fresh, raised, receipts_for, start_gift, thanks_path
from tracker.core.errors import Conflict
from tracker.core.money import Money
from tracker.donations import recording, upkeep
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.ledger.rollups import LedgerMonthTotal
from tracker.payments.gateway import get_gateway, instructions_from_intent, later_methods

SLUG = "six-survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def choose(client, session_id: str, method: str):  # noqa: ANN001, ANN201
    """On the sandbox checkout page, choose a way to pay that completes later."""
    path = f"/sandbox/checkout/{session_id}"
    page = client.get(path)
    assert page.status_code == 200
    return client.post(path, data={"csrf_token": csrf_from(page.text), "method": method})


def reload(donation: Donation) -> Donation:
    fresh()
    return db.session.get(Donation, donation.id)


def test_konbini_waits_then_counts_once_when_paid(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    page = client.get(f"/sandbox/checkout/{session_id}")
    assert "Convenience store" in page.text and "Bank transfer" in page.text

    response = choose(client, session_id, "konbini")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == thanks_path(donation)
    waiting = reload(donation)
    assert (waiting.status, waiting.awaiting_method) == ("pending", "konbini")
    assert raised(client, SLUG) == 0 and receipts_for(donation) == []

    thanks = client.get(thanks_path(donation))
    assert thanks.status_code == 200
    assert "We are waiting for your payment" in thanks.text and "FamilyMart" in thanks.text
    assert 'http-equiv="refresh"' not in thanks.text  # a voucher takes days, not seconds
    voucher_url = f"/sandbox/voucher/{session_id}"
    assert voucher_url in thanks.text
    # another browser with the link sees that the gift waits, not the voucher number
    other = app.test_client().get(thanks_path(donation))
    assert "We are waiting for your payment" in other.text and "FamilyMart" not in other.text

    voucher = client.get(voucher_url)
    assert voucher.status_code == 200 and "TEST MODE" in voucher.text
    paid = client.post(voucher_url, data={"csrf_token": csrf_from(voucher.text), "outcome": "paid"})
    assert paid.status_code == 303
    assert reload(donation).status == "succeeded"
    assert raised(client, SLUG) == 5_000 and len(receipts_for(donation)) == 1
    assert "is confirmed and recorded" in client.get(thanks_path(donation)).text

    # the same button again, or the voucher's time passing: nothing more
    again = client.post(voucher_url, data={"csrf_token": csrf_from(voucher.text), "outcome": "paid"})
    assert again.status_code == 303
    assert raised(client, SLUG) == 5_000 and len(receipts_for(donation)) == 1


def test_an_unpaid_bank_transfer_ends_expired_when_time_runs_out(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    assert choose(client, session_id, "bank_transfer").status_code == 303
    assert reload(donation).awaiting_method == "bank_transfer"
    thanks = client.get(thanks_path(donation))
    assert "Account number" in thanks.text and "Pay by bank transfer" in thanks.text

    # waiting is not abandoning: the job that ends abandoned checkouts leaves it alone
    assert donation.public_id not in upkeep.abandoned_checkouts(get_gateway(), timedelta(0))

    assert runner.invoke(args=["sandbox", "advance", "3"]).exit_code == 0
    assert reload(donation).status == "pending"  # a transfer has a week
    result = runner.invoke(args=["sandbox", "advance", "5"])
    assert result.exit_code == 0, result.output
    ended = reload(donation)
    assert ended.status == "expired"
    assert raised(client, SLUG) == 0 and receipts_for(donation) == []
    assert "This gift was not completed (expired)" in client.get(thanks_path(donation)).text


def test_the_cli_settles_a_voucher_and_refuses_one_already_settled(app: Flask, client, runner, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    assert choose(client, session_id, "konbini").status_code == 303
    result = runner.invoke(args=["sandbox", "voucher", donation.public_id, "expire"])
    assert result.exit_code == 0, result.output
    assert reload(donation).status == "expired"
    again = runner.invoke(args=["sandbox", "voucher", donation.public_id, "pay"])
    assert again.exit_code != 0 and "no voucher or transfer is waiting" in again.output
    assert reload(donation).status == "expired" and raised(client, SLUG) == 0


def test_only_yen_gifts_within_the_limits_can_be_paid_later(app: Flask, client, case) -> None:  # noqa: ANN001
    dollars, session_id = start_gift(client, SLUG, currency="USD", preset="USD:2500")
    page = client.get(f"/sandbox/checkout/{session_id}")
    assert "Convenience store" not in page.text
    refused = client.post(f"/sandbox/checkout/{session_id}",
                          data={"csrf_token": csrf_from(page.text), "method": "konbini"})
    assert refused.status_code == 400
    assert (reload(dollars).status, reload(dollars).awaiting_method) == ("pending", None)

    assert later_methods(Money(300_000, "JPY")) == ("konbini", "bank_transfer")
    assert later_methods(Money(300_001, "JPY")) == ("bank_transfer",)
    assert later_methods(Money(119, "JPY")) == ("bank_transfer",)
    assert later_methods(Money(5_000, "USD")) == ()
    app.config["TRACKER_JAPANESE_PAYMENT_METHODS"] = ()
    try:
        assert later_methods(Money(5_000, "JPY")) == ()
    finally:
        app.config["TRACKER_JAPANESE_PAYMENT_METHODS"] = ("konbini", "bank_transfer")


def test_instructions_read_from_a_stripe_payment_intent() -> None:
    konbini = instructions_from_intent({"next_action": {
        "type": "konbini_display_details",
        "konbini_display_details": {
            "expires_at": 1_767_193_199, "hosted_voucher_url": "https://payments.example/voucher",
            "stores": {"lawson": {"confirmation_number": "123456", "payment_code": "987"},
                       "familymart": {"confirmation_number": "55555", "payment_code": None},
                       "ministop": None}}}})
    assert konbini is not None and konbini.method == "konbini"
    assert konbini.details == (("store:familymart", "55555"), ("store:lawson", "123456"))
    assert konbini.hosted_url == "https://payments.example/voucher"
    assert konbini.expires_at is not None and konbini.expires_at.year == 2025

    transfer = instructions_from_intent({"next_action": {
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "type": "jp_bank_transfer", "reference": "RT42",
            "hosted_instructions_url": "https://payments.example/transfer",
            "financial_addresses": [{"type": "zengin", "zengin": {
                "bank_name": "Sample Bank", "branch_name": "Main", "account_type": "futsu",
                "account_number": "1234567", "account_holder_name": "NPO"}}]}}})
    assert transfer is not None and transfer.method == "bank_transfer"
    assert dict(transfer.details) == {"bank_name": "Sample Bank", "branch_name": "Main",
                                      "account_type": "futsu", "account_number": "1234567",
                                      "account_holder_name": "NPO", "reference": "RT42"}
    assert instructions_from_intent({"next_action": None}) is None
    assert instructions_from_intent({}) is None


@pytest.mark.parametrize(("method", "label", "label_ja"), [
    ("konbini", "Convenience store", "コンビニ払い"), ("bank_transfer", "Bank transfer", "銀行振込")])
def test_a_gift_paid_later_is_recorded_under_the_way_it_was_paid(
        app: Flask, client, auth, make_user, case, method: str, label: str, label_ja: str) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG)
    assert choose(client, session_id, method).status_code == 303
    voucher_url = f"/sandbox/voucher/{session_id}"
    voucher = client.get(voucher_url)
    assert client.post(voucher_url, data={"csrf_token": csrf_from(voucher.text),
                                          "outcome": "paid"}).status_code == 303
    paid = reload(donation)
    assert (paid.status, paid.channel) == ("succeeded", method)
    # the rollups the reports read count it under its way of paying, not under card
    totals = {(row.channel, row.kind) for row in db.session.scalars(db.select(LedgerMonthTotal))}
    assert (method, "gift") in totals and ("card", "gift") not in totals

    # Stripe refunds a bank transfer it received, not a konbini payment
    if method == "konbini":
        with pytest.raises(Conflict, match="cannot refund a convenience-store payment"):
            recording.check_refund(paid, 1_000, "Asked back", get_gateway())
    else:
        locked, _reason, refunded = recording.check_refund(paid, 1_000, "Asked back", get_gateway())
        assert (locked.id, refunded) == (paid.id, 0)
    fresh()

    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    listed = client.get("/staff/gifts/")
    assert listed.status_code == 200
    row = next(r for r in listed.text.split("<tr") if paid.public_id in r)
    assert label in row and "Card" not in row
    auth.logout()
    user, password = make_user("director")
    assert auth.login(user.email, password).status_code == 302
    report = client.get("/reports?lang=ja", follow_redirects=True)
    assert report.status_code == 200
    by_channel = report.text.split('id="channels-title"', 1)[1].split("</table>", 1)[0]
    used = re.search(rf'data-channel="{method}"><th scope="row">([^<]+)</th><td>([\d,]+)</td>',
                     by_channel)
    assert used is not None and used.groups() == (label_ja, "1")
    assert re.search(r'data-channel="card"><th scope="row">[^<]+</th><td>0</td>', by_channel)
