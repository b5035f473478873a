"""Run the HTTP contract (plus a target's testinfra modules) and report per-check results.

pytest runs in-process, isolated from whatever project surrounds it: the contract directory
(or the common ancestor with the extra modules) is the rootdir, its own pytest.ini is the
config (`-c`), and the cache plugin is off, so the same call works from a checkout, from an
installed wheel and from any working directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field, computed_field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.contract import CONTRACT_DIR, CONTRACT_INI, MAX_INSTANCES, PROFILES, Profile
from infra.contract.config import TARGETS

Outcome = Literal["passed", "failed", "error", "skipped"]
_MESSAGE_LIMIT = 500
_CONTRACT_FILES = {module.name for modules in PROFILES.values() for module in modules}


class CheckResult(BaseModel):
    nodeid: str
    outcome: Outcome
    duration_s: float
    message: str = ""

    @property
    def name(self) -> str:
        """The check's name; contract checks drop their file name for readability."""
        path, sep, rest = self.nodeid.partition("::")
        return rest if sep and Path(path).name in _CONTRACT_FILES else self.nodeid


class VerifyReport(BaseModel):
    base_url: str
    expect_target: str | None = None
    profile: Profile = "full"
    instances: int = 1
    exit_code: int
    duration_s: float
    results: list[CheckResult] = Field(default_factory=list)
    # pytest's own console output: kept for diagnosing usage errors, left out of the JSON.
    output: str = Field(default="", exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> int:
        return sum(r.outcome == "passed" for r in self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> int:
        return sum(r.outcome in ("failed", "error") for r in self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def skipped(self) -> int:
        return sum(r.outcome == "skipped" for r in self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.passed > 0

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


class _Collector:
    """pytest plugin: one CheckResult per test, folding setup/call/teardown together."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}

    def _record(self, nodeid: str, outcome: Outcome, duration: float, message: str) -> None:
        previous = self.results.get(nodeid)
        if previous is not None:
            duration += previous.duration_s
            if previous.outcome != "passed":  # the first problem is the one to report
                outcome, message = previous.outcome, previous.message
        self.results[nodeid] = CheckResult(
            nodeid=nodeid, outcome=outcome, duration_s=round(duration, 3), message=message
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome: Outcome
        if report.passed:
            outcome, message = "passed", ""
        elif report.skipped:
            outcome, message = "skipped", _skip_reason(report)
        else:
            outcome = "failed" if report.when == "call" else "error"
            message = _failure_message(report)
        self._record(report.nodeid, outcome, report.duration, message)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._record(report.nodeid or "collection", "error", 0.0, _failure_message(report))


def _failure_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else report.longreprtext
    return " ".join(text.split())[:_MESSAGE_LIMIT]


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_checks(
    base_url: str,
    *,
    expect_target: str | None = None,
    profile: Profile = "full",
    instances: int = 1,
    extra_modules: Sequence[Path] = (),
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    write_token: str | None = None,
) -> VerifyReport:
    """Run the contract's `profile` against `base_url`, served by `instances` instances (and
    `extra_modules`, e.g. testinfra checks that need `--hosts=...` in `extra_args`) with `env`
    set for the duration of the run.

    `write_token` is the deployment's token for the write checks. It travels as an argument of
    this in-process pytest run, never through the environment or a command line."""
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {base_url!r} is not valid: use http://HOST[:PORT] or https://")
    if expect_target is not None and expect_target not in TARGETS:
        raise ValueError(f"expect_target {expect_target!r} is not valid: use one of {TARGETS}")
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not valid: use one of {', '.join(PROFILES)}")
    if not 1 <= instances <= MAX_INSTANCES:
        raise ValueError(f"instances {instances} is not valid: use 1 to {MAX_INSTANCES}")
    missing = [str(m) for m in extra_modules if not Path(m).is_file()]
    if missing:
        raise ValueError(f"check modules not found: {', '.join(missing)}")
    modules = [Path(m).resolve() for m in extra_modules]
    # The common ancestor as rootdir gives every test a distinct node id (files outside the
    # rootdir would all be "::test_name") and lets the extra modules' own conftest.py load.
    root = Path(os.path.commonpath([CONTRACT_DIR, *(m.parent for m in modules)]))
    args = [
        *map(str, PROFILES[profile]),
        *map(str, modules),
        "-c",
        str(CONTRACT_INI),
        "--rootdir",
        str(root),
        "--confcutdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "-s",  # nothing to capture: the suite prints nothing, the output is ours below
        "-q",
        "--no-header",
        "--base-url",
        base_url,
        *(["--expect-target", expect_target] if expect_target else []),
        "--instances",
        str(instances),
        # One argument with "=": a token may begin with "-" (token_urlsafe's alphabet), which
        # pytest's option parser would otherwise take for an option of its own.
        *([f"--write-token={write_token}"] if write_token else []),
        *extra_args,
    ]
    collector = _Collector()
    output = io.StringIO()
    started = time.perf_counter()
    with _environment(env), contextlib.redirect_stdout(output):
        exit_code = int(pytest.main(args, plugins=[collector]))
    return VerifyReport(
        base_url=base_url,
        expect_target=expect_target,
        profile=profile,
        instances=instances,
        exit_code=exit_code,
        duration_s=round(time.perf_counter() - started, 2),
        results=list(collector.results.values()),
        output=output.getvalue(),
    )


_STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "skipped": "yellow"}


def render(report: VerifyReport, console: Console) -> None:
    """A table of checks; failures carry their message. Usage errors show pytest's output."""
    table = Table(title=f"contract: {escape(report.base_url)}", title_justify="left")
    table.add_column("check", overflow="fold")
    table.add_column("result")
    table.add_column("s", justify="right")
    table.add_column("detail", overflow="fold")
    for result in report.results:
        style = _STYLE[result.outcome]
        table.add_row(
            escape(result.name),
            f"[{style}]{result.outcome}[/]",
            f"{result.duration_s:.2f}",
            escape(result.message),
        )
    console.print(table)
    if not report.results:
        console.print(
            escape(report.output.strip() or f"pytest exited with code {report.exit_code}")
        )
    verdict = "[green]OK[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(
        f"{verdict}: {report.passed} passed, {report.failed} failed, {report.skipped} skipped "
        f"in {report.duration_s:.1f}s (target: {report.expect_target or 'any'}, "
        f"profile: {report.profile}, instances: {report.instances})"
    )
