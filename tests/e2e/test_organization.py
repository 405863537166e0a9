"""In a real browser: an admin sets the organization's identity and writes the about page; a
visitor sees them in the header, footer and page, in both languages, and sends a message with
the contact form, which reaches the organization's address through the outbox. Every page is
checked with axe and at phone width (390 px, no sideways scrolling)."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, axe_violations, sign_in

pytestmark = pytest.mark.e2e

SENDER_ADDRESS = "visitor.who.asks@example.net"


def _fits_a_phone(page: Page) -> None:
    found = axe_violations(page)
    assert not found, f"{page.url}:\n{found}"
    page.set_viewport_size(PHONE)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"
    found = axe_violations(page)
    assert not found, f"{page.url} (phone):\n{found}"


def test_an_admin_sets_the_identity_and_a_visitor_sees_it_and_writes(
    app: Flask, make_user, new_context, snap, mail_dir,  # noqa: ANN001
) -> None:
    user, password = make_user("admin")
    admin = new_context().new_page()
    sign_in(admin, user.email, password)

    admin.goto("/staff/organization")
    _fits_a_phone(admin)
    admin.set_viewport_size({"width": 1280, "height": 900})
    admin.get_by_label("Name (English)", exact=True).fill("Lantern Path")
    admin.get_by_label("Name (Japanese)", exact=True).fill("ランタンの道")
    admin.get_by_label("Legal name (English)", exact=True).fill("Lantern Path, Certified NPO")
    admin.get_by_label("Legal name (Japanese)", exact=True).fill("認定特定非営利活動法人ランタンの道")
    admin.get_by_label("Postal code", exact=True).fill("1600099")
    admin.get_by_label("Address (English)", exact=True).fill("9-99-9 Wakaba, Shinjuku-ku, Tokyo")
    admin.get_by_label("Address (Japanese)", exact=True).fill("東京都新宿区若葉9-99-9")
    admin.get_by_label("Certified NPO (認定NPO法人)", exact=True).check()
    admin.get_by_label("Date of certification", exact=True).fill("2019-06-01")
    admin.get_by_label("Certifying authority (English)", exact=True).fill("Tokyo Metropolitan Government")
    admin.get_by_label("Certifying authority (Japanese)", exact=True).fill("東京都")
    admin.get_by_label(re.compile(r"^Contact email")).fill("office@lantern-path.example")
    admin.get_by_label("Sender address for mail (From)", exact=True).fill("news@lantern-path.example")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator(".flash-success")).to_have_text("The organization's details are saved.")
    snap(admin, "identity-saved")

    admin.get_by_role("link", name="Edit “About us”").click()
    admin.get_by_label("Text in English (Markdown)", exact=True).fill("We walk **beside** people in hiding.")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator(".flash-success")).to_have_text("The page is saved.")
    _fits_a_phone(admin)

    visitor = new_context().new_page()
    visitor.goto("/")
    expect(visitor.locator(".brand")).to_have_text("Lantern Path")
    footer = visitor.get_by_test_id("org-footer")
    expect(footer).to_contain_text("Lantern Path, Certified NPO")
    expect(footer).to_contain_text("〒160-0099 9-99-9 Wakaba, Shinjuku-ku, Tokyo")
    expect(footer).to_contain_text("since June 1, 2019, certified by Tokyo Metropolitan Government")
    _fits_a_phone(visitor)

    visitor.get_by_role("link", name="About us").click()
    expect(visitor.locator(".story strong")).to_have_text("beside")
    _fits_a_phone(visitor)
    snap(visitor, "about")

    # in Japanese: the names in Japanese, the English text with a note
    visitor.goto("/about?lang=ja")
    expect(visitor.locator(".brand")).to_have_text("ランタンの道")
    expect(visitor.get_by_test_id("only-in")).to_have_text("このページは英語でのみご覧いただけます。")
    expect(visitor.get_by_test_id("org-footer")).to_contain_text("〒160-0099 東京都新宿区若葉9-99-9")
    _fits_a_phone(visitor)
    snap(visitor, "about-ja")

    visitor.goto("/contact?lang=en")
    visitor.get_by_label("Your name", exact=True).fill("A neighbour")
    visitor.get_by_label(re.compile(r"^Your email address")).fill("not an address")
    visitor.get_by_label("Message", exact=True).fill("How can I help?")
    visitor.get_by_role("button", name="Send the message").click()
    expect(visitor.locator("#email-error")).to_have_text("Enter an email address like name@example.org.")
    _fits_a_phone(visitor)
    visitor.get_by_label(re.compile(r"^Your email address")).fill(SENDER_ADDRESS)
    visitor.get_by_role("button", name="Send the message").click()
    expect(visitor.locator(".flash-success")).to_have_text(
        "Thank you. Your message has been sent; we will reply by email.")
    assert SENDER_ADDRESS not in visitor.content()
    _fits_a_phone(visitor)
    snap(visitor, "contact-sent")

    # the message reached the organization's address (the outbox sends after the response)
    def contact_mail() -> list:
        found = []
        for path in mail_dir.glob("*.eml") if mail_dir.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == "office@lantern-path.example":
                found.append(message)
        return found

    visitor.wait_for_timeout(200)
    for _ in range(200):  # up to 20 s: the machine may be busy
        if contact_mail():
            break
        visitor.wait_for_timeout(100)
    [message] = contact_mail()
    assert SENDER_ADDRESS in message.get_content()
    assert message["From"].addresses[0].addr_spec == "news@lantern-path.example"
