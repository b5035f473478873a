"""The cost side of a comparison: each target's monthly cost, cost curves and break-evens.

Every figure is the cost model (`infra.cost`) run on a stack planned offline: at the chosen
traffic for the cost table, and again over a grid of traffic levels for the curves, where two
targets' curves crossing is a break-even. A target without a plan gets a row with the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from infra.cost import breakeven
from infra.cost.breakeven import BreakEven, CapacityStep
from infra.cost.model import estimate
from infra.cost.prices import PriceBook
from infra.cost.stacks import Planned
from infra.cost.usage import UsageProfile
from infra.report.model import TargetCost

MILLION = 1_000_000
CAPACITY_RANGE = 10  # capacity steps are looked for up to 10x the sweep's top


def target_cost(outcome: Planned, usage: UsageProfile, prices: PriceBook) -> TargetCost:
    """One target's cost at `usage`'s traffic, split into fixed and per-request parts."""
    if outcome.plan is None:
        return TargetCost(target=outcome.target, planned=False, reason=outcome.reason)
    here = estimate(outcome.plan, usage, prices)
    more = breakeven.at(outcome.plan, usage, prices, usage.requests_per_month + MILLION)
    return TargetCost(
        target=outcome.target,
        planned=True,
        resources=len(outcome.plan.resources),
        monthly_usd=round(here.monthly, 4),
        fixed_usd=round(here.fixed, 4),
        per_request_usd=round(here.per_request, 4),
        per_million_usd=round(more.monthly - here.monthly, 4),
        complete=here.complete,
        not_priced=tuple(here.unpriced),
        estimate=here.to_json(),
    )


@dataclass(frozen=True)
class CostCurves:
    """Monthly cost over 0..`sweep_max` requests for every planned target, where the cheaper
    of two targets changes, and where each target's servers, pods or nodes step up (the
    kinks in its curve), looked for up to `capacity_max`: a server that holds the whole sweep
    still shows where it would not."""

    sweep: dict[str, tuple[tuple[int, float], ...]]
    break_evens: tuple[BreakEven, ...]
    capacity_steps: dict[str, tuple[CapacityStep, ...]]
    capacity_max: int


def cost_curves(
    planned: dict[str, Planned], usage: UsageProfile, prices: PriceBook, sweep_max: int
) -> CostCurves:
    points = breakeven.grid(sweep_max)
    capacity_max = CAPACITY_RANGE * sweep_max
    fns = {
        t: breakeven.cost_at(p.plan, usage, prices)
        for t, p in planned.items()
        if p.plan is not None
    }
    found: list[BreakEven] = []
    for a, b in itertools.combinations(fns, 2):
        found.extend(breakeven.break_evens((a, b), (fns[a], fns[b]), points))
    return CostCurves(
        sweep={t: tuple(breakeven.sweep(fn, points)) for t, fn in fns.items()},
        break_evens=tuple(sorted(found, key=lambda b: b.requests_per_month)),
        capacity_steps={
            t: tuple(breakeven.capacity_steps(p.plan, usage, prices, breakeven.grid(capacity_max)))
            for t, p in planned.items()
            if p.plan is not None
        },
        capacity_max=capacity_max,
    )
