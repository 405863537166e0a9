"""In a real browser: a case's budget and the payments out of it, with four eyes.

Staff member A plans a category, shows the budget to donors and records a payment above the
approval threshold with a receipt photo; it waits in the approvals queue, where A cannot
approve it. A signs out, staff member B signs in on the same browser and approves it. A visitor
then sees the spending per category on the case page and on the transparency page, and never
the payee or the note. Bad input in the budget forms is shown next to its field and records
nothing.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.factories import give, make_case
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases import workflow
from tracker.core.money import Money, format_money
from tracker.extensions import db

pytestmark = pytest.mark.e2e

PAYEE = "Mr Park, river guide PAYEE-MARKER-7731"
NOTE = "Paid in cash at the crossing NOTE-MARKER-4410"
LINE_NOTE = "Two guides LINE-NOTE-MARKER-2290"
GPS_MARKER = "RECEIPT-EXIF-MARKER-99"
NEGATIVE = "The amount can't be negative."
#: the accessible name (caption) of the staff "Budget against actual" table
BUDGET_TABLE = "Planned, paid out, awaiting approval and remaining per category"


def yen(minor: int) -> str:
    """The app's own formatting of a yen amount: what the page shows."""
    return format_money(Money(minor, "JPY"))


def _receipt_with_gps(path) -> None:  # noqa: ANN001
    """A small JPEG carrying camera details, a description marker and a GPS position."""
    image = Image.new("RGB", (320, 240), (200, 190, 170))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x010E] = GPS_MARKER  # ImageDescription
    exif[0x8825] = {1: "N", 2: (41.0, 24.0, 5.0), 3: "E", 4: (128.0, 10.0, 40.0)}  # GPSInfo
    image.save(path, "JPEG", exif=exif.tobytes())


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/(\?lang=\w+)?$"))


def sign_out(page: Page, email: str) -> None:
    page.get_by_role("button", name=f"Sign out ({email})").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    expect(page.get_by_role("link", name="Staff sign-in")).to_be_visible()


