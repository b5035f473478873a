"""The main job (`shipways demo`): every target up, verified, measured, then compared.

It reads like a tool: each step prints one line (its name, what came of it, how long it
took), each target ends with one summary line, and the end is a comparison that fits 100
columns. Everything raw (image builds, installs, provisioning output, the check tables) goes
to a log file named at the end; it is shown only when something fails (its last lines) or
with `--verbose`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from infra import results
from infra.config import ConfigError, LoadedStack
from infra.sandbox.errors import SandboxError
from infra.sandbox.narrate import Narrator, details_to
from infra.targets import Endpoint, NotSupported, Sandbox

if TYPE_CHECKING:
    from infra.verify import VerifyReport

FAILURES = (NotSupported, ConfigError, SandboxError)
TAIL_LINES = 30
SOURCE = "shipways demo"
# A fresh target's `up` that had to build its artifact (a machine with it cached reuses it).
COLD_BUILD = "artifact_build_seconds"
WIDTH = 100

Verify = Callable[[Sandbox, Endpoint], "list[VerifyReport]"]
ReadStack = Callable[[str], LoadedStack]
Measure = Callable[[Sandbox, LoadedStack, Endpoint, Narrator], list[str]]


@dataclass
class Outcome:
    """How one target (or the uvicorn baseline) did: one summary line, and JSON."""

    target: str
    url: str = ""
    ok: bool = False
    checks_passed: int = 0
    checks_failed: int = 0
    up_seconds: float | None = None
    seconds: float = 0.0
    measured: list[str] = field(default_factory=list)  # the pass's headline figures
    proves: str = ""
    problem: str = ""

    def line(self, width: int = WIDTH) -> str:
        """One line: checks, URL and time always; then as many measured figures (most telling
        first) as fit in `width` columns; `shipways compare` shows them all."""
        if self.problem:
            return f"[bold red]{self.target}: FAILED[/] {self.problem}"
        mark = "[green]ok[/]" if self.ok else "[bold red]FAILED[/]"
        checks = f"{self.checks_passed} checks passed"
        if self.checks_failed:
            checks += f", {self.checks_failed} failed"
        head = f"{self.target} {'ok' if self.ok else 'FAILED'}: {checks}, {self.url}, "
        figures = f"{self.seconds:.0f}s"
        for part in self.measured:
            if len(head) + len(figures) + 2 + len(part) > width:
                break
            figures += f"; {part}"
        return f"[bold]{self.target}[/] {mark}: {checks}, {self.url}, {figures}"

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            "ok": self.ok,
            "checks_passed": self.checks_passed,
            "checks_failed": self.checks_failed,
            "up_seconds": None if self.up_seconds is None else round(self.up_seconds, 1),
            "seconds": round(self.seconds, 1),
            "measured": "; ".join(self.measured),
            "proves": self.proves,
            "problem": self.problem,
        }


@dataclass
class MainJob:
    """One run of the main job; `out` is what the user reads, `log` the raw detail."""

    out: Console
    log: Console
    read_stack: ReadStack
    verify: Verify
    measure: Measure | None = None  # None: --quick
    outcomes: list[Outcome] = field(default_factory=list)

    def run_target(self, box: Sandbox) -> Outcome:
        name = box.name.value
        outcome = Outcome(target=name, proves=box.proves)
        started = time.perf_counter()
        narrator = Narrator(self.out, name)
        try:
            stack = self.read_stack(name)
            fresh = box.endpoint() is None  # nothing serving yet: this up is a cold deploy
            endpoint = box.up(self.out, stack=stack)
            outcome.up_seconds = time.perf_counter() - started
            results.record(name, "up_seconds", outcome.up_seconds, "s", SOURCE)
            if fresh:
                results.record(name, "cold_deploy_seconds", outcome.up_seconds, "s", SOURCE)
                if box.last_build_s is not None:  # it built its artifact: none was cached
                    results.record(name, COLD_BUILD, round(box.last_build_s, 2), "s", SOURCE)
            outcome.url = endpoint.url
            with narrator.step("verify", "running the HTTP contract and the host checks") as step:
                reports = self.verify(box, endpoint)
                outcome.checks_passed = sum(r.passed for r in reports)
                outcome.checks_failed = sum(r.failed for r in reports)
                outcome.ok = bool(reports) and all(r.ok for r in reports)
                step.result(_checks_line(reports))
            if self.measure is not None:
                outcome.measured = self.measure(box, stack, endpoint, narrator)
        except FAILURES as exc:
            outcome.ok = False
            outcome.problem = " ".join(str(exc).split())[:300]
        outcome.seconds = time.perf_counter() - started
        self.out.print(outcome.line(self.out.width), highlight=False, soft_wrap=False)
        self.outcomes.append(outcome)
        return outcome


def _checks_line(reports: list[VerifyReport]) -> str:
    passed = sum(r.passed for r in reports)
    failed = sum(r.failed for r in reports)
    urls = len(reports)
    said = f"{passed} passed" + (f", {failed} FAILED" if failed else "")
    return f"{said} on {urls} URL{'s' if urls != 1 else ''}"


def screen(*, stderr: bool = False) -> Console:
    """The console the main job prints on: the terminal's width up to 100 columns, and 100
    when the output goes to a file (so a saved run reads as it did on screen)."""
    probe = Console(stderr=stderr)
    width = min(probe.width, WIDTH) if probe.is_terminal else WIDTH
    return Console(stderr=stderr, width=width)


def log_path(directory: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return directory / f"demo-{stamp}.log"


@contextmanager
def detail_log(path: Path, *, verbose: bool) -> Iterator[Console]:
    """A console writing to `path`; unless `verbose`, every sandbox's detail lines go there."""
    with path.open("w", encoding="utf-8") as sink:
        log = Console(file=sink, width=120, no_color=True, force_terminal=False)
        with nullcontext() if verbose else details_to(log):
            yield log


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
