"""Transfers donors make themselves to the organization's bank or ゆうちょ account (issue 18,
item 7, last paragraph).

* Admins set the account details on the organization's page (checked, audited, optional).
* On the donate form a yen one-off gift may be a pledge instead of a checkout, once an account
  is set: no checkout is created; the page (and a mail in the donor's language, when an address
  was given) shows the account details and a six-character reference code.
* A pledge never counts toward any total. Staff confirm it when the money arrives (date and
  amount received, after a confirmation page): one offline gift with the code as reference,
  its receipt, the case's total up by the amount received; confirming twice records one gift.
  Or they cancel it with a reason. Donors, the public and directors are refused.
* Anonymizing a donor erases their pledges' name, address and language.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from tests.confirming import confirming_data, is_confirmation, post_confirmed
from tests.conftest import Auth, csrf_from
from tests.factories import make_case
from tests.organization.helpers import IDENTITY, save_identity
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.helpers import fresh, raised
from tracker.audit import AuditEntry
from tracker.core.time import local_today, local_zone
from tracker.core.transactions import transaction
from tracker.donations import pledges
from tracker.donations.models import (
    CANCELLED,
    CONFIRMED,
    PLEDGED,
    REFERENCE_ALPHABET,
    Donation,
    Donor,
    Pledge,
    Receipt,
)
from tracker.donors import privacy
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.organization import services as org_services

SLUG = "six-survivors"
TITLE = "Six survivors"
EMAIL = "hanako.pledge@example.org"
ACCOUNT = {
    "bank_name": "みずほ銀行", "bank_branch_name": "渋谷支店", "bank_branch_number": "210",
    "bank_account_type": "futsu", "bank_account_number": "1234567",
    "bank_account_holder": "トクヒ）ヒカリノハシ",
    "yucho_symbol": "10180", "yucho_number": "12345671", "yucho_branch_name": "〇一八",
    "yucho_branch_number": "018", "yucho_account_type": "futsu",
    "yucho_account_number": "1234567", "yucho_account_holder": "トクヒ）ヒカリノハシ",
}


def set_accounts(**values: str) -> None:
    """Save the identity with the account details, as the admin's form would."""
    data = {k: v for k, v in IDENTITY.items() if k != "certified"}
    data.update(certified=True, certified_on=local_today(), **ACCOUNT)
    data.update(values)
    with transaction():
        org_services.update_identity(org_services.IdentityInput(**data))
    # a test's app context outlives its requests: forget the identity a request kept in ``g``
    g.pop("tracker_identity", None)


@pytest.fixture
def case(app: Flask):
    return make_case(SLUG, people=2, status="fundraising", public_title=TITLE)


@pytest.fixture
def accounts(app: Flask) -> None:
    set_accounts()


def pledge_form(client: FlaskClient, slug: str | None = SLUG, lang: str | None = None,
                **fields: str):
    """POST the donate form with its bank-transfer button (¥5,000 unless said otherwise)."""
    path = (f"/cases/{slug}/donate" if slug else "/donate") + (f"?lang={lang}" if lang else "")
    page = client.get(path)
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "frequency": "once", "currency": "JPY",
            "preset": "JPY:5000", "amount": "", "wall": "anonymous", "bank_transfer": "1",
            **fields}
    return client.post(path, data=data)


def _count(model) -> int:  # noqa: ANN001
    fresh()
    return int(db.session.scalar(db.select(db.func.count()).select_from(model)) or 0)


def make_pledge(client: FlaskClient, **fields: str) -> Pledge:
    response = pledge_form(client, **fields)
    assert response.status_code == 303, response.text[:2000]
    public_id = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[1]
    fresh()
    pledge = pledges.find(public_id)
    assert pledge is not None
    return pledge


@pytest.fixture
def staff(client: FlaskClient, make_user) -> FlaskClient:  # noqa: ANN001
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    return client


# --- the donor's side ------------------------------------------------------------------------


