"""Staff budget pages through HTTP: planning lines, the show/goal options, recording payments
(at once under the threshold, after a second staff member above it), rejecting, reversing,
receipts, and what the public case page and progress.json show of all that.

Every refused request is checked for its status (422 with the error at the form field, 409
for the case's state, a flashed refusal for a decision) and for writing nothing: rows in the
budget, payment, receipt, ledger and audit tables are counted with plain SQL before and after.
Signing in costs an argon2 check, so each test signs in as few people as it needs.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from io import BytesIO

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from PIL import Image

from tests.conftest import Auth, csrf_from
from tests.factories import give, make_case
from tracker.budgets import services
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.money import Money, format_money
from tracker.core.time import local_today
from tracker.extensions import db

WATCHED = ("budget_lines", "disbursements", "disbursement_receipts", "ledger_entries",
           "audit_entries", "rescue_cases")
PAYEE = "Guide Kim-0xPAYEE"
NOTE = "river crossing near the town 0xNOTE"
LINE_NOTE = "two guides for the crossing 0xLINENOTE"
EXIF_MARKER = "SAFEHOUSE-7c1f0e"


# --- helpers ---------------------------------------------------------------------------------


def counts() -> dict[str, int]:
    db.session.rollback()
    return {t: db.session.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
            for t in WATCHED}


def sql(query: str, **params):  # noqa: ANN201
    db.session.rollback()
    return db.session.execute(sa.text(query), params).all()


def yen(amount_minor: int) -> str:
    return format_money(Money(amount_minor, "JPY"))


def sign_in(client: FlaskClient, make_user, role: str = "staff"):  # noqa: ANN001, ANN201
    user, password = make_user(role)
    assert Auth(client).login(user.email, password).status_code == 302
    return user


def token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return csrf_from(page.text)


def budget_path(case_id: int) -> str:
    return f"/staff/cases/{case_id}/budget"


def plan(client: FlaskClient, case_id: int, csrf: str, category: str, planned: str, note: str = ""):
    return client.post(f"/staff/cases/{case_id}/budget/lines",
                       data={"csrf_token": csrf, "category": category, "planned": planned,
                             "private_note": note})


def set_options(client: FlaskClient, case_id: int, csrf: str, *, follows: bool, show: bool):
    data = {"csrf_token": csrf}
    if follows:
        data["goal_follows_budget"] = "y"
    if show:
        data["show_budget"] = "y"
    return client.post(f"/staff/cases/{case_id}/budget/options", data=data)


def record(client: FlaskClient, case_id: int, csrf: str, line_id: int | str, amount: str, *,
           currency: str = "JPY", spent_on: date | str | None = None, rate: str = "",
           payee: str = PAYEE, note: str = NOTE, receipt: bytes | None = None,
           filename: str = "receipt.jpg"):
    data = {"csrf_token": csrf, "line": str(line_id),
            "spent_on": str(local_today() - timedelta(days=1) if spent_on is None else spent_on),
            "currency": currency, "amount": amount, "rate": rate, "payee": payee, "note": note}
    if receipt is not None:
        data["receipt"] = (BytesIO(receipt), filename, "image/jpeg")
    return client.post(f"/staff/cases/{case_id}/disbursements", data=data,
                       content_type="multipart/form-data")


def decide(client: FlaskClient, disbursement_id: int, action: str, csrf: str, reason: str = ""):
    data = {"csrf_token": csrf}
    if action != "approve":
        data["reason"] = reason
    return client.post(f"/staff/disbursements/{disbursement_id}/{action}", data=data)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-(\w+)">(.*?)</p>', html)


def public_budget_rows(client: FlaskClient, slug: str) -> list[tuple[str, str, str]] | None:
    """The rows of the public "How the money is used" table, or None when it is not shown."""
    page = client.get(f"/cases/{slug}")
    assert page.status_code == 200
    if "How the money is used" not in page.text:
        assert '<table class="budget">' not in page.text
        return None
    table = page.text.split("How the money is used", 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr><th scope="row">([^<]*)</th><td>([^<]*)</td><td>([^<]*)</td></tr>',
                      table)


def disbursement_rows(case_id: int) -> list[tuple]:
    return [tuple(r) for r in sql(
        "SELECT id, status, amount_minor, currency, base_amount_minor, needs_approval,"
        " reverses_id, created_by_id, decided_by_id FROM disbursements WHERE case_id = :c"
        " ORDER BY id", c=case_id)]


def ledger_out(case_id: int) -> list[tuple]:
    return [tuple(r) for r in sql(
        "SELECT disbursement_id, amount_minor, currency FROM ledger_entries"
        " WHERE case_id = :c AND kind = 'disbursement' ORDER BY id", c=case_id)]


def audit_rows(action: str) -> list[tuple]:
    return [tuple(r) for r in sql(
        "SELECT actor_id, object_type, object_id, case_id FROM audit_entries"
        " WHERE action = :a ORDER BY id", a=action)]


def budgeted(slug: str = "six-survivors", *, raised: int = 500_000,
             status: str = workflow.FUNDRAISING):
    """A case with money and two lines planned through the service (committed)."""
    case = make_case(slug, people=2, status=status)
    if raised:
        give(case, raised)
    guides = services.set_line(case, "guides", Money(300_000, "JPY"), LINE_NOTE)
    transport = services.set_line(case, "transport", Money(200_000, "JPY"))
    db.session.commit()
    return case, guides.id, transport.id


def phone_jpeg(marker: str = EXIF_MARKER) -> bytes:
    """A phone photo of a receipt: EXIF with a description, an artist and GPS, and a comment."""
    image = Image.new("RGB", (120, 90), (220, 215, 200))
    image.paste((20, 20, 20), (10, 10, 100, 25))
    exif = Image.Exif()
    exif[0x010E] = f"Receipt at the safe house {marker}"  # ImageDescription
    exif[0x013B] = f"Owner {marker}"  # Artist
    exif[0x8825] = {1: "N", 2: (42.0, 53.0, 7.0), 3: "E", 4: (129.0, 30.0, 11.0)}  # GPSInfo
    out = BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=f"comment {marker}".encode(), quality=90)
    return out.getvalue()


# --- planning and options --------------------------------------------------------------------


def test_staff_plan_lines_and_choose_to_show_the_budget(app, client, make_user):
    staff = sign_in(client, make_user)
    case = make_case("six-survivors", people=2, status=workflow.FUNDRAISING)
    public = app.test_client()
    page = client.get(budget_path(case.id))
    assert page.status_code == 200
    assert "No budget yet" in page.text
    assert audit_rows("case.budget_viewed") == [(staff.id, "rescue_cases", case.id, case.id)]
    csrf = csrf_from(page.text)

    response = plan(client, case.id, csrf, "guides", "300,000", LINE_NOTE)
    assert response.status_code == 302 and response.headers["Location"] == budget_path(case.id)
    assert plan(client, case.id, csrf, "transport", "¥200,000").status_code == 302
    # a category already planned gets the new amount (one row per category)
    assert plan(client, case.id, csrf, "guides", "250000", LINE_NOTE).status_code == 302
    assert sql("SELECT category, planned_minor, currency, private_note FROM budget_lines"
               " ORDER BY category") == [("guides", 250_000, "JPY", LINE_NOTE),
                                         ("transport", 200_000, "JPY", "")]
    staff_page = client.get(budget_path(case.id)).text
    assert LINE_NOTE in staff_page and 'data-category="guides"' in staff_page

    # not shown to donors until staff say so
    assert public_budget_rows(public, case.slug) is None
    assert set_options(client, case.id, csrf, follows=True, show=True).status_code == 302
    assert sql("SELECT goal_follows_budget, show_budget, goal_amount_minor FROM rescue_cases")[0] \
        == (True, True, 450_000)
    guides, transport = services.category_label("guides"), services.category_label("transport")
    assert public_budget_rows(public, case.slug) == [(guides, yen(250_000), yen(0)),
                                                     (transport, yen(200_000), yen(0))]
    public_page = public.get(f"/cases/{case.slug}").text
    assert LINE_NOTE not in public_page
    assert yen(450_000) in public_page  # the goal followed the budget

    # a line nothing was paid against can be removed; the goal follows
    line_id = sql("SELECT id FROM budget_lines WHERE category = 'transport'")[0][0]
    removed = client.post(f"/staff/cases/{case.id}/budget/lines/{line_id}/remove",
                          data={"csrf_token": csrf})
    assert removed.status_code == 302
    assert sql("SELECT category FROM budget_lines") == [("guides",)]
    assert sql("SELECT goal_amount_minor FROM rescue_cases")[0][0] == 250_000

    # hiding it again takes the section off the public page
    assert set_options(client, case.id, csrf, follows=True, show=False).status_code == 302
    assert public_budget_rows(public, case.slug) is None
    assert [a for a, *_ in audit_rows("case.budget_options")] == [staff.id, staff.id]


def test_bad_budget_lines_are_422_at_the_field_and_write_nothing(app, client, make_user):
    sign_in(client, make_user)
    case, guides_id, _ = budgeted()
    csrf = token(client, budget_path(case.id))
    before = counts()
    bad = [
        ("teleport", "10,000", "category"),  # not a configured category
        ("", "10,000", "category"),
        ("guides", "0", "planned"),
        ("guides", "-5", "planned"),
        ("guides", "abc", "planned"),
        ("guides", "$500", "planned"),  # another currency's sign
        ("guides", "US$ 500", "planned"),
        ("guides", "500 USD", "planned"),
        ("guides", "1,234.5", "planned"),  # yen have no decimals
        ("guides", "1e5", "planned"),
        ("guides", "50,00", "planned"),
        ("guides", "10,000,000,000,000", "planned"),  # beyond any real budget
        ("guides", "", "planned"),
    ]
    for category, planned, field in bad:
        response = plan(client, case.id, csrf, category, planned)
        assert response.status_code == 422, (category, planned, response.status_code)
        assert f'id="{field}-error"' in response.text, (category, planned)
        assert counts() == before, (category, planned)
    # an over-long note is refused at its field too
    response = plan(client, case.id, csrf, "food", "1000", "x" * 501)
    assert response.status_code == 422 and 'id="private_note-error"' in response.text
    # a line with a payment stays (409), and nothing is written
    services.record_disbursement(case, services.DisbursementInput(
        guides_id, local_today(), Money(1_000, "JPY"), PAYEE), actor=None, today=local_today())
    db.session.commit()
    before = counts()
    response = client.post(f"/staff/cases/{case.id}/budget/lines/{guides_id}/remove",
                           data={"csrf_token": csrf})
    assert response.status_code == 409
    assert "Money was paid against this line" in response.text
    assert counts() == before
    # a line of another case is not this case's (404), without CSRF nothing happens (400)
    other, other_line, _ = budgeted("other-case")
    before = counts()
    assert client.post(f"/staff/cases/{case.id}/budget/lines/{other_line}/remove",
                       data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/staff/cases/{other.id}/budget/lines/{other_line}/remove",
                       data={}).status_code == 400
    assert counts() == before


# --- payments --------------------------------------------------------------------------------


def test_payment_at_or_under_the_threshold_counts_at_once_and_shows_publicly(app, client, make_user):
    staff = sign_in(client, make_user)
    case, guides_id, transport_id = budgeted()
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    public = app.test_client()
    progress_before = json.loads(public.get(f"/cases/{case.slug}/progress.json").text)
    csrf = token(client, budget_path(case.id))

    response = record(client, case.id, csrf, guides_id, "40,000")
    assert response.status_code == 302
    followed = client.get(response.headers["Location"])
    assert ("success", "Payment recorded; it counts now.") in flashes(followed.text)
    # exactly the threshold still counts at once
    assert record(client, case.id, csrf, transport_id, "100,000").status_code == 302
    rows = disbursement_rows(case.id)
    assert [(r[1], r[2], r[3], r[4], r[5], r[7], r[8]) for r in rows] == [
        ("approved", 40_000, "JPY", 40_000, False, staff.id, staff.id),
        ("approved", 100_000, "JPY", 100_000, False, staff.id, staff.id),
    ]
    assert ledger_out(case.id) == [(rows[0][0], -40_000, "JPY"), (rows[1][0], -100_000, "JPY")]
    assert [a for a, *_ in audit_rows("disbursement.recorded")] == [staff.id, staff.id]

    guides, transport = services.category_label("guides"), services.category_label("transport")
    assert public_budget_rows(public, case.slug) == [(guides, yen(300_000), yen(40_000)),
                                                     (transport, yen(200_000), yen(100_000))]
    page = public.get(f"/cases/{case.slug}").text
    assert PAYEE not in page and NOTE not in page and "/receipt" not in page
    assert str(local_today() - timedelta(days=1)) not in page  # no payment dates either
    # the staff page does show the payee: the check above could fail
    assert PAYEE in client.get(budget_path(case.id)).text

    # progress.json: the same keys, raised untouched by spending, no newer updated_at
    progress_after = json.loads(public.get(f"/cases/{case.slug}/progress.json").text)
    assert set(progress_after) == set(progress_before) == {
        "case", "status", "group_size", "rescued", "goal", "raised", "donors", "updated_at"}
    assert progress_after == progress_before
    assert progress_after["raised"] == {"amount_minor": 500_000, "currency": "JPY"}


def test_payment_over_the_threshold_waits_for_another_staff_member(app, client, make_user):
    recorder = sign_in(client, make_user)
    case, guides_id, transport_id = budgeted()
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    public = app.test_client()
    csrf = token(client, budget_path(case.id))

    response = record(client, case.id, csrf, guides_id, "100,001")
    assert response.status_code == 302
    assert "counts once another staff member approves it" in client.get(budget_path(case.id)).text
    # in dollars: $700 at the configured 150 is ¥105,000, above the threshold too
    assert record(client, case.id, csrf, transport_id, "700", currency="USD").status_code == 302
    rows = disbursement_rows(case.id)
    big, dollars = (r[0] for r in rows)
    assert [(r[1], r[4], r[5], r[8]) for r in rows] == [("pending", 100_001, True, None),
                                                        ("pending", 105_000, True, None)]
    assert ledger_out(case.id) == []
    # the rate as typed (the configured 150), never "1.5E+2" (found by an outside try)
    page = client.get(budget_path(case.id)).text
    assert "at 150<" in page and "E+" not in page
    guides, transport = services.category_label("guides"), services.category_label("transport")
    assert public_budget_rows(public, case.slug) == [(guides, yen(300_000), yen(0)),
                                                     (transport, yen(200_000), yen(0))]

    # the queue: the recorder sees it is theirs, and cannot approve it
    queue = client.get("/staff/disbursements/")
    assert queue.status_code == 200
    assert f'data-disbursement="{big}"' in queue.text and PAYEE in queue.text
    assert "Yours: someone else approves." in queue.text
    assert f"/staff/disbursements/{big}/approve" not in queue.text
    before = counts()
    refused = decide(client, big, "approve", csrf)
    assert refused.status_code == 303
    assert any("someone else must approve" in m for _, m in
               flashes(client.get(refused.headers["Location"]).text))
    # (the queue view audits itself; nothing else may be written)
    after = counts()
    assert {k: v for k, v in after.items() if k != "audit_entries"} == \
        {k: v for k, v in before.items() if k != "audit_entries"}
    assert after["audit_entries"] == before["audit_entries"] + 1  # the queue_viewed above
    assert disbursement_rows(case.id)[0][1] == "pending"

    # another staff member approves: from then on it counts
    second = app.test_client()
    approver = sign_in(second, make_user)
    queue = second.get("/staff/disbursements/")
    assert f"/staff/disbursements/{big}/approve" in queue.text
    approved = decide(second, big, "approve", csrf_from(queue.text))
    assert approved.status_code == 303 and approved.headers["Location"] == "/staff/disbursements/"
    assert ("success", "Approved: the payment counts now.") in \
        flashes(second.get("/staff/disbursements/").text)
    rows = disbursement_rows(case.id)
    assert (rows[0][1], rows[0][7], rows[0][8]) == ("approved", recorder.id, approver.id)
    assert rows[1][1] == "pending"
    assert ledger_out(case.id) == [(big, -100_001, "JPY")]
    assert audit_rows("disbursement.approved") == [(approver.id, "disbursements", big, case.id)]
    assert public_budget_rows(public, case.slug) == [(guides, yen(300_000), yen(100_001)),
                                                     (transport, yen(200_000), yen(0))]
    # approving twice is refused (flashed), and books nothing more
    before = counts()
    again = decide(second, big, "approve", csrf_from(queue.text))
    assert again.status_code == 303
    assert any("already approved" in m for _, m in flashes(second.get(budget_path(case.id)).text))
    assert ledger_out(case.id) == [(big, -100_001, "JPY")]
    assert counts()["disbursements"] == before["disbursements"]
    # the dollar payment still waits, in the queue
    assert f'data-disbursement="{dollars}"' in second.get("/staff/disbursements/").text
    assert disbursement_rows(case.id)[1][1] == "pending"


def test_reject_and_reverse(app, client, make_user):
    recorder = sign_in(client, make_user)
    case, guides_id, transport_id = budgeted()
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    public = app.test_client()
    csrf = token(client, budget_path(case.id))
    assert record(client, case.id, csrf, guides_id, "200,000").status_code == 302
    assert record(client, case.id, csrf, transport_id, "30,000").status_code == 302
    [(pending_id, *_), (counted_id, *_)] = disbursement_rows(case.id)

    # a reason of fewer than 10 characters is refused, and nothing changes
    before = counts()
    short = decide(client, pending_id, "reject", csrf, reason="too much")
    assert short.status_code == 303
    assert any("10 to 500 characters" in m for _, m in flashes(client.get(budget_path(case.id)).text))
    assert disbursement_rows(case.id)[0][1] == "pending"
    assert {k: v for k, v in counts().items() if k != "audit_entries"} == \
        {k: v for k, v in before.items() if k != "audit_entries"}
    # the recorder may withdraw their own payment (reject it)
    rejected = decide(client, pending_id, "reject", csrf, reason="entered on the wrong case")
    assert rejected.status_code == 303
    assert disbursement_rows(case.id)[0][1] == "rejected"
    assert audit_rows("disbursement.rejected") == [(recorder.id, "disbursements", pending_id, case.id)]
    assert all(d != pending_id for d, *_ in ledger_out(case.id))
    # a rejected payment can be neither approved nor reversed
    for action in ("approve", "reverse"):
        before = counts()
        refused = decide(client, pending_id, action, csrf, reason="changed my mind again")
        assert refused.status_code == 303
        assert {k: v for k, v in counts().items() if k != "audit_entries"} == \
            {k: v for k, v in before.items() if k != "audit_entries"}

    # a counted payment is reversed by a linked negative row that counts at once (small)
    guides, transport = services.category_label("guides"), services.category_label("transport")
    assert public_budget_rows(public, case.slug)[1] == (transport, yen(200_000), yen(30_000))
    reversed_ = decide(client, counted_id, "reverse", csrf, reason="typed the wrong amount")
    assert reversed_.status_code == 303
    assert reversed_.headers["Location"] == budget_path(case.id)
    assert ("success", "Reversed.") in flashes(client.get(budget_path(case.id)).text)
    rows = disbursement_rows(case.id)
    assert [(r[1], r[2], r[4], r[6]) for r in rows[2:]] == [("approved", -30_000, -30_000, counted_id)]
    assert ledger_out(case.id) == [(counted_id, -30_000, "JPY"), (rows[2][0], 30_000, "JPY")]
    assert public_budget_rows(public, case.slug) == [(guides, yen(300_000), yen(0)),
                                                     (transport, yen(200_000), yen(0))]
    assert "typed the wrong amount" not in public.get(f"/cases/{case.slug}").text
    # reversing it again, or reversing the reversal, is refused and writes nothing
    for target, message in ((counted_id, "already reversed"),
                            (rows[2][0], "A reversal cannot itself be reversed")):
        before = counts()
        again = decide(client, target, "reverse", csrf, reason="typed the wrong amount")
        assert again.status_code == 303
        [(category, text)] = flashes(client.get(budget_path(case.id)).text)
        assert category == "error" and message in text, text
        assert counts()["disbursements"] == before["disbursements"]
        assert counts()["ledger_entries"] == before["ledger_entries"]


def test_receipt_is_stripped_of_exif_served_to_staff_only_and_audited(app, client, make_user):
    staff = sign_in(client, make_user)
    case, guides_id, _ = budgeted()
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    csrf = token(client, budget_path(case.id))
    upload = phone_jpeg()
    assert Image.open(BytesIO(upload)).getexif().get_ifd(0x8825)  # the upload has GPS

    # a file that is not an image is refused at its field, writing nothing
    before = counts()
    response = record(client, case.id, csrf, guides_id, "5,000", receipt=b"%PDF-1.4 not an image",
                      filename="receipt.pdf")
    assert response.status_code == 422 and 'id="receipt-error"' in response.text
    assert counts() == before

    assert record(client, case.id, csrf, guides_id, "5,000", receipt=upload).status_code == 302
    [(disbursement_id, *_)] = disbursement_rows(case.id)
    url = f"/staff/disbursements/{disbursement_id}/receipt"
    assert url in client.get(budget_path(case.id)).text

    served = client.get(url)
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "private, no-store"
    body = served.get_data()
    assert body[:2] == b"\xff\xd8" and body != upload
    image = Image.open(BytesIO(body))
    assert image.size == (120, 90)
    exif = image.getexif()
    assert not exif.get_ifd(0x8825) and 0x010E not in exif and 0x013B not in exif
    assert "exif" not in image.info and "comment" not in image.info
    assert EXIF_MARKER.encode() not in body and b"GPS" not in body
    assert audit_rows("disbursement.receipt_viewed") == [
        (staff.id, "disbursements", disbursement_id, case.id)]

    # the public: no link, no photo
    public = app.test_client()
    page = public.get(f"/cases/{case.slug}").text
    assert "How the money is used" in page and url not in page and "/receipt" not in page
    anonymous = public.get(url)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert body not in anonymous.get_data()
    assert len(audit_rows("disbursement.receipt_viewed")) == 1
    # a payment without a receipt has none to serve
    assert record(client, case.id, csrf, guides_id, "1,000").status_code == 302
    assert client.get(f"/staff/disbursements/{disbursement_rows(case.id)[1][0]}/receipt") \
        .status_code == 404


def test_bad_payments_are_422_at_the_field_and_write_nothing(app, client, make_user):
    sign_in(client, make_user)
    case, guides_id, _ = budgeted()
    _, other_line, _ = budgeted("other-case")
    csrf = token(client, budget_path(case.id))
    tomorrow = local_today() + timedelta(days=1)
    before = counts()
    bad = [
        ({"spent_on": tomorrow}, "spent_on"),  # in the future
        ({"spent_on": "not-a-date"}, "spent_on"),
        ({"spent_on": ""}, "spent_on"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "$50"}, "amount"),
        ({"amount": "12.5"}, "amount"),  # yen have no decimals
        ({"amount": "12.345", "currency": "USD"}, "amount"),  # dollars have two
        ({"amount": "10,000,000,000,000"}, "amount"),
        ({"amount": "5,000", "currency": "ZZZ"}, "amount"),  # not a currency
        ({"amount": "5,000", "currency": ""}, "amount"),
        ({"amount": "5,000", "rate": "2"}, "rate"),  # yen to yen has no rate
        ({"amount": "50", "currency": "USD", "rate": "abc"}, "rate"),
        ({"amount": "50", "currency": "USD", "rate": "-150"}, "rate"),
        ({"amount": "50", "currency": "USD", "rate": "NaN"}, "rate"),
        ({"amount": "50", "currency": "USD", "rate": "1e400"}, "rate"),
        ({"amount": "0.01", "currency": "USD", "rate": "0.001"}, "amount"),  # under one yen
        ({"line": other_line}, "line"),  # another case's line
        ({"line": "abc"}, "line"),
        ({"payee": ""}, "payee"),
        ({"payee": "   "}, "payee"),
        ({"payee": "x" * 201}, "payee"),
    ]
    for given, field in bad:
        fields = dict(given)
        response = record(client, case.id, csrf, fields.pop("line", guides_id),
                          fields.pop("amount", "5,000"), **fields)
        assert response.status_code == 422, (given, response.status_code)
        assert f'id="{field}-error"' in response.text, (given, field)
        assert counts() == before, given


@pytest.mark.parametrize("line", ["9" * 20, "\u00b2"], ids=["huge", "superscript-two"])
def test_a_forged_budget_line_is_422_not_500(app, client, make_user, line):
    """The line select is posted back as text: a number beyond any integer column, or a
    character str.isdigit() accepts but int() does not ("²"), names no line of this case."""
    sign_in(client, make_user)
    case, _, _ = budgeted()
    csrf = token(client, budget_path(case.id))
    before = counts()
    response = record(client, case.id, csrf, line, "5,000")
    assert response.status_code == 422, response.status_code
    assert 'id="line-error"' in response.text
    assert counts() == before


def test_a_payment_dated_centuries_ago_is_refused(app, client, make_user):
    """A year typed wrongly ("0025" for "2025") is refused, as the gift desk refuses such an
    offline gift: the payment would otherwise be booked centuries ago, and the public
    transparency page would list every fiscal year since then."""
    sign_in(client, make_user)
    case, guides_id, _ = budgeted()
    csrf = token(client, budget_path(case.id))
    before = counts()
    for typo in ("0025-11-03", "0001-01-01"):
        response = record(client, case.id, csrf, guides_id, "5,000", spent_on=typo)
        assert response.status_code == 422, (typo, response.status_code)
        assert 'id="spent_on-error"' in response.text
        assert counts() == before, typo


def test_ancient_payment_date_does_not_break_the_transparency_page(app, client, make_user):
    """Whatever date is accepted, the public transparency pages must not answer 500."""
    sign_in(client, make_user)
    case, guides_id, _ = budgeted()
    csrf = token(client, budget_path(case.id))
    record(client, case.id, csrf, guides_id, "5,000", spent_on="0001-01-01")
    public = app.test_client()
    index = public.get("/transparency")
    assert index.status_code == 302
    assert public.get(index.headers["Location"]).status_code == 200
    for year in (0, 1, 2000):
        assert public.get(f"/transparency/{year}").status_code in (200, 404), year


# --- closed cases, access ----------------------------------------------------------------------


def _closed_case_attempts(client: FlaskClient):
    """A closed case (its budget shown, a payment counted) and every change tried on it."""
    case, guides_id, transport_id = budgeted()
    services.record_disbursement(case, services.DisbursementInput(
        guides_id, local_today(), Money(20_000, "JPY"), PAYEE), actor=None, today=local_today())
    db.session.commit()
    [(paid_id, *_)] = disbursement_rows(case.id)
    services.set_options(case, goal_follows_budget=False, show_budget=True)
    db.session.commit()
    # the page is opened while the case is open; someone closes the case meanwhile
    page = client.get(budget_path(case.id))
    assert "Record a payment" in page.text and "Plan a category" in page.text
    csrf = csrf_from(page.text)
    case_services.close_case(case, "cancelled", move_funds_to="general")
    db.session.commit()
    before = counts()
    attempts = {
        "line": plan(client, case.id, csrf, "food", "10,000"),
        "re-plan": plan(client, case.id, csrf, "guides", "10,000"),
        "options": set_options(client, case.id, csrf, follows=True, show=True),
        "remove": client.post(f"/staff/cases/{case.id}/budget/lines/{transport_id}/remove",
                              data={"csrf_token": csrf}),
        "record": record(client, case.id, csrf, guides_id, "5,000"),
    }
    return case, paid_id, csrf, before, attempts


def test_a_closed_case_refuses_every_budget_change_with_409(app, client, make_user):
    sign_in(client, make_user)
    case, paid_id, csrf, before, attempts = _closed_case_attempts(client)
    for name, response in attempts.items():
        assert response.status_code == 409, (name, response.status_code)
    reverse = decide(client, paid_id, "reverse", csrf, reason="typed the wrong amount")
    assert reverse.status_code == 303
    page = client.get(budget_path(case.id))
    assert any("closed" in m for _, m in flashes(page.text))
    assert "Record a payment" not in page.text and "Plan a category" not in page.text
    after = counts()
    assert after["audit_entries"] == before["audit_entries"] + 1  # the budget view just above
    assert {k: v for k, v in after.items() if k != "audit_entries"} == \
        {k: v for k, v in before.items() if k != "audit_entries"}
    assert sql("SELECT show_budget, goal_follows_budget FROM rescue_cases")[0] == (True, False)


def _staff_routes(case_id: int, line_id: int, disbursement_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/staff/cases/{case_id}/budget"),
        ("POST", f"/staff/cases/{case_id}/budget/options"),
        ("POST", f"/staff/cases/{case_id}/budget/lines"),
        ("POST", f"/staff/cases/{case_id}/budget/lines/{line_id}/remove"),
        ("POST", f"/staff/cases/{case_id}/disbursements"),
        ("GET", "/staff/disbursements/"),
        ("POST", f"/staff/disbursements/{disbursement_id}/approve"),
        ("POST", f"/staff/disbursements/{disbursement_id}/reject"),
        ("POST", f"/staff/disbursements/{disbursement_id}/reverse"),
        ("GET", f"/staff/disbursements/{disbursement_id}/receipt"),
    ]


@pytest.mark.parametrize("who", ["anonymous", "director"])
def test_only_staff_reach_the_budget_pages(app, client, make_user, who):
    case, guides_id, transport_id = budgeted()
    services.record_disbursement(case, services.DisbursementInput(
        guides_id, local_today(), Money(150_000, "JPY"), PAYEE), actor=None, today=local_today(),
        receipt=phone_jpeg())
    db.session.commit()
    [(disbursement_id, *_)] = disbursement_rows(case.id)
    if who == "director":
        sign_in(client, make_user, "director")
        csrf = token(client, "/logout")
    else:
        csrf = token(client, "/login")
    form = {"csrf_token": csrf, "category": "food", "planned": "1000", "line": str(guides_id),
            "spent_on": str(local_today()), "currency": "JPY", "amount": "1000", "payee": "x",
            "reason": "a long enough reason", "show_budget": "y"}
    before = counts()
    for method, path in _staff_routes(case.id, transport_id, disbursement_id):
        response = client.get(path) if method == "GET" else client.post(path, data=form)
        if who == "anonymous":
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, path)
        else:
            assert response.status_code == 403, (method, path, response.status_code)
        assert PAYEE not in response.text and b"\xff\xd8" not in response.get_data()[:2]
    assert counts() == before
    assert sql("SELECT status FROM disbursements") == [("pending",)]


def test_a_refusal_on_a_closed_case_says_why(app, client, make_user):
    """A staff member submitting from a page opened before the case closed gets a 409: the
    page must tell them the case is closed (the closed-case page has no forms, so an error
    attached to a form field is never shown)."""
    sign_in(client, make_user)
    *_, attempts = _closed_case_attempts(client)
    silent = [name for name, response in attempts.items()
              if "This case is closed" not in response.text]
    assert silent == [], f"409 without a reason shown: {silent}"


@pytest.mark.parametrize("path", [
    "/staff/cases/2147483648/budget", "/staff/cases/99999999999999999999/budget",
    "/staff/cases/1000000000000", "/staff/disbursements/9223372036854775808/receipt",
])
def test_ids_larger_than_the_database_holds_are_404_not_500(app, client, make_user, path):
    sign_in(client, make_user)
    assert client.get(path).status_code == 404
