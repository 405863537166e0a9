"""The donate form rebuilt for two clicks (issue 18, item 6).

* The currency comes first (yen on Japanese pages, dollars on English ones), its presets are
  grouped per currency, and the server refuses a preset of another currency; a typed amount
  wins; a monthly gift without an email is refused at the email.
* "Cover the card fee" adds TRACKER_CARD_FEE_PERCENT of the gift rounded *up* to a whole minor
  unit (plus TRACKER_CARD_FEE_FIXED): exact for yen (no decimals) and dollars. The checkout
  charges gift + fee; the ledger books the cover as its own kind (``fee_cover``), which never
  counts toward the case's goal; the funding report shows it apart; a refund of a covered
  gift gives back both parts and balances; the rollups stay exact.
* The sandbox checkout names the case and lists the fee cover.
* Staff write what each preset pays for, per case, in both languages; the form shows it.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from flask import Flask

from tests.conftest import Auth, csrf_from
from tests.factories import make_case
from tests.payments.helpers import fresh, gateway, pay_on_page, post_gift, start_gift
from tracker.core.errors import DomainError
from tracker.core.money import Money, percent_up
from tracker.core.time import current_fiscal_year
from tracker.donations import recording, services
from tracker.donations.models import Donation, PresetNote
from tracker.extensions import db
from tracker.ledger import reads
from tracker.ledger.models import FEE_COVER, GIFT, REFUND
from tracker.reports.funding import funding_report

SLUG = "six-survivors"
TITLE = "Six survivors"


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title=TITLE)


def _donations() -> int:
    fresh()
    return int(db.session.scalar(db.select(db.func.count()).select_from(Donation)) or 0)


def _checked(page: str, name: str) -> str | None:
    """The value of the checked radio ``name`` in a rendered page."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and "checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


# --- the fee, exactly ---------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "fee"), [
    (Money(30_000, "JPY"), Money(1_080, "JPY")),   # exact: 3.6% of ¥30,000
    (Money(5_000, "JPY"), Money(180, "JPY")),
    (Money(1_234, "JPY"), Money(45, "JPY")),       # ¥44.424 rounds *up* to a whole yen
    (Money(50, "JPY"), Money(2, "JPY")),           # ¥1.8 -> ¥2
    (Money(2_500, "USD"), Money(90, "USD")),       # $25.00 -> $0.90
    (Money(1_050, "USD"), Money(38, "USD")),       # $0.378 -> 38 cents
    (Money(10_000_000, "USD"), Money(360_000, "USD")),
])
def test_the_card_fee_is_the_percent_rounded_up_to_a_whole_minor_unit(
        app: Flask, amount: Money, fee: Money) -> None:
    assert services.card_fee_cover(amount) == fee
    assert isinstance(services.card_fee_cover(amount).amount_minor, int)


