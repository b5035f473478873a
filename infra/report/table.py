"""Terminal presentation of an estimate (`shipways plan`) and a comparison (`compare`, `demo`).

Only formatting lives here: every number comes from `infra.cost` or `infra.report.compare`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from infra.cost.model import ASSUMPTION, Estimate, ResourceCost, Status
from infra.harness import Declared, OfflinePlan
from infra.report.compare import Comparison
from infra.report.facts import ROWS

SWEEP_ROWS = (0, 1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000)
_STYLE = {
    Status.PRICED: "green",
    Status.PARTLY_PRICED: "yellow",
    Status.NOT_PRICED: "bold yellow",
    Status.NO_CHARGE: "dim",
}


def money(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:,.2f}"


def requests(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return f"{n:,}"


# Inputs worth seeing in a plan: what a reviewer checks before `pulumi up`.
KEY_INPUTS = (
    "instanceType",
    "domain",
    "ipProtocol",
    "fromPort",
    "toPort",
    "cidrIpv4",
    "cidrIpv6",
    "protocolType",
    "runtime",
    "architectures",
    "memorySize",
    "timeout",
    "retentionInDays",
    "routeKey",
    "target",
    "solutionStackName",
    "tier",
    "imageName",
)
KEY_SPEC = ("replicas", "type", "minReplicas", "maxReplicas")


def key_properties(resource: Declared) -> str:
    """A one-line digest of the inputs that say what a resource is."""
    found: list[str] = []
    for key in KEY_INPUTS:
        value: Any = resource.inputs.get(key)
        if value not in (None, "", []):
            found.append(f"{key}={_short(value)}")
    spec = resource.inputs.get("spec")
    if isinstance(spec, dict):
        found += [f"{k}={_short(spec[k])}" for k in KEY_SPEC if spec.get(k) is not None]
    return ", ".join(found)


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _cost_cell(line: ResourceCost) -> str:
    style = _STYLE[line.status]
    if line.status is Status.NO_CHARGE:
        return f"[{style}]$0, no charge of its own[/]"
    if line.status is Status.NOT_PRICED:
        return f"[{style}]not priced: {'; '.join(line.unpriced)}[/]"
    extra = f" (not priced: {'; '.join(line.unpriced)})" if line.unpriced else ""
    detail = f"{line.detail}: " if line.detail else ""
    return f"[{style}]{detail}{money(line.monthly)}/month{extra}[/]"


def plan_tree(plan: OfflinePlan, est: Estimate) -> Tree:
    """What `pulumi up` would create, each resource with its key inputs and monthly cost."""
    tree = Tree(f"[bold]{plan.stack}[/] ({len(plan.resources)} resources)")
    lines = iter(est.lines)
    for resource, line in zip(plan.resources, lines, strict=False):
        props = key_properties(resource)
        label = f"{resource.short_type} [cyan]{resource.name}[/]"
        tree.add(f"{label}{f' [dim]{props}[/]' if props else ''}  {_cost_cell(line)}")
    assumed = tree.add(f"[bold]{ASSUMPTION}[/]")
    for line in lines:
        assumed.add(f"{line.name}: {_cost_cell(line)}")
    return tree


def render_estimate(est: Estimate, console: Console) -> None:
    """The total under the plan tree: split, lower-bound warning, and what was assumed."""
    bound = "" if est.complete else f" (at least: {len(est.unpriced)} part(s) not priced)"
    console.print(
        f"[bold]{money(est.monthly)} a month{bound}[/] = fixed {money(est.fixed)} + "
        f"per-request {money(est.per_request)} at {est.requests_per_month:,} requests "
        f"(usage profile {est.usage!r})"
    )
    for item in est.unpriced:
        console.print(f"  [yellow]not priced: {item}[/]")
    console.print(
        "assumed: " + "; ".join(f"{k} {v}" for k, v in est.assumptions.items()), style="dim"
    )


def render_comparison(c: Comparison, console: Console) -> None:
    """Cost, break-evens, measured operations, facts and the guide, in that order."""
    _costs(c, console)
    _sweep(c, console)
    _operations(c, console)
    _facts(c, console)
    _guide(c, console)
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


def _operations(c: Comparison, console: Console) -> None:
    narrow = console.width < 120
    caption = "-: not measured" if narrow else None
    table = Table(title=f"Measured on local runs (results: {c.results_file})", caption=caption)
    table.add_column("figure")
    columns = list(c.operations)
    for target in columns:
        table.add_column(target if target != "local" else "local (uvicorn)", justify="right")
    rows = next(iter(c.operations.values()), [])
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
            f"[bold green]{rec.pick}[/]" if rec.pick else "-",
            "\n".join(rec.reasons),
        )
    console.print(table)
