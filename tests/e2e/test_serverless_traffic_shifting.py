"""Gradual traffic shifting on the serverless stand-in: CodeDeploy's steps on the gateway double.

The stack file is the committed one with `trafficShifting` set, as a user sets it. One
CodeDeploy minute lasts MINUTE_S seconds here (the sandbox's local time scale). Every test runs
a bounded request loop through the gateway (127.0.0.1) while a release shifts:

- a healthy release under Linear10PercentEvery1Minute: both versions answer during the shift,
  the new one's share grows, the alias ends on it, 0 failed requests;
- a release that passes every pre-traffic check (init, migration, `/readyz`) but answers
  `/hello` with 500, under Canary10Percent5Minutes: the alarm (5 5xx within one alarm period)
  sends the alias back; the failed requests are the new version's and bounded by its 10%.

Tests run in file order against one sandbox.
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from rich.console import Console

from infra import results
from infra.config import STACKS_DIR, LoadedStack, read_stack
from infra.targets import Endpoint
from infra.targets.serverless.sandbox import ServerlessSandbox
from infra.targets.serverless.shift import ShiftRolledBack
from infra.targets.serverless.traffic import ALARM_5XX, plan
from infra.testing.load import RequestLoop
from infra.testing.releases import code_change, fails_under_traffic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

QUIET = Console(quiet=True)
MINUTE_S = 1.5
LINEAR = "Linear10PercentEvery1Minute"
CANARY = "Canary10Percent5Minutes"


def _stack(directory: Path, shifting: str) -> LoadedStack:
    """The committed stack file with `shipways:trafficShifting` set."""
    data = yaml.safe_load((STACKS_DIR / "Pulumi.serverless.yaml").read_text())
    data["config"]["shipways:trafficShifting"] = shifting
    (directory / "Pulumi.serverless.yaml").write_text(yaml.safe_dump(data))
    return read_stack("serverless", directory)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stacks")


@pytest.fixture(scope="module")
def box() -> Iterator[ServerlessSandbox]:
    sandbox = ServerlessSandbox(f"shipways-test-lambdashift-{uuid.uuid4().hex[:6]}")
    try:
        yield sandbox
    finally:
        sandbox.down(QUIET)


@pytest.fixture(scope="module")
def first(box: ServerlessSandbox, stacks: Path) -> Endpoint:
    # The first version: nothing to shift from, the alias is created on it.
    return box.up(QUIET, stack=_stack(stacks, LINEAR))


def _release(box: ServerlessSandbox, changes: dict[str, bytes]) -> ServerlessSandbox:
    return ServerlessSandbox(box.instance, app_changes=changes, shift_minute_s=MINUTE_S)


def test_a_healthy_release_shifts_linearly_with_no_failed_request(
    box: ServerlessSandbox, stacks: Path, first: Endpoint
) -> None:
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        second = _release(box, code_change()).up(QUIET, stack=_stack(stacks, LINEAR))
    up_s = time.monotonic() - started
    assert load.failed == 0, load.errors[:5]
    assert second.url == first.url
    assert second.extra["version"] != first.extra["version"]
    old, new = set(first.extra["instances"]), set(second.extra["instances"])
    answers = ["new" if i in new else "old" if i in old else i for i in load.answered_by]
    assert set(answers) == {"old", "new"}, set(answers)
    # The shift: from the new version's first answer to the old one's last, both answered,
    # interleaved, and the new one's share grew from the first half to the second.
    start = answers.index("new")
    end = len(answers) - answers[::-1].index("old")
    during = answers[start:end]
    changes = sum(a != b for a, b in itertools.pairwise(during))
    assert changes >= 8, during  # not one switch: many interleavings
    half = len(during) // 2
    assert during[:half].count("new") < during[half:].count("new"), during
    assert all(a == "new" for a in answers[end:])  # the alias ends on the new version
    shift_s = results.load().latest("serverless", "traffic_shift_seconds")
    assert shift_s is not None
    assert shift_s.value >= plan(LINEAR).minutes * MINUTE_S  # every step was held
    results.record("serverless", "shift_failed_requests", load.failed, "count", "e2e")
    results.record("serverless", "shift_requests_new", answers.count("new"), "count", "e2e")
    results.record("serverless", "shift_requests_old", answers.count("old"), "count", "e2e")
    print(  # the figures the report quotes
        f"\nlinear shift: {shift_s.value:g} s (up {up_s:.1f} s); {load.total} requests, "
        f"{load.failed} failed; during the shift {during.count('old')} old / "
        f"{during.count('new')} new; overall {answers.count('old')} old / "
        f"{answers.count('new')} new"
    )


def test_a_release_failing_under_traffic_is_rolled_back_by_the_alarm(
    box: ServerlessSandbox, stacks: Path
) -> None:
    before = box.endpoint()
    assert before is not None
    release = _release(box, fails_under_traffic())
    with (
        RequestLoop(before.url, path="/hello") as load,
        pytest.raises(ShiftRolledBack, match="rolled back") as rolled,
    ):
        release.up(QUIET, stack=_stack(stacks, CANARY))
    report = rolled.value.report
    assert f"back on version {before.extra['version']}" in str(rolled.value)
    assert report.rolled_back and report.weight == pytest.approx(0.1)
    assert report.seconds < plan(CANARY).minutes * MINUTE_S  # stopped before the step ended
    # The alias is back where it was: same address, same version and instances.
    assert box.endpoint() == before
    assert httpx.get(f"{before.url}/hello", timeout=10).status_code == 200
    # Every failed request was a 5xx of the new version; enough to trip the alarm, and no
    # more than the new version's 10% share of the requests during the shift (spread evenly
    # by the gateway, so at most one above the exact share). The report is read when the
    # alias goes back: the loop's one request in flight then may still fail after it.
    (new_version,) = set(report.requests) - {before.extra["version"]}
    new_requests = report.requests[new_version]
    during = sum(report.requests.values())
    assert load.failed == load.statuses[500], load.statuses
    assert ALARM_5XX <= report.server_errors <= load.failed <= report.server_errors + 1
    assert new_requests <= math.ceil(0.1 * during) + 1
    assert load.failed <= new_requests + 1
    assert load.failed <= math.ceil(0.1 * load.total) + 1
    results.record("serverless", "shift_rollback_failed_requests", load.failed, "count", "e2e")
    results.record("serverless", "shift_rollback_seconds", report.seconds, "s", "e2e")
    print(
        f"\ncanary rollback: {report.seconds:g} s; {load.total} requests, {load.failed} failed "
        f"(5xx of the new version); during the shift {report.requests}"
    )
