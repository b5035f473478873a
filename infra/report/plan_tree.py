"""Terminal presentation of an estimate: what `shipways plan` prints under a stack's name.

A tree of the resources `pulumi up` would create, each with the inputs a reviewer checks and
its monthly cost, then the total split into fixed and per-request parts with what was assumed.
Every number comes from the cost model (`infra.cost.model`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.tree import Tree

from infra.cost.model import ASSUMPTION, Estimate, ResourceCost, Status
from infra.harness import Declared, OfflinePlan
from infra.report.format import money

_STYLE = {
    Status.PRICED: "green",
    Status.PARTLY_PRICED: "yellow",
    Status.NOT_PRICED: "bold yellow",
    Status.NO_CHARGE: "dim",
}


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