def open_budget(page: Page, case_id: int, title: str) -> None:
    """From the staff case page, follow "Budget and spending"."""
    page.goto(f"/staff/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("link", name="Budget and spending").click()
    expect(page).to_have_url(re.compile(rf"/staff/cases/{case_id}/budget(\?lang=\w+)?$"))
    expect(page.get_by_role("heading", name="Budget and spending", level=1)).to_be_visible()


def panel(page: Page, heading: str) -> Locator:
    """The section of the page under an h2 (the forms share labels such as "Note")."""
    return page.locator("section").filter(has=page.get_by_role("heading", name=heading, level=2))


def row(scope: Locator, header: str) -> Locator:
    """The table row whose row header reads ``header``."""
    return scope.get_by_role("row").filter(has=scope.page.get_by_role("rowheader", name=header, exact=True))


def fresh() -> None:
    """End this test's own transaction so reads see what the server committed."""
    db.session.rollback()


# --- 1. plan, show, pay, approve with four eyes, and what the public sees ---------------------


def test_budget_payment_approved_by_a_second_person_shows_on_the_public_pages(
    app: Flask, make_user, new_context, snap, tmp_path,  # noqa: ANN001
) -> None:
    title = "Four on the river road"
    case = make_case("e2e-budget-case", people=4, status=workflow.FUNDRAISING, public_title=title)
    give(case, 500_000)
    case_id = case.id
    alice, alice_password = make_user("staff", email="alice@example.org")
    bob, bob_password = make_user("staff", email="bob@example.org")
    receipt = tmp_path / "IMG_2041.jpg"
    _receipt_with_gps(receipt)
    assert GPS_MARKER.encode() in receipt.read_bytes()

    staff = new_context().new_page()
    sign_in(staff, alice.email, alice_password)
    open_budget(staff, case_id, title)
    budget_table = staff.get_by_role("table", name=BUDGET_TABLE)
    expect(budget_table).to_contain_text("No budget yet")

    # Plan "Guides" at ¥300,000.
    plan = panel(staff, "Plan a category")
    plan.get_by_label("Category", exact=True).select_option(label="Guides")
    plan.get_by_label("Planned amount").fill("300,000")
    plan.get_by_label("Note (staff only)").fill(LINE_NOTE)
    plan.get_by_role("button", name="Save line").click()
    expect(staff.get_by_role("status")).to_contain_text("Guides planned.")
    guides = row(budget_table, "Guides")
    expect(guides.get_by_role("cell")).to_have_text(
        [yen(300_000), yen(0), yen(0), yen(300_000), LINE_NOTE, "Remove"])

    # Show donors the budget, and let the goal follow it.
    show = panel(staff, "Show and goal")
    show.get_by_label("Show donors the budget and spending per category").check()
    show.get_by_label("The funding goal is the budget total").check()
    show.get_by_role("button", name="Save", exact=True).click()
    expect(staff.get_by_role("status")).to_contain_text("Saved.")
    expect(show.get_by_label("Show donors the budget and spending per category")).to_be_checked()
    expect(show.get_by_label("The funding goal is the budget total")).to_be_checked()
    expect(staff.locator("main")).to_contain_text(f"goal {yen(300_000)} (the budget total)")

    # Record ¥150,000 to a payee, with a receipt photo: above the threshold, so it waits.
    pay = panel(staff, "Record a payment")
    expect(pay.get_by_label("Budget line")).to_have_value(re.compile(r"^\d+$"))
    expect(pay.get_by_label("Budget line").locator("option:checked")).to_have_text("Guides")
    expect(pay.get_by_label("Paid on")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    expect(pay.get_by_label("Currency")).to_have_value("JPY")
    pay.get_by_label("Amount", exact=True).fill("150000")
    pay.get_by_label("Payee (staff only)").fill(PAYEE)
    pay.get_by_label("Note (staff only)").fill(NOTE)
    pay.get_by_label("Receipt photo").set_input_files(str(receipt))
    pay.get_by_role("button", name="Record payment").click()
    expect(staff.get_by_role("status")).to_contain_text(
        "It is above the approval threshold, so it counts once another staff member approves it.")
    expect(guides.get_by_role("cell")).to_have_text(
        [yen(300_000), yen(0), yen(150_000), yen(300_000), LINE_NOTE, ""])
    payments = staff.get_by_role("region", name="Payments")
    payment = payments.get_by_role("row").filter(has_text=PAYEE)
    expect(payment).to_have_count(1)
    expect(payment).to_contain_text("Awaiting approval")
    expect(payment).to_contain_text(yen(150_000))
    expect(payment.get_by_role("link", name="Approve or reject")).to_be_visible()
    receipt_link = payment.get_by_role("link", name="Receipt")
    expect(receipt_link).to_be_visible()
    served = staff.request.get(receipt_link.get_attribute("href"))
    assert served.status == 200 and served.headers["content-type"].startswith("image/")
    assert GPS_MARKER.encode() not in served.body() and b"PhoneMaker" not in served.body()
    snap(staff, "budget-payment-awaiting")

    # Before anyone approves, a visitor sees the budget but nothing spent.
    visitor = new_context().new_page()
    visitor.goto("/cases/e2e-budget-case")
    expect(visitor.get_by_role("heading", name="How the money is used")).to_be_visible()
    public_budget = visitor.get_by_role("table", name="Budget and spending per category")
    expect(public_budget.get_by_role("columnheader")).to_have_text(["Category", "Budget", "Spent"])
    expect(row(public_budget, "Guides").get_by_role("cell")).to_have_text([yen(300_000), yen(0)])
    visitor.goto("/transparency")
    money_out = visitor.get_by_role("region", name="Money out, by category")
    expect(money_out).to_contain_text("Nothing was paid out this year.")

    # A cannot approve their own payment.
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    expect(staff.get_by_role("heading", name="Payments awaiting approval")).to_be_visible()
    queued = staff.get_by_role("row").filter(has_text=PAYEE)
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("Yours: someone else approves.")
    expect(queued.get_by_role("button", name="Approve")).to_have_count(0)
    expect(queued.get_by_role("button", name="Withdraw")).to_be_visible()
    sign_out(staff, alice.email)

    # B signs in on the same browser and approves it.
    sign_in(staff, bob.email, bob_password)
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    queued = staff.get_by_role("row").filter(has_text=PAYEE)
    expect(queued).to_contain_text(title)
    expect(queued).to_contain_text(alice.email)
    expect(queued).not_to_contain_text("Yours: someone else approves.")
    snap(staff, "approvals-queue")
    queued.get_by_role("button", name="Approve").click()
    expect(staff.get_by_role("status")).to_contain_text("Approved: the payment counts now.")
    expect(staff.locator("table.approvals")).to_contain_text("Nothing awaits approval.")

    # The visitor reloads: the spending shows, the payee and notes never do.
    visitor.goto("/cases/e2e-budget-case")
    public_budget = visitor.get_by_role("table", name="Budget and spending per category")
    expect(row(public_budget, "Guides").get_by_role("cell")).to_have_text([yen(300_000), yen(150_000)])
    expect(visitor.locator("article.case")).to_contain_text(f"of {yen(300_000)} goal")
    snap(visitor, "case-budget-public")
    html = visitor.content()
    for secret in (PAYEE, "PAYEE-MARKER", NOTE, "NOTE-MARKER", "LINE-NOTE-MARKER", "/receipt"):
        assert secret not in html, f"{secret!r} is on the public case page"
    progress = visitor.request.get("/cases/e2e-budget-case/progress.json").text()
    assert "MARKER" not in progress

    visitor.goto("/transparency")
    money_out = visitor.get_by_role("region", name="Money out, by category")
    expect(row(money_out, "Guides").get_by_role("cell")).to_have_text([yen(150_000)])
    expect(row(money_out, "Money out").get_by_role("cell")).to_have_text([yen(150_000)])
    snap(visitor, "transparency")
    assert "MARKER" not in visitor.content()

    # The books: one payment, recorded by A, approved by B, with an EXIF-free receipt.
    fresh()
    stored = db.session.scalars(db.select(Disbursement)).all()
    assert [(d.status, d.needs_approval, d.base_amount_minor, d.created_by_id, d.decided_by_id)
            for d in stored] == [("approved", True, 150_000, alice.id, bob.id)]
    kept = db.session.scalar(db.select(DisbursementReceipt))
    assert kept is not None and GPS_MARKER.encode() not in kept.data


# --- 2. bad input is shown at its field and records nothing -----------------------------------


def test_bad_amounts_in_the_budget_forms_are_shown_at_the_field_and_record_nothing(
    app: Flask, make_user, new_context, snap,  # noqa: ANN001
) -> None:
    title = "Two in the hills"
    case = make_case("e2e-budget-errors", people=2, status=workflow.FUNDRAISING, public_title=title)
    case_id = case.id
    user, password = make_user("staff")

    staff = new_context().new_page()
    sign_in(staff, user.email, password)
    open_budget(staff, case_id, title)

    # A negative plan.
    plan = panel(staff, "Plan a category")
    plan.get_by_label("Category", exact=True).select_option(label="Guides")
    planned = plan.get_by_label("Planned amount")
    planned.fill("-5")
    plan.get_by_role("button", name="Save line").click()
    expect(planned).to_have_attribute("aria-invalid", "true")
    expect(planned).to_have_accessible_description(NEGATIVE)
    error = plan.locator(".field", has=staff.get_by_label("Planned amount")).locator(".error")
    expect(error).to_be_visible()
    expect(error).to_have_text(NEGATIVE)
    expect(planned).to_have_value("-5")
    expect(staff.get_by_role("table", name=BUDGET_TABLE)
           ).to_contain_text("No budget yet")
    expect(staff.get_by_role("status")).to_have_count(0)  # no "planned" flash

    # Now a good plan, then a negative payment.
    planned.fill("80,000")
    plan.get_by_role("button", name="Save line").click()
    expect(staff.get_by_role("status")).to_contain_text("Guides planned.")
    pay = panel(staff, "Record a payment")
    amount = pay.get_by_label("Amount", exact=True)
    amount.fill("-5")
    pay.get_by_label("Payee (staff only)").fill(PAYEE)
    pay.get_by_role("button", name="Record payment").click()
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_accessible_description(NEGATIVE)
    error = pay.locator(".field", has=staff.get_by_label("Amount", exact=True)).locator(".error")
    expect(error).to_be_visible()
    expect(error).to_have_text(NEGATIVE)
    expect(amount).to_have_value("-5")
    expect(pay.get_by_label("Payee (staff only)")).to_have_value(PAYEE)  # what was typed stays
    expect(staff.get_by_role("region", name="Payments")).to_contain_text("No payments yet.")
    snap(staff, "payment-negative-amount")

    fresh()
    assert db.session.scalar(db.select(db.func.count(Disbursement.id))) == 0
    assert [(line.category, line.planned_minor) for line in db.session.scalars(db.select(BudgetLine))] == [
        ("guides", 80_000)]
