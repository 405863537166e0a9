"""Server-rendered SVG bar charts for the reports: no JavaScript, no dependencies.

``bar_chart`` draws vertical bars (net gifts per month of a fiscal year), ``hbar_chart``
horizontal ones (by channel or by case, long labels). Both return a ``Markup`` string to put
inline in a template::

    {{ bar_chart("Net gifts per month", months, format_value=fmt) }}

What the markup promises:

* Every piece of text (title, description, labels, formatted values) is escaped here, and
  characters XML cannot hold are dropped, so a case title typed by staff (``<script>``, ``&``)
  is shown as text and the SVG stays well-formed XML.
* No scripts, event handlers or ``style`` attributes: colours and sizes are presentation
  attributes (``fill``, ``stroke``, ``font-size``), so a strict Content-Security-Policy holds.
  No font is named: inline, the text takes the page's font.
* ``viewBox`` with ``width="100%"`` and no height: the chart scales to its container, on
  screen and in print.
* ``<svg role="img">`` named by its ``<title>`` (``aria-labelledby``) and described by its
  ``<desc>`` (``aria-describedby``): the description given, or else every bar's label and
  value, since a screen reader does not look inside an image. Each bar has a ``<title>``
  ("Label: value") shown as a tooltip. Ids come from a per-process counter, so two charts
  on one page never share one.
* Values are integers (minor units) and may be negative: a zero baseline is drawn and
  negative bars, in another colour, go below it (left of it in ``hbar_chart``). Positions
  are computed from Python integers, so values of 10**15 and beyond are placed exactly. The
  value axis has 3 to 5 round ticks, always including zero, formatted with ``format_value``.
* An empty series, or one that is zero throughout, is drawn as a "No data" chart.
* The chart's own words ("No data", the bar count of the description) are in the language of
  the request (Flask-Babel; English outside one); the caller gives title, description, labels
  and the value formatter in that language too.
* Classes for style sheets (and tests): ``chart chart-vertical|chart-horizontal`` on the
  ``<svg>``, ``bar`` (and ``bar-negative``) on each bar's ``<rect>``, the only rects drawn;
  ``chart-title``, ``tick``, ``label``, ``value`` and ``no-data`` on texts; ``grid``,
  ``axis`` and ``baseline`` (the zero line) on lines.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from markupsafe import Markup, escape

__all__ = ["bar_chart", "hbar_chart"]

BAR_FILL = "#1e6fb8"
NEGATIVE_FILL = "#a33a1c"
AXIS_STROKE = "#666"
GRID_STROKE = "#ddd"
TEXT_FILL = "#222"
TICK_FILL = "#666"

FONT_SIZE = 12
TITLE_FONT_SIZE = 14
WIDTH = 720  # viewBox width before any widening for long tick labels or many bars
TITLE_BASELINE = 20
PLOT_TOP = 36  # below the title, with room for the top tick label
MAX_TICKS = 5
MIN_TICKS = 3
NO_DATA = _l("No data")

# vertical bars
V_PLOT_HEIGHT = 220
V_MIN_BAND = 28  # horizontal room per bar; more bars widen the chart
V_BAR_SHARE = 0.7
V_LABEL_ROW = 28
# horizontal bars
H_ROW = 24
H_BAR = 16
H_MAX_LABEL = 240  # longer labels are cut short with an ellipsis
H_MIN_PLOT = 300
H_AXIS_ROW = 28

_chart_numbers = itertools.count(1)
_SPACES = re.compile(r"[ \t\r\n]+")

Bars = Sequence[tuple[str, int]]
Formatter = Callable[[int], str]


def bar_chart(
    title: str, bars: list[tuple[str, int]], *, format_value: Formatter, description: str = ""
) -> Markup:
    """Vertical bars, one per (label, value), left to right; negative values below zero."""
    series = _checked(bars)
    ids = _new_ids()
    if _no_data(series):
        return _no_data_chart(title, description, series, format_value, ids, "vertical")

    values = [v for _, v in series]
    ticks, lo, hi = _scale(min(0, *values), max(0, *values))
    tick_texts = [_clean(format_value(t)) for t in ticks]
    value_texts = [_clean(format_value(v)) for v in values]

    left = max(40.0, max(_text_width(t) for t in tick_texts) + 14)
    right = 16.0
    n = len(series)
    plot_w = max(WIDTH - left - right, n * V_MIN_BAND)
    width = left + plot_w + right
    plot_h = V_PLOT_HEIGHT
    bottom = PLOT_TOP + plot_h
    height = bottom + V_LABEL_ROW + 4
    band = plot_w / n

    def y(v: int) -> float:
        return PLOT_TOP + (hi - v) * plot_h / (hi - lo)  # exact for big ints: int * int / int

    zero = y(0)
    out = _open(width, height, title, description, series, value_texts, ids, "vertical")
    for t, text in zip(ticks, tick_texts, strict=True):
        ty = y(t)
        if t != 0:
            out.append(_line(left, ty, left + plot_w, ty, GRID_STROKE, "grid"))
        out.append(_text(text, left - 6, ty + 4, anchor="end", fill=TICK_FILL, cls="tick"))
    for i, ((label, v), vtext) in enumerate(zip(series, value_texts, strict=True)):
        x = left + i * band + band * (1 - V_BAR_SHARE) / 2
        top, bar_h = (y(v), zero - y(v)) if v >= 0 else (zero, y(v) - zero)
        out.append(_bar(x, top, band * V_BAR_SHARE, bar_h, v, f"{label}: {vtext}"))
        out.append(_label(label, left + (i + 0.5) * band, bottom + 18, band - 4, "middle"))
    out.append(_line(left, PLOT_TOP, left, bottom, AXIS_STROKE, "axis"))
    out.append(_line(left, zero, left + plot_w, zero, AXIS_STROKE, "baseline"))
    out.append("</svg>")
    return _markup(out)


def hbar_chart(
    title: str, bars: list[tuple[str, int]], *, format_value: Formatter, description: str = ""
) -> Markup:
    """Horizontal bars, one per (label, value), top to bottom; labels on the left, values on the
    right; negative values left of zero. Labels too long are cut short with an ellipsis (the
    full label is in the tooltip)."""
    series = _checked(bars)
    ids = _new_ids()
    if _no_data(series):
        return _no_data_chart(title, description, series, format_value, ids, "horizontal")

    values = [v for _, v in series]
    ticks, lo, hi = _scale(min(0, *values), max(0, *values))
    tick_texts = [_clean(format_value(t)) for t in ticks]
    value_texts = [_clean(format_value(v)) for v in values]

    tick_w = max(_text_width(t) for t in tick_texts)
    label_col = max(min(max(_text_width(_clean(lb)) for lb, _ in series), H_MAX_LABEL) + 12,
                    tick_w / 2 + 4)
    value_col = max(max(_text_width(t) for t in value_texts) + 14, tick_w / 2 + 4)
    # tick labels sit side by side under the plot: widen it (and the chart) until they fit
    plot_w = max(WIDTH - label_col - value_col, H_MIN_PLOT, (len(ticks) - 1) * (tick_w + 12))
    width = label_col + plot_w + value_col
    n = len(series)
    bottom = PLOT_TOP + n * H_ROW
    height = bottom + H_AXIS_ROW

    def x(v: int) -> float:
        return label_col + (v - lo) * plot_w / (hi - lo)

    zero = x(0)
    out = _open(width, height, title, description, series, value_texts, ids, "horizontal")
    for t, text in zip(ticks, tick_texts, strict=True):
        tx = x(t)
        if t != 0:
            out.append(_line(tx, PLOT_TOP, tx, bottom, GRID_STROKE, "grid"))
        out.append(_text(text, tx, bottom + 18, anchor="middle", fill=TICK_FILL, cls="tick"))
    for i, ((label, v), vtext) in enumerate(zip(series, value_texts, strict=True)):
        row = PLOT_TOP + i * H_ROW
        mid = row + H_ROW / 2
        left, bar_w = (zero, x(v) - zero) if v >= 0 else (x(v), zero - x(v))
        out.append(_bar(left, row + (H_ROW - H_BAR) / 2, bar_w, H_BAR, v, f"{label}: {vtext}"))
        out.append(_label(label, label_col - 8, mid + 4, label_col - 12, "end"))
        out.append(_text(vtext, width - 4, mid + 4, anchor="end", fill=TEXT_FILL, cls="value"))
    out.append(_line(label_col, bottom, label_col + plot_w, bottom, AXIS_STROKE, "axis"))
    out.append(_line(zero, PLOT_TOP, zero, bottom, AXIS_STROKE, "baseline"))
    out.append("</svg>")
    return _markup(out)


# --- scale --------------------------------------------------------------------------------


def _scale(lo: int, hi: int) -> tuple[list[int], int, int]:
    """The value axis for data from ``lo`` to ``hi`` (``lo <= 0 <= hi``, ``lo < hi``): 3 to 5
    evenly spaced round ticks (steps of 1, 2 or 5 times a power of ten), zero among them, and
    the domain ``(bottom, top)`` the plot spans, which holds the data and the ticks.

    The domain ends on a tick, except on the side of zero where the data reach less than half
    a step: a month of refunds of 5 beside months of gifts of 100 is not given a third of the
    chart down to a tick at -50. Integer arithmetic only: exact at any magnitude."""
    assert lo <= 0 <= hi and lo < hi
    for power in itertools.count():
        for mantissa in (1, 2, 5):
            step = mantissa * 10**power
            first = (lo // step) * step  # floor to a step
            last = -(-hi // step) * step  # ceiling to a step
            if (last - first) // step + 1 <= MAX_TICKS:
                bottom, top = first, last
                if lo < 0 and -2 * lo < step:
                    bottom, first = lo, 0
                elif hi > 0 and 2 * hi < step:
                    top, last = hi, 0
                ticks = list(range(first, last + step, step))
                while len(ticks) < MIN_TICKS:  # tiny ranges (a maximum of 1): one more step
                    if hi > 0:
                        ticks.append(ticks[-1] + step)
                    else:
                        ticks.insert(0, ticks[0] - step)
                return ticks, min(bottom, ticks[0]), max(top, ticks[-1])
    raise AssertionError("unreachable")  # pragma: no cover


# --- input --------------------------------------------------------------------------------


def _checked(bars: Bars) -> list[tuple[str, int]]:
    series = []
    for item in bars:
        label, value = item
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"bar values must be integers (minor units), got {value!r}")
        series.append((_clean(label), value))
    return series


def _no_data(series: list[tuple[str, int]]) -> bool:
    return all(v == 0 for _, v in series)


# --- text ---------------------------------------------------------------------------------


def _xml_char(ch: str) -> bool:
    """Whether XML 1.0 allows the character at all (escaped or not)."""
    c = ord(ch)
    return (
        c in (0x9, 0xA, 0xD)
        or 0x20 <= c <= 0xD7FF
        or 0xE000 <= c <= 0xFFFD
        or 0x10000 <= c <= 0x10FFFF
    )


def _clean(value: object) -> str:
    """Plain text for the chart: markup given already escaped is taken back to its text (it is
    escaped again on output, once), characters XML forbids are dropped, runs of line breaks,
    tabs and spaces become one space (no-break spaces, as in formatted money, stay)."""
    text = value.unescape() if isinstance(value, Markup) else str(value)
    return _SPACES.sub(" ", "".join(ch for ch in text if _xml_char(ch))).strip(" ")


def _char_width(ch: str) -> float:
    if unicodedata.combining(ch):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    return 0.62


def _text_width(text: str, size: int = FONT_SIZE) -> float:
    """A generous guess at the rendered width: the font is the page's, unknown here."""
    return sum(_char_width(ch) for ch in text) * size


