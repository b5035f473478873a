"""testinfra checks of the running k8s pod container (`--hosts=docker://NAME`).

They inspect the pod from the inside, as its own user would see it: `docker exec` runs as
the container's configured user, exactly the identity an attacker in the app would have.
The image is minimal (no ps, ss or curl), so processes and sockets are read from /proc.
"""

from __future__ import annotations

import os
from typing import Any

import docker
import pytest

APP_UID = int(os.environ.get("SHIPWAYS_K8S_APP_UID", "10001"))
APP_PORT = 8000
TMP = "/tmp"  # noqa: S108 - the pod's own emptyDir, the one path that must be writable
# Paths that must refuse a write: the image's code, its venv, system dirs, the home dir.
READ_ONLY = ("/", "/app", "/app/shipways_app", "/opt/venv", "/etc", "/usr", "/var", "/root")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _status(host: Any, pid: int = 1) -> dict[str, str]:
    lines = host.file(f"/proc/{pid}/status").content_string.splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def test_runs_as_the_fixed_non_root_user(host: Any) -> None:
    assert host.user().uid == APP_UID
    uids = _status(host)["Uid"].split()
    assert uids and all(int(uid) == APP_UID for uid in uids), f"PID 1 runs as {uids}"


def test_no_capabilities_and_no_privilege_escalation(host: Any) -> None:
    status = _status(host)
    for field in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, f"{field}={status[field]}"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2", "the runtime's default seccomp filter is not applied"


def test_root_filesystem_is_read_only(host: Any) -> None:
    root = next(
        line
        for line in host.file("/proc/mounts").content_string.splitlines()
        if line.split()[1] == "/"
    )
    assert "ro" in root.split()[3].split(","), root
    for path in READ_ONLY:
        result = host.run(f"touch {path}/.shipways-write-probe")
        assert result.rc != 0, f"{path} is writable"
        assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr


def test_only_tmp_is_writable(host: Any) -> None:
    probe = f"{TMP}/.shipways-write-probe"
    assert host.run(f"touch {probe} && rm {probe}").rc == 0
    tmp = next(
        line
        for line in host.file("/proc/mounts").content_string.splitlines()
        if line.split()[1] == TMP
    )
    assert tmp.split()[2] == "tmpfs", tmp
    writable = [
        line.split()[1]
        for line in host.file("/proc/mounts").content_string.splitlines()
        if "rw" in line.split()[3].split(",")
        and line.split()[2] not in {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue"}
        and not line.split()[1].startswith(("/dev", "/proc", "/sys"))
        # Docker's per-container resolv.conf/hosts/hostname: root-owned, see the write check.
        and line.split()[1] not in {"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"}
    ]
    assert writable == [TMP], writable


def test_gunicorn_is_pid_1_and_listens_on_the_app_port(host: Any) -> None:
    cmdline = host.file("/proc/1/cmdline").content_string.split("\0")
    assert any(arg.endswith("gunicorn") for arg in cmdline), cmdline
    listening = [
        line.split()
        for line in host.file("/proc/net/tcp").content_string.splitlines()[1:]
        if line.split()[3] == _LISTEN
    ]
    ports = {int(fields[1].split(":")[1], 16) for fields in listening}
    assert APP_PORT in ports, f"listening ports: {sorted(ports)}"


def test_container_is_healthy(host: Any) -> None:
    name = host.backend.name
    try:
        container = docker.from_env().containers.get(name)
    except docker.errors.NotFound:
        pytest.fail(f"container {name} not found")
    health = container.attrs["State"].get("Health", {}).get("Status")
    assert health == "healthy", f"{name} health: {health}"
