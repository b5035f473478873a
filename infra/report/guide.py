""" "Which should I choose": scenarios answered from the price data, the stacks and the facts.

A scenario (in `guide.yaml`) is a usage profile plus the facts it cannot do without. The
recommendation is the cheapest target at that profile's traffic among those meeting every
need; the reasons printed beside it are the figures that decided it, including what each
excluded target lacks. Where a target serves the peak from fixed capacity, the guide sets the
peak request rate beside the rate that target served in the local benchmark (a local figure,
shown as such, not a cloud capacity).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field

from infra.cost.model import estimate
from infra.cost.prices import PriceBook
from infra.cost.usage import load_usage
from infra.report.facts import ROWS

if TYPE_CHECKING:
    from infra.cost.stacks import Planned
    from infra.report.compare import Comparison

GUIDE_FILE = Path(__file__).with_name("guide.yaml")
SECONDS_PER_MONTH = 730 * 3600


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: str
    profile: str
    needs: list[str] = Field(default_factory=list)
    situation: str


class Option(BaseModel):
    target: str
    monthly_usd: float
    complete: bool


class Recommendation(BaseModel):
    key: str
    title: str
    situation: str
    profile: str
    requests_per_month: int
    needs: list[str]
    pick: str | None
    runner_up: str | None
    options: list[Option]  # every target that meets the needs, cheapest first
    excluded: dict[str, str]  # target -> the need it fails
    reasons: list[str]


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


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def recommend(
    comparison: Comparison, planned: dict[str, Planned], prices: PriceBook
) -> list[Recommendation]:
    return [_answer(s, comparison, planned, prices) for s in load_scenarios()]


def _answer(
    scenario: Scenario, comparison: Comparison, planned: dict[str, Planned], prices: PriceBook
) -> Recommendation:
    usage = load_usage(scenario.profile)
    excluded: dict[str, str] = {}
    options: list[Option] = []
    for target, outcome in planned.items():
        if outcome.plan is None:
            excluded[target] = f"not comparable yet: {outcome.reason}"
            continue
        facts = comparison.facts[target]
        failed = [need for need in scenario.needs if facts[need].flag is not True]
        if failed:
            need = failed[0]
            excluded[target] = f"{ROWS[need]}: {facts[need].value}"
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
            f"{pick.target} is the cheapest that meets the needs: {_money(pick.monthly_usd)} "
            f"a month at {usage.requests_per_month:,} requests{bound}"
        )
        if runner_up is not None:
            reasons.append(
                f"next: {runner_up.target} at {_money(runner_up.monthly_usd)} "
                f"({_money(runner_up.monthly_usd - pick.monthly_usd)} more)"
            )
        for need in scenario.needs:
            fact = comparison.facts[pick.target][need]
            reasons.append(f"{ROWS[need]}: {fact.value}")
        reasons.extend(
            _capacity(pick.target, comparison, usage.requests_per_month, usage.peak_to_average)
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
        options=options,
        excluded=excluded,
        reasons=reasons,
    )


def _capacity(target: str, comparison: Comparison, requests: int, peak: float) -> list[str]:
    """For fixed capacity, the peak rate beside the locally measured rate of one instance."""
    if comparison.facts[target]["scaling"].flag:
        return []
    peak_rps = requests / SECONDS_PER_MONTH * peak
    served = next(
        (f for f in comparison.operations.get(target, []) if f.metric == "rps" and f.measured),
        None,
    )
    if served is None or served.value is None:
        return [
            f"peak about {peak_rps:,.1f} requests/s on fixed capacity (throughput not measured)"
        ]
    return [
        f"peak about {peak_rps:,.1f} requests/s on fixed capacity; the local run served "
        f"{served.value:,.0f} requests/s on {served.machine} (a local figure, not a cloud one)"
    ]
