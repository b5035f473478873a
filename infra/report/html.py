"""`shipways report`: the comparison as one self-contained HTML page.

Everything is inline (CSS, SVG charts from `page_charts`), nothing is fetched: the
page reads the same offline, in a mail attachment or a CI artifact. Links to price sources are
plain anchors, followed only if the reader clicks them. Every chart carries where its numbers
came from.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from infra.cost.prices import PriceBook, load_prices
from infra.report import charts
from infra.report.facts import ROWS
from infra.report.format import money, requests, step_text
from infra.report.metrics import CATALOGUE
from infra.report.model import Comparison
from infra.report.page_charts import (
    bar_groups,
    capacity_chart,
    cold_start_chart,
    cost_charts,
    operate_chart,
)

TEMPLATES = Path(__file__).with_name("templates")


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
        capacity_chart=capacity_chart(c),
        cold_start_chart=cold_start_chart(c),
        bar_groups=bar_groups(c),
        operate_chart=operate_chart(c),
        fact_rows=ROWS,
        catalogue=CATALOGUE,
        prices=book,
        stale={w.split(" ", 1)[0] for w in c.price_warnings},
        machines=machines,
        first_measured=dates[0] if dates else None,
        last_measured=dates[-1] if dates else None,
        measured_count=len(measured),
        step_text=step_text,
    )
