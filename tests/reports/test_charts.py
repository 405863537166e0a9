"""The SVG bar charts: plain functions, no app or database.

Every chart is parsed with ElementTree, so each test also shows the output is well-formed
XML; geometry is read back from the parsed attributes.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from tracker.reports.charts import bar_chart, hbar_chart

NS = "{http://www.w3.org/2000/svg}"
CHARTS = [bar_chart, hbar_chart]
MONTHS = ["Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"]
HOSTILE = "<script>alert('x')</script> & \"Co\" <img src=x onerror=alert(1)>"


def plain(v: int) -> str:
    """Integers with thousands separators, easy to read back."""
    return f"{v:,}"


def euro(v: int) -> str:
    return f"€{v / 100:,.2f}" if v >= 0 else f"−€{-v / 100:,.2f}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314  (our own output)
    assert root.tag == f"{NS}svg"
    return root


def rects(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{NS}rect"))


def geometry(rect: ET.Element) -> tuple[float, float, float, float]:
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if cls in (e.get("class") or "").split()]


def baseline(root: ET.Element) -> ET.Element:
    (line,) = by_class(root, "line", "baseline")
    return line


def tooltip(element: ET.Element) -> str:
    title = element.find(f"{NS}title")
    assert title is not None
    return title.text or ""


def all_text(root: ET.Element) -> str:
    return "".join(root.itertext())


def view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(n) for n in root.get("viewBox").split())
    return x, y, w, h


def tick_values(root: ET.Element) -> list[int]:
    """Tick labels read back (charts drawn with ``plain``)."""
    return [int(t.text.replace(",", "")) for t in by_class(root, "text", "tick")]


# --- structure and accessibility ----------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
def test_accessible_scalable_svg(chart: Callable[..., Markup]):
    svg = chart("Net gifts, FY 2024", [("Sep", 1200), ("Oct", 800)], format_value=euro,
                description="Gifts less refunds, per month.")
    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("height") is None  # the viewBox gives the proportions
    assert len(view_box(root)) == 4 and all(v > 0 for v in view_box(root)[2:])

    title = root.find(f"{NS}title")
    desc = root.find(f"{NS}desc")
    assert title is not None and desc is not None
    assert title.text == "Net gifts, FY 2024"
    assert desc.text == "Gifts less refunds, per month."
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    assert list(root)[:2] == [title, desc]  # first children, as SVG wants them


@pytest.mark.parametrize("chart", CHARTS)
def test_description_defaults_to_the_data(chart: Callable[..., Markup]):
    """A screen reader does not look inside role="img": without a description, the desc
    lists every label and value."""
    root = parse(chart("By channel", [("Card", 150_000), ("Bank transfer", -2_550)], format_value=euro))
    desc = root.find(f"{NS}desc").text
    assert "Card: €1,500.00" in desc
    assert "Bank transfer: −€25.50" in desc


@pytest.mark.parametrize("chart", CHARTS)
def test_nothing_a_strict_csp_would_block(chart: Callable[..., Markup]):
    svg = chart(HOSTILE, [(HOSTILE, 5), ("b", -3)], format_value=plain, description=HOSTILE)
    root = parse(svg)
    for element in root.iter():
        assert element.tag != f"{NS}script"
        assert element.tag not in (f"{NS}style", f"{NS}foreignObject", f"{NS}a", f"{NS}image")
        for name in element.attrib:
            assert name != "style"
            assert not name.lower().startswith("on")
            assert "href" not in name
    assert "@import" not in svg and "url(" not in svg and "font-face" not in svg


@pytest.mark.parametrize("chart", CHARTS)
def test_ids_are_unique_between_charts(chart: Callable[..., Markup]):
    """Even two charts with the same title and data on one page."""
    roots = [parse(c("Same", [("a", 1)], format_value=plain)) for c in (chart, chart, bar_chart, hbar_chart)]
    ids = [e.get("id") for root in roots for e in root.iter() if e.get("id")]
    assert len(ids) == 8
    assert len(set(ids)) == len(ids)
    for root in roots:
        for ref in ("aria-labelledby", "aria-describedby"):
            assert re.fullmatch(r"[A-Za-z][\w-]*", root.get(ref))
            assert root.find(f".//*[@id='{root.get(ref)}']") is not None


@pytest.mark.parametrize("chart", CHARTS)
def test_renders_inline_in_an_autoescaping_template(chart: Callable[..., Markup]):
    env = jinja2.Environment(autoescape=True)  # as Flask's, for .html templates
    html = env.from_string("<figure>{{ chart }}</figure>").render(
        chart=chart("T & U", [("<b>", 1)], format_value=plain)
    )
    assert html.startswith('<figure><svg xmlns="http://www.w3.org/2000/svg"')
    assert "&amp;lt;" not in html  # not escaped twice
    parse(html.removeprefix("<figure>").removesuffix("</figure>"))


@pytest.mark.parametrize("chart", CHARTS)
def test_colours(chart: Callable[..., Markup]):
    root = parse(chart("t", [("up", 10), ("down", -4)], format_value=plain))
    up, down = rects(root)
    assert up.get("fill") == "#1e6fb8"
    assert down.get("fill") == "#a33a1c"
    assert baseline(root).get("stroke") == "#666"


# --- bars ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("count", [1, 2, 12, 30])
def test_one_rect_per_bar_with_its_tooltip(chart: Callable[..., Markup], count: int):
    bars = [(f"Label {i}", (i + 1) * 1000 * (-1) ** i) for i in range(count)]
    root = parse(chart("t", bars, format_value=plain))
    found = rects(root)
    assert len(found) == count
    assert [tooltip(r) for r in found] == [f"{label}: {value:,}" for label, value in bars]


def test_bar_heights_are_proportional_and_negative_bars_hang_below_zero():
    values = [1200, 3000, 600, -900, 0, 2400, 1, 0, 300, 1500, 450, 2999]
    root = parse(bar_chart("Net gifts", list(zip(MONTHS, values, strict=True)), format_value=euro))
    found = rects(root)
    zero = float(baseline(root).get("y1"))
    assert float(baseline(root).get("y2")) == zero

    heights = [geometry(r)[3] for r in found]
    tallest = max(range(len(values)), key=lambda i: abs(values[i]))
    assert max(range(len(heights)), key=heights.__getitem__) == tallest
    scale = heights[tallest] / abs(values[tallest])
    for value, height in zip(values, heights, strict=True):
        assert height == pytest.approx(abs(value) * scale, abs=0.02)

    for value, rect in zip(values, found, strict=True):
        _, y, _, h = geometry(rect)
        if value > 0:
            assert y + h == pytest.approx(zero, abs=0.01)  # stands on the baseline
            assert y < zero
        elif value < 0:
            assert y == pytest.approx(zero, abs=0.01)  # hangs from it
            assert y + h > zero
            assert "bar-negative" in rect.get("class")

    xs = [geometry(r)[0] for r in found]
    assert xs == sorted(xs)  # in the order given, left to right
    widths = {geometry(r)[2] for r in found}
    assert len(widths) == 1


def test_horizontal_bar_lengths_are_proportional_and_negative_bars_go_left_of_zero():
    bars = [("Card", 50_000), ("Bank transfer", 125_000), ("Cash", -20_000), ("Cheque", 0)]
    root = parse(hbar_chart("By channel", bars, format_value=euro))
    found = rects(root)
    zero = float(baseline(root).get("x1"))
    widths = [geometry(r)[2] for r in found]
    assert widths.index(max(widths)) == 1
    scale = widths[1] / 125_000
    for (_, value), rect in zip(bars, found, strict=True):
        x, _, w, _ = geometry(rect)
        assert w == pytest.approx(abs(value) * scale, abs=0.02)
        if value > 0:
            assert x == pytest.approx(zero, abs=0.01)
        elif value < 0:
            assert x + w == pytest.approx(zero, abs=0.01)
            assert x < zero
    ys = [geometry(r)[1] for r in found]
    assert ys == sorted(ys)  # in the order given, top to bottom
    assert [t.text for t in by_class(root, "text", "value")] == ["€500.00", "€1,250.00", "−€200.00", "€0.00"]


@pytest.mark.parametrize("chart", CHARTS)
def test_only_negative_values(chart: Callable[..., Markup]):
    root = parse(chart("Refunds", [("a", -10), ("b", -25)], format_value=plain))
    ticks = tick_values(root)
    assert max(ticks) == 0 and min(ticks) <= -25
    assert all("bar-negative" in r.get("class") for r in rects(root))


# --- scale --------------------------------------------------------------------------------


def assert_nice_axis(root: ET.Element, values: list[int]) -> None:
    ticks = tick_values(root)
    assert 3 <= len(ticks) <= 5
    assert 0 in ticks
    steps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    (step,) = steps
    assert re.fullmatch(r"[125]0*", str(step)), step
    # the ticks reach the data, but for at most half a step beyond zero on the small side
    assert max(ticks) >= max(values) or max(values) * 2 < step
    assert min(ticks) <= min(values) or -min(values) * 2 < step
    # and no further than the step that reaches them, unless to make up three ticks (max of 1)
    if len(ticks) > 3:
        assert max(ticks) < max(max(values), 0) + step and min(ticks) > min(min(values), 0) - step


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize(
    "values",
    [[1], [2], [7], [100], [101], [-1], [1, -1], [-5, 100], [-100, 3], [999_999, 12], [3, 5, 9]],
)
def test_three_to_five_round_ticks(chart: Callable[..., Markup], values: list[int]):
    root = parse(chart("t", [(str(v), v) for v in values], format_value=plain))
    assert_nice_axis(root, values)


def test_ticks_are_placed_on_the_same_scale_as_the_bars():
    values = [700, -150, 1000]
    root = parse(bar_chart("t", [("a", 700), ("b", -150), ("c", 1000)], format_value=plain))
    zero = float(baseline(root).get("y1"))
    per_unit = geometry(rects(root)[2])[3] / 1000
    for tick in by_class(root, "text", "tick"):
        value = int(tick.text.replace(",", ""))
        assert float(tick.get("y")) - 4 == pytest.approx(zero - value * per_unit, abs=0.02)
    assert_nice_axis(root, values)


@pytest.mark.parametrize("chart", CHARTS)
def test_huge_values_are_placed_exactly(chart: Callable[..., Markup]):
    """10**15 minor units (and more): integers all the way, nothing overflows or drifts."""
    values = [10**15, 10**15 // 2, -(10**15), 1, 10**15 - 1]
    root = parse(chart("Big", [(str(i), v) for i, v in enumerate(values)], format_value=plain))
    found = rects(root)
    size = 3 if chart is bar_chart else 2  # the bar's length: height or width
    lengths = [geometry(r)[size] for r in found]
    assert lengths[0] == pytest.approx(2 * lengths[1], abs=0.02)
    assert lengths[2] == pytest.approx(lengths[0], abs=0.02)
    assert lengths[3] == 0  # 1 in 10**15 is nothing to see
    assert lengths[4] == pytest.approx(lengths[0], abs=0.02)
    assert_nice_axis(root, values)
    assert tick_values(root) == [-(10**15), -(5 * 10**14), 0, 5 * 10**14, 10**15]
    _, _, width, height = view_box(root)
    for rect in found:
        x, y, w, h = geometry(rect)
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        assert all(math.isfinite(v) for v in (x, y, w, h))

    beyond = parse(chart("Bigger", [("a", 3 * 10**18 + 7), ("b", 10**18)], format_value=plain))
    a, b = (geometry(r)[size] for r in rects(beyond))
    assert a == pytest.approx(3 * b, abs=0.02)


@settings(deadline=None, max_examples=60)
@given(
    values=st.lists(st.integers(min_value=-(10**15), max_value=10**15), min_size=1, max_size=30),
    horizontal=st.booleans(),
)
def test_any_series_is_drawn_inside_the_chart(values: list[int], horizontal: bool):
    chart = hbar_chart if horizontal else bar_chart
    root = parse(chart("t", [(f"case {i}", v) for i, v in enumerate(values)], format_value=plain))
    if all(v == 0 for v in values):
        assert rects(root) == []
        return
    found = rects(root)
    assert len(found) == len(values)
    _, _, width, height = view_box(root)
    size = 2 if horizontal else 3
    longest = max(range(len(values)), key=lambda i: abs(values[i]))
    lengths = [geometry(r)[size] for r in found]
    assert lengths[longest] == max(lengths) > 0
    for value, rect, length in zip(values, found, lengths, strict=True):
        x, y, w, h = geometry(rect)
        assert x >= -0.01 and y >= -0.01 and x + w <= width + 0.01 and y + h <= height + 0.01
        assert length == pytest.approx(abs(value) * lengths[longest] / abs(values[longest]), abs=0.02)
    assert_nice_axis(root, values)


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
def test_hostile_text_is_escaped(chart: Callable[..., Markup]):
    def shouting(v: int) -> str:
        return f"<b>{v}</b> & co"

    svg = chart(HOSTILE, [(HOSTILE, 5), ("AT&T", 3)], format_value=shouting, description=HOSTILE)
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    assert "AT&amp;T" in svg
    root = parse(svg)
    assert root.find(f"{NS}title").text == HOSTILE
    assert root.find(f"{NS}desc").text == HOSTILE
    first, second = rects(root)
    assert tooltip(first) == f"{HOSTILE}: <b>5</b> & co"
    assert tooltip(second) == "AT&T: <b>3</b> & co"
    assert HOSTILE in all_text(root)  # shown as text, whole in a tooltip at least


@pytest.mark.parametrize("chart", CHARTS)
def test_markup_is_shown_as_its_text_not_escaped_twice(chart: Callable[..., Markup]):
    """A label or formatted value that is already Markup (a Jinja filter's) is its text."""
    root = parse(chart(Markup("Tom &amp; Jerry"), [(Markup("R&amp;D"), 4)],
                       format_value=lambda v: Markup(f"{v}&nbsp;€")))  # noqa: S704  (a constant)
    assert root.find(f"{NS}title").text == "Tom & Jerry"
    assert tooltip(rects(root)[0]) == "R&D: 4\xa0€"


@pytest.mark.parametrize("chart", CHARTS)
def test_characters_xml_cannot_hold_are_dropped(chart: Callable[..., Markup]):
    label = "Boat\x00 \x1b[31m\ufffe rescue\x0b"
    root = parse(chart("t\x07", [(label, 1)], format_value=plain))
    assert tooltip(rects(root)[0]) == "Boat [31m rescue: 1"


def test_long_horizontal_labels_are_cut_short_with_the_full_label_as_tooltip():
    long = "Evacuation of 14 families from the flooded lower district of Port Harcourt, second phase"
    bars = [(long, 40_000), ("Short", 10_000)] + [(f"Case {i}", i * 1000) for i in range(28)]
    root = parse(hbar_chart("By case", bars, format_value=euro))
    labels = by_class(root, "text", "label")
    assert len(labels) == 30
    shown = labels[0].text
    assert shown.endswith("…") and long.startswith(shown[:-1].rstrip())
    assert len(shown) < len(long)
    group = next(g for g in root.iter(f"{NS}g") if labels[0] in list(g))
    assert tooltip(group) == long
    assert labels[1].text == "Short"  # short labels are left alone, with no extra tooltip
    assert not any(labels[1] in list(g) for g in root.iter(f"{NS}g"))
    assert tooltip(rects(root)[0]) == f"{long}: €400.00"


def test_wide_characters_count_as_wide_when_cutting_labels():
    japanese = "洪水で孤立した家族の避難支援と仮設住宅の提供を行う長期プロジェクト"
    root = parse(hbar_chart("t", [(japanese, 1), ("latin\n  " * 4, 2)], format_value=plain))
    cut, latin = by_class(root, "text", "label")
    assert cut.text.endswith("…")
    assert len(cut.text) < 25  # as many Latin letters would fit
    assert latin.text == "latin latin latin latin"  # white space runs collapse


def test_vertical_labels_are_cut_to_their_column():
    bars = [(f"{m} — a month with a very long name", i) for i, m in enumerate(MONTHS, 1)]
    root = parse(bar_chart("t", bars, format_value=plain))
    labels = by_class(root, "text", "label")
    assert len(labels) == 12
    assert all(t.text.endswith("…") and len(t.text) <= 8 for t in labels)
    xs = [float(t.get("x")) for t in labels]
    assert min(b - a for a, b in zip(xs, xs[1:], strict=False)) > 0


# --- no data ------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("bars", [[], [("Sep", 0)], [(m, 0) for m in MONTHS]])
def test_empty_or_zero_series_says_no_data(chart: Callable[..., Markup], bars: list[tuple[str, int]]):
    root = parse(chart("Net gifts", bars, format_value=euro, description="Per month."))
    assert rects(root) == []
    assert [t.text for t in by_class(root, "text", "no-data")] == ["No data"]
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "Net gifts"
    desc = root.find(f"{NS}desc").text
    assert desc.startswith("Per month. No data")
    if bars:
        assert "€0.00" in desc
    assert all(float(v) > 0 for v in root.get("viewBox").split()[2:])


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("value", [1.5, "3", None, True])
def test_values_must_be_integers(chart: Callable[..., Markup], value: object):
    with pytest.raises(TypeError):
        chart("t", [("a", value)], format_value=plain)
