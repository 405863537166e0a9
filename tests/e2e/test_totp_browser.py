"""The second factor in a real browser (Chromium under the site's CSP)."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.e2e import conftest as e2e


@pytest.mark.e2e
def test_in_a_browser_staff_enrol_and_an_admin_signs_in_with_a_code(browser, live_server, make_user):
    """Chromium under the site's CSP: the inline SVG QR code shows, the key can be read and a
    first code typed; then signing in asks for a code (typed by the e2e sign_in helper)."""
    from playwright.sync_api import expect

    staff, staff_password = make_user("staff")
    admin, admin_password = make_user("admin")
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)

        e2e.sign_in(page, admin.email, admin_password)
        expect(page).to_have_url(re.compile(r"/staff/(\?lang=\w+)?$"))
        page.get_by_role("link", name="Account").click()
        expect(page.locator("#totp-status")).to_contain_text("On")
        page.get_by_role("button", name=f"Sign out ({admin.email})").click()

        e2e.sign_in(page, staff.email, staff_password)
        page.goto("/account/security")
        page.get_by_role("button", name="Set up the second factor").click()
        qr = page.locator("svg.qr-code")
        expect(qr).to_be_visible()
        assert qr.bounding_box()["width"] >= 150
        secret = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on the second factor").click()
        expect(page.locator("#totp-status")).to_contain_text("On")
        page.get_by_role("button", name=f"Sign out ({staff.email})").click()

        page.goto("/login")
        page.get_by_label("Email", exact=True).fill(staff.email)
        page.get_by_label("Password", exact=True).fill(staff_password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/login/code(\?lang=\w+)?$"))
        page.get_by_label("6-digit code").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "1")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#code-error")).to_be_visible()
        e2e.sign_in(page, staff.email, staff_password)
        expect(page).to_have_url(re.compile(r"/staff/(\?lang=\w+)?$"))
        assert not [p for p in problems if "Content Security Policy" in p], problems
    finally:
        context.close()
