"""The organization's identity: edited by admins only (audited), shown in every page's header
and footer at once, signing every mail, named on receipts. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import io
from email import policy

import pytest
from PIL import Image

from tests.conftest import Auth
from tests.factories import give, make_case
from tests.organization.helpers import save_identity
from tracker.audit import AuditEntry
from tracker.cases import workflow
from tracker.donations import receipts
from tracker.extensions import db
from tracker.mail import outbox
from tracker.organization import services
from tracker.organization.identity import current_identity
from tracker.organization.models import Organization, OrganizationLogo


def _audits(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == action)))


def test_defaults_before_anything_is_saved(app, client):
    identity = current_identity()
    assert identity.is_default and identity.name("en") == "Rescue Tracker"
    assert identity.sender("en") == app.config["MAIL_FROM"]
    page = client.get("/").text
    assert '<a class="brand" href="/"><span>Rescue Tracker</span></a>' in page
    assert 'href="/about"' in page and 'href="/contact"' in page and 'href="/privacy"' in page
    assert "レスキュー・トラッカー" in client.get("/?lang=ja").text


def test_an_admin_saves_the_identity_and_every_page_shows_it_at_once(app, admin_client, client):
    give(make_case("six-survivors", status=workflow.FUNDRAISING), 5_000)
    # an anonymous visitor's cached home page, with its ETag
    visitor = app.test_client()
    before = visitor.get("/")
    assert before.status_code == 200 and "Hikari Bridge" not in before.text

    response = save_identity(admin_client)
    assert response.status_code == 302, response.text

    after = visitor.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200  # not 304: the page's fingerprint carries the identity
    assert after.headers["ETag"] != before.headers["ETag"]
    html = after.text
    assert '<img class="logo"' not in html
    assert "<span>Hikari Bridge</span>" in html and "<title>" in html and "· Hikari Bridge</title>" in html
    assert "Certified NPO Hikari Bridge" in html
    assert "〒151-0053 2-11-3 Yoyogi, Shibuya-ku, Tokyo" in html
    assert "since April 1, 2021, certified by Tokyo Metropolitan Government" in html
    japanese = visitor.get("/cases/six-survivors?lang=ja").text
    assert "ひかりの橋" in japanese and "認定特定非営利活動法人ひかりの橋" in japanese
    assert "〒151-0053 東京都渋谷区代々木2-11-3" in japanese
    assert "2021年4月1日" in japanese
    # the sender and contact addresses are for mail, not for pages
    for page in (html, japanese, visitor.get("/about").text, visitor.get("/contact").text):
        assert "news@hikari-bridge.example" not in page
        assert "office@hikari-bridge.example" not in page

    [entry] = _audits("organization.updated")
    assert entry.actor_label.startswith("admin")
    assert entry.after["legal_name_en"] == "Certified NPO Hikari Bridge"
    assert entry.after["postal_code"] == "151-0053"
    assert entry.before.get("name_en") in (None, "Rescue Tracker")

    # saving the same values again changes nothing and audits nothing
    version = db.session.get(Organization, 1).version
    assert save_identity(admin_client).status_code == 302
    db.session.expire_all()
    assert db.session.get(Organization, 1).version == version
    assert len(_audits("organization.updated")) == 1


@pytest.mark.parametrize(("changes", "field_error"), [
    ({"postal_code": "12-34"}, "Write the postal code as 7 digits"),
    ({"corporate_number": "12345"}, "The corporate number has 13 digits."),
    ({"certified_on": ""}, "Give the date of the certification."),
    ({"contact_email": "not an address"}, "Enter an email address like name@example.org."),
    ({"name_en": "", "name_ja": ""}, "Give the organization&#39;s name in at least one language."),
    ({"certified_on": "2021-13-45"}, "Not a valid date value."),
    # a wrong check digit (the first of the 13): a typo the National Tax Agency's rule catches
    ({"corporate_number": "1234567890123"}, "check digit does not match"),
    ({"corporate_number": "9011005009999"}, "check digit does not match"),
    ({"certified_on": "2099-01-01"}, "The date of the certification cannot be in the future."),
])
def test_bad_input_is_a_form_error_and_saves_nothing(app, admin_client, changes, field_error):
    response = save_identity(admin_client, **changes)
    assert response.status_code == 422
    assert field_error in response.text
    assert 'class="error"' in response.text or 'class="form-errors"' in response.text
    assert db.session.get(Organization, 1) is None
    assert _audits("organization.updated") == []


@pytest.mark.parametrize("number", [
    "7000012050002",  # the National Tax Agency's own
    "1000011000005", "4000012090001", "8000012010038",  # published numbers of national bodies
    "1011005009999",  # the demo organization's (made up, with its check digit)
])
def test_the_corporate_number_check_digit(number):
    assert services.corporate_number_valid(number)
    # a digit one off fails the check (0 and 9 weigh the same mod 9: the rule cannot tell them)
    for place in range(13):
        digit = int(number[place])
        changed = number[:place] + str(digit + 1 if digit < 9 else 8) + number[place + 1:]
        assert not services.corporate_number_valid(changed), changed


def test_one_submission_shows_every_field_error_at_once(app, admin_client):
    response = save_identity(admin_client, certified_on="2021-13-45", postal_code="12-34",
                             corporate_number="1234567890123", name_en="x" * 121,
                             contact_email="not an address")
    assert response.status_code == 422
    html = response.text
    for error in ("Not a valid date value.", "Write the postal code as 7 digits",
                  "check digit does not match", "Field cannot be longer than 120 characters.",
                  "Enter an email address like name@example.org."):
        assert html.count(error) == 1, error
    assert db.session.get(Organization, 1) is None


def test_the_demo_identity_is_valid(app):
    from tracker.demo.organization import IDENTITY
    assert services.corporate_number_valid(IDENTITY.corporate_number)


def test_not_certified_needs_no_date(app, admin_client):
    assert save_identity(admin_client, certified=None, certified_on="",
                         certifying_authority_en="", certifying_authority_ja="").status_code == 302
    identity = current_identity()
    assert not identity.certified and identity.certification("en") == ""


@pytest.mark.parametrize("role", ["staff", "director"])
def test_staff_and_directors_are_refused(app, client, make_user, role):
    user, password = make_user(role)
    Auth(client).login(user.email, password)
    assert client.get("/staff/organization").status_code == 403
    assert client.get("/staff/organization/pages/about").status_code == 403
    page = client.get("/about")
    assert client.post("/staff/organization", data={"name_en": "Taken over"}).status_code in (400, 403)
    assert page.status_code == 200 and db.session.get(Organization, 1) is None


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    for path in ("/staff/organization", "/staff/organization/pages/privacy"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def _photo_with_exif() -> bytes:
    image = Image.new("RGB", (600, 300), (20, 90, 160))
    exif = Image.Exif()
    exif[0x010E] = "LOGO-SECRET-MARKER"
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_the_logo_is_re_encoded_served_with_caching_and_replaced(app, admin_client, client):
    upload = _photo_with_exif()
    assert b"LOGO-SECRET-MARKER" in upload
    response = save_identity(admin_client, logo=(io.BytesIO(upload), "logo.jpg"))
    assert response.status_code == 302, response.text
    name = current_identity().logo_name
    assert name and name.endswith(".jpg")
    visitor = app.test_client()
    served = visitor.get(f"/organization/logo/{name}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert "immutable" in served.headers["Cache-Control"]
    assert b"LOGO-SECRET-MARKER" not in served.data and b"Exif" not in served.data
    assert f'src="/organization/logo/{name}"' in visitor.get("/").text
    [entry] = _audits("organization.logo")
    assert entry.after == {"logo_name": name}

    # a new logo gets a new name; the old one is gone
    assert save_identity(admin_client, logo=(io.BytesIO(upload), "logo2.jpg")).status_code == 302
    db.session.expire_all()
    new_name = db.session.get(Organization, 1).logo_name
    assert new_name != name
    assert visitor.get(f"/organization/logo/{name}").status_code == 404
    assert db.session.scalar(db.select(db.func.count()).select_from(OrganizationLogo)) == 1

    # not an image: a form error, the logo stays
    bad = save_identity(admin_client, logo=(io.BytesIO(b"<svg></svg>"), "logo.svg"))
    assert bad.status_code == 422 and "This file is not a photo we can read." in bad.text
    db.session.expire_all()
    assert db.session.get(Organization, 1).logo_name == new_name

    # removed: no logo in the header
    assert save_identity(admin_client, remove_logo="y").status_code == 302
    assert '<img class="logo"' not in visitor.get("/").text
    assert visitor.get(f"/organization/logo/{new_name}").status_code == 404


def _deliver_one(smtp_server, app, monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp_server.port)
    assert outbox.deliver_pending() == (1, 0)
    [message] = smtp_server.messages
    return message


def test_mail_comes_from_the_sender_address_under_the_name_with_a_signature(
        app, admin_client, smtp_server, monkeypatch):
    assert save_identity(admin_client).status_code == 302
    outbox.queue("test", "test:ja", "donor@example.org", "件名", "本文です。\n", locale="ja")
    db.session.commit()
    message = _deliver_one(smtp_server, app, monkeypatch)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("ひかりの橋", "news@hikari-bridge.example")
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("本文です。\n\n今後ともよろしくお願いいたします。\n\n-- \n")
    # the legal name once (it holds the name: no second line repeating it)
    assert "\n-- \n認定特定非営利活動法人ひかりの橋\n認定NPO法人" in body
    assert "〒151-0053 東京都渋谷区代々木2-11-3" in body
    assert "メール：office@hikari-bridge.example" in body
    assert "Hikari Bridge" not in body  # all in the mail's language


def test_english_mail_signs_in_english(app, admin_client, smtp_server, monkeypatch):
    assert save_identity(admin_client, sender_email="").status_code == 302
    outbox.queue("test", "test:en", "donor@example.org", "Subject", "Body.\n", locale="en")
    db.session.commit()
    message = _deliver_one(smtp_server, app, monkeypatch)
    [sender] = message["From"].addresses
    # no sender address saved: MAIL_FROM's address, under the organization's name
    assert sender.display_name == "Hikari Bridge"
    assert sender.addr_spec == email.utils.parseaddr(app.config["MAIL_FROM"])[1]
    body = message.get_content().replace("\r\n", "\n")
    assert body == ("Body.\n\nWith warm regards,\n\n-- \nCertified NPO Hikari Bridge\n"
                    "Certified NPO (認定NPO法人) since April 1, 2021, certified by Tokyo "
                    "Metropolitan Government\n〒151-0053 2-11-3 Yoyogi, Shibuya-ku, Tokyo\n"
                    "Email: office@hikari-bridge.example\n")


def test_receipts_name_who_issued_them(app, admin_client, mail_dir):
    assert save_identity(admin_client).status_code == 302
    case = make_case("six-survivors", status=workflow.FUNDRAISING)
    donation = give(case, 5_000, email="donor@example.org")
    receipt = receipts.issue_receipt(donation)
    db.session.commit()
    text = receipts.receipt_text(receipt)
    assert "Issued by: Certified NPO Hikari Bridge" in text
    assert "〒151-0053 2-11-3 Yoyogi, Shibuya-ku, Tokyo" in text
    assert "certified by Tokyo Metropolitan Government" in text
    assert outbox.deliver_pending()[0] >= 1
    [eml] = [p for p in mail_dir.iterdir() if p.suffix == ".eml"]
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["From"].addresses[0].display_name == "Hikari Bridge"
    assert "Issued by: Certified NPO Hikari Bridge" in message.get_content()


def test_the_demo_pages_call_a_receipt_as_the_mail_and_pdf_do(app):
    from tracker.demo import organization as demo
    for text in (demo.PRIVACY_JA, demo.CONTACT_JA, demo.ABOUT_JA):
        assert "受領証" not in text.replace("寄附金受領証明書", "")
    assert "領収書" in demo.PRIVACY_JA and "領収書" in demo.CONTACT_JA


def test_link_previews_name_the_organization_in_the_page_language(app, admin_client):
    assert save_identity(admin_client).status_code == 302
    make_case("six-survivors", status=workflow.FUNDRAISING)
    visitor = app.test_client()
    english = visitor.get("/cases/six-survivors?lang=en").text
    assert '<meta property="og:site_name" content="Hikari Bridge">' in english
    for headers, path in (({}, "/cases/six-survivors?lang=ja"),
                          ({"Accept-Language": "ja"}, "/cases/six-survivors")):
        japanese = app.test_client().get(path, headers=headers).text
        assert '<meta property="og:site_name" content="ひかりの橋">' in japanese, path
