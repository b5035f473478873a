"""Detached process groups that the local PaaS starts, and finds again from a state file.

`shipways up paas` exits while the web process keeps serving, so `down`, `status` and the next
`up` (other processes, perhaps after a reboot) know it only by pid. Pids get recycled, so the
kernel's start time of the process is stored beside the pid and both must match; a zombie
counts as gone. Each web process leads its own session, so one signal to the group reaches
the Procfile runner, the shell, gunicorn's master and its workers alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT_S = 40.0  # gunicorn's graceful_timeout (30 s) plus margin
_POLL_S = 0.1


def start_time(pid: int, *, zombie_ok: bool = False) -> int | None:
    """Clock ticks since boot when `pid` started, or None if it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may contain spaces) start at field 3 (state).
    fields = stat.rpartition(")")[2].split()
    if not fields or (fields[0] == "Z" and not zombie_ok):
        return None
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    """True while the very process we started (not a recycled pid) is running."""
    return start_time(pid) == started


def spawn(command: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path) -> tuple[int, int]:
    """Start `command` as a new session writing to `log`; returns (pid, start time).

    Files it creates are private to its user (umask 077): the SQLite database among them.
    """
    with log.open("ab") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
    # Our own child stays a zombie until reaped, so even a command that failed at once
    # still has its start time; callers then see it as not alive and read the log.
    started = start_time(process.pid, zombie_ok=True)
    assert started is not None, "an unreaped child always has a /proc entry"
    return process.pid, started


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid: int, started: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the whole group of `pid`, SIGKILL what is left after `timeout`.

    Returns False when the process was already gone (nothing of ours to stop).
    """
    if not alive(pid, started):
        _reap(pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, started) and not _group_exists(pid):
            return True
        time.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for _ in range(int(5 / _POLL_S)):
        _reap(pid)
        if not _group_exists(pid):
            break
        time.sleep(_POLL_S)
    return True


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the Procfile runner's shell, gunicorn, its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def resident_bytes(pids: Sequence[int]) -> int:
    """Summed resident memory (VmRSS) of `pids`; processes that are gone count as zero."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total
