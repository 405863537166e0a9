"""Donor privacy: a donor's data exported, and a donor anonymized with the accounts intact.

The donor gives by card through the real donation form (sandbox checkout, receipt emailed)
and by bank transfer typed in at the desk (receipt queued, not sent yet); the gateway's
stored event carries their billing details, and older audit entries their name and email.
After anonymizing, the whole database (every column of every table, found from the
SQLAlchemy metadata) is searched for the old email and name; money, gateway ids, ledger,
rollups and funding totals are compared with what they were.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.confirming import post_confirmed
from tests.conftest import Auth, csrf_from
from tests.dbcheck import rollup_snapshot
from tests.factories import RECEIVED_ON, give, make_case
from tests.payments.helpers import pay_on_page, start_gift
from tracker import audit
from tracker.audit import AuditEntry
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core.errors import Conflict, DomainError
from tracker.core.time import current_fiscal_year, fiscal_year_of
from tracker.donations import adjustments, receipts
from tracker.donations import services as donation_services
from tracker.donations.models import Donation, Donor, Receipt
from tracker.donors import privacy
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage
from tracker.payments.models import PaymentEvent
from tracker.reports.funding import funding_report
from tracker.site.public import case_fingerprint

SLUG = "six-survivors"
REASON = "Donor asked by email to be forgotten"


@pytest.fixture
def app(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """conftest's app, with mail written to a temporary folder."""
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return app


def staff_client(app: Flask, make_user, role: str = "staff") -> FlaskClient:  # noqa: ANN001
    client = app.test_client()
    user, password = make_user(role)
    assert Auth(client).login(user.email, password).status_code == 302
    return client


# --- planting --------------------------------------------------------------------------------


def private_case(marker: str) -> RescueCase:
    """A fundraising case with every private field of the case and its people marked."""
    case = make_case(SLUG, status=workflow.FUNDRAISING, private_notes=f"{marker}-notes",
                     private_contact=f"{marker}-contact")
    for i in range(2):
        person = case_services.add_beneficiary(
            case, public_alias=f"Person {chr(65 + i)}.", age_band="18-29",
            private_name=f"{marker}-name-{i}", private_details=f"{marker}-details-{i}")
        for attr in sa.inspect(Beneficiary).column_attrs:
            if attr.key.startswith("private_") and not getattr(person, attr.key):
                setattr(person, attr.key, f"{marker}-{attr.key}-{i}")
    for attr in sa.inspect(RescueCase).column_attrs:
        if attr.key.startswith("private_") and not getattr(case, attr.key):
            setattr(case, attr.key, f"{marker}-{attr.key}")
    db.session.commit()
    return case


@dataclass
class Planted:
    donor_id: int
    email: str
    name: str
    card: Donation
    offline: Donation
    other: Donation
    other_email: str
    other_name: str


