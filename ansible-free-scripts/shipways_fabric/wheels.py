"""Wheels for the server's Python, built on the control machine (the server never reaches PyPI).

A `WheelBuilder` fills a directory with the app's wheel and every wheel it depends on, for
the server's interpreter and machine (`ServerPlatform`), and names the app's wheel. `deploy`
takes any builder: the shipways toolkit passes the wheelhouse it builds for every target;
`locked_wheels`, the default, works for any app with a hash-locked `requirements.txt`, so
the tasks need nothing beyond this package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Progress = Callable[[str], None]
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


class WheelError(RuntimeError):
    """The wheels could not be built; the message says what to fix."""


@dataclass(frozen=True)
class ServerPlatform:
    """The server's python3 (`3.11`) and machine (`x86_64`, `aarch64`), as wheel tags."""

    python_version: str
    machine: str

    @classmethod
    def of(cls, python_version: str, machine: str) -> ServerPlatform:
        known = _MACHINES.get(machine)
        if known is None:
            raise WheelError(f"the server's machine {machine!r} is neither x86_64 nor arm64")
        return cls(python_version, known)

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    @property
    def tags(self) -> tuple[str, ...]:
        """The manylinux platform tags a Debian 12 server (glibc 2.36) installs."""
        return (f"manylinux2014_{self.machine}", f"manylinux_2_28_{self.machine}")

    @property
    def key(self) -> str:
        return f"{self.abi}-{'-'.join(self.tags)}"


class WheelBuilder(Protocol):
    def __call__(
        self, app_dir: Path, platform: ServerPlatform, dest: Path, progress: Progress | None
    ) -> str:
        """Fill the empty directory `dest` with wheels; return the file name of the app's."""
        ...


def _pip(args: list[str], what: str, progress: Progress | None) -> None:
    if progress is not None:
        progress(f"pip {args[0]}: {what}")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise WheelError(f"{what} failed:\n{(result.stderr or result.stdout)[-2000:]}")


def locked_wheels(
    app_dir: Path, platform: ServerPlatform, dest: Path, progress: Progress | None = None
) -> str:
    """The wheels of `app_dir/requirements.txt` (hash-locked) for `platform`, and the app's."""
    requirements = app_dir / "requirements.txt"
    if not requirements.is_file():
        raise WheelError(
            f"{app_dir}: no requirements.txt; lock the app's dependencies with hashes "
            "(e.g. `uv export --format requirements-txt -o requirements.txt`)"
        )
    tags = [arg for tag in platform.tags for arg in ("--platform", tag)]
    abis = [arg for abi in (platform.abi, "abi3", "none") for arg in ("--abi", abi)]
    _pip(
        [
            "download",
            "--only-binary=:all:",
            "--require-hashes",
            "--python-version",
            platform.python_version,
            "--implementation",
            "cp",
            *abis,
            *tags,
            "-r",
            str(requirements),
            "-d",
            str(dest),
        ],
        f"download {requirements} for {platform.key}",
        progress,
    )
    with tempfile.TemporaryDirectory(prefix="shipways-build-") as scratch:
        # Build from a copy so build/ and *.egg-info never land in the app's source tree.
        source = Path(scratch) / "src"
        shutil.copytree(app_dir, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        out = Path(scratch) / "wheel"
        _pip(
            ["wheel", "--no-deps", "-q", "-w", str(out), str(source)], f"build {app_dir}", progress
        )
        built = sorted(out.glob("*.whl"))
        if len(built) != 1:
            raise WheelError(f"expected one wheel from {app_dir}, got {[p.name for p in built]}")
        shutil.copy2(built[0], dest / built[0].name)
        return built[0].name


def _git(app_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(app_dir), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_label(app_dir: Path) -> str:
    """Short sha of the last commit touching `app_dir` (+`-dirty`), or `unknown` outside git."""
    sha = _git(app_dir, "log", "-1", "--format=%h", "--abbrev=12", "--", ".")
    if not sha:
        return "unknown"
    return f"{sha}-dirty" if _git(app_dir, "status", "--porcelain", "--", ".") else sha
