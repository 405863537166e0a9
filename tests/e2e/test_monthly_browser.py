"""Monthly giving and the donor's own page in a real browser.

1. A monthly gift from a case page with the keyboard alone (Tab, arrow keys within a radio
   group, Space, Enter, typing): the TEST MODE checkout in subscription mode, the monthly
   thank-you page; an open case page moves by exactly the first month, and again by itself
   when ``flask sandbox advance`` takes the next month's payment.
2. The donor asks for a sign-in link at /my/sign-in, opens it from the mail file, presses
   Sign in, sees both gifts, downloads a receipt PDF, changes the monthly amount, cancels;
   a month later nothing more is taken.
3. The same in Japanese (?lang=ja) on a phone-sized screen (390x844).
4. axe-core finds no serious or critical WCAG 2.0/2.1 A/AA violation on the monthly donation
   form (also with its errors showing), the subscription checkout, the monthly thank-you page,
   /my/sign-in, the link-sent page, the link page and /my/ with a monthly gift, at 390x844 and
   1280x900. Screenshots of the monthly form and the donor page at both widths.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, axe_violations
from tests.e2e.test_browser import (
    LIVE_UPDATE_SECONDS,
    Deadline,
    expect_live,
    open_case_page,
    raised_json,
    yen,
)
from tests.factories import give, make_case
from tests.payments.test_recurring import advance, subscribe
from tracker.cases import workflow
from tracker.core.money import Money, format_money
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RecurringGift

pytestmark = pytest.mark.e2e

OK_CARD = "4242 4242 4242 4242"
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
#: the path of a sign-in link in an email
LINK = re.compile(r"https?://[^/\s]+(/my/sign-in/[A-Za-z0-9_-]+)")
#: how long the sign-in email may take to reach the mail folder (sent after the response)
MAIL_WAIT_SECONDS = 10
CHECKOUT_URL = re.compile(r"/sandbox/checkout/cs_test_sbx_\w+(\?lang=\w+)?$")
MONTHLY_THANKS_URL = re.compile(r"/donations/monthly/[^/]+/thanks(\?lang=\w+)?$")


# --- helpers ---------------------------------------------------------------------------------


def fresh() -> None:
    """End this test's own transaction so reads see what the server committed."""
    db.session.rollback()


def tab_to(page: Page, predicate: str, what: str, key: str = "Tab", limit: int = 60) -> None:
    """Press ``key`` until ``predicate(document.activeElement)`` holds (keyboard only)."""
    visited = []
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(f"() => Boolean(({predicate})(document.activeElement))"):
            return
        visited.append(page.evaluate(
            "() => { const e = document.activeElement; if (!e) return '-';"
            " return `${e.tagName.toLowerCase()}#${e.id}[${e.name || e.textContent.trim().slice(0, 20)}]`; }"
        ))
    pytest.fail(f"{key} never reached {what}; focus went through: {visited}")


def focused(page: Page, expression: str):  # noqa: ANN201
    """Evaluate ``expression`` on the focused element (``e``)."""
    return page.evaluate(f"() => {{ const e = document.activeElement; return {expression}; }}")


def sign_in_links(mail_dir: Path) -> list[str]:
    """The paths of the sign-in links in the mail folder, oldest first."""
    links = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        links += LINK.findall(message.get_body(preferencelist=("plain",)).get_content())
    return links


def wait_for_new_link(mail_dir: Path, before: int) -> str:
    """The path of the sign-in link emailed after ``before`` links were in the folder."""
    end = time.monotonic() + MAIL_WAIT_SECONDS
    while time.monotonic() < end:
        links = sign_in_links(mail_dir) if mail_dir.exists() else []
        if len(links) > before:
            assert len(links) == before + 1, links
            return links[-1]
        time.sleep(0.1)
    pytest.fail(f"no sign-in email reached {mail_dir} within {MAIL_WAIT_SECONDS} s")


def ask_for_link(page: Page, mail_dir: Path, address: str, *, field: str, button: str) -> str:
    """Ask for a sign-in link at /my/sign-in (the page must be on it); the link's path."""
    before = len(sign_in_links(mail_dir)) if mail_dir.exists() else 0
    page.get_by_label(field, exact=True).fill(address)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()
    return wait_for_new_link(mail_dir, before)