def plant_donor(app: Flask, case: RescueCase) -> Planted:
    """One donor with everything we can hold about them, and another donor beside them."""
    token = uuid.uuid4().hex[:8]
    email = f"taro.{token}@example.org"
    name = f"Taro Yamada{token}"
    other_email, other_name = f"hanako.{token}@example.org", f"Hanako Suzuki{token}"
    donor_client = app.test_client()

    # By card through the form: name on the wall, a message, news wanted; paid, receipted,
    # the receipt mailed (sent) after the response.
    card, session_id = start_gift(donor_client, SLUG, name=name, email=email, wall="name",
                                  message=f"Stay safe, from {name}", wants_updates="y")
    assert pay_on_page(donor_client, session_id).status_code in (200, 302, 303)
    db.session.rollback()
    assert outbox.deliver_pending() == (1, 0)
    card = db.session.get(Donation, card.id)
    assert card.status == "succeeded" and card.gateway_charge_id

    # By bank transfer at the desk, the bank's reference naming them; its receipt waits.
    offline = give(None, 3_000, email=email.upper(), name=name,
                   reference=f"MIZUHO {name.upper()} 0042")
    receipts.issue_receipt(offline)
    # A rescue report queued to them, not sent yet.
    outbox.queue("rescue-report", f"rescue-report:1:{card.donor_id}", email,
                 "Rescue report: Six survivors", f"Dear {name}, they are safe.")
    # What the gateway told us about the card payment (Stripe's Charge shape).
    db.session.add(PaymentEvent(
        gateway="sandbox", event_id=f"evt_{token}", type="charge.succeeded",
        payload=json.dumps({"id": f"evt_{token}", "type": "charge.succeeded", "data": {"object": {
            "id": card.gateway_charge_id, "object": "charge", "amount": card.amount_minor,
            "currency": "jpy", "payment_intent": card.gateway_payment_intent_id,
            "metadata": {"donation_id": card.public_id},
            "billing_details": {"name": name, "email": email, "phone": "+81 90 0000 1234",
                                "address": {"line1": "1-2-3 Sakura-cho", "country": "JP"}},
            "receipt_email": email, "receipt_url": f"https://pay.example/{token}",
            "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}},
        }}}),
    ))
    # Older audit entries that carry them: about their gift, and about something else.
    audit.record("donation.adjusted", offline, actor_label="cli",
                 after={"reason": f"Phoned {name} at {email}", "adjustment_minor": 0})
    audit.record("case.updated", case, case_id=case.id, actor_label="cli",
                 after={"note": f"{email} asked for the report"})

    other = give(case, 7_000, email=other_email, name=other_name)
    receipts.issue_receipt(other)
    db.session.commit()
    assert offline.donor_id == card.donor_id
    return Planted(card.donor_id, email, name, card, offline, other, other_email, other_name)


# --- reading the whole database --------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def found_in_database(*needles: str) -> set[tuple[str, str]]:
    """(table, column) of every column of every table holding one of ``needles``
    (case-insensitive)."""
    db.session.rollback()
    wanted = [n.lower() for n in needles]
    places = set()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                if value is not None and any(n in _text(value).lower() for n in wanted):
                    places.add((table.name, column))
    return places


def money_snapshot() -> dict[str, list[tuple]]:
    """What the accounts keep: donations' money, statuses, dates and gateway ids; every ledger
    entry; receipts but for the donor's name; payment events' ids."""
    db.session.rollback()
    d = Donation
    r = Receipt.__table__.c
    return {
        "donations": [tuple(row) for row in db.session.execute(sa.select(
            d.id, d.public_id, d.case_id, d.donor_id, d.amount_minor, d.currency, d.channel,
            d.gateway, d.status, d.settled_currency, d.gross_minor, d.fee_minor, d.net_minor,
            d.exchange_rate, d.gateway_session_id, d.gateway_payment_intent_id,
            d.gateway_charge_id, d.livemode, d.received_on, d.created_at, d.settled_at,
        ).order_by(d.id))],
        "ledger": [tuple(row) for row in db.session.execute(
            sa.select(LedgerEntry.__table__).order_by(LedgerEntry.id))],
        "receipts": [tuple(row) for row in db.session.execute(sa.select(
            r.id, r.number, r.donation_id, r.amount_minor, r.currency, r.purpose, r.issued_at,
        ).order_by(r.id))],
        "events": [tuple(row) for row in db.session.execute(sa.select(
            PaymentEvent.id, PaymentEvent.event_id, PaymentEvent.type, PaymentEvent.received_at,
        ).order_by(PaymentEvent.id))],
    }


def funding_figures() -> dict:
    """The directors' figures for the years with gifts, and every case's public progress."""
    db.session.rollback()
    years = {current_fiscal_year(), fiscal_year_of(RECEIVED_ON, 9)}
    figures = {}
    for year in sorted(years):
        report = funding_report(year)
        figures[year] = (
            report.totals, report.by_month, report.by_channel, report.by_currency,
            report.cases, report.general_fund_raised, report.average_gift, report.median_gift,
            (report.donors.active, report.donors.new, report.donors.returning,
             report.donors.lybunt, report.donors.sybunt),
            [d.donor_id for d in report.donors.lybunt_list + report.donors.sybunt_list],
        )
    return figures


