"""No leaks: nothing identifying leaves through a public page, JSON, an email, Stripe or a log.

The people in the cases are in hiding (DESIGN.md, "Safety of the people in the cases"). This
test plants a unique marker in every private field it can reach:

* every ``private_*`` column of every case and every person in it, of every budget line and
  every payment out of a case (found from the SQLAlchemy mappers, so a new ``private_`` column
  on these models is covered without touching this file);
* a payment's receipt photo, its EXIF (description, artist, GPS) full of markers, and the
  reason a payment was reversed;
* a flagged donation's ``flag_reason``, a bank reference typed by staff;
* staff-only audit data (before/after, actor, address) and a staff member's email;
* what donors told us but not the public: their email, the name of an anonymous gift, the
  message of a gift kept off the wall; and the title and body of draft and embargoed posts.

It then builds cases in every public status with people, posts, gifts (sandbox and Stripe
checkouts, receipts, emails) and budgets shown to donors (payments counted, awaiting approval,
approved by a second person, reversed), and as an anonymous visitor fetches every GET URL the
app can produce, the transparency pages of several fiscal years included. Every page, JSON
body, outbox message, ``.eml`` file, parameter sent to Stripe and log record is scanned for
the markers, case-insensitively. The one thing a donor's own data
may do is reach that donor: the receipt mailed to them, and their own email given to Stripe
as ``customer_email`` for their own checkout.

The scan is shown able to fail: markers put in public fields (a case's public title, a wall
name) must be found by the same helper in each channel; the public budget section must be on
the pages scanned, showing what was spent; and the receipt bytes, searched for in every public
body, must be found where staff fetch them.
"""

from __future__ import annotations

import email
import email.policy
import io
import itertools
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, current_app
from flask.testing import FlaskClient
from PIL import Image

from tests.conftest import Auth, csrf_from
from tests.factories import give as give_offline
from tests.payments.helpers import (
    DECLINED_CARD,
    completion_event,
    deliver,
    pay_on_page,
    pay_without_delivery,
    start_gift,
)
from tests.payments.stripe_fakes import (
    RecordingHTTPClient,
    balance_transaction,
    payment_intent,
    stripe_app,
    stripe_id,
)
from tracker import audit
from tracker.budgets import services as budget_services
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.follows import CaseFollow
from tracker.cases.models import Beneficiary, CaseCover, RescueCase
from tracker.core import faces
from tracker.core.access import PUBLIC, policy_for
from tracker.core.money import Money, format_money
from tracker.core.time import current_fiscal_year, local_today, utcnow
from tracker.donations.models import FLAGGED, Donation, Receipt
from tracker.extensions import db
from tracker.mail import outbox
from tracker.mail.outbox import OutboxMessage
from tracker.posts import services as post_services
from tracker.posts.images import review_image, store_image
from tracker.posts.models import Post, PostImage
from tracker.sandbox.models import SandboxSession

#: every model with ``private_*`` columns; the test plants a marker in each of them
PRIVATE_MODELS = (RescueCase, Beneficiary, BudgetLine, Disbursement)


# --- markers and the scanner -----------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A unique string planted in one field."""

    value: str
    label: str  # where it was planted, for the failure message
    #: a donor's own data (their lower-case email): it may reach that donor, no one else
    owner: str | None = None


@dataclass
class Output:
    """Something that left the app: a page, an email, a request to Stripe, a log record."""

    channel: str  # page | outbox | eml | stripe | log
    where: str
    text: str
    #: the donor this output is addressed to (an email's recipient), if any
    recipient: str | None = None
    #: the body as sent (pages): searched for the receipt photo's bytes
    raw: bytes = b""


@dataclass
class Markers:
    prefix: str
    planted: list[Marker] = field(default_factory=list)

    def new(self, label: str, *, max_length: int | None = None, owner: str | None = None,
            name: str = "") -> str:
        token = uuid.uuid4().hex[:12]
        value = f"{self.prefix}-{name or 'x'}-{token}"
        if max_length is not None and len(value) > max_length:
            value = f"{self.prefix}-{token}"
        assert max_length is None or len(value) <= max_length, (label, max_length)
        self.planted.append(Marker(value, label, owner))
        return value

    def email(self, label: str) -> str:
        """A donor or staff email that is itself a marker (and owns itself)."""
        value = f"{self.prefix.lower()}-email-{uuid.uuid4().hex[:12]}@example.org"
        self.planted.append(Marker(value, label, owner=value))
        return value

    def owned(self, label: str, owner: str, *, max_length: int, name: str) -> str:
        return self.new(label, max_length=max_length, owner=owner, name=name)


def found_in(markers: Iterable[Marker], output: Output) -> list[Marker]:
    """The markers present in ``output`` (case-insensitive), except a donor's own data in
    something addressed to that donor."""
    haystack = output.text.lower()
    recipient = (output.recipient or "").lower() or None
    return [m for m in markers
            if m.value.lower() in haystack and not (m.owner is not None and m.owner == recipient)]


