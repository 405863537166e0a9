"""The webhook hands each event to the handler its domain registered (payments.webhooks.handles).

Payments knows no domain: gifts (donations.recording) and monthly gifts (monthly.services)
register their handlers when imported. These tests register their own in an empty registry.
"""

from __future__ import annotations

import pytest

from tracker.payments import webhooks


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    handlers: dict = {}
    monkeypatch.setattr(webhooks, "_HANDLERS", handlers)
    return handlers


def _event(kind: str, mode: str | None = None, livemode: bool = False) -> dict:
    obj = {"id": "obj_1"} if mode is None else {"id": "obj_1", "mode": mode}
    return {"id": "evt_1", "type": kind, "livemode": livemode, "data": {"object": obj}}


class _Gateway:
    livemode = False


def test_a_handler_is_registered_for_each_type_it_names(registry):
    def handler(event, gateway):  # noqa: ANN001, ANN202
        return "handled " + event["type"]

    assert webhooks.handles("charge.refunded", "charge.dispute.created")(handler) is handler
    assert registry == {("charge.refunded", ""): handler, ("charge.dispute.created", ""): handler}
    assert webhooks._apply(_event("charge.dispute.created"), _Gateway()) == \
        "handled charge.dispute.created"


def test_a_monthly_checkout_has_its_own_handler(registry):
    webhooks.handles("checkout.session.completed")(lambda e, g: "one-off")
    webhooks.handles("checkout.session.completed", subscription=True)(lambda e, g: "monthly")
    assert set(registry) == {("checkout.session.completed", ""),
                             ("checkout.session.completed", "subscription")}
    gateway = _Gateway()
    assert webhooks._apply(_event("checkout.session.completed", "payment"), gateway) == "one-off"
    assert webhooks._apply(_event("checkout.session.completed"), gateway) == "one-off"
    assert webhooks._apply(_event("checkout.session.completed", "subscription"), gateway) == "monthly"


def test_subscription_mode_matters_only_for_checkout_sessions(registry):
    webhooks.handles("invoice.paid")(lambda e, g: "invoice")
    assert webhooks._route(_event("invoice.paid", "subscription")) == ("invoice.paid", "")
    assert webhooks._route(_event("checkout.session.expired", "subscription")) == \
        ("checkout.session.expired", "subscription")
    assert webhooks._apply(_event("invoice.paid", "subscription"), _Gateway()) == "invoice"


def test_registering_again_replaces_the_handler(registry):
    webhooks.handles("charge.refunded")(lambda e, g: "first")
    webhooks.handles("charge.refunded")(lambda e, g: "second")
    assert len(registry) == 1
    assert webhooks._apply(_event("charge.refunded"), _Gateway()) == "second"


def test_an_event_nobody_handles_is_ignored_and_livemode_is_checked_first(registry):
    webhooks.handles("charge.refunded")(lambda e, g: "refund")
    assert webhooks._apply(_event("charge.dispute.closed"), _Gateway()) == "ignored: not a type we handle"
    assert webhooks._apply(_event("charge.refunded", livemode=True), _Gateway()) == \
        "ignored: livemode True event on a livemode False gateway"


@pytest.mark.parametrize("types", [("charge.succeeded",), ("invoice.paid", "payout.paid"), ("",)])
def test_only_the_types_the_webhook_takes_can_be_registered(registry, types):
    with pytest.raises(ValueError, match=r"^not an event type we take: \["):
        webhooks.handles(*types)
    assert registry == {}


def test_the_app_registers_a_handler_for_every_type_the_webhook_takes(app):
    routes = {key for key in webhooks._HANDLERS}
    assert {kind for kind, _mode in routes} == set(webhooks.HANDLED_TYPES)
    assert {kind for kind, mode in routes if mode == "subscription"} == {
        "checkout.session.completed", "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed", "checkout.session.expired"}
