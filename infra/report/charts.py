"""Inline SVG line charts, drawn in Python: the report needs no script, no CDN, no network.

One drawing routine serves the cost-versus-traffic charts (with break-even points), the
capacity steps (step lines) and the serverless cold starts (a logarithmic traffic axis). Each
target keeps its colour, dash pattern and marker shape (`infra.report.labels`), is labelled at
its line's end, and every chart ends with a line saying where its numbers came from. Bars for
one measured figure across targets are in `infra.report.bars`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from infra.report.labels import Box, around, marker, place, spread, style, text_width

FONT = "font-family='DejaVu Sans, Arial, sans-serif'"
LABEL = 11  # font size of line and point labels
HALO = "stroke='#fff' stroke-width='3' paint-order='stroke'"  # keeps text legible over lines
Points = Sequence[tuple[float, float]]


def color(name: str) -> str:
    return style(name).color


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 x 10^k) giving about `ticks` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def short_count(n: float) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1_000_000_000:g}B"
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return f"{n:g}"


def short_money(usd: float) -> str:
    return f"${usd:,.0f}" if usd >= 10 else f"${usd:,.2f}".rstrip("0").rstrip(".")


def wrap(text: str, chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def caption(text: str, x: float, y: float, width: float) -> tuple[str, float]:
    """`text` wrapped under a chart (class `source`); the SVG and the height it takes."""
    lines = wrap(text, int(width / (10 * 0.6)))
    parts = [
        f"<text class='source' x='{x}' y='{y + 13 * (i + 1):.0f}' font-size='10' fill='#555'>"
        f"{escape(line)}</text>"
        for i, line in enumerate(lines)
    ]
    return "".join(parts), 13 * len(lines) + 4


@dataclass(frozen=True)
class Point:
    """A marked point (a break-even): where, its short label, and the full text on hover."""

    x: float
    y: float
    label: str
    title: str


@dataclass(frozen=True)
class Axes:
    x_max: float
    y_max: float
    x_label: str
    y_format: Callable[[float], str]
    x_min: float = 0.0
    x_log: bool = False
    step: bool = False  # draw each series as a step line (a count that jumps)


def _ticks(axes: Axes) -> tuple[list[float], list[float]]:
    if axes.x_log:
        first, last = math.ceil(math.log10(axes.x_min)), math.floor(math.log10(axes.x_max))
        xs = [10.0**e for e in range(first, last + 1)]
    else:
        x_step = nice_step(axes.x_max)
        xs = [i * x_step for i in range(int(axes.x_max / x_step + 1e-9) + 1)]
    y_step = nice_step(axes.y_max)
    if axes.step:
        y_step = max(1.0, round(y_step))
    ys = [i * y_step for i in range(int(axes.y_max / y_step + 1e-9) + 1)]
    return xs, ys


def line_chart(
    series: Mapping[str, Points],
    axes: Axes,
    *,
    title: str,
    source: str,
    points: Sequence[Point] = (),
    end_labels: Mapping[str, str] | None = None,
    css: str = "line-chart",
    width: int = 1000,
    height: int = 360,
) -> str:
    """Each series a line in its target's style, labelled at its end (`end_labels`, else
    its name), with `points` marked and labelled clear of each other."""
    left, right, top, bottom = 64, 170, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    y_top = axes.y_max * 1.05 if axes.step else axes.y_max
    lo = math.log10(axes.x_min) if axes.x_log else 0.0
    hi = math.log10(axes.x_max) if axes.x_log else axes.x_max

    def px(x: float) -> float:
        at = math.log10(max(x, axes.x_min)) if axes.x_log else x
        return left + plot_w * (at - lo) / (hi - lo)

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_top)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart {css}' role='img' "
        f"viewBox='0 0 {width} HEIGHT' width='{width}' height='HEIGHT' {FONT}>",
        f"<title>{escape(title)}</title>",
        f"<text class='title' x='{left}' y='20' font-size='14' font-weight='bold'>"
        f"{escape(title)}</text>",
    ]
    xs, ys = _ticks(axes)
    for y in ys:
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{py(y):.1f}' y2='{py(y):.1f}' "
            f"stroke='#e3e3e3'/><text class='tick' x='{left - 6}' y='{py(y) + 4:.1f}' "
            f"font-size='11' text-anchor='end'>{escape(axes.y_format(y))}</text>"
        )
    for x in xs:
        parts.append(
            f"<line x1='{px(x):.1f}' x2='{px(x):.1f}' y1='{top + plot_h}' y2='{top + plot_h + 4}' "
            f"stroke='#888'/><text class='tick' x='{px(x):.1f}' y='{top + plot_h + 17}' "
            f"font-size='11' text-anchor='middle'>{short_count(x)}</text>"
        )
    parts.append(
        f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' "
        f"stroke='#888'/><text class='axis' x='{left + plot_w / 2:.0f}' y='{height - 6}' "
        f"font-size='12' text-anchor='middle'>{escape(axes.x_label)}</text>"
    )
    ends: dict[str, tuple[float, float]] = {}
    for index, (name, pts) in enumerate(series.items()):
        shown = [(x, y) for x, y in pts if axes.x_min <= x <= axes.x_max]
        if not shown:
            continue
        nudge = (index - (len(series) - 1) / 2) * 3 if axes.step else 0.0  # coincident steps
        coords = [(px(x), py(y) + nudge) for x, y in shown]
        if axes.step:
            stepped = [coords[0]]
            for cx, cy in coords[1:]:
                stepped += [(cx, stepped[-1][1]), (cx, cy)]
            coords = [*stepped, (left + plot_w, stepped[-1][1])]
        parts.append(_series(name, coords))
        ends[name] = coords[-1]
    parts.extend(_end_labels(ends, end_labels or {}, left + plot_w, top, top + plot_h))
    visible = [(p, px(p.x), py(p.y)) for p in points if axes.x_min <= p.x <= axes.x_max]
    taken = [Box(x - 6, y - 6, 12, 12) for _, x, y in visible]  # every circle first
    bounds = Box(left, top, plot_w, plot_h)
    for point, x, y in sorted(visible, key=lambda v: v[1]):
        parts.append(_point(point, x, y, taken, bounds, top, plot_h))
    text, extra = caption(source, left, height, width - left)
    parts.append(text)
    parts.append("</svg>")
    return "".join(parts).replace("HEIGHT", f"{height + extra:.0f}")


def _series(name: str, coords: Sequence[tuple[float, float]]) -> str:
    look = style(name)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dash = "" if look.dash == "none" else f" stroke-dasharray='{look.dash}'"
    every = max(1, len(coords) // 8)
    marks = "".join(marker(look.marker, x, y, look.color) for x, y in coords[every // 2 :: every])
    return (
        f"<g class='series' data-target='{escape(name)}' data-dash='{look.dash}' "
        f"data-marker='{look.marker}'><polyline points='{path}' fill='none' "
        f"stroke='{look.color}' stroke-width='2.5'{dash}/>{marks}</g>"
    )


def _end_labels(
    ends: Mapping[str, tuple[float, float]],
    texts: Mapping[str, str],
    right: float,
    top: float,
    bottom: float,
) -> list[str]:
    """Each line's name at its end, moved apart vertically (with a leader where moved)."""
    names = list(ends)
    gap = LABEL * 1.25 + 3
    centres = spread([ends[n][1] for n in names], gap, top + 6, bottom)
    parts = []
    for name, y in zip(names, centres, strict=True):
        ex, ey = ends[name]
        look = style(name)
        parts.append(
            f"<line x1='{ex:.1f}' y1='{ey:.1f}' x2='{right + 8:.1f}' y2='{y:.1f}' "
            f"stroke='{look.color}' stroke-width='1'/>"
            f"{marker(look.marker, right + 14, y, look.color, 4)}"
            f"<text class='label line-label' x='{right + 22:.1f}' y='{y + LABEL * 0.35:.1f}' "
            f"font-size='{LABEL}' fill='#111' {HALO}>{escape(texts.get(name, name))}</text>"
        )
    return parts


def _point(
    point: Point, x: float, y: float, taken: list[Box], bounds: Box, top: float, plot_h: float
) -> str:
    w, h = text_width(point.label, LABEL), LABEL * 1.25
    box = place(around(x, y, w, h), taken, bounds)
    return (
        f"<g class='break-even'><line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' "
        f"y2='{top + plot_h}' stroke='#999' stroke-dasharray='2 4'/>"
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='5' fill='#fff' stroke='#222' "
        f"stroke-width='1.5'/><title>{escape(point.title)}</title>"
        f"<text class='label point-label' x='{box.x:.1f}' y='{box.y + LABEL * 0.95:.1f}' "
        f"font-size='{LABEL}' font-weight='bold' {HALO}>{escape(point.label)}</text></g>"
    )