def leaks(markers: Iterable[Marker], outputs: Iterable[Output]) -> list[str]:
    markers = list(markers)
    return [f"{m.label} ({m.value}) leaked through {o.channel}: {o.where}"
            for o in outputs for m in found_in(markers, o)]


# --- planting -------------------------------------------------------------------------------


def private_columns(model: type) -> list[sa.orm.ColumnProperty]:
    return [attr for attr in sa.inspect(model).column_attrs if attr.key.startswith("private_")]


def _column_length(attr: sa.orm.ColumnProperty) -> int | None:
    return getattr(attr.columns[0].type, "length", None)


def plant_private_fields(obj: Any, markers: Markers, tag: str, *, skip: Iterable[str] = ()) -> None:
    """Put a fresh marker in every ``private_*`` column of ``obj`` (except ``skip``)."""
    for attr in private_columns(type(obj)):
        if attr.key in skip:
            continue
        column = attr.columns[0]
        assert column.type.python_type is str, (
            f"{type(obj).__name__}.{attr.key} is not text: teach this test to plant a marker in it")
        setattr(obj, attr.key, markers.new(f"{type(obj).__name__}.{attr.key} of {tag}",
                                           max_length=_column_length(attr), name=attr.key))


def _length(model: type, key: str) -> int | None:
    return _column_length(sa.inspect(model).column_attrs[key])


