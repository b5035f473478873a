"""Measuring a running local target: where to load it from, its memory, its cold start.

Shared by the main job's measurement pass (`infra.measure_pass`) and the benchmarks, so a
figure means the same whichever of them recorded it.

Fair path: Docker's userland port proxy (host port -> container) costs more than a small
app's whole request, so a figure measured through it describes the stand-in, not the
recipe. `reach` loads a container's app on its own loopback, from inside its network
namespace (`nsenter -n`, root only), the way a load balancer on the same host would reach
it. Without root the published port is the fallback, and every figure says which path it
took (`infra.loadgen.NETNS` / `PUBLISHED`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from docker.models.containers import Container

from infra.loadgen import can_enter_netns
from infra.sandbox.containers import exec_checked
from infra.sandbox.engine import ensure_engine
from infra.sandbox.health import wait_for_http
from infra.targets import Endpoint
from infra.targets.paas import processes

PATHS = ("/hello", "/products")
REPORT = re.compile(r"^REPORT RequestId: \S+\t(?P<fields>.*)$")


@dataclass(frozen=True)
class Reach:
    """How the load generator reaches a target's app: a base URL as seen from where wrk
    runs, the namespace it runs in (None: the host's), and whether a port proxy is between."""

    url: str
    netns_pid: int | None = None
    published: bool = False
    container: Container | None = None

    @property
    def why(self) -> str:
        if self.published:
            return "through the published port (entering the container needs root and nsenter)"
        if self.netns_pid is not None:
            return f"from inside the container's network namespace, on {self.url}"
        return f"on the host's loopback, {self.url} (no proxy in between)"


def reach(endpoint: Endpoint) -> Reach:
    """Where to load `endpoint` from: inside its container's network namespace when it runs
    in one and this user may enter it, else its URL (a host process: already proxy-free)."""
    name = endpoint.extra.get("container")
    if name is None:
        return Reach(endpoint.url)
    container = ensure_engine().containers.get(str(name))
    if not can_enter_netns():
        return Reach(endpoint.url, published=True, container=container)
    port = inner_port(container, urlsplit(endpoint.url).port)
    pid = int(container.attrs["State"]["Pid"])
    return Reach(f"http://127.0.0.1:{port}", netns_pid=pid, container=container)


def inner_port(container: Container, host_port: int | None) -> int:
    """The container port that `host_port` on the host is published from."""
    container.reload()
    for key, bindings in (container.attrs["NetworkSettings"].get("Ports") or {}).items():
        if any(str(b.get("HostPort")) == str(host_port) for b in bindings or ()):
            return int(key.split("/")[0])
    raise LookupError(f"{container.name} publishes nothing on host port {host_port}")


def container_memory_bytes(container: Container) -> int:
    """A container's cgroup memory use, read inside it (the engine's stats API is empty on some
    cgroup v1 hosts). cgroup v2 file first, then v1."""
    read = "cat /sys/fs/cgroup/memory.current 2>/dev/null || "
    read += "cat /sys/fs/cgroup/memory/memory.usage_in_bytes"
    return int(exec_checked(container, ["/bin/sh", "-c", read]).strip())


def process_tree_memory_bytes(pid: int) -> int:
    """Resident memory of `pid` and everything it started (a host process's whole tree)."""
    return processes.resident_bytes([pid, *processes.descendants(pid)])


def lambda_reports(container: Container, since: datetime) -> list[dict[str, float]]:
    """The REPORT lines a local Lambda logged since `since`, as {field: number}."""
    text = bytes(container.logs(since=since)).decode(errors="replace")
    parsed = []
    for line in text.splitlines():
        match = REPORT.match(line)
        if match:
            fields = dict(f.split(": ", 1) for f in match["fields"].split("\t"))
            parsed.append({k: float(v.split()[0]) for k, v in fields.items() if k != "Status"})
    return parsed


@dataclass(frozen=True)
class ColdStart:
    init_ms: float  # the runtime's Init Duration: process start to its first `next`
    first_response_ms: float  # restart to the first 200 on /healthz


def lambda_cold_start(
    container: Container, url: str | Callable[[], str], timeout: float = 60
) -> ColdStart:
    """Restart a local Lambda (a new instance) and time its first response and its init;
    `url` is its base URL, or what tells it once restarted."""
    since = datetime.now(UTC)
    container.restart(timeout=10)
    started = time.perf_counter()
    base = url if isinstance(url, str) else url()
    wait_for_http(f"{base}/healthz", timeout=timeout, interval=0.05)
    first = (time.perf_counter() - started) * 1000
    # `since` has one-second resolution: the newest cold start is this restart's.
    inits = [r["Init Duration"] for r in lambda_reports(container, since) if "Init Duration" in r]
    if not inits:
        raise LookupError(f"{container.name} logged no Init Duration after a restart")
    return ColdStart(init_ms=inits[-1], first_response_ms=first)
