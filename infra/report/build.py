"""Building a `Comparison`: every part computed first, then the comparison made once, whole.

The parts come from the builders beside this one (costs and curves from the plans, figures
from the measurements, facts, the guide); nothing is filled in after the comparison exists,
so whoever holds one holds what every renderer shows. `comparison_now` is what the commands
show; the docs build theirs from the committed snapshot (`infra.report.docs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from infra.cost import breakeven
from infra.cost.capacity import SNAPSHOT, measured_in
from infra.cost.prices import PRICES_FILE, PriceBook, load_prices, stale
from infra.cost.stacks import Planned, plan_targets
from infra.cost.usage import UsageProfile, load_usage
from infra.report import measurements
from infra.report.coldstarts import TARGET as SERVERLESS
from infra.report.coldstarts import cold_starts
from infra.report.costs import cost_curves, target_cost
from infra.report.facts import load_facts
from infra.report.figures import operations, unclaimed
from infra.report.guide import recommend
from infra.report.model import BASELINE, Comparison, MeasurementsSource
from infra.results import Results


def build_comparison(
    *,
    usage: UsageProfile,
    prices: PriceBook,
    results: Results,
    measured: MeasurementsSource,
    today: date,
    planned: dict[str, Planned] | None = None,
    sweep_max: int = breakeven.SWEEP_MAX,
    sizing_files: Sequence[Path] | None = None,
) -> Comparison:
    """Everything `compare`, the report and the docs show, at `usage`'s traffic, with the
    figures in `results` (read from where `measured` says). Servers are sized from the
    throughput in `sizing_files` (default: this machine's results, then the snapshot)."""
    planned = planned if planned is not None else plan_targets()
    if sizing_files is None:
        return _build(usage, prices, results, measured, today, planned, sweep_max)
    with measured_in(*sizing_files):
        return _build(usage, prices, results, measured, today, planned, sweep_max)


def _build(
    usage: UsageProfile,
    prices: PriceBook,
    results: Results,
    measured: MeasurementsSource,
    today: date,
    planned: dict[str, Planned],
    sweep_max: int,
) -> Comparison:
    targets = list(planned)
    costs = tuple(target_cost(p, usage, prices) for p in planned.values())
    curves = cost_curves(planned, usage, prices, sweep_max)
    assumptions = usage.assumptions(cluster=False, host=False)
    for cost in costs:
        assumptions.update(cost.estimate["assumptions"] if cost.estimate else {})
    measured_targets = [BASELINE, *targets]
    figures = {t: operations(results, t) for t in measured_targets}
    facts = {t: f for t, f in load_facts().items() if t in targets}
    warnings = [w for cost in costs if cost.estimate for w in cost.estimate["warnings"]]
    init = next((f for f in figures.get(SERVERLESS, ()) if f.metric == "cold_start"), None)
    return Comparison(
        generated_at=datetime.now(UTC),
        today=today,
        requests_per_month=usage.requests_per_month,
        usage=usage.name,
        assumptions=assumptions,
        price_file=str(PRICES_FILE.relative_to(PRICES_FILE.parent.parent)),
        price_version=prices.version,
        price_updated=prices.updated,
        price_region=prices.region,
        warnings=tuple(dict.fromkeys(warnings)),
        price_warnings=tuple(s.message() for s in stale(prices, today)),
        measurements=measured,
        targets=tuple(targets),
        costs=costs,
        sweep=curves.sweep,
        sweep_max=sweep_max,
        break_evens=curves.break_evens,
        capacity_steps=curves.capacity_steps,
        capacity_max=curves.capacity_max,
        cold_starts=cold_starts(usage, init, sweep_max) if SERVERLESS in targets else None,
        operations=figures,
        other_measurements=unclaimed(results, measured_targets),
        facts=facts,
        guide=recommend(planned, prices, facts, figures),
    )


def comparison_now(
    usage: UsageProfile | None = None,
    *,
    results_file: Path | None = None,
    today: date | None = None,
) -> Comparison:
    """The comparison as the commands show it: a usage profile (default: the default one),
    today's prices, and this machine's measurements, or the committed snapshot when this
    machine has measured nothing (`infra.report.measurements`). A named results file also
    sizes the servers (then the snapshot), as the figures shown come from it."""
    results, measured = measurements.for_comparison(results_file)
    files = None if results_file is None else tuple(dict.fromkeys((results_file, SNAPSHOT)))
    return build_comparison(
        usage=usage or load_usage(),
        prices=load_prices(),
        results=results,
        measured=measured,
        today=today or date.today(),
        sizing_files=files,
    )
