"""Which version of a case's public texts a reader sees: the one place that chooses.

A case is written in English by staff (``public_title``, ``public_summary``,
``public_region``: the source of truth) and may carry a Japanese version beside it
(``public_title_ja``, ``public_summary_ja``, ``public_region_ja``). Every public surface (home,
the list of cases, the case page, the donate and thank-you pages, post pages, link previews,
receipts and mail) asks ``case_text(case, language)`` and shows what it answers; a reader of
Japanese sees the English texts, marked as such, when the case has no Japanese version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.cases.models import RescueCase

#: the language the case's own columns are written in
SOURCE_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class CaseText:
    """A case's public title, summary (Markdown) and coarse region in one language."""

    title: str
    summary: str
    region: str
    #: the language these texts are written in (the ``lang`` of whatever shows them)
    language: str
    #: True when the reader asked for another language and gets these instead
    fallback: bool


def has_japanese(case: RescueCase) -> bool:
    """Whether staff wrote the case's Japanese version (its title is the mark of one)."""
    return bool((case.public_title_ja or "").strip())


def case_text(case: RescueCase, language: str) -> CaseText:
    """The texts a reader of ``language`` sees: the Japanese version for ``ja`` when the case
    has one, else the English texts (``fallback`` set when ``ja`` was asked for)."""
    if language == "ja" and has_japanese(case):
        return CaseText(case.public_title_ja or "", case.public_summary_ja or "",
                        case.public_region_ja or "", "ja", False)
    return CaseText(case.public_title, case.public_summary or "", case.public_region,
                    SOURCE_LANGUAGE, language != SOURCE_LANGUAGE)
