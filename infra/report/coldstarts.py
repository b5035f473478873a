"""Serverless cold starts a month against traffic, from a measured init time and stated guesses.

A Lambda execution environment that served a request is kept for a while, then reclaimed; the
next request after that pays the cold start (the init time the serverless benchmark measured).
AWS does not publish how long an idle environment is kept, so `IDLE_MINUTES` is an assumption,
stated wherever the figure is shown. Two sources of cold starts are counted:
  - idle gaps: with requests arriving at random (Poisson) at the month's average rate `r`, a
    request finds the environment reclaimed when no request came in the `T` before it, with
    probability exp(-r T); over N requests that is N exp(-r T) cold starts. Low traffic pays
    most: a request every few minutes is mostly cold, a steady stream almost never.
  - scale-out: each day's peak needs ceil(peak rate x duration) environments at once, and each
    beyond the first starts cold once a day as traffic rises.
"""

from __future__ import annotations

import math

from infra.cost.usage import UsageProfile
from infra.report.model import ColdStarts, Figure

IDLE_MINUTES = 10.0  # an assumption: AWS does not document how long idle environments live
TARGET = "serverless"


def per_month(usage: UsageProfile, idle_minutes: float = IDLE_MINUTES) -> float:
    """Cold starts a month at `usage`'s traffic (the model in the module docstring)."""
    n = usage.requests_per_month
    if n <= 0:
        return 0.0
    idle = n * math.exp(-usage.average_rps() * idle_minutes * 60)
    at_peak = math.ceil(usage.peak_rps() * usage.avg_duration_ms / 1000)
    days = usage.hours_running / 24
    return idle + days * max(0, at_peak - 1)


def traffic_points(top: int) -> list[int]:
    """Four points a decade from 1,000 requests a month to `top` (cold starts span decades)."""
    points, exponent = [], 3.0
    while 10**exponent <= top * 1.0001:
        points.append(round(10**exponent))
        exponent += 0.25
    return points


def cold_starts(usage: UsageProfile, init: Figure | None, top: int) -> ColdStarts:
    """The curve the report draws, with where its numbers came from."""
    if init is not None and init.measured and init.measured_at is not None:
        source = (
            f"{init.recorded_as} {init.text()} measured by {init.source} on "
            f"{init.measured_at:%Y-%m-%d}"
        )
    else:
        source = "init time not measured (run the serverless benchmark)"
    model = (
        f"random arrivals at the month's average rate; an environment idle {IDLE_MINUTES:g} "
        "minutes is reclaimed (assumed: AWS does not publish it); plus one cold start a day "
        f"per extra environment the peak needs ({usage.peak_to_average:g}x average, "
        f"{usage.avg_duration_ms:g} ms a request)"
    )
    return ColdStarts(
        target=TARGET,
        init_ms=init.value if init is not None and init.measured else None,
        init_source=source,
        idle_minutes=IDLE_MINUTES,
        model=model,
        points=tuple((n, round(per_month(usage.at(n)), 1)) for n in traffic_points(top)),
    )
