"""The sandbox gateway end to end, through the test client only: the donation form, the
TEST MODE checkout page, a test card, the thank-you page, and what the public then sees.

Also the form's refusals: each bad input is shown at its field with status 422, and no
donation (or checkout session) is created.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.payments.helpers import (
    DECLINED_CARD,
    OK_CARD,
    checkout_path,
    ledger_amounts,
    ledger_kinds,
    pay_on_page,
    payment_events,
    post_gift,
    raised,
    receipt_messages,
    receipts_for,
    reload,
    start_gift,
    table_counts,
)
from tracker.core.time import utcnow
from tracker.donations import messages as wall_messages
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.sandbox.models import SandboxSession

SLUG = "six-survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def _wall_html(page_text: str) -> str:
    """The donor wall list of a case page ("" when the page has none)."""
    match = re.search(r'<ul class="wall-list">(.*?)</ul>', page_text, re.S)
    return match.group(1) if match else ""


def _thanks_location(response) -> str:  # noqa: ANN001
    assert response.status_code == 303, (response.status_code, response.text[:1000])
    return urlsplit(response.headers["Location"]).path


# --- the happy path --------------------------------------------------------------------------


def test_card_gift_end_to_end(app: Flask, client, case) -> None:  # noqa: ANN001
    form_page = client.get(f"/cases/{SLUG}/donate")
    assert form_page.status_code == 200
    assert "TEST MODE" in form_page.text

    response = post_gift(client, SLUG, name="Aiko Tanaka", email="Aiko@Example.org",
                         message="Stay safe", wall="name", wants_updates="y")
    path = checkout_path(response)
    session_id = path.rsplit("/", 1)[1]

    checkout = client.get(path)
    assert checkout.status_code == 200
    assert "TEST MODE" in checkout.text
    assert "¥5,000" in checkout.text
    donation = db.session.scalar(db.select(Donation).where(Donation.gateway_session_id == session_id))
    assert donation.status == "pending" and donation.amount_minor == 5000 and donation.currency == "JPY"
    assert raised(client, SLUG) == 0

    paid = pay_on_page(client, session_id, "4242 4242 4242 4242")  # spaces as a donor types them
    thanks_path = _thanks_location(paid)
    assert thanks_path == f"/donations/{donation.public_id}/thanks"

    # Recorded at once: the public figures move before the donor even sees the thanks page.
    assert raised(client, SLUG) == 5000
    progress = client.get(f"/cases/{SLUG}/progress.json").get_json()
    assert progress["donors"] == 1
    case_page = client.get(f"/cases/{SLUG}")
    assert 'data-live="raised">¥5,000</strong> raised' in case_page.text

    thanks = client.get(thanks_path)
    assert thanks.status_code == 200
    assert 'class="confirmed"' in thanks.text and "confirmed and recorded" in thanks.text
    assert "¥5,000" in thanks.text and "TEST MODE" in thanks.text

    donation = reload(donation)
    assert donation.status == "succeeded"
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (5000, 180, 4820)
    assert donation.settled_currency == "JPY" and donation.exchange_rate == 1
    assert donation.gateway == "sandbox" and donation.channel == "card" and donation.livemode is False
    assert donation.gateway_payment_intent_id.startswith("pi_sbx_")
    assert donation.gateway_charge_id.startswith("ch_sbx_")
    assert donation.wants_updates is True
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1}
    assert ledger_amounts(donation, "gift") == [5000]
    assert ledger_amounts(donation, "fee") == [-180]

    [receipt] = receipts_for(donation)
    assert (receipt.amount_minor, receipt.currency, receipt.purpose) == (5000, "JPY", "Six survivors")
    [message] = receipt_messages()
    assert message.to_address == "aiko@example.org"
    assert receipt.number in message.subject
    [event] = payment_events()
    assert event.type == "checkout.session.completed" and event.note == "recorded"
    assert db.session.get(SandboxSession, session_id).status == "complete"

    # Back on the paid checkout page: sent on to the thanks page, nothing charged twice.
    again = client.get(path)
    assert _thanks_location(again) == thanks_path
    assert ledger_kinds(donation) == {"gift": 1, "fee": 1}
    assert len(payment_events()) == 1


@pytest.mark.parametrize(("percent", "fee"), [("3.6", 180), ("5", 250), ("0", 0)])
def test_sandbox_fee_follows_the_setting(
    app: Flask, client, case, monkeypatch: pytest.MonkeyPatch, percent: str, fee: int,  # noqa: ANN001
) -> None:
    monkeypatch.setitem(app.config, "TRACKER_SANDBOX_FEE_PERCENT", Decimal(percent))
    donation, session_id = start_gift(client, SLUG)

    _thanks_location(pay_on_page(client, session_id))

    donation = reload(donation)
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (5000, fee, 5000 - fee)
    assert ledger_kinds(donation) == ({"gift": 1, "fee": 1} if fee else {"gift": 1})
    # Fees are reported, not taken off what the case has raised.
    assert raised(client, SLUG) == 5000


@pytest.mark.parametrize("wall", ["name", "anonymous", "hidden"])
def test_donor_wall_follows_the_donors_choice(app: Flask, client, case, wall: str) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, name="Aiko Tanaka", message="Stay safe", wall=wall)
    _thanks_location(pay_on_page(client, session_id))
    assert reload(donation).status == "succeeded"

    # The message waits for staff: the name (or Anonymous) shows at once, the message does not.
    waiting = _wall_html(client.get(f"/cases/{SLUG}").text)
    assert "Stay safe" not in waiting
    if wall != "hidden":
        assert ("<strong>Aiko Tanaka</strong>" if wall == "name" else "<strong>Anonymous</strong>") \
            in waiting
    wall_messages.approve(donation.public_id)
    db.session.commit()

    page = client.get(f"/cases/{SLUG}").text
    listed = _wall_html(page)
    if wall == "name":
        assert "<strong>Aiko Tanaka</strong>" in listed and "Stay safe" in listed
        assert "Anonymous" not in listed
    elif wall == "anonymous":
        assert "<strong>Anonymous</strong>" in listed and "Stay safe" in listed
        assert "Aiko" not in page
    else:
        assert listed == "" and "Donor wall" not in page
        assert "Aiko" not in page and "Stay safe" not in page
    # Whatever the wall shows, the money counts.
    assert raised(client, SLUG) == 5000


def test_dollar_gift_settles_in_yen_at_the_configured_rate(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, currency="USD", preset="other", amount="50.00")
    assert (donation.amount_minor, donation.currency) == (5000, "USD")
    checkout = client.get(f"/sandbox/checkout/{session_id}")
    assert "$50.00" in checkout.text

    _thanks_location(pay_on_page(client, session_id))

    donation = reload(donation)
    assert donation.status == "succeeded"
    assert donation.settled_currency == "JPY" and donation.exchange_rate == 150
    assert (donation.gross_minor, donation.fee_minor, donation.net_minor) == (7500, 270, 7230)
    assert ledger_amounts(donation, "gift") == [7500]
    [receipt] = receipts_for(donation)
    assert (receipt.amount_minor, receipt.currency) == (5000, "USD")  # what the donor paid
    assert raised(client, SLUG) == 7500  # never dollars added to yen


def test_gift_to_the_general_fund(app: Flask, client) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, None, preset="other", amount="¥3,000")
    _thanks_location(pay_on_page(client, session_id))

    donation = reload(donation)
    assert donation.case_id is None and donation.status == "succeeded"
    assert donation.amount_minor == 3000 and ledger_amounts(donation, "gift") == [3000]
    assert receipts_for(donation)[0].purpose == "General fund"


def test_declined_card_records_nothing_and_can_be_retried(app: Flask, client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, email="donor@example.org")

    declined = pay_on_page(client, session_id, DECLINED_CARD)

    assert declined.status_code == 402
    assert "declined" in declined.text
    assert reload(donation).status == "pending"
    counts = table_counts()
    assert counts["ledger_entries"] == counts["receipts"] == counts["payment_events"] == 0
    assert counts["outbox_messages"] == 0
    assert db.session.get(SandboxSession, session_id).status == "open"
    assert raised(client, SLUG) == 0

    # A wrong number is declined too; then the good test card goes through.
    assert pay_on_page(client, session_id, "1234").status_code == 402
    _thanks_location(pay_on_page(client, session_id, OK_CARD))
    assert reload(donation).status == "succeeded"
    assert raised(client, SLUG) == 5000


def test_a_preset_in_another_currency_than_the_chosen_one_is_refused(app: Flask, client,
                                                                     case) -> None:  # noqa: ANN001
    """The currency is chosen first (issue 18): a dollar preset sent with yen chosen is never
    converted or guessed, it is refused at the amount (a browser without the script shows
    every currency's presets)."""
    response = post_gift(client, SLUG, currency="JPY", preset="USD:5000")
    assert response.status_code == 422
    assert re.search(r'<p class="error" id="preset-error">The amount you chose is not in the '
                     r'currency you chose\. Choose one of the amounts in Japanese Yen', response.text)
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 0
    donation, _ = start_gift(client, SLUG, currency="USD", preset="USD:5000")
    assert (donation.amount_minor, donation.currency) == (5000, "USD")


# --- refusals --------------------------------------------------------------------------------

BAD_INPUT = {
    "decimal yen": ({"preset": "other", "amount": "5,000.5"}, "amount", "no decimal"),
    "not a number": ({"preset": "other", "amount": "abc"}, "amount", "Enter an amount"),
    "negative": ({"preset": "other", "amount": "-5000"}, "amount", "negative"),
    "no amount typed": ({"preset": "other", "amount": ""}, "amount", "Type the amount"),
    "below the yen minimum": ({"preset": "other", "amount": "49"}, "amount", "¥50"),
    "below the dollar minimum": ({"currency": "USD", "preset": "other", "amount": "0.49"}, "amount",
                                 "$0.50"),
    "above the maximum": ({"preset": "other", "amount": "10,000,001"}, "amount", "¥10,000,000"),
    "unknown currency": ({"currency": "XYZ"}, "currency", "Not a valid choice"),
    "preset that is not offered": ({"preset": "JPY:1"}, "preset", "Not a valid choice"),
    "over-long name": ({"name": "N" * 81}, "name", "80 characters"),
    "over-long message": ({"message": "M" * 501}, "message", "500 characters"),
    "malformed email": ({"email": "not-an-email"}, "email", "not valid"),
    "name on the wall but no name": ({"wall": "name", "name": "  "}, "name", "Give the name"),
    "unknown wall choice": ({"wall": "everyone"}, "wall", "Not a valid choice"),
}


@pytest.mark.parametrize(("fields", "field", "says"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused_at_its_field(
    app: Flask, client, case, fields: dict[str, str], field: str, says: str,  # noqa: ANN001
) -> None:
    response = post_gift(client, SLUG, **fields)

    assert response.status_code == 422
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', response.text, re.S)
    assert match, f"no error shown at {field}"
    assert says in match.group(1)
    # radio groups carry the error on their fieldset (aria-describedby), text boxes aria-invalid
    assert ('aria-invalid="true"' in response.text or field in ("preset", "wall")
            or f'aria-describedby="{field}-error"' in response.text)
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(SandboxSession)) == 0


def test_maximum_follows_the_setting(
    app: Flask, client, case, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    monkeypatch.setitem(app.config, "TRACKER_MAX_GIFT_MINOR", 4000)
    refused = post_gift(client, SLUG)  # the ¥5,000 preset
    assert refused.status_code == 422 and "¥4,000" in refused.text
    assert table_counts()["donations"] == 0
    start_gift(client, SLUG, preset="JPY:3000")  # under the maximum: goes to checkout


def test_private_case_takes_no_gifts(app: Flask, client) -> None:  # noqa: ANN001
    make_case("private-request", status="requested")

    assert client.get("/cases/private-request/donate").status_code == 404
    assert client.get("/cases/private-request").status_code == 404
    page = client.get("/donate")  # a valid token, for a hand-made post to the private case
    forged = client.post("/cases/private-request/donate",
                         data={"csrf_token": csrf_from(page.text), "currency": "JPY",
                               "preset": "JPY:5000", "wall": "anonymous"})
    assert forged.status_code == 404
    assert table_counts()["donations"] == 0


@pytest.mark.parametrize(("status", "lang", "notice"), [
    ("requested", "ja", "このケースは現在ご寄付をお受けしていません"),
    ("closed", "en", "This case is not taking gifts now")])
def test_a_case_not_taking_gifts_shows_the_notice_and_no_form(
        app: Flask, client, status: str, lang: str, notice: str) -> None:  # noqa: ANN001
    case = make_case("not-open", status=status, public_title="Six survivors")
    if case.published_at is None:  # staff may publish a case before it takes gifts
        case.published_at = utcnow()
        db.session.commit()
    path = f"/cases/not-open/donate?lang={lang}"

    page = client.get(path)
    assert page.status_code == 200
    assert notice in page.text
    assert "<form" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]
    assert "寄付先：" not in page.text and "Give to:" not in page.text
    assert 'href="/cases/not-open"' in page.text and 'href="/cases"' in page.text

    # a POST (with a real token from another page) answers the same notice, writes nothing
    token = csrf_from(client.get("/donate").text)
    response = client.post(path, data={"csrf_token": token, "currency": "JPY",
                                       "preset": "JPY:5000", "wall": "anonymous"})
    assert response.status_code == 409
    assert notice in response.text and 'name="preset"' not in response.text
    assert table_counts()["donations"] == 0