def test_the_form_offers_the_transfer_only_once_an_account_is_set(client: FlaskClient,
                                                                   case) -> None:  # noqa: ANN001
    assert "bank_transfer" not in client.get(f"/cases/{SLUG}/donate").text
    response = pledge_form(client)
    assert response.status_code == 422
    assert "not offered" in response.text
    assert _count(Pledge) == 0 and _count(Donation) == 0
    set_accounts()
    assert 'name="bank_transfer"' in client.get(f"/cases/{SLUG}/donate").text


def test_a_pledge_in_japanese_shows_the_account_and_mails_it(client: FlaskClient, case,
                                                             accounts) -> None:  # noqa: ANN001
    pledge = make_pledge(client, lang="ja", email=EMAIL.upper(), name="山田花子")
    # no checkout, no donation: only the pledge
    assert _count(Donation) == 0
    assert pledge.status == PLEDGED and pledge.amount_minor == 5_000 and pledge.currency == "JPY"
    assert pledge.locale == "ja" and pledge.email == EMAIL and pledge.case_id == case.id
    assert len(pledge.reference) == 6 and set(pledge.reference) <= set(REFERENCE_ALPHABET)
    page = client.get(f"/donations/pledges/{pledge.public_id}?lang=ja")
    assert page.status_code == 200
    text = page.text
    for value in ("みずほ銀行", "渋谷支店", "1234567", "トクヒ）ヒカリノハシ", "10180-12345671",
                  pledge.reference, f"{pledge.reference} ヤマダ タロウ", "振込依頼人名"):
        assert value in text, value
    assert "山田花子" not in text and EMAIL not in text  # the page names no donor
    # nothing counts yet
    assert raised(client, SLUG) == 0
    [mail] = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "pledge"))
    assert mail.to_address == EMAIL and mail.locale == "ja"
    assert pledge.reference in mail.subject and pledge.reference in mail.body_text
    assert "振込依頼人名" in mail.body_text and "みずほ銀行" in mail.body_text
    assert "5,000円" in mail.body_text  # written in Japanese, amount in 円
    assert mail.body_text.startswith("山田花子様") and "照合コード：" in mail.body_text
    assert f"/donations/pledges/{pledge.public_id}" in mail.body_text
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "pledge.created"))


def test_a_japanese_pledge_names_the_case_by_its_japanese_title(app: Flask, client: FlaskClient,
                                                                 accounts) -> None:  # noqa: ANN001
    make_case(SLUG, people=2, status="fundraising", public_title=TITLE,
              public_title_ja="六人の脱出", public_region_ja="中国東北部",
              public_summary_ja="六人が身を隠しています。")
    pledge = make_pledge(client, lang="ja", email=EMAIL, name="山田花子")
    page = client.get(f"/donations/pledges/{pledge.public_id}?lang=ja")
    assert "「六人の脱出」" in page.text and TITLE not in page.text
    english = client.get(f"/donations/pledges/{pledge.public_id}?lang=en")
    assert TITLE in english.text and "六人の脱出" not in english.text
    [mail] = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "pledge"))
    assert "「六人の脱出」" in mail.body_text and TITLE not in mail.body_text


def test_pledges_are_refused_for_dollars_and_monthly_gifts(client: FlaskClient, case,
                                                           accounts) -> None:  # noqa: ANN001
    dollars = pledge_form(client, currency="USD", preset="USD:5000")
    assert dollars.status_code == 422 and "yen only" in dollars.text
    monthly = pledge_form(client, frequency="monthly", email=EMAIL)
    assert monthly.status_code == 422 and "one-off" in monthly.text
    assert _count(Pledge) == 0 and _count(Donation) == 0 and _count(OutboxMessage) == 0


def test_a_pledge_without_an_email_mails_nothing(client: FlaskClient, case,
                                                 accounts) -> None:  # noqa: ANN001
    pledge = make_pledge(client, slug=None, amount="12,345", preset="other")
    assert pledge.amount_minor == 12_345 and pledge.case_id is None and pledge.email is None
    assert _count(OutboxMessage) == 0
    assert client.get("/donations/pledges/plg_nothing").status_code == 404


def test_codes_are_unique(app: Flask, case, accounts) -> None:  # noqa: ANN001
    with app.test_request_context():
        with transaction():
            made = [pledges.create_pledge(case, pledges.Money(1_000, "JPY")) for _ in range(40)]
        assert len({p.reference for p in made}) == 40


