"""Issue 15, item 10: bidirectional control characters never reach a public page.

U+202E (right-to-left override) and its kin reorder the text that follows them: a donor
named "\\u202eevoN" shows as "Nove", and a message can make one entry look like another donor's
or another amount. Every text field of every form drops them as it reads its data
(tracker.core.forms.Form with tracker.core.text.clean_public_text), so nothing typed into a
form stores one, and the donor wall never carries one.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import PasswordField, StringField

import tracker
from tests.conftest import Auth, csrf_from
from tests.factories import make_case
from tests.payments.helpers import pay_on_page, start_gift
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core.forms import AmountField, Form
from tracker.core.text import BIDI_CONTROLS, INVISIBLES, clean_public_text, has_bidi_controls
from tracker.donations import messages as wall_messages
from tracker.extensions import db

#: every control the issue names, one by one
EACH = list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def test_the_list_covers_every_control_the_issue_names() -> None:
    assert set(EACH) == set(BIDI_CONTROLS)


@pytest.mark.parametrize("char", EACH)
def test_clean_public_text_drops_each_control(char: str) -> None:
    assert clean_public_text(f"Ann{char}a {char}{char}B.") == "Anna B."


def test_clean_public_text_keeps_letters_of_every_direction() -> None:
    text = "سلام שלום 山田 Ann (5,000円) e\u0301 \u200d"
    assert clean_public_text(text) == text
    assert clean_public_text(None) is None


def _all_forms() -> list[type[Form]]:
    for module in pkgutil.walk_packages(tracker.__path__, "tracker."):
        importlib.import_module(module.name)
    found, todo = [], [Form]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_every_text_field_of_every_form_drops_them(app) -> None:  # noqa: ANN001
    """Each text field (but passwords) of each form, read from a request: no control left."""
    forms = _all_forms()
    assert len(forms) >= 20
    checked = 0
    with app.test_request_context(method="POST"):
        for form_class in forms:
            probe = form_class(formdata=MultiDict(), meta={"csrf": False})
            text_fields = [f.name for f in probe if isinstance(f, StringField)
                           and not isinstance(f, (PasswordField, AmountField))]
            data = MultiDict({name: f"a{BIDI_CONTROLS}b\u202e c" for name in text_fields})
            form = form_class(formdata=data, meta={"csrf": False})
            for name in text_fields:
                assert form[name].data == "ab c", (form_class.__name__, name, form[name].data)
                checked += 1
    assert checked >= 40


def test_an_amount_with_a_bidi_control_is_refused_not_read_differently(client, app) -> None:  # noqa: ANN001
    """"\u202e5000" shows as "0005": an amount is never cleaned into another number, it is
    refused (422) and nothing is stored."""

    make_case("bidi-amount", status=workflow.FUNDRAISING)
    page = client.get("/cases/bidi-amount/donate")
    token = csrf_from(page.text)
    response = client.post("/cases/bidi-amount/donate", data={
        "csrf_token": token, "currency": "JPY", "preset": "other", "amount": "\u202e5000",
        "wall": "anonymous"})
    assert response.status_code == 422
    assert client.post("/cases/bidi-amount/donate", data={
        "csrf_token": token, "currency": "JPY", "preset": "other", "amount": "5000",
        "wall": "anonymous"}).status_code == 303


@pytest.mark.parametrize("invisible", list(INVISIBLES))
def test_invisible_characters_are_dropped_too(invisible: str) -> None:
    """Found by the outside try: "Car\\u200bol" looked exactly like "Carol" on the wall."""
    assert clean_public_text(f"Car{invisible}ol") == "Carol"
    assert clean_public_text("\u200d\u200c") == "\u200d\u200c"  # joiners: emoji, scripts


def test_passwords_are_left_as_typed(app) -> None:  # noqa: ANN001
    from tracker.accounts.forms import LoginForm

    with app.test_request_context(method="POST"):
        form = LoginForm(formdata=MultiDict({"email": "a\u202e@example.org", "password": "p\u202eq"}),
                         meta={"csrf": False})
        assert form.email.data == "a@example.org"
        assert form.password.data == "p\u202eq"


def test_the_donor_wall_never_carries_them(client, app) -> None:  # noqa: ANN001
    """A donor's name and message full of overrides and isolates: the wall shows the text
    without any of them, in the order it was typed."""
    make_case("wall", status=workflow.FUNDRAISING, public_title="Wall")
    spoofs = [
        ("\u202eevoN", "Thank you \u202e000,001\u202c"),
        ("Ann\u2067 gave 1,000,000\u2069", "\u2066\u200f\u061c\u200e\u202a\u202b\u202d hello"),
    ]
    for name, message in spoofs:
        donation, session_id = start_gift(client, "wall", name=name, message=message, wall="name")
        assert pay_on_page(client, session_id).status_code == 303
        db.session.refresh(donation)
        assert not has_bidi_controls(donation.display_name + donation.message), "stored as typed"
        wall_messages.approve(donation.public_id)  # a message is on the wall once staff approve it
        db.session.commit()
    page = client.get("/cases/wall")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not has_bidi_controls(html)
    for name, message in spoofs:
        assert clean_public_text(name) in html
        assert clean_public_text(message) in html
    assert "evoN" in html and "Thank you 000,001" in html


def test_a_case_title_typed_by_staff_is_stored_without_them(client, make_user) -> None:  # noqa: ANN001
    user, password = make_user("staff")
    assert Auth(client).login(user.email, password).status_code == 302
    token = csrf_from(client.get("/staff/cases/new").text)
    response = client.post("/staff/cases/new", data={
        "csrf_token": token, "public_title": "Six \u202esrovivrus", "slug": "bidi-case",
        "public_region": "North\u2066east\u2069", "public_summary": "A \u200fsummary",
        "track": "journey", "goal": "100000", "private_notes": "", "private_contact": ""})
    assert response.status_code in (302, 303), response.status_code
    case = db.session.scalar(db.select(RescueCase).where(RescueCase.slug == "bidi-case"))
    assert (case.public_title, case.public_region, case.public_summary) == (
        "Six srovivrus", "Northeast", "A summary")
