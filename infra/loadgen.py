"""Bounded load against a local URL with wrk, for benchmarks: requests/s and p50/p99.

wrk (C, epoll) rather than a Python client, so the load generator is not the bottleneck on a
2-core machine; the Lua script caps each run by a request budget as well as by time, and prints
its figures as JSON. Only loopback URLs are accepted: benchmarks never leave this machine.
Compare targets as ratios against `infra.local_app.running()` measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from infra import results

SCRIPT = Path(__file__).with_name("loadgen.lua")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LoadError(RuntimeError):
    """The load run could not start or produced no result."""


NETNS = "netns-loopback"  # wrk inside the target's network namespace: no port proxy in the path
PUBLISHED = "published-port"  # wrk on the host, through Docker's published port (its proxy)


class LoadResult(BaseModel):
    url: str
    path: str = NETNS  # how the load reached the app: NETNS or PUBLISHED
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
    netns_pid: int | None = None,
    published: bool = False,
) -> LoadResult:
    """Load `url` over `connections` keep-alive connections until the budget or time runs out.

    With `netns_pid`, wrk runs inside that process's network namespace (`nsenter -n`, root
    only), so `url` is the app's own loopback there and no port proxy sits in the path;
    `published` says `url` is a Docker-published port instead (the figure is labelled so).
    wrk's main thread sleeps for the whole duration even when the budget ends the run early, so
    keep `duration_s` close to what the budget needs.
    """
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise LoadError(f"refusing to load {url}: benchmarks only target 127.0.0.1")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed: `apt-get install wrk` (./dev.sh setup does it)")
    command = [wrk] if netns_pid is None else [nsenter(), "-t", str(netns_pid), "-n", wrk]
    if warmup_requests:
        _run(command, url, connections, 1.0, warmup_requests)
    raw = _run(command, url, connections, duration_s, max_requests)
    errors = sum(raw["errors"].values())
    seconds = raw["elapsed_us"] / 1e6
    return LoadResult(
        url=url,
        path=PUBLISHED if published else NETNS,
        connections=connections,
        requests=raw["requests"],
        errors=errors,
        rps=round(raw["timed_requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def nsenter() -> str:
    """The nsenter binary, or LoadError when this user cannot enter a network namespace."""
    found = shutil.which("nsenter")
    if found is None or os.geteuid() != 0:
        raise LoadError("entering a container's network namespace needs root and nsenter")
    return found


def can_enter_netns() -> bool:
    try:
        nsenter()
    except LoadError:
        return False
    return True


def _run(wrk: list[str], url: str, connections: int, duration_s: float, budget: int) -> dict:
    command = [
        *wrk,
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


class LoadOptions(BaseModel):
    """How hard and how long every benchmark loads a target: the same for all, so ratios hold."""

    connections: int = 8
    seconds: float = 5.0
    max_requests: int = 20_000
    warmup_requests: int = 200

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        defaults = LoadOptions()
        parser.add_argument("--connections", type=int, default=defaults.connections)
        parser.add_argument("--seconds", type=float, default=defaults.seconds)
        parser.add_argument("--max-requests", type=int, default=defaults.max_requests)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadOptions:
        return cls(
            connections=args.connections, seconds=args.seconds, max_requests=args.max_requests
        )


def measure_paths(
    base_url: str,
    paths: Iterable[str],
    options: LoadOptions,
    *,
    connections: int | None = None,
    netns_pid: int | None = None,
    published: bool = False,
) -> dict[str, LoadResult]:
    """One bounded load run per path, one after the other (see `measure`)."""
    return {
        path: measure(
            base_url + path,
            connections=connections or options.connections,
            duration_s=options.seconds,
            max_requests=options.max_requests,
            warmup_requests=options.warmup_requests,
            netns_pid=netns_pid,
            published=published,
        )
        for path in paths
    }


def versus_direct(
    target: str,
    source: str,
    through: dict[str, LoadResult],
    direct: dict[str, LoadResult],
) -> dict[str, dict[str, Any]]:
    """Per path: the target's figures, uvicorn direct's, and their ratios, all recorded.

    Metric names are the same for every target (`hello_rps`, `hello_p99_ms`,
    `hello_rps_ratio`, `hello_p99_ratio`, ...), which is what `shipways compare` reads.
    """
    figures: dict[str, dict[str, Any]] = {}
    for path, mine in through.items():
        theirs = direct[path]
        name = path.strip("/").replace("/", "_")
        rps_ratio = round(mine.rps / theirs.rps, 3) if theirs.rps else 0.0
        p99_ratio = round(mine.p99_ms / theirs.p99_ms, 3) if theirs.p99_ms else 0.0
        for metric, value, unit in (
            (f"{name}_rps", mine.rps, "req/s"),
            (f"{name}_p50_ms", mine.p50_ms, "ms"),
            (f"{name}_p99_ms", mine.p99_ms, "ms"),
            (f"{name}_rps_ratio", rps_ratio, "x"),
            (f"{name}_p99_ratio", p99_ratio, "x"),
        ):
            results.record(target, metric, value, unit, source, path=mine.path)
        figures[path] = {
            target: mine.model_dump(exclude={"url"}),
            "uvicorn_direct": theirs.model_dump(exclude={"url"}),
            "rps_ratio": rps_ratio,
            "p99_ratio": p99_ratio,
            "path": mine.path,
        }
    return figures