def test_the_card_fee_adds_the_fixed_fee_of_its_currency(app: Flask, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(app.config, "TRACKER_CARD_FEE_FIXED", {"USD": 30})
    monkeypatch.setitem(app.config, "TRACKER_CARD_FEE_PERCENT", Decimal("2.9"))
    assert services.card_fee_cover(Money(1_050, "USD")) == Money(31 + 30, "USD")  # 30.45 -> 31
    assert services.card_fee_cover(Money(10_000, "JPY")) == Money(290, "JPY")    # no fixed yen


def test_percent_up_never_uses_floats() -> None:
    # 0.1 + 0.2 style drift would make 3 * 1.1% = 3.3000000000000003 round up to 4
    assert percent_up(Money(300, "JPY"), Decimal("1.1")) == Money(4, "JPY")   # 3.3 -> 4
    assert percent_up(Money(1_000, "JPY"), Decimal("1.1")) == Money(11, "JPY")  # exactly 11


def test_the_settings_are_read_and_checked(tmp_path) -> None:  # noqa: ANN001
    from tracker import ConfigError, create_app

    base = {"TESTING": True, "SECRET_KEY": "x" * 32,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    app = create_app({**base, "TRACKER_CARD_FEE_PERCENT": "2.5",
                      "TRACKER_CARD_FEE_FIXED": "USD=0.30,JPY=0"})
    assert app.config["TRACKER_CARD_FEE_PERCENT"] == Decimal("2.5")
    assert app.config["TRACKER_CARD_FEE_FIXED"] == {"USD": 30, "JPY": 0}
    with pytest.raises(ConfigError, match="TRACKER_CARD_FEE_FIXED"):
        create_app({**base, "TRACKER_CARD_FEE_FIXED": "USD=0.305"})
    with pytest.raises(ConfigError, match="TRACKER_CARD_FEE_PERCENT"):
        create_app({**base, "TRACKER_CARD_FEE_PERCENT": "120"})


# --- the form -----------------------------------------------------------------------------


def test_japanese_pages_open_in_yen_english_pages_in_dollars(app: Flask, client, case,  # noqa: ANN001
                                                            monkeypatch) -> None:  # noqa: ANN001
    japanese = client.get(f"/cases/{SLUG}/donate?lang=ja").text
    assert _checked(japanese, "currency") == "JPY"
    assert _checked(japanese, "preset").startswith("JPY:")
    assert "<legend>通貨</legend>" in japanese and "日本円" in japanese and "米ドル" in japanese

    english = client.get(f"/cases/{SLUG}/donate?lang=en").text
    assert _checked(english, "currency") == "USD"
    assert _checked(english, "preset").startswith("USD:")

    monkeypatch.setitem(app.config, "TRACKER_CURRENCIES", ["JPY"])
    only_yen = app.test_client().get("/donate?lang=en").text
    assert _checked(only_yen, "currency") == "JPY"


def test_presets_are_grouped_per_currency_for_a_browser_without_script(client, case) -> None:  # noqa: ANN001
    page = client.get(f"/cases/{SLUG}/donate?lang=en").text
    groups = re.findall(r'<div class="preset-group" data-currency="([A-Z]{3})"(.*?)</div>', page, re.S)
    assert [code for code, _body in groups] == ["JPY", "USD"]
    for code, body in groups:
        values = re.findall(r'name="preset"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="preset"', body)
        codes = {(a or b).split(":")[0] for a, b in values}
        assert codes == {code}, body
    # the other amount stays, with no currency box of its own
    assert '<select id="currency"' not in page and 'name="amount"' in page


def test_a_preset_must_be_in_the_chosen_currency(client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, currency="USD", preset="JPY:5000")
    assert response.status_code == 422
    assert 'id="preset-error"' in response.text
    assert 'aria-describedby="amount-hint preset-error"' in response.text
    assert _donations() == 0


def test_a_typed_amount_wins_in_the_chosen_currency(client, case) -> None:  # noqa: ANN001
    donation, _session = start_gift(client, SLUG, currency="USD", preset="USD:5000", amount="12.34")
    assert (donation.amount_minor, donation.currency) == (1234, "USD")


def test_a_monthly_gift_needs_an_email_said_at_the_email(client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, frequency="monthly", email="")
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert re.search(r'<p class="error" id="email-error">Give your email address: it is how you '
                     r"manage a monthly gift\.</p>", text)
    email_input = re.search(r'<input[^>]*name="email"[^>]*>', text).group(0)
    assert 'aria-invalid="true"' in email_input and "email-error" in email_input
    assert "required" in email_input
    # the label says it is needed (the once form's label says optional)
    assert '<span class="email-monthly">Email (needed for a monthly gift)</span>' in text
    assert _donations() == 0


# --- fee cover through the sandbox, the ledger and the report -----------------------------


def _case_raised(case_id: int) -> int:
    fresh()
    return reads.raised_by_case([case_id]).get(case_id, 0)


def test_a_covered_gift_charges_gift_and_fee_and_books_the_cover_apart(
        app: Flask, client, case, runner) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y")
    assert (donation.amount_minor, donation.fee_cover_minor) == (31_080, 1_080)

    page = client.get(f"/sandbox/checkout/{session_id}").text
    assert 'Pay <span class="nowrap">¥31,080</span>' in page
    assert f"Gift: {TITLE}" in page                       # the checkout names the case
    assert re.search(r"Payment fee covered</th><td[^>]*>¥1,080<", page)
    assert re.search(r"Gift: Six survivors</th><td[^>]*>¥30,000<", page)

    assert pay_on_page(client, session_id).status_code == 303
    fresh()
    donation = db.session.get(Donation, donation.id)
    assert donation.status == "succeeded"
    entries = {e.kind: e for e in reads.entries_of(donation.id)}
    gift, cover = entries[GIFT], entries[FEE_COVER]
    # yen to yen: the gross splits exactly into the gift and its cover
    assert (gift.amount_minor, gift.original_amount_minor) == (30_000, 30_000)
    assert (cover.amount_minor, cover.original_amount_minor) == (1_080, 1_080)
    assert gift.amount_minor + cover.amount_minor == donation.gross_minor == 31_080
    # the case's goal counts the gift, never the cover
    assert _case_raised(case.id) == 30_000

    report = funding_report(current_fiscal_year())
    assert report.totals.gifts == 30_000
    assert report.totals.fee_cover == 1_080
    assert report.totals.net == 30_000
    assert report.totals.net_after_fees == 30_000 + 1_080 + report.totals.fees
    [row] = [c for c in report.cases if c.case_id == case.id]
    assert row.raised_in_year == 30_000

    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


def test_a_covered_dollar_gift_splits_the_settled_yen_exactly(client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, currency="USD", preset="USD:2500",
                                      cover_fee="y")
    assert (donation.amount_minor, donation.fee_cover_minor) == (2_590, 90)
    pay_on_page(client, session_id)
    fresh()
    donation = db.session.get(Donation, donation.id)
    entries = {e.kind: e for e in reads.entries_of(donation.id)}
    # $25.90 at 150 = ¥3,885; the cover's share rounded down: 3885 * 90 // 2590 = 135
    assert donation.gross_minor == 3_885
    assert entries[FEE_COVER].amount_minor == 135
    assert entries[GIFT].amount_minor == 3_885 - 135
    assert (entries[GIFT].original_amount_minor, entries[FEE_COVER].original_amount_minor) == (2_500, 90)


def test_without_the_box_nothing_is_added(client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000")
    assert (donation.amount_minor, donation.fee_cover_minor) == (30_000, 0)
    assert "Payment fee covered" not in client.get(f"/sandbox/checkout/{session_id}").text


def test_a_monthly_gift_is_not_covered(client, case) -> None:  # noqa: ANN001
    response = post_gift(client, SLUG, preset="JPY:5000", frequency="monthly",
                         email="monthly@example.org", cover_fee="y")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert 'Pay <span class="nowrap">¥5,000</span>' in page and f"Gift: {TITLE}" in page


def _refund(donation: Donation, amount_minor: int, staff) -> None:  # noqa: ANN001
    recording.refund_donation(db.session.get(Donation, donation.id), amount_minor,
                              "The donor asked for it back", staff, gateway())
    db.session.commit()


@pytest.mark.parametrize("parts", [(31_080,), (10_000, 21_080), (1, 31_079)],
                         ids=["whole", "two parts", "a yen then the rest"])
def test_refunding_a_covered_gift_gives_back_both_parts_and_balances(
        app: Flask, client, case, runner, make_user, parts: tuple[int, ...]) -> None:  # noqa: ANN001
    staff, _password = make_user("staff")
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y")
    pay_on_page(client, session_id)
    for part in parts:
        _refund(donation, part, staff)
    fresh()
    entries = reads.entries_of(donation.id)
    total = lambda *kinds: sum(e.amount_minor for e in entries if e.kind in kinds)  # noqa: E731
    assert total(GIFT, REFUND) == 0                 # the case gets back to nothing
    assert total(FEE_COVER) == 0                    # and so does the cover
    assert total(REFUND) == -30_000
    assert -sum(e.original_amount_minor or 0 for e in entries
                if e.kind == REFUND or (e.kind == FEE_COVER and e.amount_minor < 0)) == 31_080
    assert _case_raised(case.id) == 0
    assert reads.gift_money([donation.id])[donation.id].refunded_minor == 31_080
    report = funding_report(current_fiscal_year())
    assert (report.totals.gifts, report.totals.refunds, report.totals.fee_cover) == (30_000, -30_000, 0)
    # nothing is left to refund
    with pytest.raises(DomainError) as refused:
        recording.check_refund(db.session.get(Donation, donation.id), 1, "The donor asked again", gateway())
    assert refused.value.reason == "This gift has already been refunded in full."
    db.session.rollback()
    result = runner.invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


def test_a_partial_refund_of_a_covered_gift_keeps_the_case_and_cover_proportional(
        app: Flask, client, case, make_user) -> None:  # noqa: ANN001
    staff, _password = make_user("staff")
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y")
    pay_on_page(client, session_id)
    _refund(donation, 15_540, staff)                 # half of ¥31,080
    fresh()
    entries = reads.entries_of(donation.id)
    refund = [e for e in entries if e.kind == REFUND]
    cover_back = [e for e in entries if e.kind == FEE_COVER and e.amount_minor < 0]
    assert [e.amount_minor for e in refund] == [-15_000]
    assert [e.amount_minor for e in cover_back] == [-540]
    assert refund[0].gateway_ref == cover_back[0].gateway_ref
    assert _case_raised(case.id) == 15_000


# --- the case's preset notes ---------------------------------------------------------------


def test_staff_write_what_each_preset_pays_for_and_the_form_says_it(
        app: Flask, client, case, make_user) -> None:  # noqa: ANN001
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    path = f"/staff/cases/{case.id}/presets"
    page = client.get(path)
    assert page.status_code == 200 and "¥30,000" in page.text
    response = client.post(path, data={
        "csrf_token": csrf_from(page.text),
        "en-JPY-30000": "pays a guide for one person",
        "ja-JPY-30000": "ガイド1人分の費用になります",
        "en-USD-2500": "buys food for a week",
    })
    assert response.status_code == 302
    fresh()
    notes = {(n.currency, n.amount_minor): (n.text_en, n.text_ja)
             for n in db.session.scalars(db.select(PresetNote))}
    assert notes == {("JPY", 30_000): ("pays a guide for one person", "ガイド1人分の費用になります"),
                     ("USD", 2_500): ("buys food for a week", "")}

    visitor = app.test_client()
    english = visitor.get(f"/cases/{SLUG}/donate?lang=en").text
    assert re.search(r'¥30,000</span> <span class="preset-note">pays a guide for one person</span></label>',
                     english)
    japanese = visitor.get(f"/cases/{SLUG}/donate?lang=ja").text
    assert '30,000円</span> <span class="preset-note">ガイド1人分の費用になります</span>' in japanese
    # no Japanese written: the English note shows rather than nothing, marked as English (a
    # whole dollar amount without its cents, as every preset)
    assert '$25</span> <span class="preset-note" lang="en">buys food for a week</span>' in japanese
    assert '<span class="preset-note" lang="en">buys food' not in english
    # the general fund has no case and no notes
    assert "preset-note" not in visitor.get("/donate?lang=en").text

    # emptied boxes remove the notes
    page = client.get(path)
    client.post(path, data={"csrf_token": csrf_from(page.text)})
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(PresetNote)) == 0


def test_a_preset_note_too_long_is_refused_and_changes_nothing(
        app: Flask, client, case, make_user) -> None:  # noqa: ANN001
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    path = f"/staff/cases/{case.id}/presets"
    page = client.get(path)
    response = client.post(path, data={"csrf_token": csrf_from(page.text),
                                       "en-JPY-5000": "x" * 121, "ja-JPY-3000": "ok"})
    assert response.status_code == 422
    assert "120 characters" in response.text and 'value="' + "x" * 121 + '"' in response.text
    fresh()
    assert db.session.scalar(db.select(db.func.count()).select_from(PresetNote)) == 0


def test_donors_cannot_reach_the_preset_notes_page(client, case) -> None:  # noqa: ANN001
    response = client.get(f"/staff/cases/{case.id}/presets")
    assert response.status_code in (302, 401, 403)


def test_the_ledger_entry_kind_is_named_in_words(app: Flask) -> None:
    from tracker.core import labels
    assert labels.label("ledger_kind", FEE_COVER) == "Payment fee covered by the donor"


def test_the_donors_own_page_and_annual_receipt_count_the_fee_cover_as_given(
        app: Flask, client, case, make_user) -> None:  # noqa: ANN001
    from tracker.donors import services as donor_services

    staff, _password = make_user("staff")
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y",
                                      email="cover@example.org")
    pay_on_page(client, session_id)
    fresh()
    donor = db.session.get(Donation, donation.id).donor
    receipt = donor_services.annual_receipt(donor, current_fiscal_year())
    assert [(line.kind_label, line.amount) for line in receipt.lines] == [
        ("Gift", Money(30_000, "JPY")), ("Payment fee you covered", Money(1_080, "JPY"))]
    assert receipt.totals == [Money(31_080, "JPY")]

    _refund(donation, 31_080, staff)
    fresh()
    donor = db.session.get(Donation, donation.id).donor
    [line] = donor_services.donor_page(donor).gifts
    assert (line.amount, line.returned) == (Money(31_080, "JPY"), Money(31_080, "JPY"))
    receipt = donor_services.annual_receipt(donor, current_fiscal_year())
    assert receipt.totals == [Money(0, "JPY")]
    assert "Payment fee cover refunded" in [line.kind_label for line in receipt.lines]


@pytest.mark.parametrize("preset", [" ", "\t"])
def test_a_blank_preset_without_a_currency_is_a_form_error(app: Flask, client, preset: str) -> None:  # noqa: ANN001
    """Found by the fuzz test: spaces for the preset (which the form's Optional() lets through
    unchecked) and no currency were read as a preset and answered 500."""
    page = client.get("/donate")
    response = client.post("/donate", data={"csrf_token": csrf_from(page.text), "preset": preset,
                                            "amount": "", "wall": "anonymous"})
    assert response.status_code == 422
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Donation)) == 0


