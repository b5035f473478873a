"""The main job reads like a tool: a successful `shipways demo` prints under 100 lines, none
wider than 100 columns, one line per step, and puts the raw detail in a log it names.

The sandboxes, checks and load runs are fakes that narrate as the real ones do (a step per
stage, chatty notes and progress), so only the rendering is under test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from infra import cli, local_app, measure_pass, results, verify
from infra.demo import Outcome
from infra.loadgen import LoadResult
from infra.sandbox.narrate import Narrator
from infra.targets import Endpoint, TargetName
from infra.verify import CheckResult, VerifyReport

pytestmark = pytest.mark.unit

STEPS = ("image", "create", "provision", "deploy", "health")
RAW = "apt-get: Unpacking libssl3:amd64 (3.0.15-1~deb12u1) over (3.0.14-1) ..."


# What each fake `up` spends building its artifact: the vps one finds its artifact built.
BUILD_S = {TargetName.VPS: None, TargetName.PAAS: 0.5, TargetName.K8S: 41.0}


class FakeSandbox:
    def __init__(self, name: TargetName) -> None:
        self.name = name
        self.proves = f"{name.value} proves what a stand-in can"
        self.last_build_s: float | None = None

    def up(self, console: Console, *, stack: Any) -> Endpoint:
        narrator = Narrator(console, self.name.value)
        for step_name in STEPS:
            with narrator.step(step_name, f"doing {step_name}") as step:
                for _ in range(40):  # a build log: detail, never on screen
                    step.progress(RAW)
                    step.note(RAW)
                step.result(f"{step_name} done")
        self._serving = Endpoint(target=self.name, url="http://127.0.0.1:40123")
        self.last_build_s = BUILD_S.get(self.name, 9.25)
        return self._serving

    def endpoint(self) -> Endpoint | None:
        return self._serving

    _serving: Endpoint | None = None


def _report(url: str, checks: int) -> VerifyReport:
    results = [
        CheckResult(nodeid=f"test_contract.py::test_{i}", outcome="passed", duration_s=0.01)
        for i in range(checks)
    ]
    return VerifyReport(base_url=url, exit_code=0, duration_s=1.0, results=results)


class FakePass:
    def __init__(self, box: FakeSandbox, stack: Any, narrator: Narrator, *_: Any) -> None:
        self.narrator = narrator

    def run(self, endpoint: Endpoint) -> str:
        for name in ("load", "memory", "build", "redeploy", "rollback"):
            with self.narrator.step(name, f"measuring {name}") as step:
                step.note(RAW)
                step.result(f"{name}: 1,234 req/s, p99 5.1 ms (0.9x uvicorn); netns-loopback")
        return "/hello 1,234 req/s (0.9x)"


def _load(path: str) -> LoadResult:
    return LoadResult(
        url=path, connections=8, requests=100, errors=0, rps=2000.0,
        p50_ms=1.0, p90_ms=2.0, p99_ms=3.0, max_ms=4.0,
    )  # fmt: skip


@contextmanager
def _running(**_: Any) -> Iterator[str]:
    yield "http://127.0.0.1:40999"


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(tmp_path / "results.json"))
    slices = [SimpleNamespace(name=t, sandbox=lambda t=t: FakeSandbox(t)) for t in TargetName]
    monkeypatch.setattr(cli, "slices", lambda: iter(slices))
    monkeypatch.setattr(cli, "read_stack", lambda name: SimpleNamespace(name=name))
    monkeypatch.setattr(cli, "_verify_target", lambda box, e: [_report(e.url, 60)] * 2)
    monkeypatch.setattr(verify, "run_checks", lambda url, **_: _report(url, 59))
    monkeypatch.setattr(local_app, "running", _running)
    monkeypatch.setattr(measure_pass, "Pass", FakePass)
    monkeypatch.setattr(
        measure_pass.Baselines, "of", lambda self, workers: {p: _load(p) for p in ("/hello",)}
    )
    return tmp_path


def test_a_successful_demo_is_short_narrow_and_names_its_log(fakes: Path) -> None:
    done = CliRunner().invoke(cli.app, ["demo"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert len(lines) < 100, done.output
    log = Path(lines[-1])  # the log's path, on a line of its own (a path cannot wrap)
    assert max(len(line) for line in lines[:-1]) <= 100, done.output
    assert RAW not in done.output  # raw tool output went to the log
    for target in TargetName:  # every step one line, every target one summary line
        assert f"{target.value} provision provision done" in done.output
        assert f"{target.value} ok: 120 checks passed, http://127.0.0.1:40123" in done.output
    assert log.parent == fakes / "home" / "logs"
    assert RAW in log.read_text()
    assert "test_0" in log.read_text()  # the check tables, there instead of on screen
    recorded = results.load()
    for target in TargetName:  # nothing was serving before: each up was a cold deploy
        assert recorded.latest(target.value, "cold_deploy_seconds") is not None
        assert recorded.latest(target.value, "up_seconds") is not None
        built = recorded.latest(target.value, "artifact_build_seconds")  # the cold build
        assert (built and built.value) == BUILD_S.get(target, 9.25)  # vps: none was built


def test_a_target_already_serving_records_no_cold_build(
    fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` of a target that serves already is a redeploy: its build, if any, is no cold one."""
    serving = Endpoint(target=TargetName.K8S, url="http://127.0.0.1:40123")
    monkeypatch.setattr(FakeSandbox, "_serving", serving)
    done = CliRunner().invoke(cli.app, ["demo", "--only", "k8s"])
    assert done.exit_code == 0, done.output
    recorded = results.load()
    assert recorded.latest("k8s", "up_seconds") is not None
    assert recorded.latest("k8s", "cold_deploy_seconds") is None
    assert recorded.latest("k8s", "artifact_build_seconds") is None


def test_verbose_shows_the_detail_on_screen(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_print_compact_comparison", lambda where: None)
    done = CliRunner().invoke(cli.app, ["demo", "--only", "vps", "--verbose"])
    assert done.exit_code == 0, done.output
    assert RAW in done.output


def test_a_failed_target_shows_the_last_lines_of_the_log(
    fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.sandbox.errors import SandboxError

    def broken(self: FakeSandbox, console: Console, *, stack: Any) -> Endpoint:
        narrator = Narrator(console, self.name.value)
        narrator.note("E: Unable to locate package nginx")
        raise SandboxError("provisioning failed: apt-get install nginx exited 100")

    monkeypatch.setattr(FakeSandbox, "up", broken)
    monkeypatch.setattr(cli, "_print_compact_comparison", lambda where: None)
    done = CliRunner().invoke(cli.app, ["demo", "--only", "vps", "--quick"])
    assert done.exit_code == 1
    assert "vps: FAILED provisioning failed" in done.output
    assert "last lines of" in done.output
    assert "E: Unable to locate package nginx" in done.output


def test_a_summary_line_keeps_checks_url_and_time_and_the_figures_that_fit() -> None:
    outcome = Outcome(
        target="serverless",
        url="http://127.0.0.1:47949",
        ok=True,
        checks_passed=76,
        seconds=47.2,
        measured=["/hello 434 req/s (0.07x)", "redeploy 0 of 159 requests failed", "cold 1 s"],
    )
    wide = outcome.line(200)
    assert wide.endswith(
        "47s; /hello 434 req/s (0.07x); redeploy 0 of 159 requests failed; cold 1 s"
    )
    narrow = Text.from_markup(outcome.line(100)).plain
    assert len(narrow) <= 100
    assert narrow == (
        "serverless ok: 76 checks passed, http://127.0.0.1:47949, 47s; /hello 434 req/s (0.07x)"
    )
