"""`shipways report`: the comparison as one self-contained HTML page.

Everything is inline (CSS, SVG charts drawn by `charts`), nothing is fetched: the page reads
the same offline, in a mail attachment or a CI artifact. Links to price sources are plain
anchors, followed only if the reader clicks them.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from infra.cost.prices import PriceBook, load_prices
from infra.report import charts
from infra.report.facts import ROWS
from infra.report.format import money, requests
from infra.report.metrics import CATALOGUE
from infra.report.model import Comparison

TEMPLATES = Path(__file__).with_name("templates")
ZOOM_STEPS = (2_000_000, 5_000_000, 10_000_000, 15_000_000, 20_000_000, 25_000_000, 50_000_000)


def zoom_range(c: Comparison) -> int:
    """The close-up's width: room for every break-even in the left half of the sweep."""
    low = [b.requests_per_month for b in c.break_evens if b.requests_per_month < c.sweep_max / 2]
    wanted = 1.25 * max(low, default=8_000_000)
    return next((z for z in ZOOM_STEPS if z >= wanted), c.sweep_max)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["requests"] = requests
    env.globals["color"] = charts.color
    return env


def cost_charts(c: Comparison) -> list[Markup]:
    markers = [
        (
            float(b.requests_per_month),
            b.monthly_usd,
            f"{b.cheaper_below} / {b.cheaper_above}: {b.requests_per_month:,} requests, "
            f"{money(b.monthly_usd)}",
        )
        for b in c.break_evens
    ]
    if not c.sweep:
        return []
    full = charts.cost_chart(
        c.sweep,
        markers,
        x_max=c.sweep_max,
        title=f"Monthly cost, 0 to {charts.short_count(c.sweep_max)} requests a month",
    )
    zoom_max = min(zoom_range(c), c.sweep_max)
    zoom = charts.cost_chart(
        c.sweep,
        markers,
        x_max=zoom_max,
        title=f"Close-up: 0 to {charts.short_count(zoom_max)} requests a month",
    )
    return [Markup(full), Markup(zoom)]  # noqa: S704 - SVG built from escaped parts


def bar_charts(c: Comparison) -> list[Markup]:
    found = []
    for index, metric in enumerate(CATALOGUE):
        if not metric.chart:
            continue
        values = [
            (target, figures[index].value if figures[index].raw_unit is None else None)
            for target, figures in c.operations.items()
        ]
        svg = charts.bar_chart(metric.label, metric.unit, values, better=metric.better)
        found.append(Markup(svg))  # noqa: S704 - SVG built from escaped parts
    return found


def render_html(c: Comparison, prices: PriceBook | None = None) -> str:
    book = prices or load_prices()
    measured = [fig for figures in c.operations.values() for fig in figures if fig.measured] + list(
        c.other_measurements
    )
    machines = sorted({f.machine for f in measured if f.machine})
    dates = sorted(f.measured_at for f in measured if f.measured_at)
    template = _environment().get_template("report.html.j2")
    return template.render(
        c=c,
        cost_charts=cost_charts(c),
        bar_charts=bar_charts(c),
        fact_rows=ROWS,
        catalogue=CATALOGUE,
        prices=book,
        stale={w.split(" ", 1)[0] for w in c.price_warnings},
        machines=machines,
        first_measured=dates[0] if dates else None,
        last_measured=dates[-1] if dates else None,
        measured_count=len(measured),
    )
