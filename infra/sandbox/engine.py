"""Reach a Docker engine, starting one on this machine when that is safe.

Every local target (VPS-in-a-box, Kubernetes stand-in, Lambda harness) needs Docker. On a
developer laptop the engine is Docker Desktop or a systemd service, and we only connect.
On the project's CI/dev machines (Debian, root, no systemd as PID 1) nobody starts the
daemon for us, and CI begins with it stopped, so `ensure_engine` installs `docker.io` when
missing and launches `dockerd` detached, logging to /var/log/shipways-dockerd.log.
A lock file keeps two concurrent callers from launching two daemons.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException

from infra.sandbox.errors import Progress, SandboxError, report
from infra.sandbox.host import apt_install, can_self_install, file_lock

DEFAULT_HOST = "unix:///var/run/docker.sock"
DOCKERD_LOG = Path("/var/log/shipways-dockerd.log")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")
# dockerd's own containerd; its pid file also survives a machine that lost its processes.
CONTAINERD_PIDFILE = Path("/var/run/docker/containerd/containerd.pid")
START_TIMEOUT_S = 60.0
CLIENT_TIMEOUT_S = 300

# Keeps the Popen handle of a daemon we launched alive, so it is not garbage-collected
# (and warned about) while the daemon deliberately outlives this call.
_launched: list[subprocess.Popen[bytes]] = []


def ensure_engine(
    progress: Progress | None = None, *, timeout: float = START_TIMEOUT_S
) -> docker.DockerClient:
    """Return a client for a Docker engine that answers `ping`.

    Honours DOCKER_HOST. Starts a local daemon only for the default socket, on a
    Debian-like host, as root; anywhere else an unreachable engine is a `SandboxError`
    that says how to start it.
    """
    client = _connect()
    if client is not None:
        return client
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    if host != DEFAULT_HOST or not can_self_install():
        raise SandboxError(_unreachable_message(host))
    with file_lock("dockerd"):
        client = _connect()  # another process may have started it while we waited
        if client is not None:
            return client
        if shutil.which("dockerd") is None:
            report(progress, "dockerd not found; installing docker.io")
            apt_install(["docker.io"], progress)
        launched = None
        if _live_pid(DOCKERD_PIDFILE, "dockerd") is None:
            _remove_stale_pidfiles(progress)
            launched = _launch_dockerd(progress)
        else:
            report(progress, "dockerd is running but not answering yet; waiting")
        return _wait_for_engine(host, timeout, launched, progress)


def _connect() -> docker.DockerClient | None:
    """A client if the engine answers a quick ping, else None.

    The probe uses a short timeout so an unreachable TCP host fails fast; the returned
    client gets a long one because exec and attach calls legitimately block for minutes.
    """
    try:
        docker.from_env(timeout=5).ping()
        return docker.from_env(timeout=CLIENT_TIMEOUT_S)
    except DockerException:
        return None


def _live_pid(pidfile: Path, command: str) -> int | None:
    """PID in `pidfile` if that process is alive and is `command`, else None."""
    try:
        pid = int(pidfile.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == command else None


def _remove_stale_pidfiles(progress: Progress | None) -> None:
    """Delete pid files whose process is gone (or whose pid now belongs to another program).

    /var/run is not a tmpfs on the project's machines, so after the processes vanished
    (CI starts on the same disk) the files remain; dockerd refuses to start when its pid
    file names any live process, and would wait for a "running" containerd that is not.
    """
    for pidfile, command in ((DOCKERD_PIDFILE, "dockerd"), (CONTAINERD_PIDFILE, "containerd")):
        if pidfile.exists() and _live_pid(pidfile, command) is None:
            report(progress, f"removing stale {pidfile}")
            pidfile.unlink(missing_ok=True)


def _launch_dockerd(progress: Progress | None) -> subprocess.Popen[bytes]:
    report(progress, f"starting dockerd (log: {DOCKERD_LOG})")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        proc = subprocess.Popen(
            ["dockerd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives our process group (Ctrl-C, test teardown)
            close_fds=True,
        )
    _launched.append(proc)
    return proc


def _wait_for_engine(
    host: str,
    timeout: float,
    launched: subprocess.Popen[bytes] | None,
    progress: Progress | None,
) -> docker.DockerClient:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = _connect()
        if client is not None:
            report(progress, f"Docker engine {client.version().get('Version', '?')} is up")
            return client
        if launched is not None and launched.poll() is not None:
            raise SandboxError(
                f"dockerd exited with status {launched.returncode} while starting.\n"
                f"Last lines of {DOCKERD_LOG}:\n{_log_tail()}\n"
                "Fix the cause above (a stale /var/run/docker.pid, a port or storage "
                "problem), then retry."
            )
        time.sleep(0.5)
    raise SandboxError(
        f"dockerd did not answer at {host} within {timeout:.0f}s.\n"
        f"Last lines of {DOCKERD_LOG}:\n{_log_tail()}"
    )


def _log_tail(lines: int = 20) -> str:
    try:
        return "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _unreachable_message(host: str) -> str:
    hint = " (or unset DOCKER_HOST to use the local default socket)" if host != DEFAULT_HOST else ""
    return (
        f"Docker engine not reachable at {host}; start Docker Desktop / "
        f"`sudo systemctl start docker` and retry{hint}."
    )
