"""`shipways compare`: the four targets side by side, every figure priced or measured.

One `Comparison` feeds the terminal table, `--json`, the HTML report and the docs, so they
cannot disagree. It holds, per target: the cost estimate of its stack (planned offline) at the
chosen traffic, split into fixed and per-request parts; a cost sweep over traffic with the
break-even points; the operations figures measured on local runs (`infra.results`); the
recipe facts; and the "which should I choose" guide. A target whose stack fails to plan is
listed with the reason instead of a cost.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from infra.cost import breakeven
from infra.cost.breakeven import BreakEven
from infra.cost.model import Estimate, estimate
from infra.cost.prices import PRICES_FILE, PriceBook, load_prices, stale
from infra.cost.stacks import Planned, plan_targets
from infra.cost.usage import UsageProfile, load_usage
from infra.report.facts import Fact, load_facts
from infra.report.guide import Recommendation, recommend
from infra.report.metrics import Figure, operations, unclaimed
from infra.results import Results, load, results_path

BASELINE = "local"  # the app on uvicorn direct, measured by benchmarks/baseline.py
MILLION = 1_000_000


class TargetCost(BaseModel):
    target: str
    planned: bool
    reason: str | None = None
    resources: int = 0
    monthly_usd: float | None = None
    fixed_usd: float | None = None
    per_request_usd: float | None = None
    per_million_usd: float | None = None  # what one more million requests a month adds
    complete: bool = False
    not_priced: list[str] = Field(default_factory=list)
    estimate: dict[str, Any] | None = None


class Comparison(BaseModel):
    generated_at: datetime
    today: date
    requests_per_month: int
    usage: str
    assumptions: dict[str, str]
    price_file: str
    price_version: int
    price_warnings: list[str]
    results_file: str
    targets: list[str]
    costs: list[TargetCost]
    sweep: dict[str, list[tuple[int, float]]]
    sweep_max: int
    break_evens: list[BreakEven]
    operations: dict[str, list[Figure]]
    other_measurements: list[Figure]
    facts: dict[str, dict[str, Fact]]
    guide: list[Recommendation] = Field(default_factory=list)

    def cost(self, target: str) -> TargetCost:
        return next(c for c in self.costs if c.target == target)


def _target_cost(outcome: Planned, usage: UsageProfile, prices: PriceBook) -> TargetCost:
    if outcome.plan is None:
        return TargetCost(target=outcome.target, planned=False, reason=outcome.reason)
    here: Estimate = estimate(outcome.plan, usage, prices)
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
        not_priced=here.unpriced,
        estimate=here.to_json(),
    )


def build(
    *,
    usage: UsageProfile,
    prices: PriceBook,
    results: Results,
    today: date,
    planned: dict[str, Planned] | None = None,
    results_file: Path | None = None,
    sweep_max: int = breakeven.SWEEP_MAX,
    with_guide: bool = True,
) -> Comparison:
    """Everything `compare`, the report and the docs show, at `usage`'s traffic."""
    planned = planned if planned is not None else plan_targets()
    targets = list(planned)
    points = breakeven.grid(sweep_max)
    fns = {
        t: breakeven.cost_at(p.plan, usage, prices)
        for t, p in planned.items()
        if p.plan is not None
    }
    found: list[BreakEven] = []
    for a, b in itertools.combinations(fns, 2):
        found.extend(breakeven.break_evens((a, b), (fns[a], fns[b]), points))
    measured_targets = [BASELINE, *targets]
    costs = [_target_cost(p, usage, prices) for p in planned.values()]
    assumptions = usage.assumptions(cluster=False, host=False)
    for cost in costs:
        assumptions.update(cost.estimate["assumptions"] if cost.estimate else {})
    comparison = Comparison(
        generated_at=datetime.now(UTC),
        today=today,
        requests_per_month=usage.requests_per_month,
        usage=usage.name,
        assumptions=assumptions,
        price_file=str(PRICES_FILE.relative_to(PRICES_FILE.parent.parent)),
        price_version=prices.version,
        price_warnings=[s.message() for s in stale(prices, today)],
        results_file=str(results_file) if results_file else "(none)",
        targets=targets,
        costs=costs,
        sweep={t: breakeven.sweep(fn, points) for t, fn in fns.items()},
        sweep_max=sweep_max,
        break_evens=sorted(found, key=lambda b: b.requests_per_month),
        operations={t: operations(results, t) for t in measured_targets},
        other_measurements=unclaimed(results, measured_targets),
        facts={t: f for t, f in load_facts().items() if t in targets},
    )
    if with_guide:
        comparison.guide = recommend(comparison, planned, prices)
    return comparison


def current(
    *,
    usage: str | Path = "default",
    requests_per_month: int | None = None,
    results_file: Path | None = None,
    today: date | None = None,
) -> Comparison:
    """The comparison as the commands show it: a named usage profile (optionally at another
    traffic level), the price data file, and the results file (default: the local one)."""
    profile = load_usage(usage)
    if requests_per_month is not None:
        profile = profile.at(requests_per_month)
    path = results_file or results_path()
    return build(
        usage=profile,
        prices=load_prices(),
        results=load(path),
        today=today or date.today(),
        results_file=path,
    )
