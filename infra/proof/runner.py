"""`shipways proof`: every proof across the targets, and one summary.

Order: the offline proofs first (policy over each stack's resource graph, bad config, the
dependency audit), then the artifacts (built and scanned), then the running targets: each is
brought up on its own proof instance (`shipways-proof-<target>`, never the demo's, since the
proof fuzzes, kills and restarts what it runs on; idempotent: reused when it is already up),
fuzzed from the app's schema, and the VPS is put through its faults.

The summary has one row per target: requests tried, policy violations, bad stacks caught,
bad configs refused, artifact findings, faults survived and data lost (which must be 0).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra import results
from infra.config import TargetName, read_stack
from infra.proof import (
    artifacts,
    audit,
    badconfig,
    bandit_scan,
    checkov_scan,
    faults,
    fuzz,
    policies,
    vps_scanners,
)
from infra.proof.scanners import ScannerReport
from infra.proof.scanners import render as render_scanner
from infra.targets import slice_of

PROOF_PREFIX = "shipways-proof"


@dataclass
class TargetProof:
    target: str
    stack_violations: list[str] = field(default_factory=list)
    bad_stacks: int = 0
    bad_stacks_caught: int = 0
    bad_configs: int = 0
    bad_configs_refused: int = 0
    artifact: str | None = None
    artifact_files: int = 0
    artifact_findings: list[str] = field(default_factory=list)
    url: str | None = None
    fuzz_requests: int = 0
    fuzz_failures: list[str] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    scanners: list[dict[str, Any]] = field(default_factory=list)  # third-party scanners' reports
    errors: list[str] = field(default_factory=list)  # a step that could not run at all

    @property
    def faults_survived(self) -> int:
        return sum(1 for f in self.faults if f["survived"])

    @property
    def data_lost(self) -> int:
        return sum(int(f["data_lost"]) for f in self.faults)

    @property
    def ok(self) -> bool:
        return not (
            self.stack_violations
            or self.bad_stacks_caught < self.bad_stacks
            or self.bad_configs_refused < self.bad_configs
            or self.artifact_findings
            or self.fuzz_failures
            or self.faults_survived < len(self.faults)
            or self.data_lost
            or any(s["unexplained"] for s in self.scanners)
            or self.errors
        )


@dataclass
class Proof:
    targets: list[TargetProof] = field(default_factory=list)
    dependencies: dict[str, Any] = field(default_factory=dict)
    scanners: list[dict[str, Any]] = field(default_factory=list)  # ScannerReport.to_json()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            all(t.ok for t in self.targets)
            and bool(self.dependencies.get("ok"))
            and all(s["ok"] for s in self.scanners)
        )

    def to_json(self) -> dict[str, Any]:
        rows = []
        for t in self.targets:
            row = asdict(t)
            row.update(faults_survived=t.faults_survived, data_lost=t.data_lost, ok=t.ok)
            rows.append(row)
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "targets": rows,
            "dependencies": self.dependencies,
            "scanners": self.scanners,
        }


Step = Callable[[TargetProof], None]


def run(
    console: Console,
    *,
    only: Iterable[TargetName] = (),
    max_examples: int = 25,
    with_faults: bool = True,
    down: bool = False,
) -> Proof:
    """Run every proof for every target (or `only` these) and return the summary."""
    started = time.perf_counter()
    wanted = [t for t in TargetName if not only or t in set(only)]
    proof = Proof([TargetProof(t.value) for t in wanted])
    say = console.print
    with tempfile.TemporaryDirectory(prefix="shipways-proof-") as scratch:
        for row in proof.targets:
            target = TargetName(row.target)
            console.rule(f"[bold]{target.value}")
            _step(row, "policy", _policy, say)
            _step(row, "bad config", _bad_config, say)
            _step(row, "artifact", lambda r: _artifact(r, Path(scratch), console), say)
            _step(
                row,
                "fuzz and faults",
                lambda r: _fuzz_and_faults(r, console, max_examples, with_faults, down),
                say,
            )
    console.rule("[bold]dependencies")
    with console.status("auditing app/requirements.txt (pip-audit, PyPI) ..."):
        report = audit.audit()
    proof.dependencies = {
        "ok": report.ok,
        "packages": len(report.packages),
        "vulnerable": [
            {"package": p.name, "version": p.version, "advisories": [str(a) for a in p.advisories]}
            for p in report.vulnerable
        ],
        "unaudited": [
            {"package": p.name, "version": p.version, "reason": p.reason} for p in report.unaudited
        ],
        "methods": sorted({p.method for p in report.packages}),
    }
    console.rule("[bold]scanners")
    with tempfile.TemporaryDirectory(prefix="shipways-scan-") as work:
        proof.scanners = [_scan(name, scan, Path(work), console) for name, scan in SCANNERS]
    proof.seconds = time.perf_counter() - started
    return proof


SCANNERS: tuple[tuple[str, Callable[[Path], ScannerReport]], ...] = (
    ("checkov", checkov_scan.scan),
    ("bandit", lambda _work: bandit_scan.scan()),
)


def _scan(
    name: str, scan: Callable[[Path], ScannerReport], work: Path, console: Console
) -> dict[str, Any]:
    """One scanner's report; a scanner that cannot run is a failed proof with the reason."""
    with console.status(f"scanning with {name} ..."):
        try:
            return scan(work).to_json()
        except Exception as exc:  # reported in the summary like any failed step
            return {"scanner": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _step(row: TargetProof, what: str, step: Step, say: Callable[[str], None]) -> None:
    """Run one step; a step that breaks is a failed proof with the reason, not a crash."""
    try:
        step(row)
    except Exception as exc:  # every failure is reported in the summary, then the rest runs
        row.errors.append(f"{what}: {type(exc).__name__}: {exc}")
        say(f"[red]{row.target}: {what} could not run:[/] {exc}")


def _policy(row: TargetProof) -> None:
    plan, violations = policies.check_stack(row.target)
    row.stack_violations = [str(v) for v in violations]
    cases = [c for c in policies.BAD_CASES if c.stack == row.target]
    row.bad_stacks = len(cases)
    row.bad_stacks_caught = sum(policies.check_bad_case(c, plan).caught for c in cases)


def _bad_config(row: TargetProof) -> None:
    cases = [c for c in badconfig.CASES if c.stack == row.target]
    row.bad_configs = len(cases)
    row.bad_configs_refused = sum(badconfig.attempt(c).ok for c in cases)


def _artifact(row: TargetProof, scratch: Path, console: Console) -> None:
    with console.status(f"building and scanning the {row.target} artifact ..."):
        report = artifacts.build_and_scan(TargetName(row.target), scratch / row.target)
    row.artifact = report.artifact
    row.artifact_files = report.files
    row.artifact_findings = [str(f) for f in report.findings]


def _fuzz_and_faults(
    row: TargetProof, console: Console, max_examples: int, with_faults: bool, down: bool
) -> None:
    target = TargetName(row.target)
    box = slice_of(target).sandbox(f"{PROOF_PREFIX}-{target.value}")
    try:
        endpoint = box.up(console, stack=read_stack(target.value))
        row.url = endpoint.url
        with console.status(f"fuzzing {endpoint.url} ({max_examples} examples per operation) ..."):
            report = fuzz.fuzz(
                target.value, endpoint.url, max_examples=max_examples, write_token=box.token()
            )
        row.fuzz_requests = report.requests
        row.fuzz_failures = [str(f) for f in report.failures]
        results.record(target.value, "fuzz_requests", report.requests, "requests", "shipways proof")
        if target is TargetName.VPS:
            _scanners(row, box, console)
        if with_faults and target is TargetName.VPS:
            container = str(endpoint.extra["container"])
            _faults(row, container, endpoint.url, box.token(), console)
    finally:
        if down:
            box.down(console)


def _scanners(row: TargetProof, box: Any, console: Console) -> None:
    """sslyze, ssh-audit and systemd-analyze on the VPS (before the faults restart it)."""
    access = box.access()
    with (
        console.status("scanning the VPS: sslyze, ssh-audit, systemd-analyze ..."),
        tempfile.TemporaryDirectory(prefix="shipways-scan-") as scratch,
    ):
        reports = vps_scanners.scan_vps(
            host="127.0.0.1",
            https_port=access.https_port,
            ssh_port=access.ssh_port,
            settings=box.settings(),
            scratch=Path(scratch),
        )
    row.scanners = [r.to_json() for r in reports]


def _faults(
    row: TargetProof, container_name: str, url: str, write_token: str | None, console: Console
) -> None:
    from infra.sandbox import ensure_engine

    container = ensure_engine().containers.get(container_name)
    injector = faults.VpsFaults(container, url, write_token=write_token, progress=console.print)
    try:
        for fault in (injector.kill_master, injector.database_down, injector.restart_host):
            with console.status(f"fault: {fault.__name__} ..."):
                result = fault()
            row.faults.append(asdict(result))
            console.print(
                f"{result.name}: survived={result.survived} {result.seconds:.1f}s {result.notes}"
            )
    finally:
        injector.close()


def _scanner_cell(t: TargetProof) -> str:
    """`0 of 15` per scanner: unexplained findings of all findings (the rest allow-listed)."""
    if not t.scanners:
        return "-"
    return " ".join(f"{len(s['unexplained'])}/{s['findings']}" for s in t.scanners)


def render(proof: Proof, out: Console) -> None:
    """One column per target (four targets fit an 80-column terminal), one row per figure."""
    table = Table(title="shipways proof", caption="what each row proves: docs/proof.md")
    table.add_column("", no_wrap=True, min_width=19)
    for t in proof.targets:
        table.add_column(t.target, justify="right", no_wrap=True)
    rows: dict[str, Callable[[TargetProof], str]] = {
        "requests tried": lambda t: str(t.fuzz_requests),
        "fuzz failures": lambda t: str(len(t.fuzz_failures)),
        "policy violations": lambda t: str(len(t.stack_violations)),
        "bad stacks caught": lambda t: f"{t.bad_stacks_caught}/{t.bad_stacks}",
        "bad configs refused": lambda t: f"{t.bad_configs_refused}/{t.bad_configs}",
        "artifact findings in files": lambda t: f"{len(t.artifact_findings)} in {t.artifact_files}",
        "faults survived": lambda t: f"{t.faults_survived}/{len(t.faults)}" if t.faults else "-",
        "data lost": lambda t: str(t.data_lost) if t.faults else "-",
        "scanner findings": lambda t: _scanner_cell(t),
        "result": lambda t: "[green]ok[/]" if t.ok else "[red]FAILED[/]",
    }
    for label, cell in rows.items():
        table.add_row(label, *(cell(t) for t in proof.targets))
    out.print(table)
    deps = proof.dependencies
    status = "[green]ok[/]" if deps.get("ok") else "[red]FAILED[/]"
    out.print(
        f"dependencies: {deps.get('packages', 0)} pinned packages audited via "
        f"{', '.join(deps.get('methods', []))}; {len(deps.get('vulnerable', []))} vulnerable, "
        f"{len(deps.get('unaudited', []))} could not be audited {status}"
    )
    for item in deps.get("vulnerable", []):
        for advisory in item["advisories"]:
            out.print(f"  [red]{item['package']} {item['version']}[/]: {advisory}")
    for item in deps.get("unaudited", []):
        out.print(f"  [yellow]not audited[/] {item['package']} {item['version']}: {item['reason']}")
    for scanner in proof.scanners:
        render_scanner(scanner, out)
    for t in proof.targets:
        for problem in (*t.errors, *t.stack_violations, *t.artifact_findings, *t.fuzz_failures):
            out.print(f"  [red]{t.target}[/]: {problem}")
        for scan in t.scanners:
            for problem in scan["unexplained"]:
                out.print(
                    f"  [red]{t.target}[/]: {scan['scanner']} (not in the allow-list): {problem}"
                )
        for fault in t.faults:
            if not fault["survived"] or fault["data_lost"]:
                out.print(f"  [red]{t.target}[/]: fault {fault['name']}: {fault['notes']}")
    out.print(f"{'[green]proved[/]' if proof.ok else '[red]not proved[/]'} in {proof.seconds:.0f}s")
