"""Terminal presentation of a comparison (`shipways compare`, the end of `demo`).

Only formatting lives here: every number comes from the `Comparison` (`infra.report.model`).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from infra.report.facts import ROWS
from infra.report.format import SWEEP_ROWS, money, requests, step_text
from infra.report.model import BASELINE, Comparison


def render_comparison(c: Comparison, console: Console) -> None:
    """Cost, break-evens, measured operations, facts and the guide, in that order."""
    _costs(c, console)
    _sweep(c, console)
    _capacity(c, console)
    _operations(c, console)
    _facts(c, console)
    _guide(c, console)
    for warning in c.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if c.price_warnings:
        console.print(
            f"[yellow]{len(c.price_warnings)} price(s) are older than a year or undated[/]: "
            + "; ".join(c.price_warnings[:3])
            + ("; ..." if len(c.price_warnings) > 3 else "")
            + f" (all in --json; update {c.price_file})"
        )


def _costs(c: Comparison, console: Console) -> None:
    table = Table(
        title=f"Monthly cost at {c.requests_per_month:,} requests/month "
        f"(usage profile {c.usage!r}, prices v{c.price_version})"
    )
    for column in ("target", "fixed", "per-request", "total", "+1M requests", "resources"):
        table.add_column(column, justify="left" if column == "target" else "right")
    notes: list[str] = []
    for cost in c.costs:
        if not cost.planned:
            table.add_row(cost.target, "-", "-", "[yellow]no estimate[/]", "-", "-")
            notes.append(f"{cost.target}: {cost.reason}")
            continue
        total = money(cost.monthly_usd) + ("" if cost.complete else "+")
        table.add_row(
            cost.target,
            money(cost.fixed_usd),
            money(cost.per_request_usd),
            f"[bold]{total}[/]",
            money(cost.per_million_usd),
            str(cost.resources),
        )
        notes.extend(f"{cost.target}: not priced: {item}" for item in cost.not_priced)
    console.print(table)
    for note in notes:
        console.print(f"  [yellow]{note}[/]")
    console.print(
        "assumed: " + "; ".join(f"{k} {v}" for k, v in c.assumptions.items()), style="dim"
    )


def _sweep(c: Comparison, console: Console) -> None:
    if not c.sweep:
        return
    table = Table(title="Monthly cost versus traffic (requests/month)")
    table.add_column("target")
    steps = {n: i for i, (n, _) in enumerate(next(iter(c.sweep.values())))}
    shown = [n for n in SWEEP_ROWS if n in steps]
    for n in shown:
        table.add_column(requests(n), justify="right")
    for target, points in c.sweep.items():
        table.add_row(target, *(money(points[steps[n]][1]) for n in shown))
    console.print(table)
    for point in c.break_evens:
        console.print(
            f"break-even at [bold]{point.requests_per_month:,}[/] requests/month "
            f"({money(point.monthly_usd)}): {point.cheaper_below} is cheaper below, "
            f"{point.cheaper_above} above"
        )
    if not c.break_evens:
        console.print(f"no break-even between 0 and {c.sweep_max:,} requests/month")


def _capacity(c: Comparison, console: Console) -> None:
    """Where each target's servers, pods or nodes step up, and what that sizing assumed."""
    if not c.capacity_steps:
        return
    table = Table(title=f"Capacity steps, 0 to {c.capacity_max:,} requests/month")
    table.add_column("target")
    table.add_column("from requests/month: what it needs")
    for target, steps in c.capacity_steps.items():
        table.add_row(target, "\n".join(step_text(target, s) for s in steps))
    console.print(table)
    sizing = {k: v for k, v in c.assumptions.items() if "sizing: capacity" in k}
    for key in ("peak / average traffic", "capacity target"):
        if key in c.assumptions:
            console.print(f"  {key}: {c.assumptions[key]}", style="dim")
    for key, value in sizing.items():
        console.print(f"  {key.replace(' sizing: capacity', '')}: {value}", style="dim")


def _operations(c: Comparison, console: Console) -> None:
    narrow = console.width < 120
    caption = "-: not measured" if narrow else None
    title = f"Measured on local runs ({c.measurements.label()})"
    table = Table(title=title, caption=caption)
    table.add_column("figure")
    columns = list(c.operations)
    for target in columns:
        table.add_column(target if target != BASELINE else "local (uvicorn)", justify="right")
    rows = next(iter(c.operations.values()), ())
    for index, first in enumerate(rows):
        cells = []
        for target in columns:
            cell = c.operations[target][index]
            missing = "-" if narrow else "[dim]not measured[/]"
            cells.append(cell.text() if cell.measured else missing)
        table.add_row(first.label, *cells)
    console.print(table)
    for fig in c.other_measurements:
        console.print(f"also measured: {fig.metric} = {fig.text()} ({fig.source})", style="dim")


def _facts(c: Comparison, console: Console) -> None:
    if not c.facts:
        return
    table = Table(title="Facts about the recipes", show_lines=True)
    table.add_column("")
    for target in c.facts:
        table.add_column(target)
    for key, label in ROWS.items():
        table.add_row(label, *(c.facts[t][key].value for t in c.facts))
    console.print(table)


def _guide(c: Comparison, console: Console) -> None:
    table = Table(title="Which should I choose", show_lines=True)
    for column in ("situation", "choose", "because"):
        table.add_column(column)
    for rec in c.guide:
        table.add_row(
            f"[bold]{rec.title}[/]\n{requests(rec.requests_per_month)} requests/month",
            f"[bold green]{rec.choice()}[/]" if rec.pick else "-",
            "\n".join(rec.reasons),
        )
    console.print(table)
