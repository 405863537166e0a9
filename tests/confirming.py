"""Posting an irreversible action as a person does: the first POST shows the confirmation
page (tracker.core.confirm), the second sends back what that page holds."""

from __future__ import annotations

import re
from html import unescape

from flask.testing import FlaskClient

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirmation_fields(html: str) -> list[tuple[str, str]]:
    """The hidden fields of a confirmation page's form, token and CSRF token included."""
    assert 'name="confirm_token"' in html, "not a confirmation page"
    form = html[html.index('class="stack confirm-form"'):]
    form = form[:form.index("</form>")]
    return [(unescape(name), unescape(value)) for name, value in _HIDDEN.findall(form)]


def confirmation_token(html: str) -> str:
    """The token on a confirmation page."""
    return dict(confirmation_fields(html))["confirm_token"]


def confirming_data(html: str) -> dict[str, list[str]]:
    """What the confirmation page's button sends, as a form-data mapping."""
    data: dict[str, list[str]] = {}
    for name, value in confirmation_fields(html):
        data.setdefault(name, []).append(value)
    return data


def is_confirmation(response) -> bool:  # noqa: ANN001
    """Whether ``response`` is a confirmation page (200, nothing done yet)."""
    return response.status_code == 200 and 'name="confirm_token"' in response.get_data(as_text=True)


def post_confirmed(client: FlaskClient, url: str, data: dict, **kwargs):
    """POST ``data`` to ``url``; when the answer is a confirmation page, confirm it by POSTing
    exactly what it sends back, and return that second answer. Any other answer (a form
    error, a redirect) is returned as it is, so a refusal before the confirmation shows."""
    first = client.post(url, data=data, **kwargs)
    if not is_confirmation(first):
        return first
    return client.post(url, data=confirming_data(first.get_data(as_text=True)), **kwargs)
