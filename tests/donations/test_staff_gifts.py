"""The staff money desk (/staff/gifts): offline gifts, adjustments and card refunds.

Every change goes through the real forms with CSRF tokens; bad input is refused at its field
with 422 and writes nothing; an action in the wrong state says why (409). Refunds run through
the sandbox gateway and are booked at once under the gateway's refund id, so a replayed
charge.refunded webhook books nothing more.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import func

from tests.confirming import confirming_data, post_confirmed
from tests.conftest import csrf_from, empty_all_tables, make_app
from tests.factories import give, make_case
from tests.live import all_at_once as _all_at_once
from tests.live import live_server
from tests.live import request as _request
from tests.payments.helpers import fresh, pay_on_page, raised, start_gift
from tracker.audit import AuditEntry
from tracker.cases import services as case_services
from tracker.core.errors import DomainError
from tracker.core.time import local_today
from tracker.donations import adjustments
from tracker.donations import recording as payments
from tracker.donations.models import Donation, Receipt
from tracker.donations.staff_views import staff_gifts_bp
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.mail.outbox import OutboxMessage
from tracker.payments.gateway import GatewayError, get_gateway
from tracker.payments.models import PaymentEvent
from tracker.sandbox.gateway import deliver_sandbox_event, sandbox_event

SLUG = "six-survivors"
REASON = "Typed ¥10,000 for a ¥9,000 transfer"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _gifts_app(_session_app: Flask, database_url: str) -> Iterator[Flask]:
    """The session app once the lead registers ``staff_gifts_bp``; until then an app of our
    own on the same (already migrated) database, with the blueprint registered."""
    if "staff_gifts" in _session_app.blueprints:
        yield _session_app
        return
    app = make_app(database_url)
    app.register_blueprint(staff_gifts_bp)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_gifts_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """As conftest's ``app``, on the app above; receipts are mailed to a temporary folder."""
    monkeypatch.setitem(_gifts_app.config, "MAIL_FILE_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(_gifts_app.config, "MAIL_SERVER", None)
    with _gifts_app.app_context():
        try:
            yield _gifts_app
        finally:
            db.session.remove()
            empty_all_tables()


@pytest.fixture
def staff(client, auth, make_user):  # noqa: ANN001, ANN201
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user


@pytest.fixture
def case(app: Flask):  # noqa: ANN201
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


# --- helpers ---------------------------------------------------------------------------------


def count(model, *where) -> int:  # noqa: ANN001
    fresh()
    return int(db.session.scalar(db.select(func.count()).select_from(model).where(*where)) or 0)


def snapshot() -> dict[str, int]:
    """Rows in every table the desk writes to."""
    return {m.__tablename__: count(m)
            for m in (Donation, LedgerEntry, Receipt, OutboxMessage, AuditEntry, PaymentEvent)}


def entries(donation: Donation, kind: str) -> list[LedgerEntry]:
    fresh()
    return list(db.session.scalars(
        db.select(LedgerEntry).where(LedgerEntry.donation_id == donation.id, LedgerEntry.kind == kind)
        .order_by(LedgerEntry.id)
    ))


def audits(action: str) -> list[AuditEntry]:
    fresh()
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def row_of(donation: Donation) -> dict[str, object]:
    fresh()
    found = db.session.get(Donation, donation.id)
    return {c.key: getattr(found, c.key) for c in Donation.__table__.columns}


def gift_path(donation: Donation, action: str = "") -> str:
    return f"/staff/gifts/{donation.public_id}" + (f"/{action}" if action else "")


def token(client, path: str = "/staff/gifts/new") -> str:  # noqa: ANN001
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return csrf_from(page.text)


def seen_refunded(page_text: str) -> str:
    match = re.search(r'name="seen_refunded"[^>]*value="(\d+)"', page_text)
    assert match, "no refund form on the page"
    return match.group(1)


def offline_form(csrf: str, **fields: str | None) -> dict[str, str]:
    data: dict[str, str | None] = {
        "csrf_token": csrf, "case": SLUG, "amount": "50,000", "currency": "JPY",
        "channel": "bank_transfer", "received_on": local_today().isoformat(),
        "donor_name": "Aiko Tanaka", "donor_email": "aiko@example.org", "reference": "MUFG 0042",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def post_offline(client, **fields: str | None):  # noqa: ANN001, ANN201
    return client.post("/staff/gifts/new", data=offline_form(token(client), **fields))


def post_adjust(client, donation: Donation, amount: str, reason: str = REASON):  # noqa: ANN001, ANN201
    return client.post(gift_path(donation, "adjust"),
                       data={"csrf_token": token(client, gift_path(donation)), "amount": amount,
                             "reason": reason})


def refund_form(client, donation: Donation, amount: str = "", reason: str = "Donor asked for it back",
                **extra: str) -> dict[str, str]:  # noqa: ANN001
    page = client.get(gift_path(donation))
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "amount": amount, "reason": reason,
            "seen_refunded": seen_refunded(page.text)}
    data.update(extra)
    return data


def post_refund(client, donation: Donation, amount: str = "", **fields: str):  # noqa: ANN001, ANN201
    return post_confirmed(client, gift_path(donation, "refund"),
                          refund_form(client, donation, amount, **fields))


def card_gift(client, slug: str | None = SLUG) -> Donation:  # noqa: ANN001
    """A ¥5,000 card gift paid on the sandbox checkout page (committed, recorded)."""
    donation, session_id = start_gift(client, slug)
    pay_on_page(client, session_id)
    fresh()
    paid = db.session.get(Donation, donation.id)
    assert paid.status == "succeeded" and paid.gateway_charge_id
    return paid


def field_error(response, field: str) -> str:  # noqa: ANN001
    match = re.search(rf'id="{field}-error">(.*?)</p>', response.text, re.S)
    assert match, f"no error at {field}: {response.status_code} {response.text[:3000]}"
    return html.unescape(match.group(1))


def alerts(response) -> str:  # noqa: ANN001
    """The text of the page's error boxes (what the staff member is told went wrong)."""
    boxes = re.findall(r'<div class="form-errors" role="alert">(.*?)</div>', response.text, re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", box) for box in boxes))


# --- the list and the detail page ------------------------------------------------------------


def test_list_shows_every_gift_newest_first_and_filters(client, staff, case) -> None:  # noqa: ANN001
    other = make_case("other-case", status="fundraising", public_title="Another case")
    first = give(case, 12_000, name="First Donor")
    second = give(None, 3_000, name="General Donor", channel="cash")
    third = give(other, 10_000, "USD", name="Dollar Donor")
    card = card_gift(client)

    page = client.get("/staff/gifts/")
    assert page.status_code == 200
    ids = re.findall(r'data-gift="([^"]+)"', page.text)
    assert ids == [card.public_id, third.public_id, second.public_id, first.public_id]
    assert "$100.00" in page.text and "¥15,000" in page.text  # donor's currency, settled in JPY
    assert "General fund" in page.text and "Dollar Donor" in page.text and "Cash" in page.text
    assert "¥180" in page.text and "¥4,820" in page.text  # the sandbox card fee and net

    by_case = client.get(f"/staff/gifts/?case={SLUG}")
    assert re.findall(r'data-gift="([^"]+)"', by_case.text) == [card.public_id, first.public_id]
    general = client.get("/staff/gifts/?case=general")
    assert re.findall(r'data-gift="([^"]+)"', general.text) == [second.public_id]
    pending, _ = start_gift(client, SLUG)
    only_pending = client.get("/staff/gifts/?status=pending")
    assert re.findall(r'data-gift="([^"]+)"', only_pending.text) == [pending.public_id]

    assert client.get("/staff/gifts/?case=no-such-case").status_code == 400
    assert client.get("/staff/gifts/?status=paid").status_code == 400
    assert client.get("/staff/gifts/?before=x").status_code == 400

    detail = client.get(gift_path(first))
    assert detail.status_code == 200
    assert "¥12,000" in detail.text and 'data-kind="gift"' in detail.text
    assert "RT-" not in detail.text  # give() issues no receipt; the form does (below)
    assert client.get("/staff/gifts/don_doesnotexist").status_code == 404


def test_list_shows_refunds_and_adjustments(client, staff, case) -> None:  # noqa: ANN001
    offline = give(case, 10_000)
    card = card_gift(client)
    assert post_adjust(client, offline, "-1,000").status_code == 302
    assert post_refund(client, card, "2,000").status_code == 302
    page = client.get("/staff/gifts/")
    rows = dict(re.findall(r'<tr data-gift="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert "-¥1,000" in rows[offline.public_id]
    assert "¥2,000" in rows[card.public_id]


# --- offline gifts ---------------------------------------------------------------------------


def test_offline_gift_through_the_form(client, staff, case) -> None:  # noqa: ANN001
    before = raised(client, SLUG)
    page = client.get(f"/staff/gifts/new?case={SLUG}")
    assert page.status_code == 200
    assert f'<option selected value="{SLUG}">' in page.text or f'value="{SLUG}" selected' in page.text

    response = post_offline(client)
    assert response.status_code == 302
    fresh()
    donation = db.session.scalar(db.select(Donation))
    assert response.headers["Location"].endswith(gift_path(donation))
    assert (donation.amount_minor, donation.currency, donation.channel, donation.gateway) == (
        50_000, "JPY", "bank_transfer", "offline")
    assert (donation.received_on, donation.reference) == (local_today(), "MUFG 0042")
    [gift] = entries(donation, "gift")
    assert (gift.amount_minor, gift.case_id) == (50_000, case.id)
    [receipt] = db.session.scalars(db.select(Receipt)).all()
    assert receipt.donation_id == donation.id and receipt.amount_minor == 50_000
    [mail] = db.session.scalars(db.select(OutboxMessage)).all()
    assert mail.to_address == "aiko@example.org" and receipt.number in mail.subject
    assert raised(client, SLUG) == before + 50_000
    [entry] = audits("donation.offline")
    assert entry.actor_id == staff.id and entry.object_id == donation.id
    assert receipt.number in client.get(gift_path(donation)).text


def test_offline_gift_in_dollars_to_the_general_fund_without_email(client, staff, case) -> None:  # noqa: ANN001
    response = post_offline(client, case="general", amount="$100.50", currency="USD", channel="cash",
                            donor_email="", reference="")
    assert response.status_code == 302
    fresh()
    donation = db.session.scalar(db.select(Donation))
    assert (donation.case_id, donation.amount_minor, donation.currency) == (None, 10_050, "USD")
    assert [e.amount_minor for e in entries(donation, "gift")] == [15_075]  # at USD=150
    assert count(Receipt) == 1 and count(OutboxMessage) == 0  # a receipt, no email to send
    assert raised(client, SLUG) == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "lots"}, "amount", "Enter an amount like"),
        ({"amount": "5,000.5"}, "amount", "no decimal places"),
        ({"amount": "1,0000"}, "amount", "groups of three"),
        ({"amount": "-5,000"}, "amount", "negative"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": ""}, "amount", "Enter an amount"),
        ({"amount": "9" * 31}, "amount", "characters"),
        ({"amount": "99999999999999999999"}, "amount", "largest amount accepted here"),
        ({"currency": "XXX"}, "currency", "listed currencies"),
        ({"currency": "EUR"}, "currency", "listed currencies"),  # a rate exists, not offered
        ({"case": "no-such-case"}, "case", "Choose a case"),
        ({"case": None}, "case", "Choose a case"),
        ({"channel": "card"}, "channel", "bank transfers or cash"),
        ({"channel": "cheque"}, "channel", "bank transfers or cash"),
        ({"received_on": "tomorrow"}, "received_on", "Not a valid date"),
        ({"received_on": ""}, "received_on", "the day the money arrived"),
        ({"received_on": "1925-10-01"}, "received_on", "check the year"),
        ({"donor_name": ""}, "donor_name", "donor's name"),
        ({"donor_name": "   "}, "donor_name", "donor's name"),
        ({"donor_name": "x" * 201}, "donor_name", "200 characters"),
        ({"reference": "r" * 121}, "reference", "120 characters"),
        ({"donor_email": "not an address"}, "donor_email", "not valid"),
        ({"donor_email": "a" * 250 + "@example.org"}, "donor_email", "254 characters"),
    ],
)
def test_offline_gift_bad_input_is_refused_at_the_field(client, staff, case, fields, field,
                                                        message) -> None:  # noqa: ANN001
    before = snapshot()
    response = post_offline(client, **fields)
    assert response.status_code == 422
    assert message.lower() in field_error(response, field).lower()
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "currency"), [
    ("99,999,999,999", "JPY"),  # the repro
    ("10,000,001", "JPY"), ("100,000.01", "USD"), ("1,000,000", "USD"),
])
def test_an_offline_gift_above_the_gift_maximum_is_refused(client, staff, case, amount,
                                                           currency) -> None:  # noqa: ANN001
    """Issue 15, item 11: offline gifts have the cap of every gift, TRACKER_MAX_GIFT_MINOR
    (¥10,000,000 or $100,000 by default), with a message that names it."""
    before = snapshot()
    response = post_offline(client, amount=amount, currency=currency)
    assert response.status_code == 422
    largest = "¥10,000,000" if currency == "JPY" else "$100,000.00"
    assert field_error(response, "amount") == (
        f"The largest amount accepted here is {largest}. Check the number of digits.")
    assert snapshot() == before


