"""Confirming an irreversible action on the server.

Closing a case, refunding a gift, cancelling a monthly gift and anonymizing a donor cannot be
undone, so none of them happens on the first POST. The first POST (no valid token) is checked
as usual and, when it would succeed, answers a confirmation page (``templates/confirm.html``)
that says in words and amounts what will happen, and nothing changes. That page sends the same
fields again with a token; only a POST carrying a valid token acts.

The token is signed with ``SECRET_KEY`` (itsdangerous), lives ``MAX_AGE`` seconds and is bound
to the action's name, the object's id, who acts (a staff user or a donor) and every submitted
field value: a token for another object, another person, other values (a larger refund, another
outcome) or an older one is refused, and the page is shown again for the values now sent. The
token holds only a hash of all that, so the page reveals nothing it does not already show.

A view uses it like this::

    if not confirm.confirmed(ACTION, obj.id, actor):
        return confirm.ask(ACTION, obj.id, actor, title=..., consequences=[...], ...)
    ...do it...
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadData, URLSafeTimedSerializer

#: the form field that carries the token
FIELD = "confirm_token"
#: how long a confirmation page stays good for, in seconds
MAX_AGE = 15 * 60
_SALT = "tracker.confirm.v1"
#: form fields that are not the action's values (the CSRF token changes on its own)
_NOT_VALUES = frozenset({FIELD, "csrf_token"})


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def submitted_values(form: Mapping | None = None) -> dict[str, list[str]]:
    """The request's form values that the confirmation covers: every field but the CSRF token
    and the confirmation token itself, each with all its values."""
    form = request.form if form is None else form
    return {key: list(form.getlist(key)) for key in sorted(form.keys()) if key not in _NOT_VALUES}


def _digest(action: str, object_id: object, actor: str, values: Mapping[str, Iterable[str]]) -> str:
    canonical = json.dumps([action, str(object_id), actor,
                            sorted((k, list(v)) for k, v in values.items())],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def issue(action: str, object_id: object, actor: str,
          values: Mapping[str, Iterable[str]]) -> str:
    """A token confirming ``action`` on ``object_id`` by ``actor`` with exactly ``values``."""
    return _serializer().dumps({"d": _digest(action, object_id, actor, values)})


def is_valid(token: str | None, action: str, object_id: object, actor: str,
             values: Mapping[str, Iterable[str]], *, max_age: int = MAX_AGE) -> bool:
    """Whether ``token`` confirms exactly this action, object, actor and values, and is
    younger than ``max_age`` seconds."""
    if not token or len(token) > 500:
        return False
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadData:
        return False
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        return False
    return hmac.compare_digest(data["d"], _digest(action, object_id, actor, values))


def staff_actor() -> str:
    """Who confirms, for the signed-in staff member ("user:<id>"); a donor is "donor:<id>"."""
    return f"user:{current_user.id}"


def confirmed(action: str, object_id: object, actor: str) -> bool:
    """Whether this request's POST carries a valid confirmation of its own values."""
    return is_valid(request.form.get(FIELD), action, object_id, actor, submitted_values())


def ask(action: str, object_id: object, actor: str, *, title: str, consequences: list[str],
        button: str, back_url: str, back_label: str | None = None, staff: bool = True):
    """The confirmation page for this request's values: what will happen, a button that sends
    the same values again with a token, and a way back. Answers 200 for a first POST and 409
    when a token was sent but refused (expired, or for other values, object or person)."""
    refused = FIELD in request.form
    values = submitted_values()
    page = render_template(
        "confirm.html", title=title, consequences=consequences, button=button,
        back_url=back_url, back_label=back_label or _("Go back without changing anything"),
        action_url=request.full_path.rstrip("?"), values=values,
        token=issue(action, object_id, actor, values), staff=staff,
        refused=refused,
    )
    return page, 409 if refused else 200
