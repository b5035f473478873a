"""The app and its pinned runtime dependencies as wheels, for one Python and platform.

Every target installs from a wheelhouse with `--no-index`: servers and containers never reach
PyPI (here they can't; in production they shouldn't have to), the exact locked versions are
installed everywhere, and a deploy doesn't depend on a registry being up.

Third-party wheels depend only on `app/requirements.txt` and the platform, so they are cached
by that key; the app's own wheel is rebuilt every time because the code changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.paths import APP_DIR, APP_REQUIREMENTS, state_dir

Progress = Callable[[str], None]


class WheelhouseError(RuntimeError):
    """Building the wheelhouse failed; the message carries pip's own explanation."""


@dataclass(frozen=True)
class Platform:
    """The interpreter and machine the wheels are for (PEP 425 tags)."""

    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    platforms: tuple[str, ...] = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")

    @classmethod
    def linux(cls, python_version: str, architecture: str = "x86_64") -> Platform:
        arch = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
        machine = arch.get(architecture)
        if machine is None:
            raise WheelhouseError(f"unknown architecture {architecture!r}: use x86_64 or arm64")
        return cls(python_version, (f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"))

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    @property
    def key(self) -> str:
        return f"{self.abi}-{'-'.join(self.platforms)}"


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    app_wheel: Path
    platform: Platform

    @property
    def wheels(self) -> list[Path]:
        return sorted(self.path.glob("*.whl"))

    @property
    def size_bytes(self) -> int:
        return sum(w.stat().st_size for w in self.wheels)


def _pip(args: list[str], progress: Progress | None) -> None:
    if progress:
        progress("pip " + " ".join(args[:2]) + " ...")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise WheelhouseError(f"pip {args[0]} failed:\n{tail}")


def dependency_wheels(
    platform: Platform,
    progress: Progress | None = None,
    *,
    requirements: Path = APP_REQUIREMENTS,
) -> Path:
    """Binary wheels of the locked `requirements` for `platform`, cached by their inputs.

    The app's requirements by default; a target may pass another hash-pinned file (the
    Lambda sandbox fetches AWS's runtime client this way).
    """
    digest = hashlib.sha256(requirements.read_bytes() + platform.key.encode()).hexdigest()
    cache = state_dir("cache", "wheels", f"{platform.abi}-{digest[:16]}")
    done = cache / ".complete"
    if done.exists():
        return cache
    platform_args = [arg for p in platform.platforms for arg in ("--platform", p)]
    _pip(
        [
            "download",
            "--only-binary=:all:",
            "--require-hashes",
            "--python-version",
            platform.python_version,
            "--implementation",
            "cp",
            "--abi",
            platform.abi,
            "--abi",
            "abi3",
            "--abi",
            "none",
            *platform_args,
            "-r",
            str(requirements),
            "-d",
            str(cache),
        ],
        progress,
    )
    done.touch()
    return cache


def build(
    dest: Path,
    platform: Platform | None = None,
    progress: Progress | None = None,
    *,
    app_dir: Path = APP_DIR,
) -> Wheelhouse:
    """A fresh wheelhouse in `dest`: the wheel of `app_dir` (the app, or a changed copy of
    it) plus every locked dependency."""
    platform = platform or Platform()
    deps = dependency_wheels(platform, progress)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for wheel in deps.glob("*.whl"):
        shutil.copy2(wheel, dest / wheel.name)
    _pip(["wheel", "--no-deps", "-w", str(dest), str(app_dir)], progress)
    app_wheels = sorted(dest.glob("shipways_app-*.whl"))
    if len(app_wheels) != 1:
        raise WheelhouseError(f"expected one shipways_app wheel in {dest}, found {app_wheels}")
    for leftover in (app_dir / "build", app_dir / "shipways_app.egg-info"):
        shutil.rmtree(leftover, ignore_errors=True)
    return Wheelhouse(dest, app_wheels[0], platform)
