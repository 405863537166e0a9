"""A gift made with someone else's email (issue 15, Medium 6).

Anyone can type any address on the donation form. The gift may be linked to the donor with
that address, but it changes nothing stored about them (name, language, the wall choices of
their gifts) unless that donor is the one signed in; its receipt carries the name typed on
this gift, or none, never the stored donor's name. Through the real form and the sandbox
checkout. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.donors.helpers import sign_in
from tests.factories import make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse fixture, shared)
from tests.payments.helpers import pay_on_page, receipt_messages, start_gift
from tracker.donations import services
from tracker.donations.models import Donation, Donor, Receipt
from tracker.extensions import db

SLUG = "six-survivors"
EMAIL = "aiko.owner@example.org"


@pytest.fixture
def case(app: Flask):  # noqa: ANN201
    return make_case(SLUG, people=2, status="fundraising", public_title="Six survivors")


def browser(app: Flask, language: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def give(client: FlaskClient, **fields: str) -> Donation:
    donation, session_id = start_gift(client, SLUG, **fields)
    assert pay_on_page(client, session_id).status_code in (302, 303)
    db.session.rollback()
    return db.session.get(Donation, donation.id)


def receipt_of(donation: Donation) -> Receipt:
    return db.session.scalars(db.select(Receipt).where(Receipt.donation_id == donation.id)).one()


def owner() -> Donor:
    db.session.rollback()
    return db.session.scalars(db.select(Donor).where(Donor.email == EMAIL)).one()


def test_a_stranger_using_the_address_changes_nothing_stored(app: Flask, case) -> None:  # noqa: ANN001
    first = give(browser(app, "ja"), email=EMAIL, name="Aiko", wall="name")
    donor = owner()
    assert (donor.name, donor.locale) == ("Aiko", "ja")
    assert receipt_of(first).donor_name == "Aiko"

    # Someone else types Aiko's address, in English, with their own name on the wall...
    stranger = browser(app, "en")
    shown = give(stranger, email=EMAIL, name="Mallory", wall="name", message="hi")
    # ... and once more choosing to be listed anonymously, with a name typed.
    unlisted = give(stranger, email=EMAIL, name="Mallory", wall="anonymous")

    donor = owner()
    assert shown.donor_id == unlisted.donor_id == donor.id  # linked by the address
    assert (donor.name, donor.locale) == ("Aiko", "ja")  # nothing stored about Aiko changed
    # Each receipt carries the name typed on this gift (listed or not), in this gift's language.
    assert receipt_of(shown).donor_name == "Mallory"
    assert receipt_of(unlisted).donor_name == "Mallory"
    nameless = give(stranger, email=EMAIL, wall="anonymous")
    assert receipt_of(nameless).donor_name == ""  # none typed: none, never the stored "Aiko"
    bodies = {m.dedupe_key: m.body_text for m in receipt_messages()}
    assert "Aiko" not in bodies[f"receipt:{receipt_of(unlisted).number}"]
    assert bodies[f"receipt:{receipt_of(unlisted).number}"].startswith("Thank you for your gift.")
    # Aiko's own gift keeps its wall choice and name.
    mine = db.session.get(Donation, first.id)
    assert (mine.display_name, mine.show_on_wall) == ("Aiko", True)


def test_a_donor_without_a_stored_name_does_not_get_a_strangers(app: Flask, case) -> None:  # noqa: ANN001
    give(browser(app, "en"), email=EMAIL, wall="anonymous")
    assert owner().name == ""
    later = give(browser(app, "ja"), email=EMAIL, name="Mallory", wall="anonymous")
    donor = owner()
    assert (donor.name, donor.locale) == ("", "en")
    assert receipt_of(later).donor_name == "Mallory"
    assert services.find_or_create_donor(EMAIL, "Someone").name == ""


def test_the_signed_in_donor_may_update_their_own_details(app: Flask, case) -> None:  # noqa: ANN001
    give(browser(app, "ja"), email=EMAIL, name="Aiko", wall="name")
    client = browser(app, "en")
    sign_in(client, EMAIL)
    gift = give(client, email=EMAIL, name="Aiko Tanaka", wall="name")
    donor = owner()
    assert (donor.name, donor.locale) == ("Aiko Tanaka", "en")
    assert receipt_of(gift).donor_name == "Aiko Tanaka"
    # Signed in as Aiko, a gift with another donor's address still changes nothing of theirs.
    give(browser(app, "ja"), email="ben@example.org", name="Ben", wall="name")
    give(client, email="ben@example.org", name="Not Ben", wall="name")
    db.session.rollback()
    ben = db.session.scalars(db.select(Donor).where(Donor.email == "ben@example.org")).one()
    assert (ben.name, ben.locale) == ("Ben", "ja")


def test_the_yearly_receipt_names_the_donor_not_a_stranger(app: Flask, case) -> None:  # noqa: ANN001
    """Found by the outside try: the fiscal-year receipt took the name typed on the latest gift,
    so a stranger's gift with the donor's address put the stranger's name on it."""
    from tracker.core.time import fiscal_year_of, local_today
    from tracker.donors.services import annual_receipt

    give(browser(app, "en"), email=EMAIL, name="Alice Real", wall="name")
    give(browser(app, "ja"), email=EMAIL, name="Eve Fake", wall="name")
    donor = owner()
    year = fiscal_year_of(local_today(), app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
    annual = annual_receipt(donor, year)
    assert annual is not None and len(annual.lines) == 2
    assert annual.donor_name == "Alice Real"
