"""Text that people type and others read: bidirectional controls and invisible characters
removed.

Unicode's bidirectional controls (the embeddings and overrides U+202A–U+202E, the isolates
U+2066–U+2069, the marks U+200E/U+200F and the Arabic letter mark U+061C) are invisible and
reorder what follows them: a donor named "\\u202eevoN" shows as "Nove" on the wall, and a
message can make an entry look like a different amount or another donor's. Nobody needs them to
write a name, a message or a title, so every text field of every form drops them
(tracker.core.forms.Form applies clean_public_text as a filter to each text field but
passwords). Characters that show as nothing (a zero-width space, a soft hyphen…) go too: with
them one name can pass for another.
"""

from __future__ import annotations

import re

#: every bidirectional control character (not the letters that carry a direction themselves)
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: characters that show as nothing at all, so "Car\u200bol" looks exactly like "Carol" on the
#: wall: zero-width space, byte order mark, word joiner and the invisible operators, soft hyphen,
#: combining grapheme joiner, Mongolian vowel separator, the line and paragraph separators and
#: the Hangul fillers. (Zero-width joiner and non-joiner stay: emoji and several scripts need
#: them.)
INVISIBLES = ("\u200b\ufeff\u2060\u2061\u2062\u2063\u2064\u00ad\u034f\u180e\u2028\u2029"
              "\u115f\u1160\u3164\uffa0")
_BIDI_RE = re.compile(f"[{BIDI_CONTROLS}]")
_CLEAN_RE = re.compile(f"[{BIDI_CONTROLS}{INVISIBLES}]")


def has_bidi_controls(text: str) -> bool:
    """Whether ``text`` holds any bidirectional control character."""
    return _BIDI_RE.search(text) is not None


def clean_public_text(value: str | None) -> str | None:
    """``value`` without bidirectional controls and invisible characters (None and non-text
    pass through)."""
    if not isinstance(value, str):
        return value
    return _CLEAN_RE.sub("", value)
