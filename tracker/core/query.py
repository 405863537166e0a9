"""Query parameters get the same care as form fields.

One ``before_request`` hook refuses, with a 400 page, any request whose query string holds a
control character (NUL, tab, CR/LF, DEL, C1 controls) in a name or a value: nobody types one
into a search box or a filter, a NUL cannot even reach PostgreSQL (it refuses NUL in text, a
500 before this hook), and a CR/LF must never travel on into a redirect. It runs before the
access rules, so a bad link is refused the same way for everybody.

Views read typed parameters through int_arg / choice_arg / text_arg, which raise BadQuery
(a 400 with a sentence naming the parameter) instead of letting odd text reach a query:
``"²".isdigit()`` is true but ``int("²")`` fails, and a number past PostgreSQL's INTEGER
range is refused by the database.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from flask import Flask, abort, request
from flask_babel import gettext as _

from tracker.core.errors import DomainError

#: the largest value of an INTEGER column (PostgreSQL), so an id filter never overflows
MAX_INT = 2**31 - 1


class BadQuery(DomainError):
    """A query parameter that cannot be used as given; ``field`` names it."""

    status_code = 400


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds any control character (Unicode category Cc)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def refuse_control_characters() -> None:
    """``before_request`` hook: a 400 page when any query parameter holds a control character."""
    if not request.query_string:
        return
    for name, value in request.args.items(multi=True):
        if has_control_characters(name) or has_control_characters(value):
            abort(400, description=_(
                "The address holds control characters, which no page here accepts. Remove "
                "them (or go back to the previous page) and try again."))


def int_arg(name: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """``?name=`` as a whole number in [minimum, maximum]; None when absent or empty.

    Raises BadQuery for anything else (signs, spaces inside, non-ASCII digits, too large)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise BadQuery(_("“%(name)s” must be a whole number from %(minimum)d to %(maximum)d.",
                         name=name, minimum=minimum, maximum=maximum), field=name)
    return int(raw)


def choice_arg(name: str, choices: Iterable[str], *, default: str = "") -> str:
    """``?name=`` when it is one of ``choices``; ``default`` when absent or empty.

    Raises BadQuery for any other value."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if raw not in set(choices):
        raise BadQuery(_("“%(value)s” is not a value that “%(name)s” accepts.",
                         value=raw[:40], name=name), field=name)
    return raw


def text_arg(name: str, max_length: int) -> str:
    """``?name=`` trimmed, its runs of spaces made one, cut at ``max_length`` characters."""
    return " ".join(request.args.get(name, "").split())[:max_length]


def init_app(app: Flask) -> None:
    """Register the hook (before the access rules, see tracker.create_app)."""
    app.before_request(refuse_control_characters)
