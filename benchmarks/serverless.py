"""serverless: the Lambda zip, cold starts and per-request cost, against uvicorn direct. JSON.

    uv run python benchmarks/serverless.py [--cold-starts 3] [--seconds 5] [--max-requests 20000]

Measures, on this machine, in one run:
- the stack's zip (its runtime/architecture): zipped/unzipped size, file count, the bytecode it
  ships (compiled by the runtime's Python, when this machine has one), and build time with
  the wheels already in the host's cache;
- cold start: the first instance's container is restarted `--cold-starts` times (a new
  Lambda instance each time); per start, the REPORT line's Init Duration (runtime process
  start to its first `next`: awslambdaric's start plus the handler module's import and
  init; the zip ships its bytecode, so nothing is compiled) and the first request's wall
  time. Beside it, the same app started as uvicorn direct (process start to the first 200)
  and the handler module's import on the host (a warm `__pycache__`);
- warm requests, one connection (latency) and `--connections` (throughput), for GET /hello
  and GET /products, through the local API Gateway and Lambda (HTTP -> payload 2.0 event ->
  an idle instance's Invoke API -> Runtime API -> awslambdaric -> Mangum -> app, and back;
  the instances share one PostgreSQL) and through uvicorn direct with one worker (one
  process, like one Lambda instance; its SQLite on a tmpfs):
  p50/p99 and requests/s, the per-request overhead in ms and the ratios; plus the
  function's own Duration and Max Memory Used (the runtime's peak RSS) from the REPORT lines.
Every figure is recorded with `infra.results.record` for `shipways compare`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from infra import results
from infra.config import ServerlessConfig, narrow, read_stack
from infra.loadgen import LoadOptions, measure_paths, versus_direct
from infra.local_app import app_env, migrate, uvicorn_command
from infra.measure import lambda_cold_start, lambda_reports, reach
from infra.sandbox.containers import free_port
from infra.sandbox.engine import ensure_engine
from infra.sandbox.health import wait_for_http
from infra.targets import Endpoint
from infra.targets.serverless.artifact import ZipTarget, build_zip
from infra.targets.serverless.sandbox import ServerlessSandbox

SOURCE = "benchmark:serverless"
PATHS = ("/hello", "/products")
INSTANCE = "shipways-bench-serverless"
console = Console(stderr=True)


def record(metric: str, value: float, unit: str) -> float:
    results.record("serverless", metric, value, unit, SOURCE)
    return value


def reports(endpoint: Endpoint, since: datetime) -> list[dict[str, float]]:
    """The REPORT lines every instance of the serving version logged since `since`."""
    client = ensure_engine()
    return [
        report
        for name in endpoint.extra["instances"]
        for report in lambda_reports(client.containers.get(name), since)
    ]


def zips(config: ServerlessConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        stack = build_zip(
            Path(tmp) / "stack.zip", ZipTarget.for_lambda(config.runtime, config.architecture)
        )
        seconds = time.perf_counter() - started
    return {
        "build_seconds_wheels_cached": record("zip_build_seconds", round(seconds, 2), "s"),
        "built_for": stack.target.label,
        "zipped_mib": record("zip_mib", round(stack.zipped_bytes / 2**20, 2), "MiB"),
        "unzipped_mib": record("zip_unzipped_mib", round(stack.unzipped_bytes / 2**20, 2), "MiB"),
        "files": stack.files,
        "bytecode": stack.summary()["bytecode"],
        "largest_packages": stack.largest(),
        "excluded_server_only": list(stack.excluded),
    }


def cold_starts(endpoint: Endpoint, count: int) -> dict[str, Any]:
    # The instance warm requests go to first, recycled: the next request is its cold start.
    container = ensure_engine().containers.get(endpoint.extra["instances"][0])
    starts = [lambda_cold_start(container, endpoint.url) for _ in range(count)]
    inits = [s.init_ms for s in starts]
    firsts = [s.first_response_ms for s in starts]
    return {
        "starts": count,
        "init_duration_ms": [round(v, 1) for v in inits],
        "init_duration_ms_median": record(
            "cold_start_init_ms", round(statistics.median(inits), 1), "ms"
        ),
        "first_response_ms_median": record(
            "cold_start_first_response_ms", round(statistics.median(firsts), 1), "ms"
        ),
        "start_to_healthy_s": record(
            "start_to_healthy_seconds", round(statistics.median(firsts) / 1000, 2), "s"
        ),
    }


@contextmanager
def uvicorn_direct() -> Iterator[tuple[str, float]]:
    """uvicorn direct, one worker (one process, like one Lambda instance), with SQLite on a
    tmpfs as the function's is in /tmp; yields its URL and its process start to first 200."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        env = app_env(Path(tmp) / "direct.db")
        migrate(env)
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen(
            uvicorn_command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{url}/healthz", timeout=60, interval=0.05)
            yield url, (time.perf_counter() - started) * 1000
        finally:
            process.terminate()
            process.wait(timeout=15)


def handler_import_ms() -> float:
    """Importing (and so initialising) the handler module in a fresh host Python."""
    code = (
        "import time; t = time.perf_counter(); import shipways_app.lambda_handler; "
        "print((time.perf_counter() - t) * 1000)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPWAYS_")}
        env |= {
            "SHIPWAYS_TARGET": "serverless",
            "SHIPWAYS_SQLITE_PATH": str(Path(tmp) / "init.db"),
            "SHIPWAYS_MIGRATE_ON_INIT": "1",
        }
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-starts", type=int, default=3)
    LoadOptions.add_arguments(parser)
    args = parser.parse_args()
    options = LoadOptions.from_args(args)

    stack = read_stack("serverless")
    config = narrow(stack.config, ServerlessConfig)
    figures: dict[str, Any] = {"benchmark": "serverless", "stack_zip": zips(config)}

    box = ServerlessSandbox(INSTANCE)
    box.down(console)
    try:
        endpoint = box.up(console, stack=stack)
        figures["local"] = {
            "built_for": endpoint.extra["built_for"],
            "memory_mb": config.memory_mb,
        }
        cold = cold_starts(endpoint, args.cold_starts)
        since = datetime.now(UTC)
        where = reach(endpoint)
        inside = {"netns_pid": where.netns_pid, "published": where.published}
        lambda_latency = measure_paths(where.url, PATHS, options, connections=1, **inside)
        durations = [r["Duration"] for r in reports(endpoint, since)]
        lambda_load = measure_paths(where.url, PATHS, options, **inside)
        peak_mb = max(r["Max Memory Used"] for r in reports(endpoint, since))
    finally:
        box.down(console)
    import_ms = handler_import_ms()
    with uvicorn_direct() as (url, uvicorn_ms):
        direct_latency = measure_paths(url, PATHS, options, connections=1)
        direct_load = measure_paths(url, PATHS, options)

    cold |= {
        "uvicorn_direct_start_ms": record("uvicorn_start_ms", round(uvicorn_ms, 1), "ms"),
        "handler_import_on_host_ms": record("handler_import_ms", round(import_ms, 1), "ms"),
        "init_vs_uvicorn_start": record(
            "cold_start_ratio", round(cold["init_duration_ms_median"] / uvicorn_ms, 2), ""
        ),
    }
    warm: dict[str, Any] = {
        "function_duration_ms_median": round(statistics.median(durations), 2),
        "max_memory_used_mib": record("memory_mib", peak_mb, "MiB"),
        "paths": {},
    }
    loaded = versus_direct("serverless", SOURCE, lambda_load, direct_load)
    for path in PATHS:
        name = path.strip("/")
        through, direct = lambda_latency[path], direct_latency[path]
        warm["paths"][path] = {
            "latency_1_connection": {
                "lambda": through.model_dump(exclude={"url"}),
                "uvicorn_direct": direct.model_dump(exclude={"url"}),
            },
            "overhead_ms_p50": record(
                f"{name}_overhead_ms", round(through.p50_ms - direct.p50_ms, 2), "ms"
            ),
            "latency_ratio_p50": record(
                f"{name}_latency_ratio", round(through.p50_ms / direct.p50_ms, 2), ""
            ),
            f"load_{options.connections}_connections": loaded[path],
        }
    figures |= {"cold_start": cold, "warm": warm}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
