"""Text that people type and others read: bidirectional controls removed.

Unicode's bidirectional controls (the embeddings and overrides U+202A–U+202E, the isolates
U+2066–U+2069, the marks U+200E/U+200F and the Arabic letter mark U+061C) are invisible and
reorder what follows them: a donor named "\\u202eevoN" shows as "Nove" on the wall, and a
message can make an entry look like a different amount or another donor's. Nobody needs them to
write a name, a message or a title, so every text field of every form drops them
(tracker.core.forms.Form applies clean_public_text as a filter to each text field but
passwords).
"""

from __future__ import annotations

import re

#: every bidirectional control character (not the letters that carry a direction themselves)
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_RE = re.compile(f"[{BIDI_CONTROLS}]")


def has_bidi_controls(text: str) -> bool:
    """Whether ``text`` holds any bidirectional control character."""
    return _BIDI_RE.search(text) is not None


def clean_public_text(value: str | None) -> str | None:
    """``value`` without bidirectional control characters (None and non-text pass through)."""
    if not isinstance(value, str):
        return value
    return _BIDI_RE.sub("", value)
