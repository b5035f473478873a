"""checkov (Prisma Cloud's open-source IaC scanner) on what the k8s target ships.

Scanned: the Kubernetes objects the `k8s` stack declares, written the way
`shipways plan k8s --manifests DIR` writes them, in their fullest shape (an Ingress with TLS,
PostgreSQL with its Secret and migration Job, a registry login), so no object escapes the
scan; and `app/Dockerfile`, the image those objects run.

checkov runs offline: `--skip-download` and `BC_SKIP_MAPPING` keep it from fetching
guidelines or extra checks from Prisma Cloud, and no API key is given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.paths import APP_DIR
from infra.proof import allowlist
from infra.proof.scanners import Finding, ScannerReport, explain, stale

SCANNER = "checkov"
TIMEOUT_S = 300
# The fullest shape of the stack: every kind of object it can declare.
FULL_SHAPE: dict[str, Any] = {
    "ingressHost": "api.shipways.dev",
    "ingressClusterIssuer": "letsencrypt-prod",
    "databaseCidr": "10.20.0.0/24",
    "registryUsername": "deployer",
}
FULL_SHAPE_SECRETS = {
    "databaseUrl": "postgresql://app:scan-placeholder@db.internal:5432/shipways",
    "registryPassword": "scan-placeholder",
}


class ScanError(RuntimeError):
    """A scanner could not run or its output could not be read."""


def render_manifests(directory: Path) -> list[Path]:
    """The k8s stack's declared objects as YAML (secret values redacted), schema-checked."""
    from infra.harness import plan_stack
    from infra.targets.k8s import export

    plan = plan_stack("k8s", overrides=FULL_SHAPE, secrets=FULL_SHAPE_SECRETS)
    declared: list[Any] = list(plan.resources)
    return export.write(export.from_plan(declared), directory)


def run_checkov(path: Path, framework: str) -> dict[str, Any]:
    """checkov's JSON report for one file or directory under one framework."""
    command = [str(Path(sys.executable).with_name("checkov"))]
    command += ["-d" if path.is_dir() else "-f", str(path), "--framework", framework]
    command += ["-o", "json", "--quiet", "--compact", "--skip-download"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    if done.returncode not in (0, 1):  # 1: some check failed
        raise ScanError(f"checkov exited {done.returncode}: {done.stderr.strip()[-500:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise ScanError(f"checkov printed no JSON report: {done.stdout[:300]!r}") from None
    if not isinstance(report, dict) or report.get("check_type") != framework:
        raise ScanError(f"checkov scanned nothing as {framework} in {path}")
    return report


def scan(work: Path, dockerfile: Path = APP_DIR / "Dockerfile") -> ScannerReport:
    manifests = work / "k8s-manifests"
    render_manifests(manifests)
    reports = [run_checkov(manifests, "kubernetes"), run_checkov(dockerfile, "dockerfile")]
    findings = [
        Finding(
            check["check_id"],
            f"{Path(check['file_path']).name} {check['resource'].rsplit('/', 1)[-1]}",
            check["check_name"],
        )
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    allowed = allowlist.allowed(SCANNER)
    versions = {str(r.get("summary", {}).get("checkov_version", "?")) for r in reports}
    return ScannerReport(
        scanner=SCANNER,
        version=", ".join(sorted(versions)),
        scanned=["k8s manifests (plan k8s --manifests, fullest shape)", "app/Dockerfile"],
        passed=sum(int(r["summary"]["passed"]) for r in reports),
        findings=explain(findings, allowed),
        stale=stale(findings, allowed),
    )