def make_case(markers: Markers, slug: str, path: list[str], people: int, *,
              title: str | None = None) -> RescueCase:
    """A case opened and moved through the services, its private fields and people's marked."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    case = case_services.create_case(
        case_services.CaseInput(
            slug=slug, public_title=title or f"Rescue {slug}", public_region="Northeast China",
            public_summary=f"Public story of {slug}.", goal=Money(1_000_000, base),
            private_notes=markers.new(f"RescueCase.private_notes of {slug}",
                                      max_length=_length(RescueCase, "private_notes"),
                                      name="private_notes"),
            private_contact=markers.new(f"RescueCase.private_contact of {slug}",
                                        max_length=_length(RescueCase, "private_contact"),
                                        name="private_contact"),
        ),
        base,
    )
    plant_private_fields(case, markers, slug, skip=("private_notes", "private_contact"))
    for i in range(people):
        tag = f"person {i + 1} of {slug}"
        person = case_services.add_beneficiary(
            case, public_alias=f"Person {chr(65 + i)}.", age_band="18-29",
            private_name=markers.new(f"Beneficiary.private_name of {tag}",
                                     max_length=_length(Beneficiary, "private_name"),
                                     name="private_name"),
            private_details=markers.new(f"Beneficiary.private_details of {tag}",
                                        max_length=_length(Beneficiary, "private_details"),
                                        name="private_details"),
        )
        plant_private_fields(person, markers, tag, skip=("private_name", "private_details"))
    for target in path:
        case_services.change_status(case, target)
    db.session.flush()
    return case


def rescue(markers: Markers, person: Beneficiary, tag: str) -> bool:
    """Mark a person rescued through the service, with a private rescue note."""
    note = markers.new(f"Beneficiary.private_rescue_note (mark rescued) of {tag}",
                       max_length=_length(Beneficiary, "private_rescue_note"),
                       name="private_rescue_note")
    return case_services.mark_rescued(person, local_today(), note=note)


def receipt_photo(markers: Markers) -> bytes:
    """A phone photo of a paper receipt: noisy pixels (so its bytes are its own) and EXIF
    naming the safe house (description, artist, comment) and where it was taken (GPS)."""
    exif = Image.Exif()
    exif[0x010E] = markers.new("receipt EXIF description", name="receipt_description")
    exif[0x013B] = markers.new("receipt EXIF artist", name="receipt_artist")
    exif[0x8825] = {1: "N", 2: (43.0, 7.0, 41.0), 3: "E", 4: (131.0, 53.0, 9.0)}
    noise = Image.frombytes("RGB", (80, 60), os.urandom(80 * 60 * 3))
    upload = io.BytesIO()
    noise.resize((640, 480)).save(
        upload, "JPEG", exif=exif.tobytes(),
        comment=markers.new("receipt JPEG comment", name="receipt_comment").encode())
    return upload.getvalue()


def pay_out(markers: Markers, case: RescueCase, line: BudgetLine, amount_minor: int, tag: str, *,
            actor: Any, currency: str = "JPY", receipt: bytes | None = None) -> Disbursement:
    """A payment out of ``case`` recorded through the service, payee and note marked."""
    disbursement = budget_services.record_disbursement(
        case,
        budget_services.DisbursementInput(
            line_id=line.id, spent_on=local_today(), amount=Money(amount_minor, currency),
            payee=markers.new(f"Disbursement.private_payee of {tag}",
                              max_length=_length(Disbursement, "private_payee"),
                              name="private_payee"),
            note=markers.new(f"Disbursement.private_note of {tag}",
                             max_length=_length(Disbursement, "private_note"), name="private_note"),
        ),
        actor=actor, today=local_today(), receipt=receipt,
    )
    plant_private_fields(disbursement, markers, tag, skip=("private_payee", "private_note"))
    return disbursement


def plant_budget(markers: Markers, case: RescueCase, *, recorder: Any, spent: int,
                 receipt: bytes | None = None) -> dict[str, BudgetLine]:
    """Two budget lines with marked notes, shown to donors, and one payment that counts."""
    lines = {}
    for category, planned in (("guides", 300_000), ("transport", 200_000)):
        tag = f"{category} line of {case.slug}"
        line = budget_services.set_line(
            case, category, Money(planned, current_app.config["TRACKER_BASE_CURRENCY"]),
            private_note=markers.new(f"BudgetLine.private_note of {tag}",
                                     max_length=_length(BudgetLine, "private_note"),
                                     name="private_note"))
        plant_private_fields(line, markers, tag, skip=("private_note",))
        lines[category] = line
    budget_services.set_options(case, goal_follows_budget=False, show_budget=True)
    counted = pay_out(markers, case, lines["guides"], spent, f"a payment from {case.slug}",
                      actor=recorder, receipt=receipt)
    assert counted.status == "approved", counted.status
    return lines


def plant_audit(markers: Markers, case: RescueCase, staff: Any) -> None:
    """Staff-only audit data: who looked, what the private state was, from where."""
    entry = audit.record(
        "case.private_viewed", case, case_id=case.id, actor=staff,
        before={"private_notes": markers.new(f"audit before of {case.slug}", name="audit_before")},
        after={"note": markers.new(f"audit after of {case.slug}", name="audit_after")},
    )
    entry.ip = markers.new(f"audit ip of {case.slug}", max_length=64, name="ip")


# --- collecting what left the app ------------------------------------------------------------


def _fresh() -> None:
    db.session.rollback()


def _page_output(url: str, response: Any, who: str) -> Output:
    # Binary bodies (photos) are scanned too: markers are ASCII and survive the replacement.
    raw = response.get_data()
    body = raw.decode("utf-8", errors="replace")
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    response.close()
    return Output("page", f"{who} GET {url} -> {response.status_code}", f"{headers}\n\n{body}",
                  raw=raw)


def _fill(rule: str, values: dict[str, list[Any]]) -> Iterator[str]:
    names = re.findall(r"<(?:[^<>:]+:)?([^<>:]+)>", rule)
    missing = [n for n in names if n not in values]
    assert not missing, f"{rule}: no values for {missing}; add them to the crawl"
    for combo in itertools.product(*(values[n] for n in names)):
        url = rule
        for name, value in zip(names, combo, strict=True):
            url = re.sub(rf"<(?:[^<>:]+:)?{re.escape(name)}>", str(value), url, count=1)
        yield url


def public_urls(app: Flask) -> list[str]:
    """Every GET URL of every public endpoint, filled in from the data, plus the progress.json,
    thank-you and sandbox checkout pages of every case, donation and session."""
    _fresh()
    cases = list(db.session.scalars(db.select(RescueCase)))
    donations = list(db.session.scalars(db.select(Donation)))
    sessions = list(db.session.scalars(db.select(SandboxSession.id)))
    static = sorted(p.relative_to(app.static_folder).as_posix()
                    for p in Path(app.static_folder).rglob("*") if p.is_file())
    values: dict[str, list[Any]] = {
        "slug": [c.slug for c in cases] + list(db.session.scalars(db.select(Post.slug)))
        + ["no-such-thing"],
        "public_id": [d.public_id for d in donations] + ["don_unknown"],
        "session_id": sessions + [d.gateway_session_id for d in donations if d.gateway_session_id]
        + ["cs_test_unknown"],
        "case_id": [c.id for c in cases] + [999999],
        "person_id": list(db.session.scalars(db.select(Beneficiary.id))),
        "filename": static + [f"{token}.{'png' if kind == 'image/png' else 'jpg'}" for token, kind
                              in db.session.execute(db.select(PostImage.token, PostImage.content_type))],
        # the year under way, the one before, and one long before anything was recorded (404)
        "fiscal_year": [current_fiscal_year(), current_fiscal_year() - 1, 1990],
        # a donor's sign-in link and receipts (an anonymous visitor is sent to sign in)
        "token": ["no-such-link"],
        "number": list(db.session.scalars(db.select(Receipt.number))) + ["RT-999999"],
        # cover photos (both sizes, a held one included: 404) and the organization's logo
        "name": [f"{token}-{size}.jpg" for token in db.session.scalars(db.select(CaseCover.token))
                 for size in ("card", "page")] + ["no-such-logo.png", "nothing-card.jpg"],
        # tax receipts (calendar years): this year's is not ready, last year's may be
        "year": [local_today().year - 1, local_today().year],
    }
    urls: set[str] = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or policy_for(app, rule.endpoint) != PUBLIC:
            continue
        urls.update(_fill(rule.rule, values))
    urls.update(f"/cases/{c.slug}/progress.json" for c in cases)
    urls.update(f"/donations/{d.public_id}/thanks" for d in donations)
    urls.update(f"/sandbox/checkout/{s}" for s in sessions)
    _fresh()
    return sorted(urls)


def crawl(client: FlaskClient, urls: list[str], who: str) -> list[Output]:
    return [_page_output(url, client.get(url), who) for url in urls]


def donor_crawl(app: Flask, address: str) -> list[Output]:
    """Sign in as the donor with ``address`` through the emailed link and fetch their page
    and every receipt and annual receipt it links to (PDFs scanned as their text). Each is
    addressed to that donor: their own data may be in it."""
    from tests.donors.helpers import pdf_text

    browser = app.test_client()
    form = browser.get("/my/sign-in")
    browser.post("/my/sign-in", data={"email": address, "csrf_token": csrf_from(form.text)}).close()
    _fresh()
    body = db.session.scalar(db.select(OutboxMessage.body_text).where(
        OutboxMessage.kind == "donor-sign-in", OutboxMessage.to_address == address))
    _fresh()
    path = re.search(r"/my/sign-in/[A-Za-z0-9_-]+", body).group(0)
    button = browser.get(path)
    assert browser.post(path, data={"csrf_token": csrf_from(button.text)}).status_code == 303
    page = browser.get("/my/")
    files = re.findall(r'href="(/my/(?:receipts|annual)/[^"]+\.pdf)"', page.text)
    assert any("/receipts/" in f for f in files) and any("/annual/" in f for f in files), files
    outputs = [_page_output("/my/", page, f"donor {address}")]
    for url in files:
        response = browser.get(url)
        assert response.status_code == 200, url
        output = _page_output(url, response, f"donor {address}")
        output.text = pdf_text(output.raw)
        outputs.append(output)
    for output in outputs:
        output.recipient = address
    return outputs


def outbox_outputs() -> list[Output]:
    _fresh()
    rows = list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))
    return [Output("outbox", f"outbox #{m.id} ({m.kind}) to {m.to_address}",
                   f"{m.subject}\n\n{m.body_text}", recipient=m.to_address) for m in rows]


def eml_outputs(directory: Path) -> list[Output]:
    """Each .eml file: its raw bytes, and its headers and parts decoded (quoted-printable or
    base64 bodies and encoded words would hide a marker from a scan of the raw bytes)."""
    outputs = []
    for path in sorted(directory.glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = [raw.decode("utf-8", "replace")]
        parts += [f"{key}: {value}" for key, value in message.items()]
        parts += [str(part.get_content()) for part in message.walk() if not part.is_multipart()]
        [recipient] = [addr for _, addr in getaddresses([str(message["To"])])]
        outputs.append(Output("eml", path.name, "\n".join(parts), recipient=recipient.lower()))
    return outputs


def stripe_outputs(fake: RecordingHTTPClient, allowed_emails: set[str]) -> list[Output]:
    """Every request the stripe library sent: URL, body, every decoded parameter and header.

    ``customer_email`` is left out of the scan and checked on its own: it must be an email a
    donor typed for their own gift (Stripe sends that donor the card receipt).
    """
    outputs = []
    for i, request in enumerate(fake.requests):
        params = {k: v for k, v in request.params.items() if k != "customer_email"}
        customer_email = request.params.get("customer_email")
        assert customer_email is None or customer_email in allowed_emails, customer_email
        query = urlsplit(request.url).query
        body = request.body
        if customer_email is not None:
            body = "&".join(p for p in body.split("&") if not p.startswith("customer_email="))
        text = "\n".join([
            f"{request.method} {request.path}", unquote_plus(query), unquote_plus(body),
            *(f"{k}={v}" for k, v in params.items()),
            *(f"{k}: {v}" for k, v in request.headers.items()),
        ])
        outputs.append(Output("stripe", f"request {i}: {request.method} {request.path}", text))
    return outputs


def log_outputs(records: list[logging.LogRecord]) -> list[Output]:
    formatter = logging.Formatter()
    outputs = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + formatter.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        outputs.append(Output("log", f"{record.name} {record.levelname}", text))
    return outputs


# --- Stripe ---------------------------------------------------------------------------------


def stripe_give(client: FlaskClient, fake: RecordingHTTPClient, slug: str | None,
                **fields: str) -> str:
    """Give through the Stripe app's form; returns the Checkout Session id Stripe made."""
    path = f"/cases/{slug}/donate" if slug else "/donate"
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    data = {"csrf_token": csrf_from(page.text), "currency": "JPY", "preset": "JPY:5000",
            "amount": "", "name": "", "email": "", "message": "", "wall": "anonymous", **fields}
    before = len(fake.requests)
    response = client.post(path, data=data)
    assert response.status_code == 303, (path, response.status_code, response.text[:500])
    [call] = fake.requests[before:]
    assert (call.method, call.path) == ("POST", "/v1/checkout/sessions")
    assert call.params.get("customer_email") == (fields.get("email") or None)
    return list(fake.sessions)[-1]


