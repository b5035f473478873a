"""The audit's fallback logic with PyPI's answers faked: exact, latest-release, unaudited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.proof import audit as audits

pytestmark = pytest.mark.unit

ADVISORY = {
    "id": "GHSA-xxxx-yyyy-zzzz",
    "aliases": ["CVE-2099-0001", "PYSEC-2099-1"],
    "summary": "Remote code execution\nin the parser",
    "fixed_in": ["2.0.1"],
}


def _response(url: str, status: int, body: Any = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = url
    response._content = b"" if body is None else json.dumps(body).encode()
    return response


class FakePyPI:
    """Answers by URL; records what was asked (the real service must never be called)."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def get(self, url: str, timeout: float | None = None, **_: Any) -> requests.Response:
        self.asked.append(url)
        if url not in self.answers:
            raise requests.ConnectionError(f"no route to {url}")
        return _response(url, *self.answers[url])


def run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pin: str, answers: dict[str, tuple[int, Any]]
) -> tuple[audits.AuditReport, FakePyPI]:
    fake = FakePyPI(answers)
    real_init = audits.PyPIWithLatestFallback.__init__

    def init(self: audits.PyPIWithLatestFallback, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, cache_dir=tmp_path / "cache", **kwargs)
        self._exact.session = fake  # type: ignore[assignment]
        self._session = fake  # type: ignore[assignment]

    monkeypatch.setattr(audits.PyPIWithLatestFallback, "__init__", init)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(pin + "\n")
    return audits.audit(requirements), fake


EXACT = "https://pypi.org/pypi/demo/2.0.0/json"
PROJECT = "https://pypi.org/pypi/demo/json"


def test_the_per_version_answer_is_used_when_it_comes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report, fake = run(
        monkeypatch, tmp_path, "demo==2.0.0", {EXACT: (200, {"vulnerabilities": [ADVISORY]})}
    )
    (package,) = report.packages
    assert (package.method, package.version) == ("exact-release", "2.0.0")
    (advisory,) = package.advisories
    assert advisory.id == "PYSEC-2099-1"
    assert {"CVE-2099-0001", "GHSA-xxxx-yyyy-zzzz"} <= set(advisory.aliases)
    assert advisory.fix_versions == ("2.0.1",)
    assert report.vulnerable and not report.ok
    assert fake.asked == [EXACT]


@pytest.mark.parametrize("exact", [(404, None), (200, None)], ids=["404", "empty-200"])
def test_latest_release_falls_back_to_the_project_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exact: tuple[int, Any]
) -> None:
    answers = {
        EXACT: exact,
        PROJECT: (200, {"info": {"version": "2.0.0"}, "vulnerabilities": [ADVISORY]}),
    }
    report, fake = run(monkeypatch, tmp_path, "demo==2.0.0", answers)
    (package,) = report.packages
    assert package.method == "latest-release"
    assert [a.id for a in package.advisories] == ["PYSEC-2099-1"]
    assert fake.asked == [EXACT, PROJECT]


def test_latest_release_without_advisories_is_clean(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answers = {EXACT: (404, None), PROJECT: (200, {"info": {"version": "2.0.0"}})}
    report, _ = run(monkeypatch, tmp_path, "demo==2.0.0", answers)
    assert report.ok
    assert report.packages[0].method == "latest-release"


def test_withdrawn_advisories_do_not_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    withdrawn = {**ADVISORY, "withdrawn": "2099-01-01T00:00:00Z"}
    answers = {
        EXACT: (404, None),
        PROJECT: (200, {"info": {"version": "2.0.0"}, "vulnerabilities": [withdrawn]}),
    }
    report, _ = run(monkeypatch, tmp_path, "demo==2.0.0", answers)
    assert report.ok


def test_an_older_pin_is_unaudited_never_clean(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answers = {EXACT: (404, None), PROJECT: (200, {"info": {"version": "3.0.0"}})}
    report, _ = run(monkeypatch, tmp_path, "demo==2.0.0", answers)
    (package,) = report.unaudited
    assert package.version == "2.0.0"
    assert package.reason is not None and "not the latest release (3.0.0)" in package.reason
    assert not report.ok


def test_no_answer_at_all_is_unaudited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report, _ = run(monkeypatch, tmp_path, "demo==2.0.0", {EXACT: (404, None)})
    (package,) = report.unaudited
    assert package.reason is not None and "neither PyPI endpoint" in package.reason
    assert not report.ok