def _truncate(text: str, max_width: float, size: int = FONT_SIZE) -> str:
    """The text, or as much of it as fits in ``max_width`` followed by an ellipsis."""
    if _text_width(text, size) <= max_width:
        return text
    room = max_width - _text_width("…", size)
    kept, used = [], 0.0
    for ch in text:
        used += _char_width(ch) * size
        if used > room:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


# --- SVG ----------------------------------------------------------------------------------


def _num(x: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (nor a "-0")."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _new_ids() -> tuple[str, str]:
    n = next(_chart_numbers)
    return f"rt-chart-{n}-title", f"rt-chart-{n}-desc"


def _describe(description: str, series: list[tuple[str, int]], value_texts: list[str]) -> str:
    if description:
        return _clean(description)
    # the marks between label and value and between items are the language's (：and 、 in
    # Japanese: no ASCII punctuation inside Japanese text)
    items = pgettext("between the items of a chart's description", "; ").join(
        _("%(label)s: %(value)s", label=_clean(label), value=vt)
        for (label, _value), vt in zip(series, value_texts, strict=True))
    return _("%(count)d bars. %(items)s.", count=len(series), items=items)


def _open(
    width: float,
    height: float,
    title: str,
    description: str,
    series: list[tuple[str, int]],
    value_texts: list[str],
    ids: tuple[str, str],
    orientation: str,
) -> list[str]:
    title_id, desc_id = ids
    clean_title = _clean(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{orientation}" role="img"'
        f' aria-labelledby="{title_id}" aria-describedby="{desc_id}"'
        f' viewBox="0 0 {_num(width)} {_num(height)}" width="100%" font-size="{FONT_SIZE}">',
        f'<title id="{title_id}">{escape(clean_title)}</title>',
        f'<desc id="{desc_id}">{escape(_describe(description, series, value_texts))}</desc>',
        _text(_truncate(clean_title, width - 8, TITLE_FONT_SIZE), 4, TITLE_BASELINE,
              fill=TEXT_FILL, size=TITLE_FONT_SIZE, bold=True, cls="chart-title"),
    ]


def _no_data_chart(
    title: str,
    description: str,
    series: list[tuple[str, int]],
    format_value: Formatter,
    ids: tuple[str, str],
    orientation: str,
) -> Markup:
    desc = _("No data.")
    if series:
        desc = _("No data: all %(count)d values are %(zero)s.", count=len(series),
                 zero=_clean(format_value(0)))
    if description:
        desc = f"{_clean(description)} {desc}"
    height = PLOT_TOP + 64
    out = _open(WIDTH, height, title, desc, [], [], ids, orientation)
    out.append(_text(str(NO_DATA), WIDTH / 2, PLOT_TOP + 32, anchor="middle", fill=TICK_FILL, cls="no-data"))
    out.append("</svg>")
    return _markup(out)


def _text(
    text: str,
    x: float,
    y: float,
    *,
    anchor: str = "start",
    fill: str = TEXT_FILL,
    size: int | None = None,
    bold: bool = False,
    cls: str = "",
) -> str:
    attrs = f'class="{cls}" ' if cls else ""
    attrs += f'x="{_num(x)}" y="{_num(y)}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if size is not None:
        attrs += f' font-size="{size}"'
    if bold:
        attrs += ' font-weight="bold"'
    return f"<text {attrs}>{escape(text)}</text>"


def _label(label: str, x: float, y: float, max_width: float, anchor: str) -> str:
    """A category label, cut short to ``max_width`` if need be, the full label as tooltip."""
    full = _clean(label)
    shown = _truncate(full, max_width)
    text = _text(shown, x, y, anchor=anchor, cls="label")
    if shown == full:
        return text
    return f"<g><title>{escape(full)}</title>{text}</g>"


def _bar(x: float, y: float, w: float, h: float, value: int, tooltip: str) -> str:
    fill = NEGATIVE_FILL if value < 0 else BAR_FILL
    kind = "bar bar-negative" if value < 0 else "bar"
    return (
        f'<rect class="{kind}" x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}"'
        f' fill="{fill}"><title>{escape(_clean(tooltip))}</title></rect>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, cls: str) -> str:
    return (
        f'<line class="{cls}" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"'
        f' stroke="{stroke}" stroke-width="1"/>'
    )


def _markup(parts: list[str]) -> Markup:
    # Every piece of text in ``parts`` went through ``escape``; the rest is our own constants
    # and numbers.
    return Markup("".join(parts))  # noqa: S704
