"""Gradual traffic shifting: CodeDeploy's predefined Lambda deployment configurations as steps.

One definition for the stack and the sandbox. The stack names the configuration to CodeDeploy
(`CodeDeployDefault.Lambda<name>`) and creates the alarm that stops a shift; the sandbox's
API Gateway double walks the same steps (on a local time scale) and watches the same
threshold. A step is what CodeDeploy writes into the alias's routing configuration
(`AdditionalVersionWeights`): the new version's share of the alias's requests, held for some
minutes before the next step; after the last one the alias points at the new version alone.

- `Canary<P>Percent<M>Minutes`: P% for M minutes, then 100%.
- `Linear<P>PercentEvery<M>Minute(s)`: P%, 2P%, ... each for M minutes, then 100%.
- `AllAtOnce`: no steps: the alias moves in one update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config import TrafficShifting

# The alarm that stops a shift and sends the alias back: this many 5xx answers from the API
# in one alarm period. A count, not a rate, so a 10% canary under light traffic still trips
# it; an absolute count also means a busy API trips it on fewer errors per request.
ALARM_5XX = 5
ALARM_PERIOD_S = 60
ALL_AT_ONCE = "AllAtOnce"

_CANARY = re.compile(r"^Canary(\d+)Percent(\d+)Minutes$")
_LINEAR = re.compile(r"^Linear(\d+)PercentEvery(\d+)Minutes?$")


@dataclass(frozen=True)
class Step:
    weight: float  # the new version's share of the alias's requests, 0..1
    minutes: int  # how long CodeDeploy holds it before the next step


@dataclass(frozen=True)
class ShiftPlan:
    name: TrafficShifting
    steps: tuple[Step, ...]  # before the alias points at the new version alone

    @property
    def deployment_config(self) -> str:
        """CodeDeploy's name for it (a predefined configuration: nothing to create)."""
        return f"CodeDeployDefault.Lambda{self.name}"

    @property
    def minutes(self) -> int:
        return sum(step.minutes for step in self.steps)

    @property
    def gradual(self) -> bool:
        return bool(self.steps)


def plan(name: TrafficShifting) -> ShiftPlan:
    """The steps of a configuration name (validated by the config model already)."""
    if name == ALL_AT_ONCE:
        return ShiftPlan(name, ())
    canary = _CANARY.match(name)
    if canary:
        percent, minutes = map(int, canary.groups())
        return ShiftPlan(name, (Step(percent / 100, minutes),))
    linear = _LINEAR.match(name)
    if linear:
        percent, minutes = map(int, linear.groups())
        weights = range(percent, 100, percent)
        return ShiftPlan(name, tuple(Step(w / 100, minutes) for w in weights))
    raise ValueError(f"{name!r} is not a CodeDeploy Lambda deployment configuration")