# --- issue 18, from the outside tester: the fee is the payment's, not only the card's -----------


@pytest.mark.parametrize(("lang", "label", "wrong"), [
    ("en", "to cover the payment fee", ("card fee", "card company")),
    ("ja", "決済手数料として", ("カード決済手数料", "カード手数料", "カード会社")),
])
def test_the_fee_cover_is_worded_for_every_payment_method(client, case, lang: str, label: str,  # noqa: ANN001
                                                          wrong: tuple[str, ...]) -> None:
    """Yen may be paid at a konbini or by bank transfer at the checkout, which the form cannot
    know yet: the fee covered is the payment's, never called the card's."""
    page = html.unescape(client.get(f"/cases/{SLUG}/donate?lang={lang}").text)
    assert label in page
    for word in wrong:
        assert word not in page, word


def test_the_checkout_line_and_the_reports_say_payment_fee(client, case) -> None:  # noqa: ANN001
    donation, session_id = start_gift(client, SLUG, preset="JPY:30000", cover_fee="y")
    page = client.get(f"/sandbox/checkout/{session_id}?lang=ja").text
    assert re.search(r"決済手数料（ご負担分）</th><td[^>]*>1,080円<", page)
    assert "カード" not in page.split("<table", 1)[1].split("</table>", 1)[0]