def stripe_settles(fake: RecordingHTTPClient, session_id: str) -> None:
    """Stripe reports the session paid, with its PaymentIntent settled in yen."""
    session = fake.sessions[session_id]
    intent = payment_intent(
        amount=session["amount_total"], currency=session["currency"], metadata=session["metadata"],
        txn=balance_transaction(amount=session["amount_total"], fee=180, currency="jpy"),
        intent_id=stripe_id("pi_3"),
    )
    fake.on("GET", f"/v1/payment_intents/{intent['id']}", intent)
    fake.complete_session(session_id, payment_intent=intent["id"])


# --- the test -------------------------------------------------------------------------------


def test_private_columns_exist_only_on_the_models_the_leak_test_plants() -> None:
    """The leak test plants markers in the private columns of PRIVATE_MODELS (cases, people,
    budget lines, payments out); a private_ column on any other model needs the test extended."""
    import tracker.models  # noqa: F401  (every model registered)

    assert {a.key for a in private_columns(RescueCase)} >= {"private_notes", "private_contact"}
    assert {a.key for a in private_columns(Beneficiary)} >= {
        "private_name", "private_details", "private_rescue_note"}
    assert {a.key for a in private_columns(BudgetLine)} >= {"private_note"}
    assert {a.key for a in private_columns(Disbursement)} >= {"private_payee", "private_note"}
    elsewhere = sorted(
        f"{m.class_.__name__}.{a.key}" for m in db.Model.registry.mappers
        if m.class_ not in PRIVATE_MODELS for a in m.column_attrs if a.key.startswith("private_")
    )
    assert elsewhere == [], f"plant markers in these too: {elsewhere}"