def gifts_of(public_id: str) -> list[Donation]:
    fresh()
    gift = db.session.scalars(db.select(RecurringGift).where(RecurringGift.public_id == public_id)).one()
    donations = list(db.session.scalars(db.select(Donation).where(Donation.recurring_gift_id == gift.id)
                                        .order_by(Donation.id)))
    fresh()
    return donations


def recurring_of(thanks_url: str) -> RecurringGift:
    """The monthly gift a thank-you page (/donations/monthly/<public_id>/thanks) is about."""
    public_id = urlsplit(thanks_url).path.split("/")[3]
    fresh()
    gift = db.session.scalars(db.select(RecurringGift).where(RecurringGift.public_id == public_id)).one()
    db.session.expunge(gift)
    fresh()
    return gift


def pass_a_month(runner, paid: int) -> None:  # noqa: ANN001
    """``flask sandbox advance 32``; it must take ``paid`` payments. Leaves no transaction open."""
    out = advance(runner, 32)
    assert f"{paid} paid" in out, out
    fresh()


class Checker:
    """Runs axe on each page visited and collects every serious or critical violation."""

    def __init__(self, page: Page, width: str) -> None:
        self.page, self.width, self.failures = page, width, []

    def check(self, what: str) -> None:
        self.page.wait_for_load_state()
        found = axe_violations(self.page)
        if found:
            path = re.sub(r"^https?://[^/]+", "", self.page.url)
            self.failures.append(f"{what} ({path}, {self.width}):\n{found}")

    def assert_clean(self) -> None:
        assert not self.failures, "axe found serious or critical violations:\n\n" + "\n\n".join(self.failures)


# --- 1. a monthly gift by keyboard; a renewal moves an open case page ------------------------


