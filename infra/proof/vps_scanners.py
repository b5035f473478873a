"""Scanners nobody here wrote, run against the local VPS and the units provision renders.

- sslyze, Mozilla's "intermediate" profile, against the VPS's HTTPS port;
- ssh-audit against its SSH port (every algorithm with a failure or a warning, and CVEs);
- `systemd-analyze security --offline=true` on the rendered app units (every check it marks
  as exposed).

All run offline (loopback and local files only). Each finding is either explained by an
entry of the committed allow-list (`allowlist.yaml`, with its reason) or counted as a
failure: the goal is 0 unexplained findings, and nothing is silenced wholesale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipways_fabric import Settings
from shipways_fabric import templates as host_templates

from infra.proof.allowlist import ALLOWLIST, AllowlistError, allowed

SCANNERS = ("sslyze", "ssh-audit", "systemd-analyze")
TIMEOUT_S = 300


class ScanError(RuntimeError):
    """A scanner could not run or its allow-list is malformed; the message says what to do."""


@dataclass(frozen=True)
class Finding:
    id: str  # as the scanner names it: what the allow-list refers to
    detail: str

    def __str__(self) -> str:
        return f"{self.id}: {self.detail}"


@dataclass
class ScanReport:
    scanner: str
    target: str
    checked: int  # what the scanner judged: scan commands, algorithms, unit checks
    findings: list[Finding] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # this scanner's allow-list

    @property
    def explained(self) -> list[Finding]:
        return [f for f in self.findings if f.id in self.reasons]

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f.id not in self.reasons]

    @property
    def stale(self) -> list[str]:
        """Allow-list entries that match no finding any more (to be removed)."""
        return sorted(set(self.reasons) - {f.id for f in self.findings})

    def to_json(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "target": self.target,
            "checked": self.checked,
            "findings": len(self.findings),
            "explained": [str(f) for f in self.explained],
            "unexplained": [str(f) for f in self.unexplained],
            "stale_allowlist": self.stale,
        }


def load_allowlist(path: Path = ALLOWLIST) -> dict[str, dict[str, str]]:
    """scanner -> finding id -> reason, for the three VPS scanners' sections."""
    try:
        return {scanner: allowed(scanner, path) for scanner in SCANNERS}
    except AllowlistError as exc:
        raise ScanError(str(exc)) from None


def sslyze(host: str, port: int, server_name: str) -> tuple[int, list[Finding]]:
    """Mozilla intermediate compliance as sslyze judges it: (scan commands run, findings)."""
    from sslyze import Scanner, ServerNetworkLocation, ServerScanRequest
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    location = ServerNetworkLocation(hostname=server_name, port=port, ip_address=host)
    scanner = Scanner()
    scanner.queue_scans(
        [
            ServerScanRequest(
                server_location=location, scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
            )
        ]
    )
    (result,) = list(scanner.get_results())
    profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    try:
        check_server_against_tls_configuration(result, profile)
    except ServerNotCompliantWithTlsConfiguration as exc:
        findings = [Finding(k, v) for k, v in sorted(exc.issues.items())]
    else:
        findings = []
    return len(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER), findings


def ssh_audit(host: str, port: int) -> tuple[int, list[Finding]]:
    """ssh-audit's verdict: (algorithms offered, those with failures or warnings, and CVEs)."""
    command = [sys.executable, "-m", "ssh_audit", "-j", "-p", str(port), host]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    try:
        report = json.loads(done.stdout)
    except ValueError as exc:
        raise ScanError(f"ssh-audit gave no JSON (exit {done.returncode}): {done.stderr}") from exc
    checked, findings = 0, []
    for kind in ("kex", "key", "enc", "mac"):
        for entry in report.get(kind, []):
            checked += 1
            notes = entry.get("notes", {})
            problems = [f"{level}: {n}" for level in ("fail", "warn") for n in notes.get(level, [])]
            if problems:
                findings.append(Finding(f"{kind}:{entry['algorithm']}", "; ".join(problems)))
    for cve in report.get("cves", []):
        findings.append(Finding(f"cve:{cve['name']}", str(cve.get("description", ""))))
    return checked, findings


def systemd_analyze(units: list[Path], app: str) -> tuple[int, list[Finding]]:
    """`systemd-analyze security --offline=true` per unit: (checks, exposed checks).

    A finding's id names the unit with `<app>` for the app's name, then the check:
    `<app>-candidate.service SystemCallFilter=~@privileged`.
    """
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise ScanError("systemd-analyze is not installed here: install the `systemd` package")
    checked, findings = 0, []
    for unit in units:
        done = subprocess.run(
            [tool, "security", "--offline=true", "--json=short", str(unit)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if done.returncode != 0:
            raise ScanError(f"systemd-analyze security {unit.name} failed: {done.stderr.strip()}")
        for check in json.loads(done.stdout):
            checked += 1
            if check["exposure"] not in (None, "0", "0.0"):
                unit_id = unit.name.replace(app, "<app>", 1)
                detail = f"{check['description']} (exposure {check['exposure']})"
                findings.append(Finding(f"{unit_id} {check['name']}", detail))
    return checked, findings


def render_units(settings: Settings, into: Path) -> list[Path]:
    """The app's service units exactly as provision writes them, as files to analyze."""
    into.mkdir(parents=True, exist_ok=True)
    units = []
    for item in host_templates.app_files(settings):
        name = item.path.rsplit("/", 1)[1]
        if item.path.startswith("/etc/systemd/system/") and name.endswith(".service"):
            path = into / name
            path.write_text(item.content)
            units.append(path)
    return units


def scan_vps(
    *, host: str, https_port: int, ssh_port: int, settings: Settings, scratch: Path
) -> list[ScanReport]:
    """The three scanners against one running VPS (and its rendered units), explained."""
    allow = load_allowlist()
    server_name = settings.server_names[0]
    units = render_units(settings, scratch / "units")
    runs = {
        "sslyze": (f"{host}:{https_port}", lambda: sslyze(host, https_port, server_name)),
        "ssh-audit": (f"{host}:{ssh_port}", lambda: ssh_audit(host, ssh_port)),
        "systemd-analyze": (
            ", ".join(u.name for u in units),
            lambda: systemd_analyze(units, settings.app_name),
        ),
    }
    reports = []
    for scanner, (target, scan) in runs.items():
        checked, findings = scan()
        reports.append(ScanReport(scanner, target, checked, findings, allow[scanner]))
    return reports