def test_no_private_field_leaves_the_app(
    app: Flask, client: FlaskClient, database_url: str, make_user, tmp_path: Path,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # The database driver's own log (SQL and rows, private columns included) is not an output.
    # (set_level also sets the capturing handler's level: the last call, DEBUG, must come last.)
    caplog.set_level(logging.WARNING, logger="sqlalchemy")
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="tracker")
    mail_dir = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(mail_dir))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)

    secret = Markers("LEAK")
    public = Markers("CANARY")
    public_title = public.new("RescueCase.public_title of leak-fundraising", name="public_title")
    wall_name = public.new("display name of a wall=name gift", max_length=80, name="wall_name")
    donor_emails: set[str] = set()

    def donor_email(label: str) -> str:
        address = secret.email(f"donor email of {label}")
        donor_emails.add(address)
        return address

    # -- staff, cases in every status, people, audit ------------------------------------------
    staff_email = secret.email("staff member's email (audit actor)")
    staff, staff_password = make_user("staff", email=staff_email)

    fundraising = make_case(secret, "leak-fundraising", [workflow.FUNDRAISING], 3, title=public_title)
    in_progress = make_case(secret, "leak-in-progress", [workflow.FUNDRAISING, workflow.IN_PROGRESS], 2)
    rescued = make_case(secret, "leak-rescued", [workflow.FUNDRAISING], 2)
    legal = make_case(secret, "leak-legal", [workflow.LEGAL_ACTION], 2)
    closed = make_case(secret, "leak-closed", [workflow.FUNDRAISING], 2)
    on_hold = make_case(secret, "leak-on-hold", [workflow.FUNDRAISING, workflow.ON_HOLD], 1)
    requested = make_case(secret, "leak-requested", [], 1)
    cases = [fundraising, in_progress, rescued, legal, closed, on_hold, requested]
    assert not rescue(secret, in_progress.beneficiaries[0], "person 1 of leak-in-progress")
    for case in cases:
        plant_audit(secret, case, staff)

    # -- budgets shown to donors, and payments out: counted, awaiting a second approval,
    #    approved by a second person, paid in dollars, reversed (the closed case before closing)
    approver, _ = make_user("staff")
    receipt_upload = receipt_photo(secret)
    spent = {fundraising: 43_210, in_progress: 31_000, rescued: 27_000, legal: 25_000, closed: 12_000}
    lines = {case.slug: plant_budget(secret, case, recorder=staff, spent=amount,
                                     receipt=receipt_upload if case is fundraising else None)
             for case, amount in spent.items()}
    waiting = pay_out(secret, fundraising, lines[fundraising.slug]["transport"], 150_000,
                      "a payment awaiting approval", actor=staff)
    assert waiting.status == "pending"
    large = pay_out(secret, in_progress, lines[in_progress.slug]["transport"], 120_000,
                    "a payment approved by a second person", actor=staff)
    assert budget_services.approve(large.id, actor=approver).status == "approved"
    pay_out(secret, rescued, lines[rescued.slug]["transport"], 8_000, "a payment in dollars",
            actor=staff, currency="USD")
    mistaken = pay_out(secret, legal, lines[legal.slug]["transport"], 30_000,
                       "a payment reversed", actor=staff)
    reversal = budget_services.reverse(
        mistaken.id, actor=staff, today=local_today(),
        reason=secret.new("Disbursement.private_note (reason for a reversal)", max_length=500,
                          name="reversal_reason"))
    assert reversal.status == "approved"
    plant_private_fields(reversal, secret, "a reversal", skip=("private_payee", "private_note"))
    db.session.commit()
    with_receipt = db.session.scalar(db.select(DisbursementReceipt.disbursement_id))
    receipt_url = f"/staff/disbursements/{with_receipt}/receipt"

    # -- posts: published ones linked to the cases, a draft and an embargoed one ---------------
    now = utcnow()
    db.session.add_all([
        Post(slug="leak-appeal", kind="appeal", title="Appeal for the survivors", status="published",
             published_at=now, body_markdown="Please **give**.", cases=[fundraising, in_progress]),
        Post(slug="leak-report", kind="rescue_report", title="Everyone is safe", status="published",
             published_at=now, body_markdown="A rescue report.", cases=[rescued]),
        Post(slug="leak-update", kind="update", title="Hearing and pauses", status="published",
             published_at=now, body_markdown="An update.", cases=[legal, closed, on_hold, requested]),
        Post(slug="leak-news", kind="news", title="Annual meeting", status="published",
             published_at=now, body_markdown="News without a case."),
        Post(slug="leak-draft", kind="update", status="draft",
             title=secret.new("draft post title", max_length=200, name="draft_title"),
             body_markdown=secret.new("draft post body", name="draft_body"), cases=[fundraising]),
        Post(slug="leak-embargoed", kind="update", status="scheduled",
             publish_at=now + timedelta(days=2),
             title=secret.new("embargoed post title", max_length=200, name="embargo_title"),
             body_markdown=secret.new("embargoed post body", name="embargo_body"),
             cases=[in_progress]),
    ])
    db.session.commit()

    # -- a confirmed follower of every case, and the news of the report and the update -------
    # (tracker.cases.follows; their mail is scanned with every other mail below)
    for n, followed in enumerate(cases):
        db.session.add(CaseFollow(case_id=followed.id, email=f"follower{n}@example.org", locale="en",
                                  secret=f"{n:032d}", created_at=now, confirmed_at=now))
    db.session.commit()
    with app.test_request_context():
        for slug in ("leak-report", "leak-update"):
            assert post_services.queue_post_emails(
                db.session.scalar(db.select(Post).where(Post.slug == slug))) > 0
        db.session.commit()

    # -- a photo on a published post, its EXIF (description, camera, GPS) full of markers -------
    appeal = db.session.scalar(db.select(Post).where(Post.slug == "leak-appeal"))
    exif = Image.Exif()
    exif[0x010E] = secret.new("photo EXIF description", name="exif_description")
    exif[0x013B] = secret.new("photo EXIF artist", name="exif_artist")
    exif[0x8825] = {1: "N", 2: (42.0, 53.0, 7.0), 3: "E", 4: (129.0, 30.0, 11.0)}
    upload = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 60, 30)).save(upload, "JPEG", exif=exif.tobytes())
    photo = store_image(upload.getvalue(), "A river at night", appeal, None)
    review_image(photo, appeal, faces.CONFIRM_NO_PERSON, {"looked": True})  # staff looked
    appeal.body_markdown += f"\n\n![A river at night](/images/{photo.token}.jpg)"
    db.session.commit()

    outputs: list[Output] = []

    # -- gifts through the sandbox checkout (receipts and emails) ------------------------------
    named = donor_email("the wall=name gift")
    _, sid = start_gift(client, fundraising.slug, name=wall_name, email=named,
                        message="Stay strong, all of you.", wall="name")
    assert pay_on_page(client, sid).status_code == 303
    anonymous = donor_email("an anonymous gift")
    _, sid = start_gift(client, fundraising.slug, email=anonymous, wall="anonymous",
                        name=secret.owned("name given with an anonymous gift", anonymous,
                                          max_length=80, name="anon_name"),
                        message="Thinking of you.")
    assert pay_on_page(client, sid).status_code == 303
    hidden = donor_email("a gift kept off the wall")
    _, sid = start_gift(client, fundraising.slug, email=hidden, wall="hidden",
                        name=secret.owned("name given with a hidden gift", hidden, max_length=80,
                                          name="hidden_name"),
                        message=secret.owned("message of a hidden gift", hidden, max_length=500,
                                             name="hidden_message"))
    assert pay_on_page(client, sid).status_code == 303
    for case in (in_progress, rescued, legal, closed, on_hold, None):
        label = f"a gift to {case.slug if case else 'the general fund'}"
        address = donor_email(label)
        _, sid = start_gift(client, case.slug if case else None, email=address, wall="anonymous",
                            name=secret.owned(f"name with {label}", address, max_length=80,
                                              name="anon_name"))
        assert pay_on_page(client, sid).status_code == 303
    # a declined card, a checkout left open, and a payment flagged for staff
    _, sid = start_gift(client, legal.slug, email=donor_email("a declined gift"))
    declined = pay_on_page(client, sid, DECLINED_CARD)
    assert declined.status_code == 402
    outputs.append(_page_output("POST declined card", declined, "sandbox"))
    start_gift(client, on_hold.slug, email=donor_email("an unpaid checkout"))
    flagged, sid = start_gift(client, in_progress.slug, email=donor_email("a flagged gift"))
    pay_without_delivery(sid)
    assert deliver(client, app, completion_event(sid, amount_total=1)).status_code == 200
    _fresh()
    flagged = db.session.get(Donation, flagged.id)
    assert flagged.status == FLAGGED
    flagged.flag_reason = secret.new("Donation.flag_reason", max_length=200, name="flag_reason")
    # an offline bank transfer typed in by staff
    give_offline(fundraising, 20_000, email=donor_email("an offline gift"),
                 name=secret.new("offline donor name", max_length=80, name="offline_name"),
                 reference=secret.new("offline bank reference", max_length=120, name="reference"))
    db.session.commit()

    # -- the same cases through Stripe Checkout (the recording fake) ---------------------------
    fake = RecordingHTTPClient()
    sapp = stripe_app(database_url, fake, MAIL_FILE_DIR=str(mail_dir), MAIL_SERVER=None)
    sclient = sapp.test_client()
    try:
        stripe_sessions = {}
        for case in (fundraising, in_progress, rescued, legal, closed, on_hold, None):
            label = f"a Stripe gift to {case.slug if case else 'the general fund'}"
            address = donor_email(label)
            stripe_sessions[case.slug if case else None] = stripe_give(
                sclient, fake, case.slug if case else None, email=address,
                name=secret.owned(f"name with {label}", address, max_length=80, name="anon_name"),
                message=secret.owned(f"message with {label}", address, max_length=500,
                                     name="hidden_message"),
                wall="hidden")
        stripe_give(sclient, fake, fundraising.slug, wall="name", name="Public Wall Name")
        # one of them is paid: the thank-you page asks Stripe and records it (receipt, email)
        paid = stripe_sessions[fundraising.slug]
        stripe_settles(fake, paid)
        with sapp.app_context():
            public_id = db.session.scalar(
                db.select(Donation.public_id).where(Donation.gateway_session_id == paid))
        thanks = sclient.get(f"/donations/{public_id}/thanks")
        assert 'data-status="succeeded"' in thanks.text
        thanks.close()

        # -- the rescued and closed cases reach their final status ------------------------------
        _fresh()
        rescued = db.session.get(RescueCase, rescued.id)
        completions = [rescue(secret, person, f"person {i + 1} of leak-rescued")
                       for i, person in enumerate(rescued.beneficiaries)]
        assert completions == [False, True]
        case_services.change_status(db.session.get(RescueCase, closed.id), workflow.CLOSED,
                                    outcome="deported")
        db.session.commit()
        _fresh()
        statuses = {c.slug: c.status for c in db.session.scalars(db.select(RescueCase))}
        assert statuses == {
            "leak-fundraising": "fundraising", "leak-in-progress": "in_progress",
            "leak-rescued": "rescued", "leak-legal": "legal_action", "leak-closed": "closed",
            "leak-on-hold": "on_hold", "leak-requested": "requested",
        }

        # -- an anonymous visitor fetches everything, through both gateways --------------------
        urls = public_urls(app)
        outputs += crawl(client, urls, "sandbox")
        outputs += crawl(sclient, urls, "stripe")
        with sapp.app_context():
            outbox.deliver_pending()
            db.session.remove()
    finally:
        with sapp.app_context():
            db.session.remove()
            db.engine.dispose()
    # -- a donor signed in to their own page: their gifts and receipts, nothing else ------------
    donor_pages = donor_crawl(app, hidden)
    outputs += donor_pages
    outbox.deliver_pending()
    _fresh()

    # the receipt: staff get it (so the byte search below can find it), the public never does
    stored_receipt = db.session.scalar(db.select(DisbursementReceipt.data))
    receipt_slices = [data[len(data) // 2:len(data) // 2 + 48] for data in (stored_receipt,
                                                                           receipt_upload)]
    anonymous_receipt = client.get(receipt_url)
    assert anonymous_receipt.status_code == 302
    assert anonymous_receipt.headers["Location"].startswith("/login")
    outputs.append(_page_output(receipt_url, anonymous_receipt, "anonymous"))
    staff_client = app.test_client()
    assert Auth(staff_client).login(staff_email, staff_password).status_code == 302
    staff_receipt = _page_output(receipt_url, staff_client.get(receipt_url), "staff")
    assert staff_receipt.where.endswith("-> 200") and staff_receipt.raw == stored_receipt
    assert receipt_slices[0] in staff_receipt.raw
    assert found_in(secret.planted, staff_receipt) == [], "the receipt kept its EXIF"
    _fresh()

    # every private field really holds its marker (nothing was silently dropped)
    for model in PRIVATE_MODELS:
        rows = list(db.session.scalars(db.select(model)))
        assert rows, f"no {model.__name__} was made: nothing of it was planted"
        for obj in rows:
            for attr in private_columns(model):
                value = getattr(obj, attr.key)
                assert value.startswith("LEAK-"), f"{obj!r}.{attr.key} holds no marker: {value!r}"
    made = db.session.execute(sa.text(
        "SELECT status, reverses_id IS NOT NULL, currency FROM disbursements")).all()
    assert sorted(map(tuple, made)) == sorted(
        [("approved", False, "JPY")] * 7 + [("approved", True, "JPY"), ("pending", False, "JPY"),
                                            ("approved", False, "USD")]), made
    assert db.session.scalar(sa.text("SELECT count(*) FROM budget_lines")) == 10
    assert db.session.scalar(db.select(Donation.flag_reason).where(Donation.id == flagged.id)) \
        .startswith("LEAK-")
    _fresh()

    mails = outbox_outputs()
    emls = eml_outputs(mail_dir)
    assert len(mails) >= 10 and len(emls) == len(mails), (len(mails), len(emls))
    sent_to_stripe = stripe_outputs(fake, donor_emails)
    assert len(sent_to_stripe) >= 8
    logging.getLogger("tracker.safety_selfcheck").info("self-check %s", public_title)
    logs = log_outputs(caplog.records)
    outputs += mails + emls + sent_to_stripe + logs
    pages = [o for o in outputs if o.channel == "page"]
    assert len(pages) >= 100

    # -- the scan can fail: public markers are found, channel by channel -----------------------
    [title_marker, wall_marker] = public.planted

    def seen(marker: Marker, channel: str, where: str = "") -> list[str]:
        return [o.where for o in outputs
                if o.channel == channel and where in o.where and found_in([marker], o)]

    assert seen(title_marker, "page", "GET /cases/leak-fundraising ->")
    assert seen(title_marker, "page", "GET / ->")
    assert seen(wall_marker, "page", "sandbox GET /cases/leak-fundraising ->")
    assert seen(title_marker, "outbox") and seen(title_marker, "eml")
    assert seen(title_marker, "stripe", "POST /v1/checkout/sessions")
    assert seen(title_marker, "log")
    # the budget section is on the public case pages scanned, with what was spent
    guides = re.escape(budget_services.category_label("guides"))
    for slug, amount in (("leak-fundraising", 43_210), ("leak-closed", 12_000)):
        [page] = [o for o in pages if o.where == f"sandbox GET /cases/{slug} -> 200"]
        assert "How the money is used" in page.text
        assert re.search(rf'<th scope="row">{guides}</th><td>[^<]+</td><td>'
                         rf'{re.escape(format_money(Money(amount, "JPY")))}</td>', page.text), slug
    # the transparency pages were scanned: two years on record, one long before (404)
    crawled = {o.where for o in pages}
    year = current_fiscal_year()
    assert {f"sandbox GET /transparency/{year} -> 200", f"sandbox GET /transparency/{year - 1} -> 200",
            "sandbox GET /transparency/1990 -> 404"} <= crawled
    # a donor's own page and PDFs were scanned: their own name is on their receipt (so the
    # PDFs' text is searched), and is allowed there only because it is addressed to them
    [own_name] = [m for m in secret.planted if m.owner == hidden and m.label.startswith("name given")]
    on_receipts = [o for o in donor_pages if o.where.startswith("donor") and "/receipts/" in o.where]
    assert on_receipts and all(own_name.value.lower() in o.text.lower() for o in on_receipts)
    assert found_in([own_name], Output("page", "x", on_receipts[0].text)) == [own_name]
    # a donor's own email reaches their own receipt and nothing else
    own = [m for m in secret.planted if m.owner == named and m.value == named]
    assert own and [o.where for o in emls if own[0].value in o.text.lower()]

    # -- and no private marker is anywhere ------------------------------------------------------
    assert len(secret.planted) >= 60
    problems = leaks(secret.planted, outputs)
    problems += [f"the receipt photo was served publicly: {o.where}" for o in outputs
                 for piece in receipt_slices if o.raw and piece in o.raw]
    problems += [f"a receipt link is on a public page: {o.where}" for o in pages
                 if re.search(r"/disbursements/\d+/receipt", o.text)
                 and o.where != f"anonymous GET {receipt_url} -> 302"]
    if problems:
        pytest.fail(f"{len(problems)} leaks:\n" + "\n".join(problems), pytrace=False)