def progress(client: FlaskClient) -> dict:
    data = client.get(f"/cases/{SLUG}/progress.json").get_json()
    data.pop("updated_at")
    return data


def anonymize_page(client: FlaskClient, donor_id: int, **fields: str):
    page = client.get(f"/staff/donors/{donor_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "reason": REASON, "confirm": "ANONYMIZE"}
    data.update(fields)
    return post_confirmed(client, f"/staff/donors/{donor_id}/anonymize", data)


# --- export ----------------------------------------------------------------------------------


def test_export_has_the_donors_gifts_receipts_and_emails_and_nothing_of_others(app):
    marker = f"PRIV{uuid.uuid4().hex[:10]}"
    case = private_case(marker)
    # A staff correction's memo (a ledger entry of the donor's gift) is never exported.
    planted = plant_donor(app, case)
    adjustments.adjust_gift(planted.offline, -500, f"{marker} staff-only correction", None)
    db.session.commit()

    donor = db.session.get(Donor, planted.donor_id)
    data = privacy.export_donor(donor)
    db.session.commit()
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data  # JSON-serializable as it is

    assert data["format"] == privacy.EXPORT_FORMAT
    assert data["donor"]["email"] == planted.email and data["donor"]["name"] == planted.name
    gifts = {g["public_id"]: g for g in data["donations"]}
    assert set(gifts) == {planted.card.public_id, planted.offline.public_id}
    card, offline = gifts[planted.card.public_id], gifts[planted.offline.public_id]
    assert card["case"] == {"slug": SLUG, "title": case.public_title}
    assert offline["case"] is None and offline["general_fund"] is True
    assert (card["amount_minor"], card["currency"], card["status"], card["channel"]) == (
        5_000, "JPY", "succeeded", "card")
    assert card["gateway_ids"] == {"checkout_session": planted.card.gateway_session_id,
                                   "payment_intent": planted.card.gateway_payment_intent_id,
                                   "charge": planted.card.gateway_charge_id}
    assert card["donor_entered"] == {"display_name": planted.name, "receipt_name": planted.name,
                                     "message": f"Stay safe, from {planted.name}",
                                     "show_on_wall": True, "wants_updates": True,
                                     # no tax receipt asked for on this gift
                                     "tax_receipt_requested": None, "receipt_kana": None,
                                     "receipt_postal_code": None, "receipt_address": None}
    assert card["receipt"]["number"].startswith("RT-")
    assert card["receipt"]["text"].startswith("Thank you for your gift.")
    assert card["receipt"]["donor_name"] == planted.name
    assert [e["kind"] for e in offline["ledger"]] == ["gift", "adjustment"]
    assert offline["reference"] == f"MIZUHO {planted.name.upper()} 0042"
    emails = {(e["kind"], e["status"]) for e in data["emails"]}
    assert emails == {("receipt", "sent"), ("receipt", "waiting"), ("rescue-report", "waiting")}
    events = {e["type"]: e for e in data["payment_events"]}
    assert set(events) == {"checkout.session.completed", "charge.succeeded"}
    assert events["checkout.session.completed"]["personal_data"] == {}  # the sandbox's has none
    event = events["charge.succeeded"]
    assert event["personal_data"]["data.object.billing_details"]["email"] == planted.email
    assert event["personal_data"]["data.object.receipt_email"] == planted.email

    # Nothing of the other donor, nothing private of the case or its people, no staff memo.
    for secret in (planted.other_email, planted.other_name, planted.other.public_id, marker):
        assert secret.lower() not in text.lower(), secret
    assert sorted(data) == ["donations", "donor", "emails", "exported_at", "follows", "format",
                            "monthly_gifts", "payment_events"]
    assert data["follows"] == []  # (see tests/site/test_follow.py)
    assert data["monthly_gifts"] == []  # (this donor gives once; see test_anonymize_monthly)

    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "donor.exported"))
    assert (entry.object_type, entry.object_id) == ("donors", planted.donor_id)
    assert entry.after == {"donations": 2, "receipts": 2, "emails": 3, "payment_events": 2,
                           "monthly_gifts": 0}


