"""Where a chart's text goes so that no two labels overprint, and how each target is drawn.

Every label is given a box before it is drawn: its width estimated from the characters at the
font size (DejaVu Sans averages about 0.6 em a character; the estimate errs wide), its height
the font size. Line-end labels are spread apart vertically (`spread`); a break-even label tries
positions around its point in turn and takes the first whose box meets no box already placed
(`place`). The headless-Chromium test measures the rendered boxes and checks the result.

Each target has a colour from the Okabe-Ito palette (told apart with the common colour-vision
deficiencies), and a dash pattern and marker shape of its own, so the lines also read in black
and white.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CHAR_EM = 0.62


@dataclass(frozen=True)
class Style:
    color: str
    dash: str  # SVG stroke-dasharray; "none" draws a solid line
    marker: str  # circle, square, triangle, diamond


STYLES = {
    "vps": Style("#0072B2", "none", "circle"),
    "paas": Style("#E69F00", "9 4", "square"),
    "k8s": Style("#009E73", "2 3", "triangle"),
    "serverless": Style("#CC79A7", "12 4 3 4", "diamond"),
    "local": Style("#555555", "none", "circle"),
}
OTHER = Style("#444444", "4 2", "circle")


def style(name: str) -> Style:
    return STYLES.get(name.split(" ", 1)[0], OTHER)


def marker(shape: str, x: float, y: float, color: str, size: float = 4.5) -> str:
    """One marker of `shape` centred on (x, y), white-filled so it reads over grid lines."""
    common = f"fill='#fff' stroke='{color}' stroke-width='2'"
    if shape == "square":
        side = 2 * size
        return (
            f"<rect x='{x - size:.1f}' y='{y - size:.1f}' width='{side}' height='{side}' {common}/>"
        )
    if shape == "triangle":
        s = size + 1
        pts = f"{x:.1f},{y - s:.1f} {x + s:.1f},{y + size:.1f} {x - s:.1f},{y + size:.1f}"
        return f"<polygon points='{pts}' {common}/>"
    if shape == "diamond":
        s = size + 1.5
        pts = f"{x:.1f},{y - s:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s:.1f} {x - s:.1f},{y:.1f}"
        return f"<polygon points='{pts}' {common}/>"
    return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{size}' {common}/>"


@dataclass(frozen=True)
class Box:
    """A label's extent: left, top, width, height, in the chart's pixels."""

    x: float
    y: float
    w: float
    h: float

    def meets(self, other: Box, pad: float = 2.0) -> bool:
        return not (
            self.x + self.w + pad <= other.x
            or other.x + other.w + pad <= self.x
            or self.y + self.h + pad <= other.y
            or other.y + other.h + pad <= self.y
        )

    def inside(self, outer: Box) -> bool:
        return (
            self.x >= outer.x
            and self.y >= outer.y
            and self.x + self.w <= outer.x + outer.w
            and self.y + self.h <= outer.y + outer.h
        )


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_EM


def spread(wanted: Sequence[float], gap: float, low: float, high: float) -> list[float]:
    """Centres as near `wanted` as they can be, at least `gap` apart, within [low, high]
    (one pass down pushing apart, one pass up pulling back inside), in the input's order."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed = [max(low, min(high, wanted[i])) for i in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + gap)
    if placed and placed[-1] > high:
        placed[-1] = high
        for k in range(len(placed) - 2, -1, -1):
            placed[k] = min(placed[k], placed[k + 1] - gap)
    result = [0.0] * len(wanted)
    for k, i in enumerate(order):
        result[i] = placed[k]
    return result


def place(candidates: Sequence[Box], taken: list[Box], bounds: Box) -> Box:
    """The first candidate inside `bounds` that meets nothing in `taken` (then taken too);
    when every one meets something, the last, below the rest (`bounds` should leave room)."""
    for box in candidates:
        if box.inside(bounds) and not any(box.meets(t) for t in taken):
            taken.append(box)
            return box
    fallback = candidates[-1]
    lowest = max((t.y + t.h for t in taken), default=fallback.y)
    box = Box(fallback.x, lowest + 3, fallback.w, fallback.h)
    taken.append(box)
    return box


def around(x: float, y: float, w: float, h: float, rows: int = 6) -> list[Box]:
    """Positions for a label of w x h near the point (x, y): beside it first, then stepping
    further above and below."""
    found: list[Box] = []
    for step in range(rows):
        lift = 10 + step * (h + 3)
        for dx in (7.0, -7.0 - w):
            found.append(Box(x + dx, y - lift - h, w, h))
            found.append(Box(x + dx, y + lift - 2, w, h))
    return found
