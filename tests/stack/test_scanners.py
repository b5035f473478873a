"""The third-party scanners of `shipways proof`, run for real on what the project renders.

checkov reads the k8s stack's declared manifests (fullest shape) and app/Dockerfile; bandit
reads the app. Both run offline. Every finding must be fixed or allow-listed with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.proof import bandit_scan, checkov_scan

pytestmark = pytest.mark.stack


def test_checkov_finds_nothing_unexplained_in_the_manifests_or_the_dockerfile(
    tmp_path: Path,
) -> None:
    report = checkov_scan.scan(tmp_path)
    assert report.unexplained == [], "\n".join(map(str, report.unexplained))
    assert report.stale == []
    assert report.passed is not None and report.passed > 200
    written = sorted(p.name for p in (tmp_path / "k8s-manifests").iterdir())
    # The fullest shape: every kind the stack can declare was scanned.
    for kind in ("secret", "job", "deployment", "networkpolicy", "ingress"):
        assert any(f"-{kind}-" in name for name in written), (kind, written)


def test_checkov_catches_secrets_injected_as_environment(tmp_path: Path) -> None:
    """The check that found the k8s finding still fires on a manifest that has it."""
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: leaky, namespace: x}\nspec:\n"
        "  containers:\n  - name: web\n    image: app@sha256:" + "0" * 64 + "\n"
        "    envFrom: [{secretRef: {name: database}}]\n"
    )
    report = checkov_scan.run_checkov(tmp_path, "kubernetes")
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert "CKV_K8S_35" in failed


def test_bandit_finds_nothing_unexplained_in_the_app() -> None:
    report = bandit_scan.scan()
    assert report.unexplained == [], "\n".join(map(str, report.unexplained))
    assert report.findings == []  # nothing allow-listed for the app either


def test_bandit_catches_what_it_is_there_for(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "run.py").write_text(
        "import subprocess\n\ndef go(cmd):\n    subprocess.call(cmd, shell=True)\n"
    )
    report = bandit_scan.scan(package)
    assert "B602" in {f.check_id for f in report.unexplained}
