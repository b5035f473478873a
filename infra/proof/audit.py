"""The app's locked runtime requirements, audited for known vulnerabilities (pip-audit).

pip-audit's PyPI service asks `https://pypi.org/pypi/NAME/VERSION/json` for each pin. On
networks whose proxy does not pass that per-version endpoint (this project's build machines:
it answers 404 with an empty body), every package comes back "not found, could not be
audited". The project endpoint `https://pypi.org/pypi/NAME/json` does answer, and its
`vulnerabilities` are those of the project's latest release. So:

1. ask the per-version endpoint (pip-audit's own `PyPIService`): audited exactly;
2. if it does not answer and the pin IS the latest release, the project endpoint's
   vulnerabilities apply to it: audited, and said so (`method = "latest-release"`);
3. otherwise the pin could not be audited: reported loudly with the reason, never "clean".

Resolution is pip-audit's `RequirementSource` on the hash-locked file with pip disabled: the
pins are the exact set installed everywhere, nothing is resolved again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import requests
from packaging.version import InvalidVersion, Version
from pip_audit._audit import Auditor
from pip_audit._dependency_source import RequirementSource
from pip_audit._service import (
    Dependency,
    PyPIService,
    ResolvedDependency,
    ServiceError,
    SkippedDependency,
    VulnerabilityResult,
    VulnerabilityService,
)

from infra.paths import APP_REQUIREMENTS, state_dir

PROJECT_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT_S = 20
Method = Literal["exact-release", "latest-release", "unaudited"]


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    description: str

    def __str__(self) -> str:
        fix = f"fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "no fix"
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.id}{aliases}: {self.description[:120]} [{fix}]"


@dataclass(frozen=True)
class PackageAudit:
    name: str
    version: str
    method: Method
    advisories: tuple[Advisory, ...] = ()
    reason: str | None = None  # why it could not be audited


@dataclass
class AuditReport:
    requirements: Path
    packages: list[PackageAudit] = field(default_factory=list)

    @property
    def vulnerable(self) -> list[PackageAudit]:
        return [p for p in self.packages if p.advisories]

    @property
    def unaudited(self) -> list[PackageAudit]:
        return [p for p in self.packages if p.method == "unaudited"]

    @property
    def ok(self) -> bool:
        """Clean only when every package was audited and none has an advisory."""
        return bool(self.packages) and not self.vulnerable and not self.unaudited


class PyPIWithLatestFallback(VulnerabilityService):
    """pip-audit's PyPI service, falling back to the project endpoint for latest releases."""

    def __init__(self, timeout: int = TIMEOUT_S, cache_dir: Path | None = None) -> None:
        self._exact = PyPIService(
            cache_dir=cache_dir or state_dir("cache", "pip-audit"), timeout=timeout
        )
        self._session = self._exact.session
        self._timeout = timeout
        # canonical name -> how it was audited, and why not; pip-audit's results don't say
        self.methods: dict[str, tuple[Method, str | None]] = {}
        self.versions: dict[str, str] = {}

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        if spec.is_skipped():
            return spec, []
        resolved = cast(ResolvedDependency, spec)
        self.versions[spec.canonical_name] = str(resolved.version)
        try:
            found, results = self._exact.query(resolved)
        except (ServiceError, ValueError):  # a 5xx, or a 200 with an empty or broken body
            found = SkippedDependency(name=spec.name, skip_reason="per-version endpoint failed")
            results = []
        if not found.is_skipped():
            self.methods[spec.canonical_name] = ("exact-release", None)
            return found, results
        return self._latest(resolved)

    def _latest(self, spec: ResolvedDependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        url = PROJECT_URL.format(name=spec.canonical_name)
        try:
            response = self._session.get(url, timeout=self._timeout)
            response.raise_for_status()
            data = response.json()
            latest = Version(data["info"]["version"])
        except (requests.RequestException, ValueError, KeyError, InvalidVersion) as exc:
            return self._skip(spec, f"neither PyPI endpoint answered usefully ({exc})")
        if spec.version != latest:
            return self._skip(
                spec,
                f"PyPI's per-version endpoint gave no answer here, and {spec.version} is not "
                f"the latest release ({latest}), whose advisories are the only ones the "
                "project endpoint lists",
            )
        self.methods[spec.canonical_name] = ("latest-release", None)
        return spec, [
            _result(v) for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")
        ]

    def _skip(
        self, spec: ResolvedDependency, reason: str
    ) -> tuple[Dependency, list[VulnerabilityResult]]:
        self.methods[spec.canonical_name] = ("unaudited", reason)
        return SkippedDependency(name=spec.name, skip_reason=reason), []


def _result(entry: dict[str, object]) -> VulnerabilityResult:
    """One advisory of PyPI's JSON, as pip-audit's own PyPI service reads it."""
    summary = entry.get("summary") or entry.get("details") or "N/A"
    fixed = sorted(Version(str(v)) for v in cast(list[str], entry.get("fixed_in") or []))
    return VulnerabilityResult.create(
        ids=[str(entry["id"]), *cast(list[str], entry.get("aliases") or [])],
        description=str(summary).replace("\n", " "),
        fix_versions=fixed,
        published=VulnerabilityService._parse_rfc3339(cast(str | None, entry.get("published"))),
    )


def audit(requirements: Path = APP_REQUIREMENTS, timeout: int = TIMEOUT_S) -> AuditReport:
    """Audit every pin of a hash-locked requirements file."""
    logging.getLogger("pip_audit").setLevel(logging.WARNING)
    service = PyPIWithLatestFallback(timeout=timeout)
    # The file is complete (locked): audit exactly its pins, resolve nothing (`no_deps`).
    source = RequirementSource(
        [requirements], require_hashes=_hashed(requirements), no_deps=True, disable_pip=True
    )
    report = AuditReport(requirements)
    for dependency, results in Auditor(service).audit(source):
        name = dependency.canonical_name
        method, reason = service.methods.get(name, ("unaudited", None))
        version = service.versions.get(name, "?")
        if dependency.is_skipped():
            reason = reason or cast(SkippedDependency, dependency).skip_reason
            report.packages.append(PackageAudit(dependency.name, version, "unaudited", (), reason))
            continue
        # PyPI lists an advisory under each of its ids; pip-audit may keep both copies.
        advisories = {
            r.id: Advisory(
                r.id, tuple(sorted(r.aliases)), tuple(str(v) for v in r.fix_versions), r.description
            )
            for r in results
        }
        report.packages.append(
            PackageAudit(dependency.name, version, method, tuple(advisories.values()), reason)
        )
    return report


def _hashed(requirements: Path) -> bool:
    return "--hash=" in requirements.read_text()