def test_the_admin_form_checks_and_audits_the_account(client: FlaskClient,
                                                      make_user) -> None:  # noqa: ANN001
    admin, password = make_user("admin")
    assert Auth(client).login(admin.email, password).status_code == 302
    wrong = save_identity(client, **{**ACCOUNT, "bank_branch_number": "21"})
    assert wrong.status_code == 422 and "3 digits" in wrong.text
    wrong = save_identity(client, **{**ACCOUNT, "bank_account_holder": "Hikari Bridge"})
    assert wrong.status_code == 422 and "katakana" in wrong.text
    incomplete = save_identity(client, bank_name="みずほ銀行")
    assert incomplete.status_code == 422
    saved = save_identity(client, **ACCOUNT)
    assert saved.status_code in (302, 303), saved.text[:1000]
    fresh()
    entry = db.session.scalars(db.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert "bank_account_number" in (entry.after or {})
    assert 'value="1234567"' in client.get("/staff/organization").text


# --- the staff's side ------------------------------------------------------------------------


def confirm_data(client: FlaskClient, pledge: Pledge, amount: str = "5,000",
                 received_on: str | None = None) -> dict:
    page = client.get(f"/staff/pledges/{pledge.reference}")
    assert page.status_code == 200
    return {"csrf_token": csrf_from(page.text), "amount": amount,
            "received_on": received_on or local_today().isoformat()}


def test_staff_confirm_once_records_one_gift_with_its_receipt(client: FlaskClient, case,
                                                              accounts, make_user) -> None:  # noqa: ANN001
    pledge = make_pledge(client, email=EMAIL, name="Hanako Yamada")
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    listed = client.get("/staff/pledges/")
    assert listed.status_code == 200 and pledge.reference in listed.text
    # search by the code, written loosely: opens the pledge
    found = client.get(f"/staff/pledges/?q={pledge.reference.lower()[:3]} {pledge.reference[3:]}")
    assert found.status_code == 302 and pledge.reference in found.headers["Location"]
    url = f"/staff/pledges/{pledge.reference}/confirm"
    data = confirm_data(client, pledge, amount="4,560")
    first = client.post(url, data=data)
    assert is_confirmation(first)  # asks first, nothing done
    assert _count(Donation) == 0 and raised(client, SLUG) == 0
    confirming = confirming_data(first.text)
    done = client.post(url, data=confirming)
    assert done.status_code == 302, done.text[:2000]
    fresh()
    [gift] = db.session.scalars(db.select(Donation))
    assert gift.reference == pledge.reference and gift.channel == "bank_transfer"
    assert gift.amount_minor == 4_560 and gift.gateway == "offline" and gift.status == "succeeded"
    assert db.session.scalar(db.select(Receipt).where(Receipt.donation_id == gift.id))
    pledge = db.session.get(Pledge, pledge.id)
    assert pledge.status == CONFIRMED and pledge.donation_id == gift.id
    assert pledge.received_minor == 4_560 and pledge.donor_id == gift.donor_id
    assert raised(client, SLUG) == 4_560
    receipt_mail = db.session.scalar(db.select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert receipt_mail is not None and receipt_mail.to_address == EMAIL
    # the same confirmation again, or a new one: nothing more
    again = client.post(url, data=confirming)
    assert again.status_code in (409, 422)
    again = post_confirmed(client, url, confirm_data(client, pledge))
    assert again.status_code == 409
    assert _count(Donation) == 1 and raised(client, SLUG) == 4_560
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "pledge.confirmed"))
    # the donor's link now says the money arrived, and asks for no transfer (outside try)
    shown = client.get(f"/donations/pledges/{pledge.public_id}").text
    assert "your transfer has arrived" in shown and "please make your transfer" not in shown
    assert 'id="reference-code"' not in shown


