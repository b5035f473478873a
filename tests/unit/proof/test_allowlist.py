"""The scanners' allow-list: one check id per entry, each with its reason, per scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.proof import allowlist
from infra.proof.scanners import Finding, explain, stale

pytestmark = pytest.mark.unit


def test_the_committed_allowlist_gives_a_reason_for_every_entry() -> None:
    for scanner in ("checkov", "bandit"):
        for check, reason in allowlist.allowed(scanner).items():
            assert allowlist.CHECK_ID.match(check) and len(reason) > 40, (scanner, check)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checkov:\n  CKV_*: everything\n", r"checkov\.CKV_\*: one check id per entry"),
        ("checkov:\n  CKV_K8S_35:\n", r"checkov\.CKV_K8S_35: say why"),
        ("checkov: [CKV_K8S_35]\n", "checkov: expected a mapping"),
    ],
)
def test_a_wildcard_or_an_entry_without_a_reason_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text(text)
    with pytest.raises(allowlist.AllowlistError, match=message):
        allowlist.allowed("checkov", path)


def test_only_listed_checks_are_explained_and_unused_entries_are_stale() -> None:
    findings = [Finding("B101", "app.py:1", "assert"), Finding("B602", "run.py:4", "shell")]
    allowed = {"B101": "asserts are tests here", "B105": "a placeholder"}
    explained = explain(findings, allowed)
    assert [f.reason for f in explained] == ["asserts are tests here", None]
    assert stale(findings, allowed) == ["B105"]