def test_export_download_is_an_audited_attachment_never_cached(app, make_user):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user)
    response = client.get(f"/staff/donors/{planted.donor_id}/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="donor-{planted.donor_id}.json"')
    assert "no-store" in response.headers["Cache-Control"]
    data = json.loads(response.data)
    assert data["donor"]["id"] == planted.donor_id and len(data["donations"]) == 2
    db.session.rollback()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donor.exported"))
    assert entry.object_id == planted.donor_id and entry.actor_label.startswith("staff")


# --- anonymizing -----------------------------------------------------------------------------


def test_anonymize_removes_every_personal_field_and_keeps_the_accounts(app, client, make_user,
                                                                       runner):
    case = make_case(SLUG, status=workflow.FUNDRAISING)
    planted = plant_donor(app, case)
    # The scan finds what it looks for: every place the donor's data was planted.
    assert found_in_database(planted.email) >= {
        ("donors", "email"), ("outbox_messages", "to_address"), ("payment_events", "payload"),
        ("audit_entries", "after")}
    assert found_in_database(planted.name) >= {
        ("donors", "name"), ("donations", "display_name"), ("donations", "message"),
        ("donations", "reference"), ("receipts", "donor_name"), ("outbox_messages", "body_text"),
        ("payment_events", "payload"), ("audit_entries", "after")}
    money, rollups, figures = money_snapshot(), rollup_snapshot(), funding_figures()
    before_progress = progress(client)
    assert planted.name in client.get(f"/cases/{SLUG}").text  # on the donor wall
    fingerprint = case_fingerprint(SLUG)
    other_before = found_in_database(planted.other_email, planted.other_name)

    response = anonymize_page(staff_client(app, make_user), planted.donor_id)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/donors/{planted.donor_id}")

    # Not a trace of the name or email, in any column of any table.
    assert found_in_database(planted.email) == set()
    assert found_in_database(planted.name) == set()
    assert found_in_database("Taro", "Yamada", "Sakura-cho", "+81 90") == set()
    # The other donor is untouched.
    assert found_in_database(planted.other_email, planted.other_name) == other_before

    donor = db.session.get(Donor, planted.donor_id)
    assert donor.email is None and donor.name == "" and donor.anonymized_at is not None
    for gift in (planted.card, planted.offline):
        gift = db.session.get(Donation, gift.id)
        assert (gift.display_name, gift.message, gift.wants_updates) == ("", "", False)
    assert db.session.get(Donation, planted.offline.id).reference == "MIZUHO [redacted] 0042"
    names = dict(db.session.execute(sa.select(Receipt.donation_id, Receipt.donor_name)).all())
    assert names[planted.card.id] == names[planted.offline.id] == privacy.ANONYMIZED_NAME
    assert names[planted.other.id] == planted.other_name
    # Sent mail kept without address and body; mail still waiting is gone.
    messages = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [(m.kind, m.to_address, m.sent_at is not None) for m in messages] == [
        ("receipt", privacy.ANONYMIZED_ADDRESS, True), ("receipt", planted.other_email, False)]
    assert messages[0].body_text == privacy.ANONYMIZED_BODY
    # The gateway's ids and amounts stay in its stored event; the card details are gone.
    event = db.session.scalar(sa.select(PaymentEvent).where(PaymentEvent.type == "charge.succeeded"))
    charge = json.loads(event.payload)["data"]["object"]
    assert (charge["id"], charge["payment_intent"], charge["amount"]) == (
        planted.card.gateway_charge_id, planted.card.gateway_payment_intent_id, 5_000)
    assert charge["billing_details"] is None and charge["payment_method_details"] is None
    # The donor's browser address (the thank-you page recorded the payment) is gone too.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.object_type == "donations", AuditEntry.object_id == planted.card.id,
        AuditEntry.ip.is_not(None))) == 0

    # Money, gateway ids, ledger, rollups, totals and public progress: all as they were.
    assert money_snapshot() == money
    assert rollup_snapshot() == rollups
    assert funding_figures() == figures
    assert progress(client) == before_progress
    # The wall no longer names them, and every worker's cached page is out of date.
    assert planted.name not in client.get(f"/cases/{SLUG}").text
    assert case_fingerprint(SLUG) != fingerprint
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output

    # Audited, with the reason and the counts, and nothing of the donor's.
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donor.anonymized"))
    assert (entry.object_type, entry.object_id) == ("donors", planted.donor_id)
    assert entry.after["reason"] == REASON
    assert entry.after["redacted"] == {
        # the donor's email, name and language; the gifts' receipt names and the card gift's
        # language too (issue 15)
        "donor_fields": 3, "donations": 2, "donation_fields": 8, "monthly_gifts": 0, "receipts": 2,
        "emails_deleted": 2, "emails_redacted": 1, "payment_events": 1, "audit_entries": 3,
        "case_pages_refreshed": 1, "ledger_memos_left": 0, "follows": 0,
        "pledges": 0}
    assert entry.actor_label.startswith("staff")


