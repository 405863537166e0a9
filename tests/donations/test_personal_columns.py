"""Every column that can hold a donor's personal data is known, and anonymizing erases it.

``COLUMNS`` classifies every column of every table that holds a donor's rows (found from the
SQLAlchemy metadata: the donor table and every table whose foreign keys lead to it) and of the
tables that keep copies of what we sent or were told about them (audit entries, the outbox).
A new column fails ``test_every_column_of_a_donors_tables_is_classified`` until someone
decides whether it is personal and, if so, how anonymization erases it:

* ERASED: set to ``privacy.ERASED[table][column]`` on the donor's rows;
* SCRUBBED: free text; the donor's name and email are taken out wherever they appear;
* DELETED: the donor's rows go (unsent mail, sign-in links);
* RECEIPT_NAME: becomes ``privacy.ANONYMIZED_NAME`` (the one change receipts allow);
* AUDIT_IP: cleared on entries about the donor's things that no staff member made.

``test_anonymizing_erases_every_personal_column`` plants the donor's data in every personal
column (checked before), anonymizes through the staff route, and checks each column.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from flask import Flask

from tests.conftest import csrf_from
from tests.donations.test_privacy import anonymize_page, found_in_database, plant_donor, staff_client
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.test_recurring import subscribe
from tracker import audit
from tracker.cases import workflow
from tracker.core.time import utcnow
from tracker.donations.models import Donation, Donor, Pledge
from tracker.donors import privacy
from tracker.extensions import db
from tracker.mail import outbox
from tracker.monthly.models import RecurringGift
from tracker.payments.models import PaymentEvent

ERASED, SCRUBBED, DELETED, RECEIPT_NAME, AUDIT_IP = (
    "erased", "scrubbed", "deleted", "receipt name", "audit ip")
NOT_PERSONAL = "not personal"

#: (table, column) -> how anonymization treats it (NOT_PERSONAL: ids, money, dates, statuses,
#: choices and gateway references, which the accounts keep)
COLUMNS: dict[tuple[str, str], str] = {
    **{("donors", c): ERASED for c in ("email", "name", "locale", "tax_name", "tax_kana",
                                       "tax_postal_code", "tax_address")},
    **{("tax_receipts", c): NOT_PERSONAL
       for c in ("id", "donor_id", "year", "first_issued_at", "last_issued_at", "issues")},
    **{("donors", c): NOT_PERSONAL for c in ("id", "created_at", "first_gift_month", "anonymized_at")},
    **{("donations", c): ERASED for c in (
        "display_name", "receipt_name", "message", "locale", "wants_updates")},
    **{("donations", c): SCRUBBED for c in ("reference", "flag_reason")},
    **{("donations", c): NOT_PERSONAL for c in (
        "id", "public_id", "case_id", "donor_id", "amount_minor", "currency", "channel", "gateway",
        "status", "settled_currency", "gross_minor", "fee_minor", "net_minor", "exchange_rate",
        "gateway_session_id", "gateway_payment_intent_id", "gateway_charge_id", "livemode",
        "awaiting_method",
        "recurring_gift_id", "gateway_invoice_id", "received_on", "show_on_wall", "created_at",
        "settled_at", "fee_cover_minor", "message_status")},
    # a tax receipt asked for on the give form, and its addressee as typed (the name is
    # receipt_name): whether one was asked says the donor files taxes in Japan
    **{(t, c): ERASED for t in ("donations", "recurring_gifts") for c in (
        "tax_receipt_requested", "receipt_kana", "receipt_postal_code", "receipt_address")},
    **{("recurring_gifts", c): ERASED for c in ("display_name", "receipt_name", "locale")},
    **{("recurring_gifts", c): NOT_PERSONAL for c in (
        "id", "public_id", "donor_id", "case_id", "amount_minor", "currency", "gateway", "status",
        "gateway_checkout_id", "gateway_subscription_id", "gateway_customer_id", "show_on_wall",
        "created_at", "started_at", "canceled_at", "current_period_end", "failed_attempts")},
    # A pledged transfer: what the donor typed on the form; staff's reason for cancelling it.
    **{("pledges", c): ERASED for c in ("email", "name", "locale")},
    ("pledges", "cancel_reason"): SCRUBBED,
    **{("pledges", c): NOT_PERSONAL for c in (
        "id", "public_id", "reference", "case_id", "amount_minor", "currency", "status",
        "created_at", "donor_id", "donation_id", "received_on", "received_minor", "closed_at")},
    ("receipts", "donor_name"): RECEIPT_NAME,
    **{("receipts", c): NOT_PERSONAL for c in (
        "id", "number", "donation_id", "amount_minor", "currency", "purpose", "issued_at")},
    **{("donor_sign_ins", c): DELETED for c in (
        "token_hash", "created_at", "expires_at", "used_at", "ended_at")},
    **{("donor_sign_ins", c): NOT_PERSONAL for c in ("id", "donor_id")},
    **{("donor_months", c): NOT_PERSONAL for c in ("donor_id", "month", "gifts", "amount_minor")},
    **{("donor_years", c): NOT_PERSONAL for c in ("donor_id", "fiscal_year", "gifts", "amount_minor")},
    # Staff memos stay (the ledger is append-only); staff are told how many name the donor.
    ("ledger_entries", "memo"): NOT_PERSONAL,
    **{("ledger_entries", c): NOT_PERSONAL for c in (
        "id", "kind", "case_id", "donation_id", "disbursement_id", "amount_minor", "currency",
        "original_amount_minor", "original_currency", "gateway_ref", "transfer_group", "booked_at",
        "booked_month", "created_at", "created_by_id")},
    **{("payment_events", c): SCRUBBED for c in ("payload", "note")},
    **{("payment_events", c): NOT_PERSONAL for c in (
        "id", "gateway", "event_id", "type", "livemode", "received_at", "processed_at", "donation_id")},
    **{("sandbox_sessions", c): NOT_PERSONAL for c in (
        "id", "donation_id", "amount_minor", "currency", "status", "payment_status",
        "payment_intent_id", "charge_id", "success_url", "cancel_url", "created_at", "completed_at",
        # a sandbox voucher's number is the sandbox's own random digits, not the donor's
        "payment_method", "voucher_number", "voucher_expires_at",
        # the case's public title, as sent to Stripe; the fee cover's amount
        "description", "fee_cover_minor")},
    **{("sandbox_subscriptions", c): NOT_PERSONAL for c in (
        "id", "checkout_session_id", "recurring_gift_id", "customer_id", "amount_minor", "currency",
        "status", "card_declines", "anchor_at", "periods", "open_invoice_id", "attempt_count",
        "success_url", "cancel_url", "created_at", "canceled_at", "description")},
    **{("audit_entries", c): SCRUBBED for c in ("before", "after")},
    ("audit_entries", "ip"): AUDIT_IP,
    **{("audit_entries", c): NOT_PERSONAL for c in (
        "id", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "case_id")},
    **{("outbox_messages", c): DELETED for c in ("to_address", "subject", "body_text", "last_error")},
    # An unsubscribe link's signed token (a follow's id), never an address; cleared anyway.
    ("outbox_messages", "headers_json"): NOT_PERSONAL,
    **{("outbox_messages", c): NOT_PERSONAL for c in (
        "id", "kind", "dedupe_key", "created_at", "next_attempt_at", "sent_at", "attempts",
        # the language a mail is written in (its subject, kept too, shows it anyway); with the
        # address and body gone it points at nobody
        "locale")},
}
#: tables that keep copies of what concerned a donor without a foreign key to their rows
COPIES = ("audit_entries", "outbox_messages")
#: a donor's browser (the client address the audit keeps)
DONOR_IP = "203.0.113.77"


def donor_tables() -> set[str]:
    """``donors``, every table whose foreign keys lead to it, and COPIES."""
    tables = {"donors"}
    while True:
        more = {t.name for t in db.metadata.sorted_tables
                if t.name not in tables and any(fk.column.table.name in tables for fk in t.foreign_keys)}
        # the ledger and its neighbours point at donations; a table that points only at cases,
        # posts or users is no donor's
        if not more:
            break
        tables |= more
    return tables | set(COPIES)


def test_every_column_of_a_donors_tables_is_classified(app: Flask) -> None:
    tables = donor_tables()
    assert {"donations", "recurring_gifts", "receipts", "donor_sign_ins", "payment_events",
            "ledger_entries"} <= tables
    present = {(t.name, c.name) for t in db.metadata.sorted_tables if t.name in tables for c in t.columns}
    unclassified = sorted(present - set(COLUMNS))
    assert not unclassified, (
        f"new columns in a donor's tables: {unclassified}. Decide whether each can hold a donor's "
        "personal data; if so, make tracker.donors.privacy.anonymize_donor erase it "
        "(privacy.ERASED) and classify it in COLUMNS")
    assert sorted(set(COLUMNS) - present) == [], "COLUMNS names columns that no longer exist"
    # What the service erases and what this test expects are the same list.
    erased = {(t, c) for t, columns in privacy.ERASED.items() for c in columns}
    assert erased == {k for k, how in COLUMNS.items() if how == ERASED}


def _values(table: str, column: str, where) -> list:  # noqa: ANN001
    t = db.metadata.tables[table]
    return list(db.session.scalars(sa.select(t.c[column]).where(where(t))))


def _donor_rows(donor_id: int, donation_ids: list[int], gift_ids: list[int]) -> dict:
    """For each table, the condition selecting the donor's own rows."""
    owned = sa.or_
    return {
        "donors": lambda t: t.c.id == donor_id,
        "donations": lambda t: t.c.donor_id == donor_id,
        "recurring_gifts": lambda t: t.c.donor_id == donor_id,
        "receipts": lambda t: t.c.donation_id.in_(donation_ids),
        "donor_sign_ins": lambda t: t.c.donor_id == donor_id,
        "tax_receipts": lambda t: t.c.donor_id == donor_id,
        "pledges": lambda t: t.c.donor_id == donor_id,
        "payment_events": lambda t: sa.true(),
        "outbox_messages": lambda t: sa.true(),
        "audit_entries": lambda t: owned(
            sa.and_(t.c.object_type == "donors", t.c.object_id == donor_id),
            sa.and_(t.c.object_type == "donations", t.c.object_id.in_(donation_ids)),
            sa.and_(t.c.object_type == "recurring_gifts", t.c.object_id.in_(gift_ids))),
    }


