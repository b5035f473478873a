"""A release as built on the control machine: wheels for the server's Python, and its identity.

The server never reaches a package index: the control machine builds the wheelhouse for the
server's interpreter and architecture (asked over SSH), uploads it, and the server installs
it with `--no-index`. A release is named `<UTC time>-<label>` (label: the app's git commit,
or what the caller passes), so names sort by age and say what they contain.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from infra.artifacts import wheelhouse
from infra.paths import APP_DIR
from shipways_fabric.remote import Progress, Remote

# Distributions the gunicorn master itself imports: a release that changes any of them needs a
# new master (restart), not just new workers (reload).
SERVER_RUNTIME = ("gunicorn", "uvicorn", "uvicorn_worker")
_LABEL = re.compile(r"[^a-z0-9]+")


class ReleaseError(RuntimeError):
    """The release could not be built; the message says what to fix."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Build:
    """The wheels of one release and what they say about it."""

    wheels: tuple[Wheel, ...]
    app_wheel: str
    python: str
    runtime: str  # fingerprint of the server runtime (see SERVER_RUNTIME)

    @property
    def manifest(self) -> str:
        """`sha256sum -c` format: what the server links and checks."""
        return "".join(f"{w.sha256}  {w.name}\n" for w in self.wheels)


def server_platform(remote: Remote) -> wheelhouse.Platform:
    """The wheel platform of the server's python3 (version and machine)."""
    probe = remote.out(
        'python3 -c \'import platform, sys; print("%d.%d" % sys.version_info[:2], '
        "platform.machine())'",
        what="probe the server's Python",
    )
    version, machine = probe.split()
    return wheelhouse.Platform.linux(version, machine)


def build(
    app_dir: Path, platform: wheelhouse.Platform, dest: Path, progress: Progress | None = None
) -> Build:
    """Wheels of `app_dir` and its locked requirements for `platform`, in `dest`."""
    app_dir = app_dir.resolve()
    if not (app_dir / "pyproject.toml").is_file():
        raise ReleaseError(
            f"{app_dir}: no pyproject.toml; give the directory of an installable app"
        )
    if app_dir == APP_DIR.resolve():
        built = wheelhouse.build(dest, platform, progress)
        app_wheel = built.app_wheel.name
    else:
        app_wheel = _build_other(app_dir, platform, dest, progress)
    wheels = tuple(Wheel(p, _sha256(p)) for p in sorted(dest.glob("*.whl")))
    runtime = sorted(w.name for w in wheels if w.name.split("-")[0].lower() in SERVER_RUNTIME)
    if not any(n.lower().startswith("gunicorn-") for n in runtime):
        raise ReleaseError(
            f"{app_dir}: gunicorn is not among the app's locked requirements; the VPS runs the "
            "app with gunicorn and uvicorn-worker, add both to its dependencies"
        )
    fingerprint = hashlib.sha256(
        json.dumps([platform.python_version, runtime]).encode()
    ).hexdigest()[:16]
    return Build(wheels, app_wheel, platform.python_version, fingerprint)


def _build_other(
    app_dir: Path, platform: wheelhouse.Platform, dest: Path, progress: Progress | None
) -> str:
    """Another app: its own hash-pinned requirements.txt, and its wheel built from source."""
    requirements = app_dir / "requirements.txt"
    if not requirements.is_file():
        raise ReleaseError(
            f"{app_dir}: no requirements.txt; lock the app's dependencies with hashes "
            "(e.g. `uv export --format requirements-txt -o requirements.txt`)"
        )
    deps = wheelhouse.dependency_wheels(platform, progress, requirements=requirements)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for wheel in deps.glob("*.whl"):
        shutil.copy2(wheel, dest / wheel.name)
    with tempfile.TemporaryDirectory(prefix="shipways-build-") as scratch:
        # Build from a copy so build/ and *.egg-info never land in the app's source tree.
        source = Path(scratch) / "src"
        shutil.copytree(app_dir, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        out = Path(scratch) / "wheel"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ReleaseError(f"building the wheel of {app_dir} failed:\n{result.stderr[-2000:]}")
        built = sorted(out.glob("*.whl"))
        if len(built) != 1:
            raise ReleaseError(f"expected one wheel from {app_dir}, got {built}")
        shutil.copy2(built[0], dest / built[0].name)
        return built[0].name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release_id(label: str, now: float | None = None) -> str:
    """`YYYYmmddTHHMMSSZ-label`: sorts by time; the label is reduced to [a-z0-9-], 24 chars."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    clean = _LABEL.sub("-", label.lower()).strip("-")[:24].strip("-") or "release"
    return f"{stamp}-{clean}"


RELEASE_ID = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9-]{1,24}$")
