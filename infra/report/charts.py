"""Inline SVG charts, drawn in Python: the report needs no script, no CDN, no network.

Two kinds: cost-versus-traffic lines with break-even markers, and horizontal bars for one
measured figure across targets (a missing figure is drawn as the words "not measured", never
as a zero-length bar).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

COLORS = {
    "vps": "#1f6fb4",
    "paas": "#e07b00",
    "k8s": "#2a9d4a",
    "serverless": "#8e44ad",
    "local": "#7a7a7a",
}
FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


def color(name: str) -> str:
    return COLORS.get(name, "#444444")


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
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return f"{n:g}"


def short_money(usd: float) -> str:
    return f"${usd:,.0f}" if usd >= 10 else f"${usd:,.2f}".rstrip("0").rstrip(".")


def cost_chart(
    series: Mapping[str, Sequence[tuple[int, float]]],
    markers: Sequence[tuple[float, float, str]],
    *,
    x_max: int,
    title: str,
    width: int = 1000,
    height: int = 360,
) -> str:
    """Monthly cost (y) against requests a month (x) for each target, with break-evens."""
    left, right, top, bottom = 64, 130, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    visible = {n: [(x, y) for x, y in pts if x <= x_max] for n, pts in series.items()}
    y_top = max((y for pts in visible.values() for _, y in pts), default=1.0) or 1.0
    y_step = nice_step(y_top)
    y_max = math.ceil(y_top / y_step) * y_step

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_max)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart cost-chart' role='img' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' {FONT}>",
        f"<title>{escape(title)}</title>",
        f"<text x='{left}' y='20' font-size='14' font-weight='bold'>{escape(title)}</text>",
    ]
    y = 0.0
    while y <= y_max + 1e-9:
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{py(y):.1f}' y2='{py(y):.1f}' "
            "stroke='#e3e3e3'/>"
            f"<text x='{left - 6}' y='{py(y) + 4:.1f}' font-size='11' text-anchor='end'>"
            f"{escape(short_money(y))}</text>"
        )
        y += y_step
    x_step = nice_step(x_max)
    x = 0.0
    while x <= x_max + 1e-9:
        parts.append(
            f"<line x1='{px(x):.1f}' x2='{px(x):.1f}' y1='{top + plot_h}' y2='{top + plot_h + 4}' "
            "stroke='#888'/>"
            f"<text x='{px(x):.1f}' y='{top + plot_h + 17}' font-size='11' text-anchor='middle'>"
            f"{short_count(x)}</text>"
        )
        x += x_step
    parts.append(
        f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' "
        "stroke='#888'/>"
        f"<text x='{left + plot_w / 2:.0f}' y='{height - 6}' font-size='12' text-anchor='middle'>"
        "requests per month</text>"
    )
    for index, (name, pts) in enumerate(visible.items()):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(
            f"<polyline class='series' data-target='{escape(name)}' points='{path}' fill='none' "
            f"stroke='{color(name)}' stroke-width='2.5'/>"
        )
        ly = top + 14 + index * 20
        parts.append(
            f"<line x1='{left + plot_w + 14}' x2='{left + plot_w + 34}' y1='{ly - 4}' "
            f"y2='{ly - 4}' stroke='{color(name)}' stroke-width='3'/>"
            f"<text x='{left + plot_w + 40}' y='{ly}' font-size='12'>{escape(name)}</text>"
        )
    last_x, lift = -1e9, 0
    for mx, my, label in sorted(markers):
        if mx > x_max:
            continue
        # Labels of neighbouring break-evens would overprint: step them down in turn.
        lift = lift + 1 if px(mx) - last_x < 48 else 0
        last_x = px(mx)
        parts.append(
            f"<g class='break-even'><line x1='{px(mx):.1f}' x2='{px(mx):.1f}' y1='{top}' "
            f"y2='{top + plot_h}' stroke='#555' stroke-dasharray='3 3'/>"
            f"<circle cx='{px(mx):.1f}' cy='{py(my):.1f}' r='5' fill='#fff' stroke='#222' "
            f"stroke-width='1.5'/><title>{escape(label)}</title>"
            f"<text x='{px(mx) + 6:.1f}' y='{py(my) - 8 + 13 * lift:.1f}' font-size='10' "
            f"font-weight='bold'>{escape(short_count(float(f'{mx:.3g}')))}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str, unit: str, values: Sequence[tuple[str, float | None]], *, better: str
) -> str:
    """One measured figure across targets; `None` is drawn as "not measured"."""
    width, row, left, top = 330, 24, 90, 30
    height = top + row * len(values) + 10
    plot_w = width - left - 70
    peak = max((v for _, v in values if v is not None), default=0.0) or 1.0
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart bar-chart' role='img' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' {FONT}>",
        f"<title>{escape(title)}</title>",
        f"<text x='4' y='16' font-size='13' font-weight='bold'>{escape(title)}</text>",
        f"<text x='{width - 4}' y='16' font-size='10' text-anchor='end' fill='#666'>"
        f"{escape(better)} is better</text>",
    ]
    for index, (name, value) in enumerate(values):
        y = top + index * row
        parts.append(
            f"<text x='{left - 6}' y='{y + 15}' font-size='12' text-anchor='end'>"
            f"{escape(name)}</text>"
        )
        if value is None:
            parts.append(
                f"<text x='{left + 4}' y='{y + 15}' font-size='11' fill='#999' "
                "font-style='italic'>not measured</text>"
            )
            continue
        bar = max(1.0, plot_w * value / peak)
        parts.append(
            f"<rect class='bar' x='{left}' y='{y + 3}' width='{bar:.1f}' height='{row - 8}' "
            f"fill='{color(name)}'/>"
            f"<text x='{left + bar + 4:.1f}' y='{y + 15}' font-size='11'>"
            f"{escape(_figure(value))} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
