"""The proof summary: what counts as proved, and that the table names every figure."""

from __future__ import annotations

import pytest
from rich.console import Console

from infra.proof.runner import Proof, TargetProof, render

pytestmark = pytest.mark.unit


def proved(target: str = "vps") -> TargetProof:
    return TargetProof(
        target,
        bad_stacks=4,
        bad_stacks_caught=4,
        bad_configs=10,
        bad_configs_refused=10,
        artifact="vps wheelhouse",
        artifact_files=1300,
        url="http://127.0.0.1:8080",
        fuzz_requests=154,
        faults=[{"name": "kill_master", "survived": True, "data_lost": 0, "notes": []}],
    )


DEPS_OK = {"ok": True, "packages": 30, "vulnerable": [], "unaudited": [], "methods": ["x"]}


def test_everything_proved_is_ok() -> None:
    proof = Proof([proved(), proved("paas")], dict(DEPS_OK))
    assert proof.ok
    assert proof.to_json()["targets"][0]["faults_survived"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"stack_violations": ["[required-tags] x"]},
        {"bad_stacks_caught": 3},
        {"bad_configs_refused": 9},
        {"artifact_findings": ["x: .env: env-file"]},
        {"fuzz_failures": ["GET /x: 500"]},
        {"faults": [{"name": "restart_host", "survived": False, "data_lost": 0, "notes": []}]},
        {"faults": [{"name": "database_down", "survived": True, "data_lost": 2, "notes": []}]},
        {"errors": ["fuzz: could not start"]},
        {"scanners": [{"scanner": "ssh-audit", "findings": 1, "unexplained": ["kex:x: fail"]}]},
    ],
)
def test_any_failure_fails_the_proof(change: dict[str, object]) -> None:
    row = proved()
    for key, value in change.items():
        setattr(row, key, value)
    assert not row.ok
    assert not Proof([row], dict(DEPS_OK)).ok


@pytest.mark.parametrize(
    "deps",
    [
        {
            **DEPS_OK,
            "ok": False,
            "vulnerable": [{"package": "x", "version": "1", "advisories": ["A"]}],
        },
        {**DEPS_OK, "ok": False, "unaudited": [{"package": "x", "version": "1", "reason": "r"}]},
    ],
)
def test_a_vulnerable_or_unaudited_dependency_fails_the_proof(deps: dict[str, object]) -> None:
    assert not Proof([proved()], deps).ok


def test_table_shows_each_figure() -> None:
    console = Console(record=True, width=200)
    render(Proof([proved()], dict(DEPS_OK), seconds=12), console)
    text = console.export_text()
    for heading in ("requests tried", "policy violations", "faults survived", "data lost"):
        assert heading in text
    assert "154" in text and "4/4" in text and "10/10" in text and "1/1" in text
    assert "proved" in text


SCANNER_OK = {
    "scanner": "checkov",
    "version": "3.1.47",
    "scanned": ["app/Dockerfile"],
    "passed": 116,
    "failed": 1,
    "allowed": ["CKV_DOCKER_7 Dockerfile FROM: x (allowed: why)"],
    "unexplained": [],
    "stale_allowlist": [],
    "ok": True,
}


def test_an_unexplained_scanner_finding_or_a_scanner_that_could_not_run_fails_the_proof() -> None:
    assert Proof([proved()], dict(DEPS_OK), [dict(SCANNER_OK)]).ok
    unexplained = {**SCANNER_OK, "unexplained": ["B101 app.py:1: assert"], "ok": False}
    assert not Proof([proved()], dict(DEPS_OK), [unexplained]).ok
    broken = {"scanner": "bandit", "ok": False, "error": "ScanError: bandit exited 2"}
    assert not Proof([proved()], dict(DEPS_OK), [broken]).ok


def test_the_summary_shows_each_scanners_counts_and_findings() -> None:
    unexplained = {**SCANNER_OK, "unexplained": ["CKV_K8S_35 deployment: env"], "ok": False}
    broken = {"scanner": "bandit", "ok": False, "error": "ScanError: bandit exited 2"}
    out = Console(record=True, width=200)
    render(Proof([proved()], dict(DEPS_OK), [unexplained, broken]), out)
    text = out.export_text()
    assert "checkov 3.1.47 on app/Dockerfile: 116 checks passed, 1 failed" in text
    assert "(1 allow-listed, 1 unexplained) FAILED" in text
    assert "checkov: CKV_K8S_35 deployment: env" in text
    assert "allowed CKV_DOCKER_7" in text
    assert "bandit: could not run: ScanError: bandit exited 2 FAILED" in text


def test_scanner_findings_show_unexplained_of_all_and_only_unexplained_ones_fail() -> None:
    row = proved()
    row.scanners = [
        {"scanner": "sslyze", "findings": 1, "unexplained": []},
        {"scanner": "ssh-audit", "findings": 0, "unexplained": []},
        {"scanner": "systemd-analyze", "findings": 15, "unexplained": []},
    ]
    assert row.ok
    console = Console(record=True, width=200)
    render(Proof([row], dict(DEPS_OK), seconds=12), console)
    text = console.export_text()
    assert "scanner findings" in text and "0/1 0/0 0/15" in text