def test_bad_confirmations_change_nothing(client: FlaskClient, case, accounts,
                                          staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    url = f"/staff/pledges/{pledge.reference}/confirm"
    for amount, day in (("0", None), ("abc", None),
                        ("5,000", (local_today() + timedelta(days=2)).isoformat())):
        response = post_confirmed(client, url, confirm_data(client, pledge, amount, day))
        assert response.status_code == 422, (amount, day, response.status_code)
    assert _count(Donation) == 0
    assert client.get("/staff/pledges/ZZZZZZ").status_code == 404


def test_every_check_runs_before_the_confirmation_page(client: FlaskClient, case, accounts,
                                                       staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    url = f"/staff/pledges/{pledge.reference}/confirm"
    # over the cap of a gift: refused at the first button, not after the irreversible one
    over = client.post(url, data=confirm_data(client, pledge, "10,000,001"))
    assert over.status_code == 422 and not is_confirmation(over)
    assert "The largest amount accepted here is" in over.text
    # a case that no longer takes gifts: refused before the question too
    fresh()
    closing = db.session.get(type(case), case.id)
    closing.status, closing.outcome = "closed", "cancelled"
    db.session.commit()
    closed = client.post(url, data=confirm_data(client, pledge))
    assert closed.status_code == 409 and not is_confirmation(closed)
    assert _count(Donation) == 0


def test_the_received_date_is_compared_in_the_organizations_zone(client: FlaskClient, case,
                                                                 accounts, staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    today = local_today()
    # pledged at 04:32 Japan time today: still yesterday in UTC
    made = datetime.combine(today, time(4, 32), local_zone()).astimezone(UTC)
    assert made.date() < today
    fresh()
    db.session.get(Pledge, pledge.id).created_at = made
    db.session.commit()
    url = f"/staff/pledges/{pledge.reference}/confirm"
    before = client.post(url, data=confirm_data(client, pledge, "5,000",
                                                (today - timedelta(days=1)).isoformat()))
    assert before.status_code == 422 and "before the pledge was made" in before.text
    same_day = client.post(url, data=confirm_data(client, pledge, "5,000", today.isoformat()))
    assert is_confirmation(same_day)
    assert _count(Donation) == 0


def test_the_search_finds_by_code_and_a_wildcard_finds_nothing(client: FlaskClient, case,
                                                               accounts, staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    part = pledge.reference[1:4]
    assert pledge.reference in client.get(f"/staff/pledges/?q={part.lower()}").text
    for wildcard in ("%", "_", "%25", "A%", "*"):
        page = client.get("/staff/pledges/", query_string={"q": wildcard})
        assert page.status_code == 200 and pledge.reference not in page.text, wildcard


def test_staff_cancel_with_a_reason(client: FlaskClient, case, accounts,
                                    staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    url = f"/staff/pledges/{pledge.reference}/cancel"
    token = csrf_from(client.get(f"/staff/pledges/{pledge.reference}").text)
    assert client.post(url, data={"csrf_token": token, "reason": "no"}).status_code == 422
    done = post_confirmed(client, url, {"csrf_token": token,
                                        "reason": "The donor wrote that they gave by card."})
    assert done.status_code == 302
    fresh()
    pledge = db.session.get(Pledge, pledge.id)
    assert pledge.status == CANCELLED and "by card" in pledge.cancel_reason
    assert post_confirmed(client, f"/staff/pledges/{pledge.reference}/confirm",
                          confirm_data(client, pledge)).status_code == 409
    assert _count(Donation) == 0
    assert pledge.reference not in client.get("/staff/pledges/").text
    assert pledge.reference in client.get("/staff/pledges/?status=cancelled").text
    shown = client.get(f"/donations/pledges/{pledge.public_id}").text
    assert "This transfer was cancelled" in shown and "Please do not transfer" in shown
    assert "please make your transfer" not in shown and 'id="reference-code"' not in shown


def test_old_pledges_stay_listed_as_overdue(client: FlaskClient, case, accounts,
                                            staff) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    pledge.created_at = pledge.created_at - timedelta(days=45)
    db.session.commit()
    page = client.get("/staff/pledges/")
    assert pledge.reference in page.text and "over 30 days" in page.text


@pytest.mark.parametrize("role", ["director", None])
def test_others_are_refused(client: FlaskClient, case, accounts, make_user,
                            role: str | None) -> None:  # noqa: ANN001
    pledge = make_pledge(client)
    if role:
        user, password = make_user(role)
        Auth(client).login(user.email, password)
    for path in ("/staff/pledges/", f"/staff/pledges/{pledge.reference}"):
        response = client.get(path)
        assert response.status_code == 403 if role else response.status_code == 302
        if not role:
            assert "/login" in response.headers["Location"]
    response = client.post(f"/staff/pledges/{pledge.reference}/confirm",
                           data={"amount": "5,000", "received_on": local_today().isoformat()})
    assert response.status_code in (302, 400, 403)
    assert _count(Donation) == 0


# --- privacy ---------------------------------------------------------------------------------


def test_anonymizing_erases_the_donors_pledges(app: Flask, client: FlaskClient, case, accounts,
                                               staff) -> None:  # noqa: ANN001
    donor = app.test_client()  # the donor's own browser, signed in as nobody
    confirmed = make_pledge(donor, email=EMAIL, name="Hanako Yamada")
    waiting = make_pledge(donor, email=EMAIL, name="Hanako Yamada")
    other = make_pledge(donor, email="someone.else@example.org", name="Taro Sato")
    post_confirmed(client, f"/staff/pledges/{confirmed.reference}/confirm",
                   confirm_data(client, confirmed))
    fresh()
    gift = db.session.scalar(db.select(Donation))
    created = db.select(AuditEntry).where(AuditEntry.object_type == "pledges",
                                          AuditEntry.object_id == waiting.id)
    assert db.session.scalar(created).ip  # the donor's browser made the pledge
    from tracker.accounts.models import User  # noqa: PLC0415

    with transaction():
        privacy.anonymize_donor(gift.donor, db.session.scalar(db.select(User)),
                                "The donor asked us to erase their data.")
    fresh()
    for pledge_id in (confirmed.id, waiting.id):
        pledge = db.session.get(Pledge, pledge_id)
        assert (pledge.email, pledge.name, pledge.locale) == (None, "", None)
    assert db.session.get(Pledge, other.id).email == "someone.else@example.org"
    assert db.session.scalar(created).ip is None
    assert not re.search("Hanako", " ".join(p.name for p in db.session.scalars(db.select(Pledge))))


def test_a_pledge_never_adds_a_fee_cover(client: FlaskClient, case, accounts,  # noqa: ANN001
                                         make_user) -> None:  # noqa: ANN001
    """A transfer to our own account has no processing fee: a ticked "cover the payment fee"
    posted with the transfer button adds nothing (the box is the checkout's), and the form says
    the transfer adds no fee."""
    page = client.get(f"/cases/{SLUG}/donate?lang=ja").text
    assert "決済手数料の上乗せはありません" in page and "カード手数料" not in page
    pledge = make_pledge(client, cover_fee="y", preset="JPY:30000")
    assert (pledge.amount_minor, pledge.currency) == (30_000, "JPY")
    shown = client.get(f"/donations/pledges/{pledge.public_id}").text
    assert "30,000円" in shown and "31,080円" not in shown
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    done = post_confirmed(client, f"/staff/pledges/{pledge.reference}/confirm",
                          confirm_data(client, pledge, amount="30,000"))
    assert done.status_code == 302, done.text[:2000]
    fresh()
    donation = db.session.scalar(db.select(Donation))
    assert donation is not None
    assert (donation.amount_minor, donation.fee_cover_minor) == (30_000, 0)


def test_a_donor_first_known_by_a_japanese_pledge_gets_japanese(client: FlaskClient, case,
                                                                accounts, make_user) -> None:  # noqa: ANN001
    """From the outside try: a donor who pledged in Japanese, once staff confirmed the money,
    was sent the sign-in mail in English (the donor had no language)."""
    pledge = make_pledge(client, lang="ja", email="pledge-ja@example.org")
    user, password = make_user("staff")
    Auth(client).login(user.email, password)
    url = f"/staff/pledges/{pledge.reference}/confirm"
    assert post_confirmed(client, url, confirm_data(client, pledge)).status_code == 302
    fresh()
    donor = db.session.scalar(db.select(Donor).where(Donor.email == "pledge-ja@example.org"))
    assert donor is not None and donor.locale == "ja"
