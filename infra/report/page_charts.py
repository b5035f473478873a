"""The report's charts, each built from the comparison: cost curves with break-evens, capacity
steps, serverless cold starts, the measured figures grouped by what a reader asks of them, and
what each recipe leaves you to operate. Every chart ends with where its numbers came from
(`infra.report.sources`)."""

from __future__ import annotations

from markupsafe import Markup

from infra.report import charts, sources
from infra.report.bars import bar_chart
from infra.report.charts import Axes, Point
from infra.report.format import UNITS, money
from infra.report.metrics import CATALOGUE
from infra.report.model import Comparison

ZOOM_STEPS = (2_000_000, 5_000_000, 10_000_000, 15_000_000, 20_000_000, 25_000_000, 50_000_000)
# The measured figures' charts, by what a reader asks of them (catalogue keys).
GROUPS = {
    "Latency and throughput": ("p50", "p99", "rps", "products_p99", "products_rps"),
    "Deploy and rollback": ("cold_deploy", "warm_deploy", "up", "healthy", "rollback"),
    "Start-up and footprint": ("cold_start", "memory", "artifact", "build"),
}


def svg(text: str) -> Markup:
    return Markup(text)  # noqa: S704 - SVG built from escaped parts


def zoom_range(c: Comparison) -> int:
    """The close-up's width: room for every break-even in the left half of the sweep."""
    low = [b.requests_per_month for b in c.break_evens if b.requests_per_month < c.sweep_max / 2]
    wanted = 1.25 * max(low, default=8_000_000)
    return next((z for z in ZOOM_STEPS if z >= wanted), c.sweep_max)


def cost_charts(c: Comparison) -> list[Markup]:
    if not c.sweep:
        return []
    points = [
        Point(
            x=float(b.requests_per_month),
            y=b.monthly_usd,
            label=f"{b.cheaper_below}/{b.cheaper_above} {_about(b.requests_per_month)}",
            title=f"{b.cheaper_below} is cheaper below {b.requests_per_month:,} requests, "
            f"{b.cheaper_above} above ({money(b.monthly_usd)} a month there)",
        )
        for b in c.break_evens
    ]
    drawn = []
    for x_max, title in (
        (c.sweep_max, f"Monthly cost, 0 to {charts.short_count(c.sweep_max)} requests a month"),
        (min(zoom_range(c), c.sweep_max), "Close-up: 0 to {} requests a month"),
    ):
        visible = [y for pts in c.sweep.values() for x, y in pts if x <= x_max]
        y_top = max(visible, default=1.0) or 1.0
        y_step = charts.nice_step(y_top)
        axes = Axes(
            x_max=x_max,
            y_max=-(-y_top // y_step) * y_step,
            x_label="requests per month",
            y_format=charts.short_money,
        )
        ends = {t: f"{t} {money(_at(pts, x_max))}" for t, pts in c.sweep.items()}
        chart = charts.line_chart(
            c.sweep,
            axes,
            title=title.format(charts.short_count(x_max)),
            source=sources.costs(c),
            points=points,
            end_labels=ends,
            css="cost-chart",
        )
        drawn.append(svg(chart))
    return drawn


def _about(n: int) -> str:
    """A request count to two significant figures: 2,345,678 -> "2.3M"."""
    return charts.short_count(float(f"{n:.2g}"))


def _at(points: tuple[tuple[int, float], ...], x: float) -> float:
    return max((p for p in points if p[0] <= x), key=lambda p: p[0])[1]


def capacity_chart(c: Comparison) -> Markup | None:
    series = {
        t: [(float(s.requests_per_month), float(s.servers)) for s in steps]
        for t, steps in c.capacity_steps.items()
        if t in UNITS and steps
    }
    if not series:
        return None
    top = max(y for pts in series.values() for _, y in pts)
    last = {t: c.capacity_steps[t][-1] for t in series}
    ends = {
        t: f"{t}: {s.servers} {UNITS[t]}{'s' if s.servers != 1 else ''}"
        + (f", {s.nodes} nodes" if s.nodes else "")
        for t, s in last.items()
    }
    axes = Axes(
        x_max=c.capacity_max,
        y_max=max(top, 2.0),
        x_label="requests per month",
        y_format=lambda y: f"{y:g}",
        step=True,
    )
    top_text = charts.short_count(c.capacity_max)
    title = f"Servers, instances or pods needed, 0 to {top_text} requests a month"
    return svg(
        charts.line_chart(
            series,
            axes,
            title=title,
            source=sources.capacity(c),
            end_labels=ends,
            css="capacity-chart",
        )
    )


def cold_start_chart(c: Comparison) -> Markup | None:
    cold = c.cold_starts
    if cold is None or not cold.points:
        return None
    top = max(y for _, y in cold.points) or 1.0
    axes = Axes(
        x_min=float(cold.points[0][0]),
        x_max=float(cold.points[-1][0]),
        y_max=-(-top // charts.nice_step(top)) * charts.nice_step(top),
        x_label="requests per month (logarithmic)",
        y_format=lambda y: f"{y:,.0f}",
        x_log=True,
    )
    return svg(
        charts.line_chart(
            {cold.target: cold.points},
            axes,
            title="Serverless cold starts a month against traffic",
            source=sources.cold_starts(cold),
            end_labels={cold.target: f"{cold.target}: cold starts"},
            css="cold-start-chart",
        )
    )


def bar_groups(c: Comparison) -> dict[str, list[Markup]]:
    index = {m.key: i for i, m in enumerate(CATALOGUE)}
    groups: dict[str, list[Markup]] = {}
    grouped = {k for keys in GROUPS.values() for k in keys}
    extra = tuple(m.key for m in CATALOGUE if m.chart and m.key not in grouped)
    for heading, keys in (*GROUPS.items(), ("Other figures", extra)):
        for key in keys:
            metric = CATALOGUE[index[key]]
            if not metric.chart:
                continue
            figs = [(t, f[index[key]]) for t, f in c.operations.items()]
            values = [(t, f.value if f.raw_unit is None else None) for t, f in figs]
            chart = bar_chart(
                metric.label,
                metric.unit,
                values,
                better=metric.better,
                source=sources.measured(c, [f for _, f in figs]),
            )
            groups.setdefault(heading, []).append(svg(chart))
    return groups


def operate_chart(c: Comparison) -> Markup | None:
    counts = [(t, facts["moving_parts"].count) for t, facts in c.facts.items()]
    if not counts:
        return None
    values = [(t, float(n) if n is not None else None) for t, n in counts]
    chart = bar_chart(
        "moving parts you operate",
        "",
        values,
        better="fewer",
        source="From infra/report/facts.yaml: the parts each recipe leaves you to run.",
    )
    return svg(chart)
