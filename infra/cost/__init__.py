"""What a stack costs a month: price data, usage profiles, the cost model and break-evens.

`prices` loads the one versioned price file, `usage` the reader's assumptions, `capacity` the
measured throughput of one instance, `sizing` how many instances the peak needs, `model` turns
an offline plan into charges (`rules` per resource type; `database`, `beanstalk`, `assumed` for
the lines a stack implies), `region` checks where the stack deploys against the prices' region,
and `breakeven` sweeps traffic to find where targets cross and where capacity steps up.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from infra.cost.errors import CostInputError
from infra.cost.model import Estimate, estimate
from infra.cost.prices import load_prices, stale
from infra.cost.usage import UsageProfile, load_usage
from infra.harness import OfflinePlan

__all__ = ["CostInputError", "estimate_plan", "stale_prices_used"]


def estimate_plan(
    plan: OfflinePlan,
    usage: UsageProfile | str | Path = "default",
    requests_per_month: int | None = None,
) -> Estimate:
    """`plan`'s monthly cost under a usage profile, loaded or named (optionally at another
    traffic)."""
    profile = usage if isinstance(usage, UsageProfile) else load_usage(usage)
    if requests_per_month is not None:
        profile = profile.at(requests_per_month)
    return estimate(plan, profile, load_prices())


def stale_prices_used(est: Estimate, today: date | None = None) -> list[str]:
    """Warnings for the prices this estimate used that are older than a year, or undated."""
    used = est.price_keys()
    old = stale(load_prices(), today or date.today())
    return [s.message() for s in old if s.key in used]
