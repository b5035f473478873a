"""A release as built on the control machine: wheels for the server's Python, and its identity.

The server never reaches a package index: the control machine builds the wheels for the
server's interpreter and architecture (asked over SSH) with a `WheelBuilder`, uploads them,
and the server installs them with `--no-index`. A release is named `<UTC time>-<label>`
(label: the app's git commit, or what the caller passes), so names sort by age and say what
they contain.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from shipways_fabric.remote import Progress, Remote
from shipways_fabric.wheels import ServerPlatform, WheelBuilder, WheelError

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
    def size_bytes(self) -> int:
        """What a release uploads: every wheel's size (read while the wheels exist)."""
        return sum(w.path.stat().st_size for w in self.wheels)

    @property
    def manifest(self) -> str:
        """`sha256sum -c` format: what the server links and checks."""
        return "".join(f"{w.sha256}  {w.name}\n" for w in self.wheels)


def server_platform(remote: Remote) -> ServerPlatform:
    """The wheel platform of the server's python3 (version and machine)."""
    probe = remote.out(
        'python3 -c \'import platform, sys; print("%d.%d" % sys.version_info[:2], '
        "platform.machine())'",
        what="probe the server's Python",
    )
    version, machine = probe.split()
    try:
        return ServerPlatform.of(version, machine)
    except WheelError as exc:
        raise ReleaseError(f"{remote.where}: {exc}") from exc


def build(
    app_dir: Path,
    platform: ServerPlatform,
    dest: Path,
    wheels: WheelBuilder,
    progress: Progress | None = None,
) -> Build:
    """The wheels `wheels` builds for `app_dir` and `platform` in `dest`, and what they say."""
    app_dir = app_dir.resolve()
    if not (app_dir / "pyproject.toml").is_file():
        raise ReleaseError(
            f"{app_dir}: no pyproject.toml; give the directory of an installable app"
        )
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        app_wheel = wheels(app_dir, platform, dest, progress)
    except WheelError as exc:
        raise ReleaseError(str(exc)) from exc
    found = tuple(Wheel(p, _sha256(p)) for p in sorted(dest.glob("*.whl")))
    runtime = sorted(w.name for w in found if w.name.split("-")[0].lower() in SERVER_RUNTIME)
    if not any(n.lower().startswith("gunicorn-") for n in runtime):
        raise ReleaseError(
            f"{app_dir}: gunicorn is not among the app's locked requirements; the VPS runs the "
            "app with gunicorn and uvicorn-worker, add both to its dependencies"
        )
    fingerprint = hashlib.sha256(
        json.dumps([platform.python_version, runtime]).encode()
    ).hexdigest()[:16]
    return Build(found, app_wheel, platform.python_version, fingerprint)


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
