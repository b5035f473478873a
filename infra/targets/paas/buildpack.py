"""What a buildpack does to a release before it serves: its dependencies and its release step.

- `dependencies`: a virtualenv for the Python `.python-version` names, installed offline from
  the wheelhouse (`pip --no-index --require-hashes --only-binary=:all:`); like a buildpack's
  cache, unchanged requirements reuse the virtualenv already built for them.
- `run_release`: the Procfile's `release:` under honcho, with the release's environment.
- `honcho`, `path`: how every Procfile process is started (the toolkit's honcho, the release's
  virtualenv first on PATH).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

from infra.artifacts import wheelhouse
from infra.sandbox.digest import tree_digest
from infra.sandbox.errors import SandboxError

INSTALL_TIMEOUT_S = 600
RELEASE_TIMEOUT_S = 300


def dependencies(venvs: Path, app: Path, version: str) -> tuple[Path, bool]:
    """The virtualenv for these exact requirements, and whether it was reused: reused
    when unchanged, like a buildpack's dependency cache; otherwise built from the
    wheelhouse, offline."""
    requirements = tree_digest({"requirements.txt": app / "requirements.txt"})
    venv = venvs / f"py{version}-{requirements}"
    done = venv / ".complete"
    if done.exists():
        return venv, True
    shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
    _install(app, venv, version)
    done.touch()
    return venv, False


def _install(app: Path, venv: Path, version: str) -> None:
    python = shutil.which(f"python{version}")
    if python is None:
        raise SandboxError(
            f"the bundle asks for Python {version} (.python-version) and this machine has "
            f"no python{version}: install it, or change app/.python-version together with "
            "the stack's platformPattern"
        )
    wheels = wheelhouse.dependency_wheels(wheelhouse.Platform.linux(version, platform.machine()))
    _run([python, "-m", "venv", "--without-pip", str(venv)], "create the virtualenv", 120)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-index",
            "--find-links",
            str(wheels),
            "--require-hashes",
            "--only-binary=:all:",
            "-r",
            str(app / "requirements.txt"),
        ],
        "install the bundle's requirements",
        INSTALL_TIMEOUT_S,
    )


def run_release(workdir: Path, venv: Path, env: dict[str, str]) -> None:
    """The Procfile's `release:` under honcho; raises SandboxError (the release refused)."""
    log = workdir / "release.log"
    with log.open("wb") as sink:
        try:
            result = subprocess.run(
                honcho("start", "release"),
                cwd=workdir / "app",
                env={**env, "PATH": path(venv)},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=RELEASE_TIMEOUT_S,
                umask=0o077,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SandboxError(
                f"release {workdir.name} refused: the release process ran over "
                f"{RELEASE_TIMEOUT_S}s and was stopped; the previous release keeps "
                f"serving. Log: {log}"
            ) from None
    if result.returncode != 0:
        raise SandboxError(
            f"release {workdir.name} refused: the Procfile's release process failed "
            f"(exit {result.returncode}); no instance was started and the previous "
            f"release keeps serving. Log {log}:\n{tail(log)}"
        )


def honcho(*args: str) -> list[str]:
    """The Procfile runner, from the toolkit's environment (never from the app's)."""
    return [sys.executable, "-m", "honcho", "--no-colour", *args]


def path(venv: Path) -> str:
    """The release's virtualenv first, then the system: like a buildpack's PATH."""
    return f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"


def _run(command: list[str], what: str, timeout: int) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(f"could not {what}: still running after {timeout}s") from None
    if result.returncode != 0:
        lines = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"could not {what} (exit {result.returncode}):\n{lines}")


def tail(log: Path, lines: int = 25) -> str:
    """The last `lines` of a log, for an error message."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])
