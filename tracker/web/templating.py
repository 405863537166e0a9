"""Template filters and globals: money, dates, Markdown rendered safely."""

from __future__ import annotations

import html
import re
from datetime import date, datetime

import markdown as markdown_lib
import nh3
from babel.dates import format_date
from flask import Flask
from markupsafe import Markup, escape

from tracker.core.i18n import current_locale
from tracker.core.money import Money, currency_words, format_money, format_rate
from tracker.core.time import as_utc, local_zone
from tracker.organization.identity import current_identity

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "i", "li",
    "ol", "p", "pre", "strong", "ul", "img", "figure", "figcaption",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}


def render_markdown(source: str) -> Markup:
    """Markdown to HTML, then sanitized with nh3: the only way user text becomes markup."""
    html = markdown_lib.markdown(source or "", extensions=["sane_lists"], output_format="html")
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # noqa: S704  (sanitized just above)


def plain_excerpt(source: str, length: int = 200) -> str:
    """The text of some Markdown, without markup, cut at a word near ``length`` characters:
    for link previews (Open Graph) and other places that take plain text."""
    text = nh3.clean(str(render_markdown(source)), tags=set())
    text = " ".join(html.unescape(text).split())
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0] or text[:length]
    return cut.rstrip(" ,.;:") + "…"


def money_filter(value: Money, locale: str | None = None) -> str:
    """Money for display in the page's language: ¥5,000 in English, 5,000円 in Japanese."""
    return format_money(value, locale or current_locale())


def local_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC datetime shown in the NGO's time zone (numeric: the same in any language)."""
    if value is None:
        return ""
    return as_utc(value).astimezone(local_zone()).strftime(fmt)


def long_date(value: date | datetime | None) -> str:
    """A day written out in the page's language: "November 27, 2026" or "2026年11月27日".
    A datetime is first taken to the NGO's time zone, so the day is the NGO's day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(local_zone()).date()
    return format_date(value, format="long", locale=current_locale())


_HYPHENATED = re.compile(r"\w+(?:-\w+)+")


def keep_hyphenated(text: str) -> Markup:
    """``text`` with each hyphenated word (Non-profit) kept on one line, so a narrow screen
    never breaks it at its hyphen ("Non- / profit"); the text itself is left as it is."""
    return Markup(_HYPHENATED.sub(lambda m: f'<span class="nowrap">{m.group(0)}</span>',  # noqa: S704
                                  str(escape(text))))


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(money_filter, "money")
    app.add_template_filter(format_rate, "rate")
    # a currency inside a sentence: 日本円 in Japanese, JPY in English
    app.add_template_filter(currency_words, "currency_words")
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(plain_excerpt, "excerpt")
    app.add_template_filter(local_datetime, "localtime")
    app.add_template_filter(long_date, "longdate")
    app.add_template_filter(keep_hyphenated, "keep_hyphenated")
    # the organization's name, logo and footer details (read once per request)
    app.add_template_global(current_identity, "organization")