def test_an_offline_gift_at_the_gift_maximum_is_recorded(client, staff, case) -> None:  # noqa: ANN001
    response = post_offline(client, amount="10,000,000")
    assert response.status_code in (302, 303), field_error(response, "amount")


def test_the_gift_maximum_is_a_setting(app, client, staff, case, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(app.config, "TRACKER_MAX_GIFT_MINOR", 50_000)
    response = post_offline(client, amount="50,001")
    assert response.status_code == 422
    assert "¥50,000" in field_error(response, "amount")
    assert post_offline(client, amount="50,000").status_code in (302, 303)


@pytest.mark.parametrize("amount", ["99,999,999,999", "100,000,001", "-100,000,001"])
def test_a_correction_above_the_staff_maximum_is_refused(client, staff, case, amount) -> None:  # noqa: ANN001
    """Corrections are capped by TRACKER_MAX_STAFF_AMOUNT_MINOR (¥100,000,000 by default)."""
    donation = give(case, 10_000)
    before = snapshot()
    response = post_adjust(client, donation, amount)
    assert response.status_code == 422
    assert field_error(response, "amount") == (
        "The largest amount accepted here is ¥100,000,000. Check the number of digits.")
    assert snapshot() == before


def test_a_correction_at_the_staff_maximum_is_booked(app, client, staff, case, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(app.config, "TRACKER_MAX_STAFF_AMOUNT_MINOR", 20_000)
    donation = give(case, 10_000)
    assert post_adjust(client, donation, "20,001").status_code == 422
    assert post_adjust(client, donation, "20,000").status_code in (302, 303)
    assert [e.amount_minor for e in entries(donation, "adjustment")] == [20_000]


def test_a_future_date_is_refused(client, staff, case) -> None:  # noqa: ANN001
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = post_offline(client, received_on=tomorrow)
    assert response.status_code == 422
    assert "future" in field_error(response, "received_on")
    assert count(Donation) == 0


def test_a_closed_or_private_case_is_not_offered_and_is_refused(client, staff, case) -> None:  # noqa: ANN001
    make_case("still-private", public_title="Private request")
    make_case("all-closed", status="closed", public_title="Closed case")
    page = client.get("/staff/gifts/new")
    assert "still-private" not in page.text and "all-closed" not in page.text
    for slug in ("still-private", "all-closed"):
        response = post_offline(client, case=slug)
        assert response.status_code == 422
        assert "Choose a case" in field_error(response, "case")
    assert count(Donation) == 0


def test_forms_without_a_csrf_token_are_refused(client, staff, case) -> None:  # noqa: ANN001
    donation = give(case, 10_000)
    before = snapshot()
    data = offline_form("")
    del data["csrf_token"]
    assert client.post("/staff/gifts/new", data=data).status_code == 400
    assert client.post(gift_path(donation, "adjust"),
                       data={"amount": "-1,000", "reason": REASON}).status_code == 400
    assert client.post(gift_path(donation, "refund"),
                       data={"amount": "1,000", "reason": REASON, "seen_refunded": "0"}).status_code == 400
    assert snapshot() == before


# --- adjustments -----------------------------------------------------------------------------


def test_adjustment_books_one_entry_and_moves_the_total_by_exactly_that(client, staff, case) -> None:  # noqa: ANN001
    donation = give(case, 10_000, email="donor@example.org")
    row_before = row_of(donation)
    total_before = raised(client, SLUG)

    response = post_adjust(client, donation, "-1,000")
    assert response.status_code == 302 and response.headers["Location"].endswith(gift_path(donation))
    [entry] = entries(donation, "adjustment")
    assert (entry.amount_minor, entry.currency, entry.case_id) == (-1_000, "JPY", case.id)
    assert (entry.memo, entry.created_by_id) == (REASON, staff.id)
    assert raised(client, SLUG) == total_before - 1_000
    assert row_of(donation) == row_before  # the donation itself is never edited
    [audit] = audits("donation.adjusted")
    assert (audit.actor_id, audit.actor_label, audit.object_id, audit.case_id) == (
        staff.id, staff.email, donation.id, case.id)
    assert audit.before == {"total_minor": 10_000, "currency": "JPY"}
    assert audit.after["total_minor"] == 9_000 and audit.after["adjustment_minor"] == -1_000
    assert audit.after["reason"] == REASON

    assert post_adjust(client, donation, "+500", "Bank charge refunded to us").status_code == 302
    assert [e.amount_minor for e in entries(donation, "adjustment")] == [-1_000, 500]
    assert raised(client, SLUG) == total_before - 500
    # The whole remaining gift may be taken off (a gift entered twice), not a yen more.
    assert post_adjust(client, donation, "-9,500", "This transfer was entered twice").status_code == 302
    assert raised(client, SLUG) == total_before - 10_000
    page = client.get(gift_path(donation))
    assert page.text.count('data-kind="adjustment"') == 3


@pytest.mark.parametrize(
    ("amount", "reason", "field", "message"),
    [
        ("0", REASON, "amount", "greater than zero"),
        ("-0", REASON, "amount", "greater than zero"),
        ("", REASON, "amount", "Enter an amount"),
        ("-", REASON, "amount", "after the sign"),
        ("ten", REASON, "amount", "Enter an amount like"),
        ("-1,000.5", REASON, "amount", "no decimal places"),
        ("--1,000", REASON, "amount", "negative"),
        ("-10,001", REASON, "amount", "below zero"),
        ("9" * 20, REASON, "amount", "largest amount accepted here"),
        ("-1,000", "", "reason", "Say why"),
        ("-1,000", "too short", "reason", "10 to 500"),
        ("-1,000", "x" * 501, "reason", "10 to 500"),
    ],
)
def test_adjustment_bad_input_is_refused_at_the_field(client, staff, case, amount, reason, field,
                                                      message) -> None:  # noqa: ANN001
    donation = give(case, 10_000)
    before = snapshot()
    response = post_adjust(client, donation, amount, reason)
    assert response.status_code == 422
    assert message.lower() in field_error(response, field).lower()
    assert snapshot() == before


def test_adjustment_of_a_card_gift_says_to_refund(client, staff, case) -> None:  # noqa: ANN001
    donation = card_gift(client)
    before = snapshot()
    response = client.post(gift_path(donation, "adjust"),
                           data={"csrf_token": token(client), "amount": "-1,000", "reason": REASON})
    assert response.status_code == 409
    assert "corrected by a refund through it, not by an adjustment" in alerts(response)
    assert snapshot() == before
    # A pending card gift, and an amount the adjustment form would refuse: still told why.
    pending, _ = start_gift(client, SLUG)
    response = client.post(gift_path(pending, "adjust"),
                           data={"csrf_token": token(client), "amount": "-1,000", "reason": REASON})
    assert response.status_code == 409 and "not by an adjustment" in alerts(response)


def test_adjustment_on_a_closed_case_is_refused(client, staff, case) -> None:  # noqa: ANN001
    donation = give(case, 10_000)
    case_services.change_status(case_services.get_case_for_update(case.id), "closed", outcome="cancelled")
    db.session.commit()
    before = snapshot()
    response = post_adjust(client, donation, "-1,000")
    assert response.status_code == 409
    assert "case is closed" in alerts(response)
    assert snapshot() == before


def test_adjust_gift_service_refusals(app: Flask, case, make_user) -> None:  # noqa: ANN001
    user, _ = make_user("staff")
    donation = give(case, 10_000)
    with pytest.raises(DomainError, match="zero changes nothing") as zero:
        adjustments.adjust_gift(donation, 0, REASON, user)
    assert zero.value.field == "amount"
    with pytest.raises(DomainError, match="at least 10") as short:
        adjustments.adjust_gift(donation, -5, "short", user)
    assert short.value.field == "reason"
    with pytest.raises(DomainError, match="below zero"):
        adjustments.adjust_gift(donation, -10_001, REASON, user)
    db.session.rollback()
    entry = adjustments.adjust_gift(donation, -10_000, REASON, user)
    db.session.commit()
    assert entry.created_by_id == user.id
    assert adjustments.gift_money([donation.id])[donation.id].total_minor == 0


# --- refunds ---------------------------------------------------------------------------------


def test_refund_partly_then_the_rest_and_a_replayed_webhook_books_nothing(app, client, staff, case) -> None:  # noqa: ANN001
    donation = card_gift(client)
    assert raised(client, SLUG) == 5_000
    page = client.get(gift_path(donation))
    assert "¥5,000 of ¥5,000 is left to refund" in page.text

    first = post_refund(client, donation, "2,000")
    assert first.status_code == 302
    [refund_1] = entries(donation, "refund")
    assert refund_1.gateway_ref.startswith("re_sbx_")
    assert (refund_1.amount_minor, refund_1.original_amount_minor) == (-2_000, -2_000)
    assert raised(client, SLUG) == 3_000
    assert "¥3,000 of ¥5,000 is left to refund" in client.get(gift_path(donation)).text

    rest = post_refund(client, donation)  # blank: all that is left
    assert rest.status_code == 302
    refund_1, refund_2 = entries(donation, "refund")
    assert refund_2.amount_minor == -3_000 and refund_2.gateway_ref != refund_1.gateway_ref
    assert raised(client, SLUG) == 0
    requested = audits("donation.refund_requested")
    assert [a.after["amount_minor"] for a in requested] == [2_000, 3_000]
    assert {a.actor_id for a in requested} == {staff.id}
    assert requested[0].after["refund"] == refund_1.gateway_ref
    assert requested[0].after["reason"] == "Donor asked for it back"

    # Stripe later reports the same refunds in a charge.refunded event: nothing new is booked.
    before = snapshot()
    charge = {
        "id": donation.gateway_charge_id, "object": "charge",
        "payment_intent": donation.gateway_payment_intent_id, "amount": 5_000, "currency": "jpy",
        "amount_refunded": 5_000, "refunded": True, "metadata": {"donation_id": donation.public_id},
        "refunds": {"data": [
            {"id": refund_1.gateway_ref, "amount": 2_000, "status": "succeeded", "created": 1},
            {"id": refund_2.gateway_ref, "amount": 3_000, "status": "succeeded", "created": 2},
        ]},
    }
    fresh()
    status, body = deliver_sandbox_event(sandbox_event("charge.refunded", charge))
    assert (status, body["note"]) == (200, "0 refunds booked")
    after = snapshot()
    assert after.pop("payment_events") == before.pop("payment_events") + 1
    assert after == before
    assert raised(client, SLUG) == 0

    # Nothing is left: the page says so and a further refund says why.
    assert "¥0 of ¥5,000 is left to refund" in client.get(gift_path(donation)).text
    again = post_refund(client, donation, "1")
    assert again.status_code == 409 and "refunded in full" in alerts(again)
    assert len(entries(donation, "refund")) == 2


def test_double_submitting_the_same_refund_form_refunds_once(client, staff, case) -> None:  # noqa: ANN001
    donation = card_gift(client)
    data = refund_form(client, donation, "2,000")
    first = post_confirmed(client, gift_path(donation, "refund"), data)
    second = post_confirmed(client, gift_path(donation, "refund"), data)
    assert first.status_code == 302
    assert second.status_code == 409 and "changed since the form was opened" in alerts(second)
    assert [e.amount_minor for e in entries(donation, "refund")] == [-2_000]
    assert raised(client, SLUG) == 3_000


def test_a_double_click_racing_itself_refunds_once(app, client, staff, case) -> None:  # noqa: ANN001
    """Ten copies of one refund form sent at the same moment to a live threaded server: the
    donation's row lock lets one through; the others find the refunds changed."""
    donation = card_gift(client)
    asked = client.post(gift_path(donation, "refund"), data=refund_form(client, donation, "2,000"))
    body = urlencode(confirming_data(asked.text), doseq=True).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Cookie": f"session={client.get_cookie('session').value}"}
    with live_server(app) as base:
        url = base + gift_path(donation, "refund")
        results = _all_at_once([lambda: _request(url, data=body, headers=headers)] * 10)
    # urllib follows the winner's redirect to the gift page.
    assert sorted(status for status, _ in results) == [200] + [409] * 9
    assert [e.amount_minor for e in entries(donation, "refund")] == [-2_000]
    assert len(audits("donation.refund_requested")) == 1
    assert raised(client, SLUG) == 3_000


def test_a_retried_refund_gets_the_same_refund_id_from_the_gateway(app, case, make_user, client) -> None:  # noqa: ANN001
    """The commit after a refund is lost (crash, timeout): the retry sends the same key, the
    gateway answers with the same refund, and it is booked once."""
    user, _ = make_user("staff")
    donation = card_gift(client)
    gateway = get_gateway()
    lost = payments.refund_donation(donation, 1_000, REASON, user, gateway, expected_refunded_minor=0)
    db.session.rollback()
    assert count(LedgerEntry, LedgerEntry.kind == "refund") == 0
    retried = payments.refund_donation(donation, 1_000, REASON, user, gateway, expected_refunded_minor=0)
    db.session.commit()
    assert retried == lost
    assert [e.gateway_ref for e in entries(donation, "refund")] == [lost]
    # A different amount or a later refund is a different request.
    other = payments.refund_donation(donation, 1_000, REASON, user, gateway)
    db.session.commit()
    assert other != lost and len(entries(donation, "refund")) == 2


@pytest.mark.parametrize(
    ("amount", "reason", "field", "message"),
    [
        ("lots", "Donor asked for it back", "amount", "Enter an amount like"),
        ("0", "Donor asked for it back", "amount", "greater than zero"),
        ("-1,000", "Donor asked for it back", "amount", "negative"),
        ("2,000.5", "Donor asked for it back", "amount", "no decimal places"),
        ("$20", "Donor asked for it back", "amount", "different currency"),
        ("5,001", "Donor asked for it back", "amount", "Only ¥5,000"),
        ("9" * 31, "Donor asked for it back", "amount", "characters"),
        ("1,000", "", "reason", "Say why"),
        ("1,000", "x" * 501, "reason", "10 to 500"),
    ],
)
def test_refund_bad_input_is_refused_at_the_field(client, staff, case, amount, reason, field,
                                                  message) -> None:  # noqa: ANN001
    donation = card_gift(client)
    before = snapshot()
    response = post_refund(client, donation, amount, reason=reason)
    assert response.status_code == 422
    assert message.lower() in field_error(response, field).lower()
    assert snapshot() == before


def test_a_refund_form_without_its_marker_is_refused(client, staff, case) -> None:  # noqa: ANN001
    donation = card_gift(client)
    before = snapshot()
    for marker in ("", "abc", "-1"):
        data = refund_form(client, donation, "1,000", seen_refunded=marker)
        response = client.post(gift_path(donation, "refund"), data=data)
        assert response.status_code == 422 and "out of date" in response.text
    assert snapshot() == before


def test_refund_of_a_pending_gift_says_why(client, staff, case) -> None:  # noqa: ANN001
    donation, _ = start_gift(client, SLUG)
    page = client.get(gift_path(donation))
    assert "Only a recorded card payment can be refunded" in page.text
    before = snapshot()
    response = client.post(gift_path(donation, "refund"),
                           data={"csrf_token": csrf_from(page.text), "amount": "1,000",
                                 "reason": "Donor asked for it back", "seen_refunded": "0"})
    assert response.status_code == 409
    assert "Only a recorded card payment can be refunded; this gift is awaiting payment" in alerts(response)
    assert snapshot() == before


def test_refund_of_an_offline_gift_points_to_adjustments(client, staff, case) -> None:  # noqa: ANN001
    donation = give(case, 10_000)
    page = client.get(gift_path(donation))
    assert f'action="{gift_path(donation, "refund")}"' not in page.text
    before = snapshot()
    response = client.post(gift_path(donation, "refund"),
                           data={"csrf_token": token(client), "amount": "1,000",
                                 "reason": "Donor asked for it back", "seen_refunded": "0"})
    assert response.status_code == 409
    assert "record it as an adjustment of the gift" in alerts(response)
    assert snapshot() == before


def test_a_gateway_failure_books_nothing_and_says_so(client, staff, case, monkeypatch) -> None:  # noqa: ANN001
    donation = card_gift(client)
    gateway = get_gateway()

    def down(payment_intent_id: str, amount_minor: int, *, key: str) -> str:
        raise GatewayError("Stripe refused the request (APIConnectionError)")

    monkeypatch.setattr(gateway, "refund", down)
    before = snapshot()
    response = post_refund(client, donation, "2,000")
    assert response.status_code == 502
    assert "The payment service did not answer; nothing was refunded." in alerts(response)
    after = snapshot()
    assert after.pop("audit_entries") == before.pop("audit_entries") + 1  # the failed attempt
    assert after == before
    assert raised(client, SLUG) == 5_000
    [failed] = audits("donation.refund_failed")
    assert failed.actor_id == staff.id


# --- access ----------------------------------------------------------------------------------


def test_directors_get_403_and_visitors_are_sent_to_login(client, auth, make_user, case) -> None:  # noqa: ANN001
    donation = give(case, 10_000)
    pages = ["/staff/gifts/", "/staff/gifts/new", f"/staff/gifts/new?case={SLUG}", gift_path(donation)]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login"), path
    before = snapshot()
    for path in ("/staff/gifts/new", gift_path(donation, "adjust"), gift_path(donation, "refund")):
        assert client.post(path, data={}).status_code in (302, 400), path

    assert snapshot() == before

    director, password = make_user("director")
    assert auth.login(director.email, password).status_code == 302
    csrf = csrf_from(client.get("/").text)  # the sign-out form carries the session's token
    before = snapshot()  # signing in is audited
    for path in pages:
        assert client.get(path).status_code == 403, path
    for path in ("/staff/gifts/new", gift_path(donation, "adjust"), gift_path(donation, "refund")):
        response = client.post(path, data={"csrf_token": csrf, **offline_form(csrf),
                                           "reason": REASON, "seen_refunded": "0"})
        assert response.status_code == 403, path
    assert snapshot() == before


def test_admins_may_use_the_desk(client, auth, make_user, case) -> None:  # noqa: ANN001
    admin, password = make_user("admin")
    assert auth.login(admin.email, password).status_code == 302
    assert client.get("/staff/gifts/").status_code == 200
    assert post_offline(client).status_code == 302
    assert count(Donation) == 1
