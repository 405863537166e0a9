"""Where a ``next=`` redirect may go: only a path on this site.

Every redirect that follows a value from the request (``?next=`` after sign-in and its second
step) asks same_site_path() first. Browsers are lenient in ways urlsplit() is not: they treat
``\\`` as ``/``, drop tabs and newlines, and read ``////host`` or ``/\\host`` as another host.
So the rule is strict and simple: one leading ``/``, then no second ``/`` or ``\\`` right after
it (also not once percent-decoded), no empty or dot segment in the path, no backslash, control,
format or space character (in the path once decoded, anywhere as sent), and nothing urlsplit()
reads as a scheme or a host.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

#: a longer ``next`` is no page of ours
MAX_LENGTH = 2000
#: how many rounds of percent-decoding are checked (``%252F%252F`` is two)
DECODE_ROUNDS = 3


def _unsafe_char(char: str) -> bool:
    # Cc: controls (NUL, tab, CR/LF, DEL…); Cf: invisible format characters (bidi, zero
    # width); Z*: every kind of space (browsers strip some of them before parsing)
    return char == "\\" or unicodedata.category(char)[0] in "CZ"


def _looks_like_a_path(value: str, *, whole: bool) -> bool:
    """One form of the value: ``whole`` checks every character, else only the path part (a
    decoded query may hold anything; it stays encoded in the Location header)."""
    if not value.startswith("/") or value[1:2] in ("/", "\\"):
        return False
    path = value.split("?", 1)[0].split("#", 1)[0]
    if any(_unsafe_char(c) for c in (value if whole else path)):
        return False
    # "/.//host" and "/x/..//host" become "//host" once a browser removes the dot segments
    if "//" in path or any(segment in (".", "..") for segment in path.split("/")):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def same_site_path(value: str | None) -> str | None:
    """``value`` if it is a plain path on this site (``/staff/?page=2``), else None.

    The value is returned unchanged. Each percent-decoded form of it (up to DECODE_ROUNDS) must
    pass the same checks on its path part, so ``/%2F%2Fevil.example``, ``/%5Cevil.example`` and
    ``/%09/evil.example`` are refused too, whatever a proxy or browser on the way decodes.
    """
    if not value or len(value) > MAX_LENGTH or not _looks_like_a_path(value, whole=True):
        return None
    current = value
    for _ in range(DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            return value
        if not _looks_like_a_path(decoded, whole=False):
            return None
        current = decoded
    return None  # still encoded after that many rounds: no page of ours looks like this
