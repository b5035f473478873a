""" "Which should I choose": scenarios answered from the price data, the stacks and the facts.

A scenario (in `guide.yaml`) is a usage profile plus the facts it cannot do without. The
recommendation is the cheapest target at that profile's traffic among those meeting every
need; the reasons printed beside it are the figures that decided it, including what each
excluded target lacks. A target is judged as a user would configure it for the situation:
where its stack file's default lacks a need that one documented setting gives (PaaS's
LoadBalanced environment), that configuration is planned, priced and named instead of the
target being ruled out. Where a target serves the peak from fixed capacity, the guide sets the
peak request rate beside the rate that target served in the local benchmark (a local figure,
shown as such, not a cloud capacity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from infra.cost.model import estimate
from infra.cost.prices import PriceBook
from infra.cost.stacks import Planned
from infra.cost.usage import load_usage
from infra.harness import OfflinePlan, plan_stack
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


class Configuration(BaseModel):
    """A setting a user would change when a situation needs what the default lacks: the stack
    keys to set (`set`, as in the stack file without the `shipways:` prefix), in words
    (`describe`), and the facts it makes true (`gives`: fact -> how it then reads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    set: dict[str, Any]
    describe: str
    gives: dict[str, str]


def _check_needs(path: Path, where: str, needs: Sequence[str]) -> None:
    unknown = set(needs) - set(ROWS)
    if unknown:
        raise ValueError(
            f"{path}: {where}: unknown facts {sorted(unknown)}; use facts from {sorted(ROWS)}"
        )


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    return data if isinstance(data, dict) else {}


def load_scenarios(path: Path = GUIDE_FILE) -> list[Scenario]:
    scenarios = [Scenario.model_validate(s) for s in _read(path).get("scenarios", [])]
    for scenario in scenarios:
        _check_needs(path, f"scenario {scenario.key}", scenario.needs)
    return scenarios


def load_configurations(path: Path = GUIDE_FILE) -> dict[str, tuple[Configuration, ...]]:
    """Per target, the configurations a user would switch to, in order of preference."""
    found: dict[str, tuple[Configuration, ...]] = {}
    for target, entries in (_read(path).get("configurations") or {}).items():
        found[target] = tuple(Configuration.model_validate(e) for e in entries)
        for config in found[target]:
            _check_needs(path, f"configuration {target}/{config.name}", list(config.gives))
    return found


@cache
def _plan_configured(stack: str, settings: tuple[tuple[str, Any], ...]) -> OfflinePlan:
    """The stack planned offline with `settings` over its stack file (once per process)."""
    return plan_stack(stack, overrides=dict(settings))


def _configured(
    plan: OfflinePlan, failed: Sequence[str], configurations: Sequence[Configuration]
) -> tuple[Configuration, OfflinePlan] | None:
    """The first configuration that gives every need the default lacks, with its plan."""
    for config in configurations:
        if set(failed) <= set(config.gives):
            settings = tuple(sorted((k, v) for k, v in config.set.items()))
            return config, _plan_configured(plan.stack, settings)
    return None


def recommend(
    planned: Mapping[str, Planned], prices: PriceBook, facts: Facts, operations: Operations
) -> tuple[Recommendation, ...]:
    """Every scenario answered from the plans, the prices, the facts and the measured figures
    (built before the comparison that will hold the answers)."""
    configurations = load_configurations()
    return tuple(
        _answer(s, planned, prices, facts, operations, configurations) for s in load_scenarios()
    )


def _answer(
    scenario: Scenario,
    planned: Mapping[str, Planned],
    prices: PriceBook,
    facts: Facts,
    operations: Operations,
    configurations: Mapping[str, Sequence[Configuration]],
) -> Recommendation:
    usage = load_usage(scenario.profile)
    excluded: dict[str, str] = {}
    options: list[Option] = []
    chosen: dict[str, Configuration] = {}
    for target, outcome in planned.items():
        if outcome.plan is None:
            excluded[target] = f"not comparable yet: {outcome.reason}"
            continue
        own = facts[target]
        failed = [need for need in scenario.needs if own[need].flag is not True]
        plan = outcome.plan
        if failed:
            options_here = configurations.get(target, ())
            found = _configured(plan, failed, options_here)
            if found is None:  # name a need no setting gives: the one that rules it out
                given = {need for config in options_here for need in config.gives}
                need = next((n for n in failed if n not in given), failed[0])
                excluded[target] = f"{ROWS[need]}: {own[need].value}"
                continue
            chosen[target], plan = found
        cost = estimate(plan, usage, prices)
        config = chosen.get(target)
        options.append(
            Option(
                target=target,
                monthly_usd=cost.monthly,
                complete=cost.complete,
                configuration=config.name if config else None,
                settings=config.describe if config else None,
            )
        )
    options.sort(key=lambda o: o.monthly_usd)
    pick = options[0] if options else None
    runner_up = options[1] if len(options) > 1 else None
    reasons: list[str] = []
    if pick is not None:
        bound = "" if pick.complete else " (lower bound: some parts not priced)"
        reasons.append(
            f"{pick.label()} is the cheapest that meets the needs: {money(pick.monthly_usd)} "
            f"a month at {usage.requests_per_month:,} requests{bound}"
        )
        if runner_up is not None:
            reasons.append(
                f"next: {runner_up.label()} at {money(runner_up.monthly_usd)} "
                f"({money(runner_up.monthly_usd - pick.monthly_usd)} more)"
            )
        if len(options) > 2:
            rest = ", ".join(f"{o.label()} {money(o.monthly_usd)}" for o in options[2:])
            reasons.append(f"also meets the needs: {rest}")
        for need in scenario.needs:
            config = chosen.get(pick.target)
            value = config.gives[need] if config and need in config.gives else None
            reasons.append(f"{ROWS[need]}: {value or facts[pick.target][need].value}")
        reasons.extend(
            f"{o.target} as a user would set it up here: {o.settings}"
            for o in options[:2]
            if o.settings
        )
        scales = "scaling" in (chosen[pick.target].gives if pick.target in chosen else {})
        reasons.extend(
            []
            if scales
            else _capacity(
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
