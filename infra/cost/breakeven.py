"""Cost versus traffic, and the traffic levels where one target becomes cheaper than another.

Every monthly cost here is the model's estimate re-run at another request count, so the curves
include every kink the prices have (free-tier allowances running out, API Gateway's 300M
tier). A break-even is found by scanning a grid for a change of sign in the difference of two
curves, then bisecting that grid cell down to a single request.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from infra.cost.model import Estimate, estimate
from infra.cost.prices import PriceBook
from infra.cost.sizing import size
from infra.cost.usage import UsageProfile
from infra.harness import OfflinePlan

CostFn = Callable[[float], float]
SWEEP_MAX = 100_000_000
SWEEP_STEPS = 200


class BreakEven(BaseModel):
    """Below `requests_per_month`, `cheaper_below` costs less; above it, `cheaper_above` does."""

    model_config = ConfigDict(frozen=True)

    cheaper_below: str
    cheaper_above: str
    requests_per_month: int
    monthly_usd: float


class CapacityStep(BaseModel):
    """From `requests_per_month` on, the target needs `servers` (and `nodes`)."""

    requests_per_month: int
    servers: int
    nodes: int


def capacity_steps(
    plan: OfflinePlan, usage: UsageProfile, prices: PriceBook, points: list[int]
) -> list[CapacityStep]:
    """Every traffic level in the grid's range where the target's sizing changes (the first
    point's sizing included), each found to within one request: the steps in the sweep."""

    def sized(requests: float) -> tuple[int, int]:
        found = size(plan, usage.at(requests), prices)
        return found.servers, found.nodes

    first = sized(points[0])
    steps = [CapacityStep(requests_per_month=points[0], servers=first[0], nodes=first[1])]
    last_n, last = points[0], first
    for n in points[1:]:
        now = sized(n)
        if now != last:
            lo, hi = float(last_n), float(n)
            while hi - lo > 1:
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if sized(mid) == last else (lo, mid)
            servers, nodes = sized(hi)
            steps.append(CapacityStep(requests_per_month=int(hi), servers=servers, nodes=nodes))
        last_n, last = n, now
    return steps


def cost_at(plan: OfflinePlan, usage: UsageProfile, prices: PriceBook) -> CostFn:
    def monthly(requests: float) -> float:
        return at(plan, usage, prices, requests).monthly

    return monthly


def at(plan: OfflinePlan, usage: UsageProfile, prices: PriceBook, requests: float) -> Estimate:
    return estimate(plan, usage.at(requests), prices)


def grid(maximum: int = SWEEP_MAX, steps: int = SWEEP_STEPS) -> list[int]:
    return [round(maximum * i / steps) for i in range(steps + 1)]


def sweep(fn: CostFn, points: list[int]) -> list[tuple[int, float]]:
    return [(n, fn(n)) for n in points]


def _bisect(diff: CostFn, lo: float, hi: float) -> float:
    """The request count in (lo, hi] where `diff` changes sign, to within one request."""
    low_sign = diff(lo) > 0
    while hi - lo > 1:
        mid = (lo + hi) / 2
        if (diff(mid) > 0) == low_sign:
            lo = mid
        else:
            hi = mid
    return hi


def break_evens(
    names: tuple[str, str], fns: tuple[CostFn, CostFn], points: list[int]
) -> list[BreakEven]:
    """Every traffic level in the grid's range where the cheaper of the two targets changes."""
    (a, b), (fa, fb) = names, fns

    def diff(n: float) -> float:
        return fa(n) - fb(n)

    found: list[BreakEven] = []
    last_n, last_sign = points[0], 0
    for n in points:
        d = diff(n)
        sign = (d > 0) - (d < 0)
        if sign == 0:
            continue
        if last_sign and sign != last_sign:
            where = _bisect(diff, last_n, n)
            below, above = (a, b) if last_sign < 0 else (b, a)
            found.append(
                BreakEven(
                    cheaper_below=below,
                    cheaper_above=above,
                    requests_per_month=int(where),
                    monthly_usd=round(fa(where), 4),
                )
            )
        last_n, last_sign = n, sign
    return found
