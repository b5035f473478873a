"""The instances' web processes: started inside their instance, health-checked, stopped.

Each instance of the environment is a placeholder container (`environment.py`) whose network
and UTS namespaces the web process joins with `nsenter`: the process runs from the release
workspace on this machine, and yet listens on its own address on the private network and
answers to its own host name, as on an EC2 instance of its own. Every instance uses the
same port (Beanstalk's 8000), since each has its own network namespace.

The health check runs inside the instance's network namespace too, against its loopback:
the load balancer's check (`healthCheckPath`) without sending traffic anywhere but to a
loopback address. Joining another process's namespaces needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from infra.sandbox.errors import SandboxError
from infra.targets.paas import processes

APP_PORT = 8000  # the port Beanstalk's nginx forwards to (the stack sets PORT to it)
BIND_ALL = "0.0.0.0"  # noqa: S104 - inside the instance's own network namespace
PROBE_CHUNK_S = 2.0
# Polls a loopback URL for up to `seconds`: exit 0 on HTTP 200, else print the last answer.
PROBE = """
import sys, time, urllib.error, urllib.request
url, seconds = sys.argv[1], float(sys.argv[2])
deadline, last = time.monotonic() + seconds, "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
            last = f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        last = f"HTTP {exc.code}"
    except OSError as exc:
        last = type(exc).__name__
    time.sleep(0.25)
print(last)
sys.exit(1)
"""


class Web(BaseModel):
    """One instance's web process (the Procfile's `web:` under honcho)."""

    release: str
    pid: int
    started: int  # /proc start time: tells our process from a recycled pid
    port: int
    instance_id: str = ""
    address: str = "127.0.0.1"  # the instance's address on the private network

    @property
    def backend(self) -> str:
        """What the front door sends requests to."""
        return f"{self.address}:{self.port}"


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "the local PaaS places each instance's processes in the network namespace of its "
            "instance container, which needs root: run `shipways up paas` as root (or with sudo)"
        )


def enter(netns_pid: int, *command: str) -> list[str]:
    """`command` inside the network and UTS namespaces of `netns_pid`."""
    return [
        "nsenter",
        f"--net=/proc/{netns_pid}/ns/net",
        f"--uts=/proc/{netns_pid}/ns/uts",
        "--",
        *command,
    ]


def spawn(
    command: list[str], *, netns_pid: int, cwd: Path, env: dict[str, str], log: Path
) -> tuple[int, int]:
    """Start `command` (a detached process group) inside the instance; (pid, start time)."""
    return processes.spawn(enter(netns_pid, *command), cwd=cwd, env=env, log=log)


def wait_healthy(web: Web, path: str, timeout: float) -> str | None:
    """None once `path` answers 200 on the instance's loopback; else why not (bounded)."""
    url = f"http://127.0.0.1:{web.port}{path}"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not processes.alive(web.pid, web.started):
            return f"the web process exited (last answer: {last})"
        chunk = min(PROBE_CHUNK_S, max(0.5, deadline - time.monotonic()))
        try:
            probe = subprocess.run(
                enter(web.pid, sys.executable, "-c", PROBE, url, str(chunk)),
                capture_output=True,
                text=True,
                timeout=chunk + 10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0:
            return None
        last = probe.stdout.strip() or probe.stderr.strip()[-200:] or last
    return f"{path} never answered 200 within {timeout:g}s (last answer: {last})"
