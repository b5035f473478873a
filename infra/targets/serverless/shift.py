"""A gradual traffic shift as CodeDeploy runs one, against the local API Gateway double.

Given the alias, its current version M and a target version N, CodeDeploy writes N and its
weight into the alias's routing configuration step by step (`traffic.plan`), watches the
deployment group's alarm throughout, and ends either with the alias on N alone or, when the
alarm goes off, with the alias back on M and no weight: the automatic rollback. Here the
same steps drive the gateway's routes, on a local time scale (one CodeDeploy minute lasts
`minute_s` seconds, which the output says), and the alarm is the stack's: `ALARM_5XX` 5xx
answers within one alarm period, counted on N's answers only (the stack's alarm counts the
whole API's; with a healthy M the two are the same). The period is not scaled: requests
arrive in real time, and a period cut to seconds would hold too few of them to ever trip.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from infra.sandbox.errors import Progress, SandboxError
from infra.targets.serverless import service
from infra.targets.serverless.traffic import ALARM_5XX, ALARM_PERIOD_S, ShiftPlan

LOCAL_MINUTE_S = 2.0  # one CodeDeploy minute, locally: Canary10Percent5Minutes holds 10 s
POLL_S = 0.25  # how often the alarm looks at the counts (CloudWatch: once a period)


@dataclass(frozen=True)
class ShiftReport:
    """What a shift did: how long, how far, and the alias's requests per version meanwhile."""

    plan: str
    seconds: float
    weight: float  # the new version's share when it ended: 1.0 when it completed
    requests: dict[str, int]
    server_errors: int  # the new version's 5xx answers
    rolled_back: bool


class ShiftRolledBack(SandboxError):
    """The alarm stopped a shift and the alias went back; `report` holds the figures."""

    def __init__(self, message: str, report: ShiftReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Alarm:
    """`threshold` 5xx or more within `period_s`, from cumulative counts sampled over time."""

    threshold: int
    period_s: float
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def breached(self, now: float, errors: int) -> bool:
        self.samples.append((now, errors))
        # Keep the newest sample at or before the window's start: the count it began with.
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.period_s:
            self.samples.popleft()
        return errors - self.samples[0][1] >= self.threshold


def run_shift(
    gateway: service.Gateway,
    *,
    current: str,
    target: str,
    plan: ShiftPlan,
    minute_s: float,
    progress: Progress,
) -> ShiftReport:
    """Walk `plan`'s steps from `current` to `target`; roll back on the alarm."""
    started = time.monotonic()
    baseline = _counts(gateway.state())
    alarm = Alarm(ALARM_5XX, ALARM_PERIOD_S)
    alarm.breached(started, 0)
    for step in plan.steps:
        _route(gateway, current, {target: step.weight})
        hold_s = step.minutes * minute_s
        progress(f"version {target} takes {step.weight:.0%} for {step.minutes} min ({hold_s:g} s)")
        until = time.monotonic() + hold_s
        while time.monotonic() < until:
            errors = _errors(gateway.state(), target, baseline)
            if alarm.breached(time.monotonic(), errors):
                state = _route(gateway, current, {})  # CodeDeploy's rollback: M alone
                return _report(plan, started, step.weight, state, baseline, target, True)
            time.sleep(POLL_S)
    state = _route(gateway, target, {})
    return _report(plan, started, 1.0, state, baseline, target, False)


def _route(gateway: service.Gateway, alias: str, weights: dict[str, float]) -> dict[str, Any]:
    routes = service.Routes.read(gateway.routes_dir)
    routes.alias, routes.weights = alias, weights
    return gateway.apply(routes)


def _counts(state: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        number: (int(v.get("requests", 0)), int(v.get("server_errors", 0)))
        for number, v in state["versions"].items()
    }


def _errors(state: dict[str, Any], version: str, baseline: dict[str, tuple[int, int]]) -> int:
    now = _counts(state).get(version, (0, 0))[1]
    return now - baseline.get(version, (0, 0))[1]


def _report(
    plan: ShiftPlan,
    started: float,
    weight: float,
    state: dict[str, Any],
    baseline: dict[str, tuple[int, int]],
    target: str,
    rolled_back: bool,
) -> ShiftReport:
    now = _counts(state)
    requests = {n: c[0] - baseline.get(n, (0, 0))[0] for n, c in now.items()}
    return ShiftReport(
        plan=plan.name,
        seconds=round(time.monotonic() - started, 2),
        weight=weight,
        requests={n: r for n, r in requests.items() if r},
        server_errors=_errors(state, target, baseline),
        rolled_back=rolled_back,
    )