def test_receipts_allow_only_the_redaction_of_the_name(app, backend):
    """The receipts' guard (migration 0007) lets through one change: the name becoming
    'Anonymized donor' with every other column as it was."""
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    privacy.anonymize_donor(db.session.get(Donor, planted.donor_id), None, REASON)
    db.session.commit()
    receipt_id = db.session.scalar(sa.select(Receipt.id).where(Receipt.donation_id == planted.other.id))
    for statement in ("UPDATE receipts SET donor_name = 'Someone else' WHERE id = :id",
                      "UPDATE receipts SET amount_minor = 1 WHERE id = :id",
                      "UPDATE receipts SET donor_name = 'Anonymized donor', amount_minor = 1"
                      " WHERE id = :id",
                      "UPDATE receipts SET donor_name = 'Anonymized donor', number = 'RT-999999'"
                      " WHERE id = :id",
                      "DELETE FROM receipts WHERE id = :id"):
        with pytest.raises(sa.exc.DBAPIError, match="receipts are immutable"):
            db.session.execute(sa.text(statement), {"id": receipt_id})
        db.session.rollback()
    assert db.session.get(Receipt, receipt_id).donor_name == planted.other_name
    db.session.execute(sa.text("UPDATE receipts SET donor_name = 'Anonymized donor' WHERE id = :id"),
                       {"id": receipt_id})
    db.session.commit()
    assert db.session.get(Receipt, receipt_id).donor_name == "Anonymized donor"


def test_a_failed_anonymization_leaves_the_receipt_guard_and_the_data(app):
    """Rolled back after the receipts were redacted: the names come back, the guard holds."""
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    privacy.anonymize_donor(db.session.get(Donor, planted.donor_id), None, REASON)
    db.session.rollback()
    assert db.session.get(Donor, planted.donor_id).email == planted.email
    receipt_id = db.session.scalar(sa.select(Receipt.id).where(Receipt.donation_id == planted.card.id))
    assert db.session.get(Receipt, receipt_id).donor_name == planted.name
    with pytest.raises(sa.exc.DBAPIError, match="receipts are immutable"):
        db.session.execute(sa.text("UPDATE receipts SET donor_name = 'x' WHERE id = :id"),
                           {"id": receipt_id})
    db.session.rollback()


def test_a_ledger_memo_naming_the_donor_is_counted_not_changed(app):
    donation = give(None, 5_000, email="memo@example.org", name="Kenji Watanabe")
    adjustments.adjust_gift(donation, -1_000, "Kenji Watanabe was charged twice", None)
    db.session.commit()
    ledger = [tuple(r) for r in db.session.execute(sa.select(LedgerEntry.__table__))]
    done = privacy.anonymize_donor(db.session.get(Donor, donation.donor_id), None, REASON)
    db.session.commit()
    assert done.ledger_memos_left == 1
    assert [tuple(r) for r in db.session.execute(sa.select(LedgerEntry.__table__))] == ledger
    adjusted = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donation.adjusted"))
    assert adjusted.after["reason"] == "[redacted] was charged twice"


