"""bandit (PyCQA's security linter for Python) on the app's own code, `app/shipways_app`.

Every severity and confidence counts: a finding either gets fixed or is listed, with its
reason, in the allow-list. bandit needs no network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from infra.paths import APP_DIR
from infra.proof import allowlist
from infra.proof.checkov_scan import ScanError
from infra.proof.scanners import Finding, ScannerReport, explain, stale

SCANNER = "bandit"
TIMEOUT_S = 120


def scan(package: Path = APP_DIR / "shipways_app") -> ScannerReport:
    command = [str(Path(sys.executable).with_name("bandit")), "-r", str(package)]
    command += ["-f", "json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode not in (0, 1):  # 1: something was found
        raise ScanError(f"bandit exited {done.returncode}: {done.stderr.strip()[-500:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise ScanError(f"bandit printed no JSON report: {done.stdout[:300]!r}") from None
    if report.get("errors"):
        raise ScanError(f"bandit could not read: {report['errors']}")
    root = package.parent
    findings = [
        Finding(
            item["test_id"],
            f"{Path(item['filename']).relative_to(root)}:{item['line_number']}",
            f"{item['issue_text']} ({item['issue_severity'].lower()} severity)",
        )
        for item in report["results"]
    ]
    files = [name for name in report["metrics"] if name != "_totals"]
    allowed = allowlist.allowed(SCANNER)
    return ScannerReport(
        scanner=SCANNER,
        version=_version(),
        scanned=[f"app/{package.name} ({len(files)} files)"],
        passed=None,  # bandit reports findings only
        findings=explain(findings, allowed),
        stale=stale(findings, allowed),
    )


def _version() -> str:
    from importlib.metadata import version

    return version("bandit")
