"""Queued webhook events (TRACKER_WEBHOOK_PROCESSING=queued): the endpoint stores a verified
event and answers at once; ``apply_stored`` (what ``flask worker`` runs) applies stored events
in order, each exactly once, however many appliers run at the same time."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from tests.factories import make_case
from tests.payments.helpers import (
    completion_event,
    event_bytes,
    ledger_kinds,
    pay_without_delivery,
    payment_events,
    post_webhook,
    receipts_for,
    reload,
    signature,
    start_gift,
)
from tracker.donations.models import PENDING, SUCCEEDED
from tracker.extensions import db
from tracker.payments import webhooks

SLUG = "six-survivors"


@pytest.fixture
def queued(app: Flask):
    app.config["TRACKER_WEBHOOK_PROCESSING"] = "queued"
    yield app
    app.config["TRACKER_WEBHOOK_PROCESSING"] = "inline"


def _paid_gifts(client, count: int):  # noqa: ANN001, ANN202
    make_case(SLUG, people=2, status="fundraising")
    paid = []
    for i in range(count):
        donation, session_id = start_gift(client, SLUG, email=f"donor{i}@example.org")
        pay_without_delivery(session_id)
        paid.append((donation, completion_event(session_id)))
    return paid


def _post(client, app, event):  # noqa: ANN001, ANN202
    payload = event_bytes(event)
    return post_webhook(client, payload, signature(app, payload))


def test_a_queued_event_is_stored_at_once_and_applied_once_by_the_worker(queued, client):
    [(donation, event)] = _paid_gifts(client, 1)
    first = _post(client, queued, event)
    again = _post(client, queued, event)
    assert (first.status_code, first.get_json()["note"]) == (200, "queued")
    assert (again.status_code, again.get_json()["duplicate"]) == (200, True)
    [row] = payment_events()
    assert row.processed_at is None
    assert reload(donation).status == PENDING and not ledger_kinds(donation)
    assert webhooks.count_unapplied() == 1

    assert webhooks.apply_stored() == (1, 0)
    assert reload(donation).status == SUCCEEDED
    assert ledger_kinds(donation)["gift"] == 1 and len(receipts_for(donation)) == 1
    [row] = payment_events()
    assert row.processed_at is not None and row.note
    assert webhooks.apply_stored() == (0, 0)
    assert webhooks.count_unapplied() == 0


def test_a_bad_signature_is_refused_and_nothing_is_queued(queued, client):
    [(_, event)] = _paid_gifts(client, 1)
    response = post_webhook(client, event_bytes(event), "t=1,v1=00")
    assert response.status_code == 400
    assert payment_events() == []


def test_an_event_that_fails_stays_queued_and_is_applied_on_a_later_round(queued, client,
                                                                           monkeypatch):
    [(donation, event)] = _paid_gifts(client, 1)
    _post(client, queued, event)
    real = webhooks._HANDLERS[("checkout.session.completed", "")]
    calls = []

    def flaky(event, gateway):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(event, gateway)

    monkeypatch.setitem(webhooks._HANDLERS, ("checkout.session.completed", ""), flaky)
    assert webhooks.apply_stored() == (0, 1)
    assert reload(donation).status == PENDING and webhooks.count_unapplied() == 1
    assert webhooks.apply_stored() == (1, 0)
    assert reload(donation).status == SUCCEEDED and ledger_kinds(donation)["gift"] == 1


def test_appliers_at_the_same_time_apply_each_event_once(queued, client, backend):
    gifts = _paid_gifts(client, 12)
    for _, event in gifts:
        _post(client, queued, event)
    results, errors = [], []

    def applier() -> None:
        try:
            with queued.app_context():
                results.append(webhooks.apply_stored())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=applier) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if backend == "sqlite":  # one writer at a time: a loser may fail and leave work for later
        while webhooks.apply_stored()[0]:
            pass
    else:
        assert not errors, errors
    assert sum(applied for applied, _ in results) <= len(gifts)
    db.session.expire_all()
    assert webhooks.count_unapplied() == 0
    for donation, _ in gifts:
        assert reload(donation).status == SUCCEEDED
        assert ledger_kinds(donation)["gift"] == 1
        assert len(receipts_for(donation)) == 1