def _holds(value: object, needles: list[str]) -> bool:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    return any(n.lower() in text.lower() for n in needles)


def test_anonymizing_erases_every_personal_column(app: Flask, client, make_user) -> None:  # noqa: ANN001
    case = make_case("six-survivors", status=workflow.FUNDRAISING)
    planted = plant_donor(app, case)
    # A monthly gift (name on the wall) from the same address, still charging, that asked
    # for a tax receipt (each month's gift copies its addressee).
    gift = subscribe(client, "six-survivors", email=planted.email, name=planted.name, wall="name",
                     tax_receipt="y", receipt_name=planted.name, receipt_kana="ヤマダ タロウ",
                     receipt_postal_code="100-0001",
                     receipt_address=f"1-1 Chiyoda, c/o {planted.name}")
    assert gift.donor_id == planted.donor_id
    card = db.session.get(Donation, planted.card.id)
    card.flag_reason = f"Bank says the payer was {planted.name}"
    # A sign-in link of theirs.
    page = client.get("/my/sign-in")
    client.post("/my/sign-in", data={"email": planted.email, "csrf_token": csrf_from(page.text)})
    # The donor changed their monthly gift from their own browser; the gateway's invoice
    # carries the customer's name and address.
    with app.test_request_context(environ_base={"REMOTE_ADDR": DONOR_IP}):
        audit.record("recurring.amount_changed", db.session.get(RecurringGift, gift.id),
                     actor_label=f"donor:{planted.donor_id}",
                     before={"note": f"from {planted.name}"},
                     after={"note": f"asked by {planted.email}"})
    db.session.add(PaymentEvent(
        gateway="sandbox", event_id=f"evt_{uuid.uuid4().hex[:10]}", type="invoice.paid",
        payload=json.dumps({"type": "invoice.paid", "data": {"object": {
            "id": "in_planted", "object": "invoice", "subscription": gift.gateway_subscription_id,
            "customer_email": planted.email, "customer_name": planted.name,
            "customer_address": {"line1": "1-2-3 Sakura-cho"}}}}),
        note=f"checked with {planted.name}"))
    # Mail that went out once, whose subject named them and whose first try failed.
    sent = outbox.queue("thanks", f"thanks:{planted.donor_id}", planted.email,
                        f"Thank you, {planted.name}", "Thank you.")
    sent.sent_at, sent.last_error = utcnow(), f"mailbox of {planted.email} full"
    # Who their tax receipts are made out to.
    donor = db.session.get(Donor, planted.donor_id)
    donor.tax_name, donor.tax_kana = planted.name, "ヤマダ タロウ"
    donor.tax_postal_code, donor.tax_address = "100-0001", f"1-1 Chiyoda, c/o {planted.name}"
    # A transfer they pledged and staff cancelled, naming them.
    db.session.add(Pledge(amount_minor=3_000, currency="JPY", email=planted.email,
                          name=planted.name, locale="ja", donor_id=planted.donor_id,
                          status="cancelled", cancel_reason=f"{planted.name} gave by card"))
    db.session.commit()

    donor_id = planted.donor_id
    donation_ids = list(db.session.scalars(sa.select(Donation.id).where(Donation.donor_id == donor_id)))
    rows = _donor_rows(donor_id, donation_ids, [gift.id])
    needles = [planted.email, planted.name]
    # Every personal column holds something of theirs now (so the check below means something).
    for (table, column), how in COLUMNS.items():
        if how == NOT_PERSONAL:
            continue
        values = _values(table, column, rows[table])
        if how == ERASED:
            assert any(v != privacy.ERASED[table][column] for v in values), (table, column)
        elif how == AUDIT_IP:
            assert DONOR_IP in values
        elif how == DELETED and table == "donor_sign_ins":
            assert values, (table, column)  # the rows exist (an unused link has no used_at)
        else:
            assert any(v is not None and _holds(v, needles) for v in values), (table, column)

    response = anonymize_page(staff_client(app, make_user), donor_id)
    assert response.status_code == 302, response.text[:2000]
    db.session.rollback()

    for (table, column), how in COLUMNS.items():
        if how == NOT_PERSONAL:
            continue
        values = _values(table, column, rows[table])
        if how == ERASED:
            assert values and set(values) == {privacy.ERASED[table][column]}, (table, column, values)
        elif how == RECEIPT_NAME:
            assert values and set(values) == {privacy.ANONYMIZED_NAME}, values
        elif how == AUDIT_IP:
            assert DONOR_IP not in _values(table, column, lambda t: sa.true())
        elif how == DELETED and table == "donor_sign_ins":
            assert values == [], (table, column)
        else:  # scrubbed, or the mail deleted / its address and body replaced
            assert not any(v is not None and _holds(v, needles) for v in values), (table, column)
    assert found_in_database(planted.email) == set()
    assert found_in_database(planted.name) == set()
    assert db.session.get(RecurringGift, gift.id).status == "canceled"
    assert db.session.get(Donor, donor_id).anonymized_at is not None
