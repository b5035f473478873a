"""Horizontal bars for one figure across targets, drawn as inline SVG.

A missing figure is drawn as the words "not measured", never as a zero-length bar; each bar
is in its target's colour and carries its value as text, and the chart ends with where the
figures came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from infra.report.charts import FONT, caption, color


def bar_chart(
    title: str,
    unit: str,
    values: Sequence[tuple[str, float | None]],
    *,
    better: str,
    source: str,
) -> str:
    """One figure across targets; `None` is drawn as "not measured"."""
    width, row, left, top = 330, 24, 90, 24
    height = top + row * len(values) + 4
    plot_w = width - left - 80
    peak = max((v for _, v in values if v is not None), default=0.0) or 1.0
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart bar-chart' role='img' "
        f"viewBox='0 0 {width} HEIGHT' width='{width}' height='HEIGHT' {FONT}>",
        f"<title>{escape(title)}</title>",
        f"<text class='title' x='4' y='16' font-size='13' font-weight='bold'>"
        f"{escape(title)}</text>",
    ]
    for index, (name, value) in enumerate(values):
        y = top + index * row
        parts.append(
            f"<text class='label' x='{left - 6}' y='{y + 15}' font-size='12' "
            f"text-anchor='end'>{escape(name)}</text>"
        )
        if value is None:
            parts.append(
                f"<text class='label' x='{left + 4}' y='{y + 15}' font-size='11' fill='#777' "
                "font-style='italic'>not measured</text>"
            )
            continue
        bar = max(1.0, plot_w * value / peak)
        parts.append(
            f"<rect class='bar' x='{left}' y='{y + 3}' width='{bar:.1f}' height='{row - 8}' "
            f"fill='{color(name)}'/>"
            f"<text class='label' x='{left + bar + 4:.1f}' y='{y + 15}' font-size='11'>"
            f"{escape(_figure(value))} {escape(unit)}</text>"
        )
    text, extra = caption(f"{better} is better. {source}", 4, height, width - 8)
    parts.append(text + "</svg>")
    return "".join(parts).replace("HEIGHT", f"{height + extra:.0f}")


def _figure(value: float) -> str:
    if value >= 100 or value.is_integer():
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