def test_a_monthly_gift_by_keyboard_and_its_renewal_move_an_open_case_page(
    app: Flask, new_context, runner, snap,  # noqa: ANN001
) -> None:
    slug = "e2e-monthly-keys"
    case = make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    give(case, 12_000, name="Earlier donor")
    case_id = case.id
    fresh()

    watcher = open_case_page(new_context(), slug)
    expect_live(watcher, "raised", yen(12_000))

    donor = new_context().new_page()
    donor.goto(f"/cases/{slug}")
    tab_to(donor, "e => e.tagName === 'A' && e.textContent.includes('Give to this rescue')", "the Give link")
    donor.keyboard.press("Enter")
    expect(donor).to_have_url(re.compile(rf"/cases/{slug}/donate(\?lang=\w+)?$"))

    # How often: Tab lands on the checked "Give once"; the arrow key moves to "Give monthly".
    tab_to(donor, "e => e.name === 'frequency'", "the How often choice")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "once checked"
    donor.keyboard.press("ArrowRight")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "monthly checked"
    assert focused(donor, "e.closest('label').textContent.trim()") == "Give monthly"
    # The currency: an English page opens in dollars; the arrow key moves to yen.
    tab_to(donor, "e => e.name === 'currency'", "the currency choice")
    donor.keyboard.press("ArrowLeft")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "JPY checked"
    # The amount: the next preset after the default ¥5,000, checked with the arrow key.
    tab_to(donor, "e => e.name === 'preset'", "the amount presets")
    assert focused(donor, "e.value + (e.checked ? ' checked' : '')") == "JPY:5000 checked"
    donor.keyboard.press("ArrowRight")
    value = focused(donor, "e.value")
    assert value.startswith("JPY:") and focused(donor, "e.checked"), value
    monthly = int(value.split(":")[1])
    assert monthly != 5_000
    assert focused(donor, "e.closest('label').textContent.trim()") == yen(monthly)
    tab_to(donor, "e => e.id === 'email'", "the email field")
    donor.keyboard.type("monthly-keys@example.org")
    snap(donor, "monthly-form")
    tab_to(donor, "e => e.type === 'submit' && e.textContent.includes('Continue to payment')",
           "the Continue to payment button")
    donor.keyboard.press("Enter")

    # The TEST MODE checkout in subscription mode.
    expect(donor).to_have_url(CHECKOUT_URL)
    expect(donor.locator(".test-mode").first).to_contain_text("TEST MODE")
    expect(donor.get_by_role("heading", level=1)).to_have_text(f"Pay {yen(monthly)}")
    expect(donor.get_by_text("then the same each month until you cancel it")).to_be_visible()
    tab_to(donor, "e => e.id === 'card_number'", "the card number field")
    donor.keyboard.type(OK_CARD)
    tab_to(donor, "e => e.type === 'submit' && e.textContent.includes('Pay')", "the Pay button")
    donor.keyboard.press("Space")

    expect(donor).to_have_url(MONTHLY_THANKS_URL)
    deadline = Deadline(LIVE_UPDATE_SECONDS)
    expect(donor.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(donor.locator("p.confirmed")).to_have_text(
        f"Your monthly gift of {yen(monthly)} is set up. The first payment has been received.")
    gift = recurring_of(donor.url)
    assert (gift.status, gift.amount_minor, gift.currency) == ("active", monthly, "JPY")
    assert gift.case_id == case_id

    # The open case page moves by exactly the first month.
    expect_live(watcher, "raised", yen(12_000 + monthly), timeout=deadline.ms())
    assert raised_json(watcher, slug) == 12_000 + monthly

    # A month passes (server side): the renewal reaches the open page by itself.
    pass_a_month(runner, paid=1)
    expect_live(watcher, "raised", yen(12_000 + 2 * monthly), timeout=LIVE_UPDATE_SECONDS * 1000)
    assert raised_json(watcher, slug) == 12_000 + 2 * monthly
    donations = gifts_of(gift.public_id)
    assert [(d.status, d.amount_minor, d.case_id) for d in donations] == [("succeeded", monthly, case_id)] * 2
    assert len({d.gateway_invoice_id for d in donations}) == 2


# --- 2. the donor's page: sign in by link, receipts, change, cancel --------------------------


def test_the_donor_signs_in_by_link_downloads_a_receipt_changes_and_cancels(
    app: Flask, new_context, runner, mail_dir: Path, snap,  # noqa: ANN001
) -> None:
    slug = "e2e-monthly-page"
    make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Six survivors")
    address = "page-donor@example.org"
    gift = subscribe(app.test_client(), slug, email=address)  # ¥5,000 a month, first one paid
    public_id = gift.public_id
    fresh()
    pass_a_month(runner, paid=1)  # the second gift

    page = new_context(accept_downloads=True).new_page()
    response = page.goto("/my/sign-in")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("See your gifts")
    path = ask_for_link(page, mail_dir, address, field="Email", button="Email me a sign-in link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    response = page.goto(path)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to see your gifts")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/my/(\?lang=\w+)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your gifts")

    # Both gifts, each with its receipt; the monthly gift with its next payment.
    rows = page.locator("table.gifts tbody tr")
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n)).to_contain_text(yen(5_000))
        expect(rows.nth(n)).to_contain_text("Six survivors")
    item = page.locator(f'li[data-monthly="{public_id}"]')
    expect(page.get_by_role("heading", level=2, name="Monthly gifts")).to_be_visible()
    expect(item).to_contain_text(f"{yen(5_000)} each month")
    expect(item.locator(".status")).to_have_text("Active")
    expect(item).to_contain_text("Next payment:")

    receipt = rows.first.get_by_role("link", name=re.compile(r"^Receipt .+ \(PDF\)$"))
    with page.expect_download() as download_info:
        receipt.click()
    download = download_info.value
    assert download.suggested_filename.startswith("receipt-") and download.suggested_filename.endswith(".pdf")
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    with page.expect_download() as download_info:
        page.locator("ul.annual-receipts a").first.click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")

    # Change the amount (a too-small one first: the error shows by the field).
    field = item.get_by_label("New monthly amount (JPY)")
    field.fill("10")
    item.get_by_role("button", name="Change amount").click()
    item = page.locator(f'li[data-monthly="{public_id}"]')
    field = item.get_by_label("New monthly amount (JPY)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(item.locator("p.error")).to_be_visible()
    field.fill("8,000")
    item.get_by_role("button", name="Change amount").click()
    expect(page.get_by_text(f"From the next payment on, your monthly gift is {yen(8_000)}.")).to_be_visible()
    expect(item).to_contain_text(f"{yen(8_000)} each month")
    snap(page, "donor-page")

    # Cancel: nothing more is taken, even a month later.
    item.get_by_role("button", name="Cancel this monthly gift").click()
    # first what it will do, then the server-checked confirmation
    expect(page.get_by_text(f"Your monthly gift of {yen(8_000)}")).to_be_visible()
    page.get_by_role("button", name="Cancel this monthly gift").click()
    expect(page.get_by_text("Your monthly gift is cancelled. Nothing more will be taken.")).to_be_visible()
    expect(item.locator(".status")).to_have_text("Cancelled")
    expect(item.get_by_role("button", name="Cancel this monthly gift")).to_have_count(0)
    expect(item.get_by_role("button", name="Change amount")).to_have_count(0)

    pass_a_month(runner, paid=0)
    page.reload()
    expect(page.locator("table.gifts tbody tr")).to_have_count(2)
    assert [d.amount_minor for d in gifts_of(public_id)] == [5_000, 5_000]


# --- 3. the same in Japanese on a phone ------------------------------------------------------


def test_monthly_gift_and_donor_page_in_japanese_on_a_phone(
    app: Flask, new_context, runner, mail_dir: Path, snap,  # noqa: ANN001
) -> None:
    slug = "e2e-monthly-ja"
    make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Six survivors")
    address = "hana-monthly@example.org"
    page = new_context(viewport=PHONE, locale="en-US", accept_downloads=True).new_page()
    axe = Checker(page, "phone, ja")
    ja = lambda minor: format_money(Money(minor, "JPY"), "ja")  # noqa: E731

    response = page.goto(f"/cases/{slug}/donate?lang=ja")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    frequency = page.get_by_role("group", name="寄付の頻度")
    expect(frequency.get_by_label("今回のみ寄付する")).to_be_checked()
    frequency.get_by_label("毎月寄付する").check()
    expect(page.get_by_label(ja(5_000), exact=True)).to_be_checked()
    expect(frequency).to_contain_text("毎月のご寄付にはメールアドレスが必要です。")
    axe.check("monthly form (ja)")
    snap(page, "monthly-form-ja")

    # Monthly without an email: the error, in Japanese, by the email field.
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page.locator("#email-error")).to_have_text("メールアドレスをご入力ください。毎月のご寄付の管理に使います。")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("group", name="寄付の頻度").get_by_label("毎月寄付する")).to_be_checked()
    axe.check("monthly form with an error (ja)")

    page.locator("#email").fill(address)
    page.get_by_role("button", name="お支払いへ進む").click()
    expect(page).to_have_url(CHECKOUT_URL)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{ja(5_000)}を支払う")
    expect(page.get_by_text(f"毎月のご寄付です。今回{ja(5_000)}をお支払いいただき")).to_be_visible()
    axe.check("subscription checkout (ja)")
    page.get_by_label("カード番号").fill(OK_CARD)
    page.get_by_role("button", name=f"{ja(5_000)}を支払う").click()

    expect(page).to_have_url(MONTHLY_THANKS_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("ありがとうございます")
    expect(page.locator("p.confirmed")).to_have_text(
        f"毎月のご寄付（{ja(5_000)}）のお手続きが完了しました。初回のお支払いをお受けしました。")
    axe.check("monthly thank-you page (ja)")
    public_id = recurring_of(page.url).public_id

    # The donor's page in Japanese.
    page.goto("/my/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("ご寄付の記録を見る")
    axe.check("/my/sign-in (ja)")
    path = ask_for_link(page, mail_dir, address, field="メールアドレス", button="ログイン用リンクを送る")
    expect(page.get_by_role("heading", level=1)).to_have_text("メールをご確認ください")
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("ログインしてご寄付の記録を見る")
    axe.check("the link page (ja)")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/my/(\?lang=\w+)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("ご寄付の記録")
    expect(page.get_by_role("heading", level=2, name="毎月のご寄付")).to_be_visible()
    item = page.locator(f'li[data-monthly="{public_id}"]')
    expect(item).to_contain_text(f"{ja(5_000)} 毎月")
    expect(item.locator(".status")).to_have_text("有効")
    expect(page.locator("table.gifts tbody tr")).to_have_count(1)
    axe.check("/my/ with a monthly gift (ja)")
    snap(page, "donor-page-ja")

    with page.expect_download() as download_info:
        page.locator("table.gifts tbody tr").first.get_by_role("link", name=re.compile(r"^領収書 ")).click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")

    item.get_by_label("毎月のご寄付の新しい金額（日本円）").fill("3,000")
    item.get_by_role("button", name="金額を変更する").click()
    expect(page.get_by_text(f"次回のお支払いから、毎月のご寄付は{ja(3_000)}になります。")).to_be_visible()
    expect(item).to_contain_text(f"{ja(3_000)} 毎月")
    pass_a_month(runner, paid=1)
    page.reload()
    expect(page.locator("table.gifts tbody tr")).to_have_count(2)
    expect(page.locator("table.gifts tbody")).to_contain_text(ja(3_000))

    item.get_by_role("button", name="この毎月のご寄付を解約する").click()
    expect(page.get_by_text("次回以降、カードへのご請求はありません。")).to_be_visible()
    page.get_by_role("button", name="この毎月のご寄付を解約する").click()
    expect(page.get_by_text("毎月のご寄付を解約しました。今後お支払いが発生することはありません。")).to_be_visible()
    expect(item.locator(".status")).to_have_text("解約済み")
    axe.check("/my/ with a cancelled monthly gift (ja)")
    pass_a_month(runner, paid=0)
    assert [d.amount_minor for d in gifts_of(public_id)] == [5_000, 3_000]

    axe.assert_clean()


# --- 4. axe along the monthly flow and the donor's page, at both widths ----------------------


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_monthly_flow_and_the_donor_pages_have_no_serious_axe_violations(
    app: Flask, new_context, mail_dir: Path, width: str,  # noqa: ANN001
) -> None:
    slug = "e2e-monthly-a11y"
    make_case(slug, people=2, status=workflow.FUNDRAISING, public_title="Two on the road")
    address = f"a11y-{width}@example.org"
    page = new_context(viewport=WIDTHS[width]).new_page()
    axe = Checker(page, width)

    page.goto(f"/cases/{slug}/donate")
    page.get_by_role("radio", name="Japanese Yen", exact=True).check()  # English opens in dollars
    frequency = page.get_by_role("group", name="How often")
    frequency.get_by_label("Give monthly").check()
    expect(frequency).to_have_accessible_description(re.compile(r"It needs your email address"))
    axe.check("donation form, monthly")

    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator("#email-error")).to_have_text(
        "Give your email address: it is how you manage a monthly gift.")
    expect(page.get_by_label("Give monthly")).to_be_checked()
    axe.check("donation form, monthly without an email")

    page.locator("#email").fill(address)
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(CHECKOUT_URL)
    expect(page.get_by_text("then the same each month until you cancel it")).to_be_visible()
    axe.check("sandbox subscription checkout")

    page.get_by_label("Card number").fill(OK_CARD)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page).to_have_url(MONTHLY_THANKS_URL)
    expect(page.locator("p.confirmed")).to_be_visible()
    axe.check("monthly thank-you page")

    page.locator("section.thanks").get_by_role("link", name="Your gifts").click()
    expect(page).to_have_url(re.compile(r"/my/sign-in(\?lang=\w+)?$"))
    axe.check("/my/sign-in")
    path = ask_for_link(page, mail_dir, address, field="Email", button="Email me a sign-in link")
    axe.check("link sent")
    page.goto(path)
    axe.check("the link page")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/my/(\?lang=\w+)?$"))
    expect(page.locator("li[data-monthly]")).to_have_count(1)
    axe.check("/my/ with a monthly gift")

    axe.assert_clean()