def test_the_reason_is_kept_without_the_donors_name_or_email(app):
    donation = give(None, 5_000, email="mika.ito@example.org", name="Mika Ito")
    privacy.anonymize_donor(db.session.get(Donor, donation.donor_id), None,
                            "Mika Ito (mika.ito@example.org) asked on the phone")
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donor.anonymized"))
    assert entry.after["reason"] == "[redacted] ([redacted]) asked on the phone"


def test_a_donor_without_email_or_name_is_anonymized_too(app):
    donor_client = app.test_client()
    make_case(SLUG, status=workflow.FUNDRAISING)
    gift, session_id = start_gift(donor_client, SLUG, message="For the little girl")
    pay_on_page(donor_client, session_id)
    db.session.rollback()
    done = privacy.anonymize_donor(db.session.get(Donor, gift.donor_id), None, REASON)
    db.session.commit()
    # no email or name: only the language the donor gave in (on the donor and the gift)
    assert (done.donor_fields, done.donation_fields) == (1, 2)
    assert db.session.get(Donation, gift.id).message == ""


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "status", "error"), [
    ({"confirm": ""}, 422, "Type ANONYMIZE to confirm."),
    ({"confirm": "anonymize"}, 422, "Type ANONYMIZE in capitals to confirm."),
    ({"reason": ""}, 422, "Say why the donor is anonymized."),
    ({"reason": "because"}, 422, "Give a reason of 10 to 500 characters."),
])
def test_bad_input_changes_nothing(app, make_user, fields, status, error):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user)
    before = found_in_database(planted.email, planted.name)
    counts = {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
              for t in db.metadata.sorted_tables}
    response = anonymize_page(client, planted.donor_id, **fields)
    assert response.status_code == status
    assert error in response.text
    assert found_in_database(planted.email, planted.name) == before
    assert db.session.get(Donor, planted.donor_id).anonymized_at is None
    db.session.rollback()
    assert {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables} == counts


def test_without_a_csrf_token_nothing_changes(app, make_user):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user)
    response = client.post(f"/staff/donors/{planted.donor_id}/anonymize",
                           data={"reason": REASON, "confirm": "ANONYMIZE"})
    assert response.status_code == 400
    db.session.rollback()
    assert db.session.get(Donor, planted.donor_id).email == planted.email


def test_a_second_anonymization_is_refused_cleanly(app, make_user):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user)
    assert anonymize_page(client, planted.donor_id).status_code == 302
    db.session.rollback()
    stamped = db.session.get(Donor, planted.donor_id).anonymized_at
    again = anonymize_page(client, planted.donor_id)
    assert again.status_code == 409
    assert "already anonymized" in again.text
    with pytest.raises(Conflict):
        privacy.anonymize_donor(db.session.get(Donor, planted.donor_id), None, REASON)
    db.session.rollback()
    assert db.session.get(Donor, planted.donor_id).anonymized_at == stamped
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "donor.anonymized")) == 1
    # The page still opens, and the export still works (with nothing personal in it).
    assert client.get(f"/staff/donors/{planted.donor_id}").status_code == 200
    data = client.get(f"/staff/donors/{planted.donor_id}/export.json").get_json()
    assert data["donor"]["email"] is None and data["donor"]["anonymized_at"]
    assert planted.name.lower() not in json.dumps(data, ensure_ascii=False).lower()


def test_the_service_wants_a_reason(app):
    donation = give(None, 5_000, email="r@example.org", name="Someone")
    with pytest.raises(DomainError) as info:
        privacy.anonymize_donor(db.session.get(Donor, donation.donor_id), None, "  ")
    assert info.value.field == "reason"
    db.session.rollback()
    assert db.session.get(Donor, donation.donor_id).email == "r@example.org"


