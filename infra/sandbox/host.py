"""Facts about, and package installs on, the machine running the sandbox.

The sandbox bootstraps its own tools (dockerd, debootstrap) only where that is safe and
predictable: a Debian/Ubuntu host where we are root. Everywhere else (macOS with Docker
Desktop, a non-root laptop user) we refuse and tell the user what to install, rather than
guessing a package manager or asking for sudo behind their back.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.sandbox.errors import Progress, SandboxError, report

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def is_debian_like(os_release: Path = Path("/etc/os-release")) -> bool:
    """True when /etc/os-release names Debian or a derivative (Ubuntu, ...)."""
    try:
        text = os_release.read_text()
    except OSError:
        return False
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    ids = {fields.get("ID", ""), *fields.get("ID_LIKE", "").split()}
    return bool(ids & {"debian", "ubuntu"})


def can_self_install() -> bool:
    """True when we may install host packages ourselves (Debian-like and running as root)."""
    return os.geteuid() == 0 and is_debian_like() and shutil.which("apt-get") is not None


def apt_install(packages: list[str], progress: Progress | None = None) -> None:
    """Install Debian packages, refreshing the package lists only when apt cannot find them.

    `apt-get update` is slow and touches the network, so it runs once, and only after an
    install failed (stale or missing lists on a brand-new machine).
    """
    cmd = ["apt-get", "install", "-y", *packages]
    report(progress, f"apt-get install {' '.join(packages)}")
    first = subprocess.run(cmd, env=_APT_ENV, capture_output=True, text=True, check=False)
    if first.returncode == 0:
        return
    report(progress, "package lists look stale; running apt-get update")
    update = subprocess.run(
        ["apt-get", "update"], env=_APT_ENV, capture_output=True, text=True, check=False
    )
    if update.returncode != 0:
        raise SandboxError(
            f"`apt-get update` failed ({update.returncode}): {_tail(update.stderr)}\n"
            "Check network access to the Debian mirror, then retry."
        )
    second = subprocess.run(cmd, env=_APT_ENV, capture_output=True, text=True, check=False)
    if second.returncode != 0:
        raise SandboxError(
            f"`{' '.join(cmd)}` failed ({second.returncode}): {_tail(second.stderr)}\n"
            f"Install {', '.join(packages)} yourself, then retry."
        )


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Hold an exclusive, process-wide lock named `name` for the duration of the block.

    Used around "check, then create" steps (start dockerd, build an image) so two concurrent
    callers - two test workers, a demo and a test run - never do the work twice. The lock
    file lives in the temp dir and the kernel drops the lock if the holder dies.
    """
    path = Path(tempfile.gettempdir()) / f"shipways-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_logged(cmd: list[str], progress: Progress | None = None, *, what: str) -> None:
    """Run `cmd`, forwarding each output line to `progress`; on failure raise with the tail.

    For host tools whose output is the only progress signal of a minute-long step
    (debootstrap, tar). The full output is never lost: the last lines go into the error.
    """
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            tail = [*tail[-29:], line]
            report(progress, line)
    if proc.returncode != 0:
        raise SandboxError(
            f"{what} failed (exit {proc.returncode}): `{' '.join(cmd)}`\n" + "\n".join(tail)
        )
