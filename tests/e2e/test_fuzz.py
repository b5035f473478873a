"""Schemathesis against every local target: no 5xx, every response as documented.

One instance per target (`shipways-test-<target>-fuzz`), brought up once for the module and
removed at the end. Bounded: 20 examples per operation and data mode, requests only to
127.0.0.1; the count tried per target is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.console import Console

from infra import local_app, results
from infra.config import TargetName, read_stack
from infra.proof.fuzz import FuzzReport, FuzzSetupError, fuzz
from infra.sandbox import tokens
from infra.targets import Sandbox, slice_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MAX_EXAMPLES = 20
QUIET = Console(quiet=True)


def _check(report: FuzzReport) -> None:
    assert report.requests >= 5 * report.operations, f"only {report.requests} requests tried"
    assert report.server_errors == 0, report.statuses
    assert not report.failures, "\n".join(str(f) for f in report.failures)
    # the schema's interesting answers all happened: valid, invalid and missing data
    assert {200, 201, 404, 422} <= set(report.statuses), report.statuses


def test_local_baseline_conforms() -> None:
    token = tokens.generate()
    with local_app.running(write_token=token) as url:
        report = fuzz("local", url, max_examples=MAX_EXAMPLES, write_token=token)
    _check(report)


@pytest.fixture(scope="module", params=list(TargetName), ids=lambda t: t.value)
def target(request: pytest.FixtureRequest) -> Iterator[tuple[TargetName, Sandbox, str]]:
    name: TargetName = request.param
    box = slice_of(name).sandbox(f"shipways-test-{name.value}-fuzz")
    try:
        endpoint = box.up(QUIET, stack=read_stack(name.value))
        yield name, box, endpoint.url
    finally:
        box.down(QUIET)


def test_target_conforms_to_its_schema(target: tuple[TargetName, Sandbox, str]) -> None:
    name, box, url = target
    report = fuzz(name.value, url, max_examples=MAX_EXAMPLES, write_token=box.token())
    results.record(name.value, "fuzz_requests", report.requests, "requests", "tests/e2e/test_fuzz")
    _check(report)


def test_only_loopback_targets_are_fuzzed() -> None:
    with pytest.raises(FuzzSetupError, match=r"only targets on 127\.0\.0\.1"):
        fuzz("elsewhere", "http://203.0.113.9:8000")
