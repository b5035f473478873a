"""Bounded load against a local URL with wrk, for benchmarks: requests/s and p50/p99.

wrk (C, epoll) rather than a Python client, so the load generator is not the bottleneck on a
2-core machine; the Lua script caps each run by a request budget as well as by time, and prints
its figures as JSON. Only loopback URLs are accepted: benchmarks never leave this machine.
Compare targets as ratios against `infra.local_app.running()` measured in the same run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

SCRIPT = Path(__file__).with_name("loadgen.lua")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LoadError(RuntimeError):
    """The load run could not start or produced no result."""


class LoadResult(BaseModel):
    url: str
    connections: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def measure(
    url: str,
    *,
    connections: int = 8,
    duration_s: float = 5.0,
    max_requests: int = 20_000,
    warmup_requests: int = 200,
) -> LoadResult:
    """Load `url` over `connections` keep-alive connections until the budget or time runs out.

    wrk's main thread sleeps for the whole duration even when the budget ends the run early, so
    keep `duration_s` close to what the budget needs.
    """
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise LoadError(f"refusing to load {url}: benchmarks only target 127.0.0.1")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed: `apt-get install wrk` (./dev.sh setup does it)")
    if warmup_requests:
        _run(wrk, url, connections, 2.0, warmup_requests)
    raw = _run(wrk, url, connections, duration_s, max_requests)
    errors = sum(raw["errors"].values())
    seconds = raw["elapsed_us"] / 1e6
    return LoadResult(
        url=url,
        connections=connections,
        requests=raw["requests"],
        errors=errors,
        rps=round(raw["timed_requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def _run(wrk: str, url: str, connections: int, duration_s: float, budget: int) -> dict:
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "--script",
        str(SCRIPT),
        url,
        "--",
        str(max(2, budget)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise LoadError(f"wrk gave no result for {url}: {done.stderr.strip() or done.stdout[-300:]}")
