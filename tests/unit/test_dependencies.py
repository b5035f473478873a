"""Dependencies: the app's locked runtime requirements (app/requirements.txt) audited with
pip-audit, and pyproject's lower bounds kept in the series the lock (and the code) use.

The audit asks PyPI (the package registry, bounded by timeouts): advisories live there.
A vulnerable pin fails with the package and advisory named. A pin that could not be audited
(see infra/proof/audit.py for why that happens behind this network's proxy) is an expected
failure with the reason: never reported as a pass.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from infra.paths import APP_REQUIREMENTS, ROOT
from infra.proof.audit import AuditReport, audit

pytestmark = pytest.mark.unit


def _installed_pins() -> set[str]:
    """Pins that apply on Linux (every target is Linux; e.g. tzdata is Windows-only)."""
    names = set()
    for line in APP_REQUIREMENTS.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            requirement = Requirement(line.rstrip(" \\"))
            if requirement.marker is None or requirement.marker.evaluate():
                names.add(canonicalize_name(requirement.name))
    return names


def _unaudited(report: AuditReport) -> str:
    return "; ".join(f"{p.name} {p.version}: {p.reason}" for p in report.unaudited)


def test_locked_runtime_requirements_have_no_known_vulnerability() -> None:
    report = audit(APP_REQUIREMENTS)
    assert {p.name for p in report.packages} == _installed_pins(), "every pin audited or reported"
    findings = [f"{p.name} {p.version}: {a}" for p in report.vulnerable for a in p.advisories]
    assert not findings, "known vulnerabilities:\n" + "\n".join(findings)
    if report.unaudited:
        pytest.xfail(f"could not audit {len(report.unaudited)} package(s): {_unaudited(report)}")
    assert report.ok


def _requirements(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(line + "\n")
    return path


def test_a_known_vulnerable_latest_release_is_reported_with_its_advisory(tmp_path: Path) -> None:
    """pycrypto's last release, 2.6.1, has CVE-2013-7459 (PYSEC-2017-94) and no fix."""
    report = audit(_requirements(tmp_path, "pycrypto==2.6.1"))
    if report.unaudited:
        pytest.xfail(f"PyPI could not tell: {_unaudited(report)}")
    (package,) = report.vulnerable
    ids = {a.id for a in package.advisories} | {x for a in package.advisories for x in a.aliases}
    assert {"PYSEC-2017-94", "CVE-2013-7459"} <= ids
    assert not report.ok


def test_an_old_vulnerable_pin_is_never_reported_clean(tmp_path: Path) -> None:
    """jinja2 2.10 has CVE-2019-10906 (sandbox escape). Where PyPI's per-version endpoint
    answers, it is reported with that advisory; where it does not (this network), it is
    reported as not audited, with the reason. Either way the audit does not pass."""
    report = audit(_requirements(tmp_path, "jinja2==2.10"))
    (package,) = report.packages
    assert not report.ok
    if package.method == "unaudited":
        assert package.reason and "not the latest release" in package.reason
        pytest.xfail(f"the network can't tell: {package.reason}")
    ids = {a.id for a in package.advisories} | {x for a in package.advisories for x in a.aliases}
    assert "CVE-2019-10906" in ids


def _series(version: Version) -> tuple[int, ...]:
    """Releases that promise compatibility: one major, or one minor below 1.0 (0.x)."""
    return (version.major,) if version.major else (0, version.minor)


def test_lower_bounds_are_in_the_locked_release_series() -> None:
    """A bound from an older major admits releases whose API this code does not speak (e.g.
    pulumi-aws 6 has no `get_region().region`, schemathesis 3 another CLI): `pip install`
    outside the lock could pick one. Each `>=` bound must be in the locked version's series.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = {
        canonicalize_name(p["name"]): Version(p["version"])
        for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
        if "version" in p
    }
    declared = [*project["project"]["dependencies"], *project["dependency-groups"]["dev"]]
    behind = []
    for line in declared:
        requirement = Requirement(line)
        for spec in requirement.specifier:
            version = locked[canonicalize_name(requirement.name)]
            if spec.operator == ">=" and _series(Version(spec.version)) != _series(version):
                behind.append(f"{requirement.name}: >={spec.version}, locked {version}")
    assert not behind, "lower bounds behind the lock's series:\n" + "\n".join(behind)
    bounds = {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in declared}
    assert Version("6.99") not in bounds["pulumi-aws"]  # the code uses pulumi-aws 7 APIs
    assert Version("4.99") not in bounds["pulumi-docker"]
