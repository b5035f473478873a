"""`verify --profile health`: only health and readiness, for an app that is not the sample.

Run for real against a tiny app serving only `/healthz` and `/readyz`: the health profile
passes where the full contract fails, and fails when the app is not ready or refuses a probe
addressed by IP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.verify import run_checks

pytestmark = pytest.mark.unit

Serve = Callable[..., AbstractContextManager[str]]
HEALTH_APP = "health_only_app:create"


def test_health_profile_passes_on_an_app_without_the_sample_contract(serve: Serve) -> None:
    with serve(app=HEALTH_APP, factory=True) as url:
        health = run_checks(url, profile="health")
        full = run_checks(url)
    assert health.ok and health.passed == 4 and health.failed == 0
    assert {r.name for r in health.results} == {
        "test_probe_answers_200[liveness]",
        "test_probe_answers_200[readiness]",
        "test_probe_answers_200_addressed_by_ip[liveness]",
        "test_probe_answers_200_addressed_by_ip[readiness]",
    }
    assert not full.ok and full.failed > 40  # it serves none of the sample app's API


def test_the_cli_runs_the_health_profile(serve: Serve) -> None:
    with serve(app=HEALTH_APP, factory=True) as url:
        done = CliRunner().invoke(app, ["verify", "--url", url, "--profile", "health", "--json"])
    assert done.exit_code == 0, done.output
    [report] = json.loads(done.stdout)
    assert (report["profile"], report["passed"], report["ok"]) == ("health", 4, True)


def test_an_app_that_is_not_ready_fails_readiness_only(serve: Serve) -> None:
    with serve(app=HEALTH_APP, factory=True, HEALTH_APP_NOT_READY="1") as url:
        report = run_checks(url, profile="health")
    failed = {r.name: r.message for r in report.results if r.outcome == "failed"}
    assert sorted(failed) == [
        "test_probe_answers_200[readiness]",
        "test_probe_answers_200_addressed_by_ip[readiness]",
    ]
    assert (
        "readiness probe GET /readyz -> 503, expected 200: database unreachable"
        in (failed["test_probe_answers_200[readiness]"])
    )


def test_an_app_that_refuses_probes_by_ip_fails_them(serve: Serve) -> None:
    with serve(app=HEALTH_APP, factory=True, HEALTH_APP_ALLOWED_HOST="127.0.0.1") as url:
        report = run_checks(url, profile="health")
    failed = {r.name for r in report.results if r.outcome == "failed"}
    assert failed == {
        "test_probe_answers_200_addressed_by_ip[liveness]",
        "test_probe_answers_200_addressed_by_ip[readiness]",
    }
