"""CodeDeploy's Lambda deployment configurations as steps, and the alarm that stops a shift,
without containers."""

from __future__ import annotations

import pytest

from infra.targets.serverless.shift import Alarm
from infra.targets.serverless.traffic import ALARM_5XX, Step, plan

pytestmark = pytest.mark.unit


def test_all_at_once_has_no_steps() -> None:
    shift = plan("AllAtOnce")
    assert not shift.gradual and shift.minutes == 0
    assert shift.deployment_config == "CodeDeployDefault.LambdaAllAtOnce"


def test_a_canary_holds_its_share_then_moves_everything() -> None:
    shift = plan("Canary10Percent5Minutes")
    assert shift.steps == (Step(0.1, 5),)
    assert shift.deployment_config == "CodeDeployDefault.LambdaCanary10Percent5Minutes"


def test_linear_adds_its_share_every_interval_until_the_last_step() -> None:
    shift = plan("Linear10PercentEvery1Minute")
    assert [round(s.weight, 2) for s in shift.steps] == [
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
    ]
    assert {s.minutes for s in shift.steps} == {1} and shift.minutes == 9
    assert plan("Linear10PercentEvery10Minutes").minutes == 90
    assert plan("Linear10PercentEvery2Minutes").deployment_config == (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
    )


def test_the_alarm_counts_errors_within_one_period_only() -> None:
    alarm = Alarm(ALARM_5XX, period_s=10)
    assert not alarm.breached(0, 0)
    assert not alarm.breached(5, 4)  # 4 in the first 5 s
    assert not alarm.breached(16, 8)  # the window (6..16] began with 4: 4 more
    assert alarm.breached(17, 9)  # 5 within the window: the alarm goes off


def test_errors_spread_thinner_than_the_threshold_never_trip_it() -> None:
    alarm = Alarm(ALARM_5XX, period_s=10)
    errors = 0
    for second in range(0, 120, 5):
        errors += 2  # 4 per 10 s
        assert not alarm.breached(second, errors), second
