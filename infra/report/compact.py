"""The comparison in one screen: what the main job ends with, in 100 columns.

`shipways compare` shows everything (costs, break-evens, facts, the guide); the main job ends
with the part it just measured, one line per figure, plus each target's monthly cost, and
points to the full views. A figure that cannot mean anything for a column says "n/a" (a
deploy time for uvicorn alone, a cold start for a server that never stops), so "-" only ever
means "not measured".
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from infra.report.format import money
from infra.report.metrics import CATALOGUE
from infra.report.model import Comparison

BASELINE = "local"
LABEL_WIDTH = 34
CELL_WIDTH = 11


def render_compact(c: Comparison, console: Console) -> None:
    columns = list(c.operations)
    table = Table(
        title=f"Measured ({c.measurements.label()})",
        caption="-: not measured, n/a: does not apply; all of it: `shipways compare`",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    table.add_column("figure", no_wrap=True, max_width=LABEL_WIDTH, overflow="ellipsis")
    for target in columns:
        name = "uvicorn" if target == BASELINE else target
        table.add_column(name, justify="right", no_wrap=True, max_width=CELL_WIDTH)
    costs = {cost.target: cost for cost in c.costs}
    table.add_row(
        f"monthly cost at {c.requests_per_month:,} req",
        *(
            "n/a"
            if t == BASELINE
            else (money(costs[t].monthly_usd) if t in costs and costs[t].planned else "-")
            for t in columns
        ),
    )
    for index, metric in enumerate(CATALOGUE):
        cells = []
        for target in columns:
            figure = c.operations[target][index]
            if figure.measured:
                cells.append(figure.text().replace(" req/s", "/s"))
            else:
                cells.append("-" if metric.applies(target) else "n/a")
        table.add_row(metric.label, *cells)
    console.print(table)
