""" "Which should I choose": scenarios answered from the price data, the stacks and the facts.

A scenario (in `guide.yaml`) is a usage profile plus the facts it cannot do without. The
recommendation is the cheapest target at that profile's traffic among those meeting every
need; the reasons printed beside it are the figures that decided it, including what each
excluded target lacks. Where a target serves the peak from fixed capacity, the guide sets the
peak request rate beside the rate that target served in the local benchmark (a local figure,
shown as such, not a cloud capacity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from infra.cost.model import estimate
from infra.cost.prices import PriceBook
from infra.cost.stacks import Planned
from infra.cost.usage import load_usage
from infra.report.facts import ROWS, Fact
from infra.report.format import money
from infra.report.model import Figure, Option, Recommendation

Facts = Mapping[str, Mapping[str, Fact]]
Operations = Mapping[str, Sequence[Figure]]

GUIDE_FILE = Path(__file__).with_name("guide.yaml")
SECONDS_PER_MONTH = 730 * 3600


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: str
    profile: str
    needs: tuple[str, ...] = ()
    situation: str


def load_scenarios(path: Path = GUIDE_FILE) -> list[Scenario]:
    data = yaml.safe_load(path.read_text()) or {}
    scenarios = [Scenario.model_validate(s) for s in data.get("scenarios", [])]
    for scenario in scenarios:
        unknown = set(scenario.needs) - set(ROWS)
        if unknown:
            raise ValueError(
                f"{path}: scenario {scenario.key}: unknown needs {sorted(unknown)}; "
                f"use facts from {sorted(ROWS)}"
            )
    return scenarios


def recommend(
    planned: Mapping[str, Planned], prices: PriceBook, facts: Facts, operations: Operations
) -> tuple[Recommendation, ...]:
    """Every scenario answered from the plans, the prices, the facts and the measured figures
    (built before the comparison that will hold the answers)."""
    return tuple(_answer(s, planned, prices, facts, operations) for s in load_scenarios())


def _answer(
    scenario: Scenario,
    planned: Mapping[str, Planned],
    prices: PriceBook,
    facts: Facts,
    operations: Operations,
) -> Recommendation:
    usage = load_usage(scenario.profile)
    excluded: dict[str, str] = {}
    options: list[Option] = []
    for target, outcome in planned.items():
        if outcome.plan is None:
            excluded[target] = f"not comparable yet: {outcome.reason}"
            continue
        own = facts[target]
        failed = [need for need in scenario.needs if own[need].flag is not True]
        if failed:
            need = failed[0]
            excluded[target] = f"{ROWS[need]}: {own[need].value}"
            continue
        cost = estimate(outcome.plan, usage, prices)
        options.append(Option(target=target, monthly_usd=cost.monthly, complete=cost.complete))
    options.sort(key=lambda o: o.monthly_usd)
    pick = options[0] if options else None
    runner_up = options[1] if len(options) > 1 else None
    reasons: list[str] = []
    if pick is not None:
        bound = "" if pick.complete else " (lower bound: some parts not priced)"
        reasons.append(
            f"{pick.target} is the cheapest that meets the needs: {money(pick.monthly_usd)} "
            f"a month at {usage.requests_per_month:,} requests{bound}"
        )
        if runner_up is not None:
            reasons.append(
                f"next: {runner_up.target} at {money(runner_up.monthly_usd)} "
                f"({money(runner_up.monthly_usd - pick.monthly_usd)} more)"
            )
        for need in scenario.needs:
            fact = facts[pick.target][need]
            reasons.append(f"{ROWS[need]}: {fact.value}")
        reasons.extend(
            _capacity(
                facts[pick.target],
                operations.get(pick.target, ()),
                usage.requests_per_month,
                usage.peak_to_average,
            )
        )
    else:
        reasons.append("no target meets every need of this scenario")
    return Recommendation(
        key=scenario.key,
        title=scenario.title,
        situation=scenario.situation,
        profile=scenario.profile,
        requests_per_month=usage.requests_per_month,
        needs=scenario.needs,
        pick=pick.target if pick else None,
        runner_up=runner_up.target if runner_up else None,
        options=tuple(options),
        excluded=excluded,
        reasons=tuple(reasons),
    )


def _capacity(
    facts: Mapping[str, Fact], figures: Sequence[Figure], requests: int, peak: float
) -> list[str]:
    """For fixed capacity, the peak rate beside the locally measured rate of one instance."""
    if facts["scaling"].flag:
        return []
    peak_rps = requests / SECONDS_PER_MONTH * peak
    served = next((f for f in figures if f.metric == "rps" and f.measured), None)
    if served is None or served.value is None:
        return [
            f"peak about {peak_rps:,.1f} requests/s on fixed capacity (throughput not measured)"
        ]
    return [
        f"peak about {peak_rps:,.1f} requests/s on fixed capacity; the local run served "
        f"{served.value:,.0f} requests/s on {served.machine} (a local figure, not a cloud one)"
    ]