def test_unknown_donors_are_404(app, make_user):
    client = staff_client(app, make_user)
    assert client.get("/staff/donors/999").status_code == 404
    assert client.get("/staff/donors/999/export.json").status_code == 404
    token = csrf_from(client.get("/staff/donors/").text)
    response = client.post("/staff/donors/999/anonymize",
                           data={"csrf_token": token, "reason": REASON, "confirm": "ANONYMIZE"})
    assert response.status_code == 404


# --- giving again ----------------------------------------------------------------------------


def test_the_same_email_giving_again_is_a_new_donor(app):
    case = make_case(SLUG, status=workflow.FUNDRAISING)
    planted = plant_donor(app, case)
    privacy.anonymize_donor(db.session.get(Donor, planted.donor_id), None, REASON)
    db.session.commit()

    # At the desk, and through the donation form with the same address.
    again = give(case, 2_000, email=planted.email, name=planted.name)
    assert again.donor_id != planted.donor_id
    new_donor = db.session.get(Donor, again.donor_id)
    assert (new_donor.email, new_donor.name, new_donor.anonymized_at) == (
        planted.email, planted.name, None)
    donor_client = app.test_client()
    online, session_id = start_gift(donor_client, SLUG, email=planted.email)
    pay_on_page(donor_client, session_id)
    assert online.donor_id == again.donor_id
    assert donation_services.find_or_create_donor(planted.email).id == again.donor_id
    db.session.rollback()
    old = db.session.get(Donor, planted.donor_id)
    assert old.email is None and old.anonymized_at is not None
    # The new gift's receipt goes to the address again.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.to_address == planted.email)) == 1


# --- the staff pages -------------------------------------------------------------------------


def test_staff_find_a_donor_and_reach_them_from_a_gift(app, make_user):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user)
    gift_page = client.get(f"/staff/gifts/{planted.card.public_id}")
    assert f'href="/staff/donors/{planted.donor_id}"' in gift_page.text

    for q in (planted.email.upper(), planted.name.split()[1], f"#{planted.donor_id}"):
        found = client.get("/staff/donors/", query_string={"q": q})
        assert found.status_code == 200
        assert f'data-donor="{planted.donor_id}"' in found.text, q
        assert planted.other_email not in found.text, q
    assert "No donors" in client.get("/staff/donors/", query_string={"q": "nobody_%"}).text
    everyone = client.get("/staff/donors/").text
    assert planted.email in everyone and planted.other_email in everyone

    page = client.get(f"/staff/donors/{planted.donor_id}")
    assert page.status_code == 200
    assert planted.card.public_id in page.text and planted.offline.public_id in page.text
    assert planted.other.public_id not in page.text
    assert f"/staff/donors/{planted.donor_id}/export.json" in page.text
    assert "ANONYMIZE" in page.text

    anonymize_page(client, planted.donor_id)
    listed = client.get("/staff/donors/").text
    assert "Anonymized" in listed and planted.email not in listed
    assert "Anonymize this donor" not in client.get(f"/staff/donors/{planted.donor_id}").text


@pytest.mark.parametrize("role", ["staff", "admin", "director", None])
def test_who_may_open_the_donor_pages(app, make_user, role):
    planted = plant_donor(app, make_case(SLUG, status=workflow.FUNDRAISING))
    client = staff_client(app, make_user, role) if role else app.test_client()
    paths = ["/staff/donors/", f"/staff/donors/{planted.donor_id}",
             f"/staff/donors/{planted.donor_id}/export.json"]
    token = csrf_from(client.get("/login" if role is None else "/logout").text)
    for path in paths:
        response = client.get(path)
        if role in ("staff", "admin"):
            assert response.status_code == 200, path
        elif role == "director":
            assert response.status_code == 403, path
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"], path
    if role not in ("staff", "admin"):
        response = client.post(f"/staff/donors/{planted.donor_id}/anonymize",
                               data={"csrf_token": token, "reason": REASON, "confirm": "ANONYMIZE"})
        assert response.status_code == (403 if role else 302)
        db.session.rollback()
        assert db.session.get(Donor, planted.donor_id).email == planted.email
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action.like("donor.%"))) == 0
