"""Helpers for the donor's page tests: donors with gifts and receipts, refunds booked as the
payments code books them, asking for and using sign-in links through the real forms, and
reading PDFs back."""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from pypdf import PdfReader

from tests.conftest import csrf_from
from tests.dbcheck import card_gift
from tracker.cases.models import RescueCase
from tracker.donations import receipts
from tracker.donations.models import Donation, Donor, Receipt
from tracker.donors.services import MAIL_KIND
from tracker.extensions import db
from tracker.ledger.models import REFUND, LedgerEntry
from tracker.mail.outbox import OutboxMessage

LINK = re.compile(r"https?://[^/\s]+(/my/sign-in/[A-Za-z0-9_-]+)")


def fresh() -> None:
    """End the test's transaction so the next read sees what the requests committed."""
    db.session.rollback()


def gift(case: RescueCase | None, amount: int, at: datetime, currency: str = "JPY", *,
         email: str, name: str = "", locale: str | None = None) -> tuple[Donation, Receipt]:
    """A card gift settled at ``at`` with its receipt issued (committed)."""
    donation = card_gift(case, amount, at, currency, email=email, name=name)
    receipt = receipts.issue_receipt(donation)
    if locale is not None:
        donation.donor.locale = locale
    db.session.commit()
    return donation, receipt


def refund(donation: Donation, part: int, at: datetime, ref: str) -> LedgerEntry:
    """Book a refund of ``part`` (donor's currency) at ``at``, as the payments code does."""
    base = int((Decimal(donation.gross_minor) * part / donation.amount_minor)
               .quantize(Decimal(1), rounding=ROUND_HALF_UP))
    entry = LedgerEntry(
        kind=REFUND, case_id=donation.case_id, donation_id=donation.id, amount_minor=-base,
        currency=donation.settled_currency, original_amount_minor=-part,
        original_currency=donation.currency, gateway_ref=ref, memo="refund", booked_at=at,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def donor(email: str) -> Donor:
    fresh()
    return db.session.scalars(db.select(Donor).where(Donor.email == email)).one()


def ask_for_link(client: FlaskClient, email: str):
    """GET the sign-in form, then POST ``email`` with its CSRF token."""
    page = client.get("/my/sign-in")
    assert page.status_code == 200, page.status_code
    return client.post("/my/sign-in", data={"email": email, "csrf_token": csrf_from(page.text)})


def sign_in_mails() -> list[OutboxMessage]:
    fresh()
    return list(db.session.scalars(
        db.select(OutboxMessage).where(OutboxMessage.kind == MAIL_KIND).order_by(OutboxMessage.id)))


def link_path(message: OutboxMessage) -> str:
    """The path of the sign-in link in an email."""
    [path] = LINK.findall(message.body_text)
    return path


def new_link(client: FlaskClient, email: str) -> str:
    """Ask for a link for ``email`` and return the path of the one emailed."""
    before = len(sign_in_mails())
    assert ask_for_link(client, email).status_code == 200
    mails = sign_in_mails()
    assert len(mails) == before + 1, "no sign-in email was queued"
    return link_path(mails[-1])


def use_link(client: FlaskClient, path: str):
    """Open the link (a page with a button) and press the button."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.text)})


def sign_in(client: FlaskClient, email: str) -> None:
    """Sign ``client`` in as the donor with ``email`` through the emailed link."""
    response = use_link(client, new_link(client, email))
    assert response.status_code == 303 and urlsplit(response.headers["Location"]).path == "/my/"


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF (which must parse)."""
    assert data.startswith(b"%PDF-"), data[:20]
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def normalized(html: str) -> str:
    """A page without what differs between any two responses (CSRF token, CSP nonce)."""
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)
