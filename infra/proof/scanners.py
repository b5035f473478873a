"""What a third-party scanner found, split into explained (allow-listed) and unexplained.

Every scanner module (checkov, bandit, ...) returns a `ScannerReport`; the proof summary
shows its counts, and the proof fails on any unexplained finding or on a scanner that could
not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console


@dataclass(frozen=True)
class Finding:
    check_id: str
    where: str  # file (and line) or resource
    title: str
    reason: str | None = None  # the allow-list's, when explained

    def __str__(self) -> str:
        why = f" (allowed: {self.reason})" if self.reason else ""
        return f"{self.check_id} {self.where}: {self.title}{why}"


@dataclass
class ScannerReport:
    scanner: str
    version: str
    scanned: list[str]  # what was scanned, as shown to a reader
    passed: int | None  # checks passed, where the scanner counts them
    findings: list[Finding] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # allow-list entries no finding used

    @property
    def explained(self) -> list[Finding]:
        return [f for f in self.findings if f.reason is not None]

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f.reason is None]

    @property
    def ok(self) -> bool:
        return not self.unexplained

    def to_json(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "version": self.version,
            "scanned": self.scanned,
            "passed": self.passed,
            "failed": len(self.findings),
            "allowed": [str(f) for f in self.explained],
            "unexplained": [str(f) for f in self.unexplained],
            "stale_allowlist": self.stale,
            "ok": self.ok,
        }


def explain(findings: Iterable[Finding], allowed: Mapping[str, str]) -> list[Finding]:
    """The findings with the allow-list's reason attached where their check id is listed."""
    return [Finding(f.check_id, f.where, f.title, allowed.get(f.check_id)) for f in findings]


def stale(findings: Iterable[Finding], allowed: Mapping[str, str]) -> list[str]:
    used = {f.check_id for f in findings}
    return sorted(check for check in allowed if check not in used)


def render(report: dict[str, Any], out: Console) -> None:
    """One line of counts per scanner, then what it found: allowed (why) and unexplained."""
    status = "[green]ok[/]" if report["ok"] else "[red]FAILED[/]"
    if "error" in report:
        out.print(f"{report['scanner']}: could not run: {report['error']} {status}")
        return
    passed = f"{report['passed']} checks passed, " if report["passed"] is not None else ""
    out.print(
        f"{report['scanner']} {report['version']} on {', '.join(report['scanned'])}: {passed}"
        f"{report['failed']} failed ({len(report['allowed'])} allow-listed, "
        f"{len(report['unexplained'])} unexplained) {status}"
    )
    for finding in report["unexplained"]:
        out.print(f"  [red]{report['scanner']}[/]: {finding}")
    for finding in report["allowed"]:
        out.print(f"  [yellow]allowed[/] {finding}")
    for check in report["stale_allowlist"]:
        out.print(f"  [yellow]stale allow-list entry[/] {report['scanner']}.{check}: nothing found")
