"""Error reports to Sentry: with SENTRY_DSN set, a real error inside a real request reaches
the SDK's transport (a capturing one here: no network), and nothing personal rides along:
no private_* value, password, token, donor email or Stripe key, anywhere in the envelope.
The exception's type does arrive."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sentry_sdk
from flask import Flask
from sentry_sdk.transport import Transport

from tests.conftest import csrf_from
from tracker.ops import sentry
from tracker.ops.sentry import FILTERED, scrub

DSN = "https://publickey@sentry.example.invalid/42"

PRIVATE_NOTES = "Hiding in the Sakura flats room 4B"
PRIVATE_CONTACT = "Cousin Min-jun on +81 90 5555 0199"
DONOR_EMAIL = "aiko.tanaka@donor-mail.example"
STRIPE_TOKEN = "sk_test_51SecretKeyAbcdefghijklmnop"
CARD_TOKEN = "tok_visa_ABCDEFGHIJKLMNOPQRST"
PASSWORD = "correct horse battery staple 42"


class Capture(Transport):
    """A transport that keeps each envelope's bytes instead of sending them."""

    sent: list[bytes] = []

    def capture_envelope(self, envelope) -> None:  # noqa: ANN001
        Capture.sent.append(envelope.serialize())


@pytest.fixture
def reporting(app: Flask, monkeypatch) -> Iterator[list[bytes]]:  # noqa: ANN001
    """The app reporting to Sentry through ``Capture``; the envelopes sent."""
    Capture.sent = []
    monkeypatch.setitem(app.config, "SENTRY_DSN", DSN)
    sentry.init_app(app, transport=Capture)
    try:
        yield Capture.sent
    finally:
        sentry_sdk.flush()
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


class Failure(RuntimeError):
    """The error this test makes the case desk raise."""


def test_a_real_error_reaches_sentry_without_anything_personal(app: Flask, client, auth, make_user,  # noqa: ANN001
                                                               reporting, monkeypatch) -> None:
    from tracker.cases import services

    user, _ = make_user("staff", email="staff.member@ngo.example", password=PASSWORD)
    assert auth.login(user.email, PASSWORD).status_code == 302

    def fail(data, base):  # noqa: ANN001, ANN202
        # what a careless bug might do: log and raise with the very values we protect
        logging.getLogger("tracker.cases").warning("opening %s for %s", data.private_notes, DONOR_EMAIL)
        raise Failure(f"could not open the case: {data.private_notes} / {data.private_contact} "
                      f"({DONOR_EMAIL}, {STRIPE_TOKEN})")

    monkeypatch.setattr(services, "create_case", fail)
    page = client.get("/staff/cases/new")
    response = client.post(
        f"/staff/cases/new?email={DONOR_EMAIL}&key={STRIPE_TOKEN}",
        data={"public_title": "Six flood survivors", "slug": "six-flood", "public_region": "Jilin",
              "track": "journey", "goal": "3,000,000", "public_summary": "",
              "private_notes": PRIVATE_NOTES, "private_contact": PRIVATE_CONTACT,
              "donor_email": DONOR_EMAIL, "password": PASSWORD, "stripeToken": CARD_TOKEN,
              "csrf_token": csrf_from(page.text)},
        headers={"Authorization": f"Bearer {STRIPE_TOKEN}", "X-Api-Key": STRIPE_TOKEN,
                 "Referer": f"https://give.example.org/?email={DONOR_EMAIL}",
                 "X-Request-ID": "sentry-trace-0001"},
    )
    assert response.status_code == 500
    sentry_sdk.flush()

    assert reporting, "no event reached the transport"
    sent = b"\n".join(reporting).decode("utf-8")
    assert "Failure" in sent  # the error itself arrives
    assert "sentry-trace-0001" in sent  # tagged with the request's id
    assert "staff.new_case" in sent  # the endpoint, as the transaction
    for secret in (PRIVATE_NOTES, "Sakura", PRIVATE_CONTACT, "Min-jun", "5555", DONOR_EMAIL, "aiko.tanaka",
                   STRIPE_TOKEN, CARD_TOKEN, PASSWORD, "horse battery", user.email,
                   client.get_cookie("session").value if client.get_cookie("session") else "no-cookie"):
        assert secret not in sent, secret


def test_scrub_walks_the_whole_event() -> None:
    event = {
        "exception": {"values": [{"type": "KeyError", "value": f"'{DONOR_EMAIL}'", "stacktrace": {
            "frames": [{"function": "f", "vars": {"x": PRIVATE_NOTES}}]}}]},
        "logentry": {"message": "gift from %s", "params": [DONOR_EMAIL],
                     "formatted": f"gift from {DONOR_EMAIL}"},
        "request": {"url": "https://give.example.org/my/sign-in/abc?token=xyz", "method": "POST",
                    "query_string": "token=xyz", "data": {"password": PASSWORD}, "cookies": {"session": "s"},
                    "headers": {"User-Agent": "UA", "Cookie": "session=s", "Authorization": "Bearer t",
                                "Referer": "https://x/?email=a@b.example"}},
        "user": {"email": DONOR_EMAIL, "ip_address": "203.0.113.9"},
        "extra": {"anything": PRIVATE_CONTACT},
        "breadcrumbs": {"values": [{"category": "log", "message": f"for {DONOR_EMAIL}", "level": "info",
                                    "data": {"private_name": "Mr. Y"}}]},
        "contexts": {"case": {"private_notes": PRIVATE_NOTES, "nested": [{"webhook_secret": "whsec_abc"}],
                              "note": f"mail {DONOR_EMAIL} key {STRIPE_TOKEN} card 4242 4242 4242 4242"},
                     "response": {"status_code": 500}},
        "tags": {"csrf_token": "abc"},
    }
    out = scrub(event)
    text = repr(out)
    for secret in (DONOR_EMAIL, PRIVATE_NOTES, PRIVATE_CONTACT, PASSWORD, "Mr. Y", "whsec_abc", STRIPE_TOKEN,
                   "4242 4242", "xyz", "session=s", "Bearer t", "203.0.113.9", "sign-in/abc"):
        assert secret not in text, secret
    assert out["exception"]["values"][0]["type"] == "KeyError"
    assert out["exception"]["values"][0]["value"] == FILTERED
    assert out["logentry"] == {"message": "gift from %s", "params": []}
    assert out["request"]["headers"] == {"User-Agent": "UA"}
    assert out["contexts"]["response"]["status_code"] == 500
    assert out["contexts"]["case"]["private_notes"] == FILTERED
    assert out["tags"]["csrf_token"] == FILTERED
    assert out["breadcrumbs"] == {"values": [{"category": "log", "level": "info"}]}
