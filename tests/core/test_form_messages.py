"""WTForms' stock messages ("This field is required.", "Field cannot be longer than 80
characters.") speak the page's language from the app's own catalog, in Japanese as JA_STYLE
writes it (issue 18, outside tester: they showed in English, or in WTForms' own Japanese with
half-width commas and フィールド, on Japanese pages)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import wtforms
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import DataRequired, Email, Length, NumberRange

from tests.payments.helpers import post_gift
from tracker.core.form_messages import STOCK_MESSAGES
from tracker.core.forms import APP_TRANSLATIONS, Form
from tracker.core.i18n import language

#: WTForms messages a person never sees (a programming error, or WTForms' own CSRF, which
#: Flask-WTF replaces)
NOT_SHOWN = {"Invalid field name '%s'.", "Choices cannot be None.", "Invalid IP address.",
             "Invalid Mac address.", "Invalid UUID.", "Invalid CSRF Token.", "CSRF token missing.",
             "CSRF failed.", "CSRF token expired."}


class _Sample(Form):
    class Meta:
        csrf = False

    title = StringField("Title", validators=[DataRequired(), Length(min=2, max=5)])
    email = StringField("Email", validators=[Email()])
    count = IntegerField("Count", validators=[NumberRange(min=1, max=9)])
    day = DateField("Day")


def _errors(app: Flask, locale: str, data: dict[str, str]) -> list[str]:
    with app.test_request_context("/", method="POST", data=data), language(locale):
        form = _Sample()
        assert not form.validate()
        return [message for errors in form.errors.values() for message in errors]


def test_stock_messages_are_japanese_on_japanese_pages(app: Flask) -> None:
    data = {"title": "x" * 9, "email": "not an address", "count": "12", "day": "someday"}
    ja = _errors(app, "ja", data)
    assert sorted(ja) == sorted(["2〜5文字で入力してください。", "メールアドレスの形式が正しくありません。",
                                 "1〜9の数を入力してください。", "日付の形式が正しくありません。"])
    assert "この項目を入力してください。" in _errors(app, "ja", {"title": "", "count": "5"})
    en = _errors(app, "en", data)
    assert "Field must be between 2 and 5 characters long." in en
    assert "Invalid email address." in en


def test_a_japanese_gift_form_with_too_long_text_says_so_in_japanese(client: FlaskClient) -> None:
    client.get("/?lang=ja")
    response = post_gift(client, name="名" * 81, message="あ" * 501)
    assert response.status_code == 422
    errors = [html.unescape(e) for e in re.findall(r'class="error"[^>]*>([^<]*)<', response.text)]
    assert "80文字以内で入力してください。" in errors
    assert "500文字以内で入力してください。" in errors
    text = html.unescape(response.text)
    assert "Field cannot be longer" not in text and "characters" not in text
    assert "フィールド" not in text


def test_every_stock_message_a_person_may_see_is_in_the_catalog() -> None:
    """A WTForms upgrade with a new message fails here until it is listed and translated."""
    pot = Path(wtforms.__file__).parent / "locale" / "wtforms.pot"
    with pot.open("rb") as f:
        theirs = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(f) if m.id}
    assert theirs - NOT_SHOWN <= set(STOCK_MESSAGES)


@pytest.mark.parametrize("message", STOCK_MESSAGES)
def test_each_stock_message_has_japanese(app: Flask, message: str) -> None:
    with app.test_request_context("/"), language("ja"):
        translated = APP_TRANSLATIONS.gettext(message)
        if translated == message:  # a message with a plural form
            translated = APP_TRANSLATIONS.ngettext(message, message, 2)
    assert translated != message and re.search(r"[ぁ-んァ-ン一-龥]", translated), message
