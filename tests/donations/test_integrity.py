"""Integrity lives in the database, not only in the services.

Every row here is written with raw SQL or a Core ``INSERT`` (no ORM validation, no services),
so the only thing that can refuse it is a constraint created by the migrations. Each bad row
differs from a known-good baseline by the one field under test; the baselines themselves are
shown to be accepted, so a refusal can only come from that field. After each refusal the
session is rolled back and every table must hold exactly what it held before.

Runs on SQLite and on PostgreSQL (the ``app`` fixture is parametrized by backend).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.dbcheck import assert_refused, table_counts
from tests.factories import give, make_case
from tracker.extensions import db

OMIT = object()  # an override that leaves the column out of the INSERT altogether


@dataclass(frozen=True)
class Seed:
    case_id: int
    donation_id: int


@pytest.fixture
def seed(app) -> Seed:
    """A valid case and a settled offline gift to it, made through the services."""
    case = make_case("seed-case", status="fundraising")
    donation = give(case, 5_000, email="seed@example.org", name="Seed Donor")
    return Seed(case_id=case.id, donation_id=donation.id)


# --- known-good baselines ---------------------------------------------------------------------

ROLLUP_TABLES = ("ledger_month_totals", "gift_amount_months", "donor_months", "case_totals",
                 "case_donors", "case_donor_counts")

BASELINES: dict[str, Callable[[Seed], dict[str, Any]]] = {
    "rescue_cases": lambda s: {
        "slug": "good-case",
        "public_title": "Good case",
        "public_region": "Northeast China",
        "goal_amount_minor": 10_000,
        "goal_currency": "JPY",
        "status": "fundraising",
        "outcome": None,
    },
    "beneficiaries": lambda s: {
        "case_id": s.case_id,
        "public_alias": "Ms. A.",
        "age_band": "18-29",
        "status": "waiting",
        "rescued_on": None,
    },
    "donations": lambda s: {
        "case_id": s.case_id,
        "amount_minor": 500,
        "currency": "JPY",
        "channel": "cash",
        "gateway": "offline",
        "status": "pending",
    },
    "ledger_entries": lambda s: {
        "kind": "gift",
        "case_id": s.case_id,
        "donation_id": s.donation_id,
        "amount_minor": 500,
        "currency": "JPY",
        "booked_month": date(2025, 10, 1),
    },
    "payment_events": lambda s: {
        "gateway": "stripe",
        "event_id": "evt_good",
        "type": "checkout.session.completed",
        "payload": "{}",
    },
    "users": lambda s: {
        "email": "someone@example.org",
        "password_hash": "$argon2id$not-a-real-hash",
        "role": "staff",
    },
    "donors": lambda s: {"email": "donor@example.org", "name": "A donor"},
}


def _table(name: str) -> sa.Table:
    return db.metadata.tables[name]


def _row(table: str, seed: Seed, overrides: dict[str, Any]) -> dict[str, Any]:
    row = BASELINES[table](seed)
    for key, value in overrides.items():
        if value is OMIT:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def _core_insert(table: str, row: dict[str, Any]) -> None:
    db.session.execute(sa.insert(_table(table)).values(**row))


# --- the baselines are fine -------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(BASELINES))
def test_the_baseline_rows_are_accepted(app, seed, table):
    before = table_counts()
    _core_insert(table, _row(table, seed, {}))
    db.session.commit()
    after = table_counts()
    assert after[table] == before[table] + 1
    # a ledger entry also adds to the monthly rollups (kept by triggers in the same transaction)
    also = ROLLUP_TABLES if table == "ledger_entries" else ()
    assert {k: v for k, v in after.items() if k != table and k not in also} == {
        k: v for k, v in before.items() if k != table and k not in also
    }


def test_the_seed_was_written_through_the_services(app, seed):
    counts = table_counts()
    assert counts["rescue_cases"] == 1
    assert counts["donations"] == 1
    assert counts["ledger_entries"] == 1  # a gift, no fee for an offline gift
    assert counts["donors"] == 1


# --- CHECK and NOT NULL constraints, one field at a time --------------------------------------

REFUSED: list[Any] = [  # (id, table, overrides, expected constraint) or a pytest.param
    # donations
    ("donation-amount-zero", "donations", {"amount_minor": 0}, "ck_donations_amount_positive"),
    ("donation-amount-negative", "donations", {"amount_minor": -500},
     "ck_donations_amount_positive"),
    ("donation-unknown-status", "donations", {"status": "refunded"}, "ck_donations_status"),
    ("donation-unknown-channel", "donations", {"channel": "paypal"}, "ck_donations_channel"),
    ("donation-unknown-gateway", "donations", {"gateway": "paypal"}, "ck_donations_gateway"),
    ("donation-succeeded-unsettled", "donations", {"status": "succeeded"},
     "ck_donations_succeeded_is_settled"),
    ("donation-gross-without-fee-and-net", "donations",
     {"settled_currency": "JPY", "gross_minor": 500}, "ck_donations_settlement_adds_up"),
    ("donation-settlement-does-not-add-up", "donations",
     {"settled_currency": "JPY", "gross_minor": 500, "fee_minor": 50, "net_minor": 500},
     "ck_donations_settlement_adds_up"),
    # ledger entries
    ("ledger-gift-negative", "ledger_entries", {"amount_minor": -500},
     "ck_ledger_entries_amount_sign"),
    ("ledger-refund-positive", "ledger_entries", {"kind": "refund", "amount_minor": 500},
     "ck_ledger_entries_amount_sign"),
    ("ledger-fee-positive", "ledger_entries", {"kind": "fee", "amount_minor": 30},
     "ck_ledger_entries_amount_sign"),
    ("ledger-gift-zero", "ledger_entries", {"amount_minor": 0},
     ("ck_ledger_entries_amount_nonzero", "ck_ledger_entries_amount_sign")),
    ("ledger-adjustment-zero", "ledger_entries",
     {"kind": "adjustment", "donation_id": None, "amount_minor": 0},
     "ck_ledger_entries_amount_nonzero"),
    ("ledger-gift-without-donation", "ledger_entries", {"donation_id": None},
     "ck_ledger_entries_donation_money_has_donation"),
    ("ledger-refund-without-donation", "ledger_entries",
     {"kind": "refund", "amount_minor": -500, "donation_id": None},
     "ck_ledger_entries_donation_money_has_donation"),
    ("ledger-transfer-without-group", "ledger_entries",
     {"kind": "transfer", "donation_id": None, "amount_minor": -500},
     "ck_ledger_entries_transfer_grouped"),
    # an unknown kind also has no permitted sign, so either check may be the one reported
    ("ledger-unknown-kind", "ledger_entries", {"kind": "bonus"},
     ("ck_ledger_entries_kind", "ck_ledger_entries_amount_sign")),
    # cases
    ("case-unknown-status", "rescue_cases", {"status": "archived"}, "ck_rescue_cases_status"),
    ("case-closed-without-outcome", "rescue_cases", {"status": "closed"},
     "ck_rescue_cases_outcome_iff_closed"),
    ("case-open-with-outcome", "rescue_cases", {"outcome": "failed"},
     "ck_rescue_cases_outcome_iff_closed"),
    ("case-closed-unknown-outcome", "rescue_cases", {"status": "closed", "outcome": "vanished"},
     "ck_rescue_cases_outcome_iff_closed"),
    ("case-without-slug", "rescue_cases", {"slug": OMIT},
     {"sqlite": "NOT NULL constraint failed: rescue_cases.slug",
      "postgresql": 'null value in column "slug"'}),
    ("case-negative-goal", "rescue_cases", {"goal_amount_minor": -1},
     "ck_rescue_cases_goal_not_negative"),
    # people
    ("person-rescued-without-date", "beneficiaries", {"status": "rescued"},
     "ck_beneficiaries_rescued_on_iff_rescued"),
    ("person-waiting-with-date", "beneficiaries", {"rescued_on": date(2025, 10, 1)},
     "ck_beneficiaries_rescued_on_iff_rescued"),
    ("person-unknown-age-band", "beneficiaries", {"age_band": "80+"},
     "ck_beneficiaries_age_band"),
    ("person-unknown-status", "beneficiaries", {"status": "missing"},
     "ck_beneficiaries_status"),
    # users and donors
    ("user-unknown-role", "users", {"role": "root"}, "ck_users_role"),
    ("user-upper-case-email", "users", {"email": "Someone@Example.org"},
     "ck_users_email_lowercase"),
    ("donor-upper-case-email", "donors", {"email": "Donor@Example.org"},
     "ck_donors_email_lowercase"),
    # events
    ("event-unknown-gateway", "payment_events", {"gateway": "paypal"},
     "ck_payment_events_gateway"),
]


@pytest.mark.parametrize(
    ("table", "overrides", "expect"),
    [r if hasattr(r, "marks") else pytest.param(*r[1:], id=r[0]) for r in REFUSED],
)
def test_the_database_refuses_a_bad_row(app, seed, backend, table, overrides, expect):
    row = _row(table, seed, overrides)
    assert_refused(lambda: _core_insert(table, row), backend, expect)


# --- foreign keys -----------------------------------------------------------------------------

FK_FAILED = {"sqlite": "FOREIGN KEY constraint failed", "postgresql": "foreign key constraint"}


def test_foreign_keys_are_enforced_on_every_connection(app, seed, backend):
    """SQLite ignores foreign keys unless each connection asks; the app asks on connect."""
    if backend == "sqlite":
        assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
    # A brand-new connection, outside the pool the session uses, enforces them too.
    with db.engine.connect() as fresh, pytest.raises(IntegrityError):
        if backend == "sqlite":
            assert fresh.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
        fresh.execute(sa.insert(_table("beneficiaries")).values(
            **_row("beneficiaries", seed, {"case_id": 424_242})
        ))
    assert table_counts()["beneficiaries"] == 0


def test_a_person_cannot_point_at_a_missing_case_raw_sql(app, seed, backend):
    insert = sa.text(
        "INSERT INTO beneficiaries (case_id, position, public_alias, age_band, status,"
        " private_name, private_details, private_rescue_note, created_at)"
        " VALUES (:case_id, 1, 'Mr. Y.', '18-29', 'waiting', '', '', '', CURRENT_TIMESTAMP)"
    )
    # The same statement is fine with a real case: only the foreign key can refuse it.
    db.session.execute(insert, {"case_id": seed.case_id})
    db.session.commit()
    assert_refused(lambda: db.session.execute(insert, {"case_id": 999_999}), backend, FK_FAILED)


@pytest.mark.parametrize(
    ("table", "overrides"),
    [
        pytest.param("donations", {"case_id": 999_999}, id="donation-missing-case"),
        pytest.param("ledger_entries", {"donation_id": 999_999}, id="ledger-missing-donation"),
        pytest.param("ledger_entries", {"case_id": 999_999}, id="ledger-missing-case"),
        pytest.param("payment_events", {"donation_id": 999_999}, id="event-missing-donation"),
    ],
)
def test_money_rows_cannot_point_at_missing_rows(app, seed, backend, table, overrides):
    row = _row(table, seed, overrides)
    assert_refused(lambda: _core_insert(table, row), backend, FK_FAILED)


def test_a_case_with_money_on_it_cannot_be_deleted(app, seed, backend):
    delete = sa.text("DELETE FROM rescue_cases WHERE id = :id")
    assert_refused(
        lambda: db.session.execute(delete, {"id": seed.case_id}), backend, FK_FAILED
    )


def test_a_case_without_slug_is_refused_raw_sql(app, seed, backend):
    insert = sa.text(
        "INSERT INTO rescue_cases (slug, public_title, public_summary, public_region, track,"
        " status, goal_amount_minor, goal_currency, private_notes, private_contact,"
        " created_at, updated_at)"
        " VALUES (:slug, 'T', '', 'R', 'journey', 'fundraising', 0, 'JPY', '', '',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    db.session.execute(insert, {"slug": "raw-case"})
    db.session.commit()
    assert_refused(
        lambda: db.session.execute(insert, {"slug": None}),
        backend,
        {"sqlite": "NOT NULL constraint failed: rescue_cases.slug",
         "postgresql": 'null value in column "slug"'},
    )


# --- uniqueness -------------------------------------------------------------------------------

DUPLICATES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
    # (id, table, first row's overrides, the duplicate's overrides, expected message)
    (
        "ledger-kind-gateway-ref", "ledger_entries",
        {"kind": "refund", "amount_minor": -200, "gateway_ref": "re_123"},
        {"kind": "refund", "amount_minor": -300, "gateway_ref": "re_123"},
        {"sqlite": "ledger_entries.kind, ledger_entries.gateway_ref",
         "postgresql": "uq_ledger_entries_kind_gateway_ref"},
    ),
    (
        "payment-event-id", "payment_events",
        {"event_id": "evt_1"},
        {"event_id": "evt_1", "type": "charge.refunded"},
        {"sqlite": "payment_events.gateway, payment_events.event_id",
         "postgresql": "uq_payment_events_gateway_event_id"},
    ),
    (
        "donation-gateway-session", "donations",
        {"gateway": "stripe", "channel": "card", "gateway_session_id": "cs_test_1"},
        {"gateway": "stripe", "channel": "card", "gateway_session_id": "cs_test_1",
         "amount_minor": 900},
        {"sqlite": "donations.gateway_session_id",
         "postgresql": "uq_donations_gateway_session_id"},
    ),
    (
        "case-slug", "rescue_cases",
        {"slug": "same-slug"},
        {"slug": "same-slug", "public_title": "Another case"},
        {"sqlite": "rescue_cases.slug", "postgresql": "uq_rescue_cases_slug"},
    ),
    (
        "donor-email", "donors",
        {"email": "twice@example.org"},
        {"email": "twice@example.org", "name": "Someone else"},
        {"sqlite": "donors.email", "postgresql": "uq_donors_email"},
    ),
]


@pytest.mark.parametrize(
    ("table", "first", "duplicate", "expect"),
    [pytest.param(t, f, d, e, id=i) for i, t, f, d, e in DUPLICATES],
)
def test_the_database_refuses_a_duplicate(app, seed, backend, table, first, duplicate, expect):
    _core_insert(table, _row(table, seed, first))
    db.session.commit()
    assert_refused(lambda: _core_insert(table, _row(table, seed, duplicate)), backend, expect)


def test_a_case_slug_taken_by_the_service_is_refused_raw(app, seed, backend):
    slug = db.session.execute(
        sa.text("SELECT slug FROM rescue_cases WHERE id = :id"), {"id": seed.case_id}
    ).scalar_one()
    row = _row("rescue_cases", seed, {"slug": slug})
    assert_refused(
        lambda: _core_insert("rescue_cases", row),
        backend,
        {"sqlite": "rescue_cases.slug", "postgresql": "uq_rescue_cases_slug"},
    )


def test_the_same_gateway_ref_may_appear_under_different_kinds(app, seed):
    """The ledger key is (kind, gateway_ref): a refund and a dispute may share a charge id."""
    _core_insert("ledger_entries", _row("ledger_entries", seed,
                                        {"kind": "refund", "amount_minor": -100,
                                         "gateway_ref": "ch_1"}))
    _core_insert("ledger_entries", _row("ledger_entries", seed,
                                        {"kind": "dispute", "amount_minor": -100,
                                         "gateway_ref": "ch_1"}))
    # and entries without a gateway reference never collide
    _core_insert("ledger_entries", _row("ledger_entries", seed, {"gateway_ref": None}))
    _core_insert("ledger_entries", _row("ledger_entries", seed, {"gateway_ref": None}))
    db.session.commit()
    assert table_counts()["ledger_entries"] == 1 + 4


def test_the_same_event_id_from_another_gateway_is_a_different_event(app, seed):
    _core_insert("payment_events", _row("payment_events", seed, {"event_id": "evt_9"}))
    _core_insert("payment_events",
                 _row("payment_events", seed, {"event_id": "evt_9", "gateway": "sandbox"}))
    db.session.commit()
    assert table_counts()["payment_events"] == 2


def test_first_gifts_from_one_new_address_at_the_same_moment_make_one_donor(app) -> None:
    """Found by the load test: two first gifts from one new email raced to INSERT the donor and
    the loser hit the UNIQUE email (a 500 to a donor). Eight at once now make one donor."""
    import contextvars
    import threading

    from tracker.donations.models import Donor
    from tracker.donations.services import find_or_create_donor

    racers = 8
    barrier = threading.Barrier(racers)
    found: list[int] = []
    failures: list[BaseException] = []

    def race(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                donor = find_or_create_donor(" Same@Example.org ", f"Name {n}")
                db.session.commit()
                found.append(donor.id)
            except BaseException as exc:  # noqa: BLE001  (reported below)
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=contextvars.Context().run, args=(race, n)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(found) == racers and len(set(found)) == 1
    db.session.rollback()
    donors = db.session.scalars(sa.select(Donor).where(Donor.email == "same@example.org")).all()
    assert len(donors) == 1 and donors[0].name.startswith("Name ")
