"""The app at speed: shipways_app against a minimal FastAPI app, in one run. Prints JSON.

    uv run python benchmarks/app.py [--rounds 4] [--seconds 5] [--max-requests 20000]

On one uvicorn worker each, the app and `benchmarks/minimal_app.py` serve the same database,
first SQLite, then a throwaway PostgreSQL server (infra.testing.postgres; skipped with a reason
when the server binaries are missing). For `/hello` and `/products` the two are loaded in turn
(app, minimal, minimal, app, ... for `--rounds`), so each round's two runs share the machine's
load; the ratios are the medians of the per-round ratios, the req/s and p99 the medians of
the rounds. Beside req/s, each server's own CPU time per request (from /proc) gives
`cpu_ratio` (minimal/app): the share of the minimal app's per-worker capacity the app keeps,
which a busy machine disturbs far less than req/s.

Goals (issue 18): `/products` at least 1,500 req/s per worker (an absolute figure: read it
with the load average printed beside it), `/hello` at least 0.8x of the minimal app, the
Lambda init at most 0.5 s.

The Lambda init is `import shipways_app.lambda_handler` (which builds everything at import) in a
fresh interpreter, median of `--init-runs`, in two configurations: PostgreSQL (what the stack
deploys; migrated by the release step) and SQLite in /tmp migrated at init (the app's fallback
without a database, which needs Alembic at init). Each run is followed by the import of the
bare minimum (fastapi, sqlalchemy, mangum) under the same conditions, for the ratio. Three ways:
- `from_zip`: what a Lambda instance runs: the local sandbox's deployment zip (the stack's
  builder, for this machine's Python) unpacked, alone on the path, with the bytecode it ships,
  never writing any (/var/task is read-only); skipped with a reason when the zip's Python is
  not this one;
- `bytecode_cached`: the project's environment with its bytecode cached;
- `no_bytecode`: every module compiled from source, as from a zip that ships no .pyc.

The headline figures are also recorded (`infra.results`, target `local`, source
`benchmark:app`), so `shipways docs --snapshot` carries them into docs/measurements.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from infra import results
from infra.loadgen import LoadOptions, LoadResult, measure
from infra.local_app import app_env, migrate, uvicorn_command
from infra.paths import state_dir
from infra.sandbox.containers import free_port
from infra.sandbox.health import wait_for_http
from infra.targets.serverless.artifact import LOCAL_SYSTEM, Architecture, ZipTarget, cached_zip
from infra.testing.postgres import PostgresUnavailable, running_postgres

PATHS = ("/hello", "/products")
PRODUCTS_RPS_GOAL = 1500.0
HELLO_RATIO_GOAL = 0.8
INIT_GOAL_S = 0.5
BENCHMARKS = Path(__file__).resolve().parent
WARMUP_REQUESTS = 200  # infra.loadgen.measure's default warm-up run, before the timed one
HANDLER = "shipways_app.lambda_handler"
SOURCE = "benchmark:app"
MINIMUM_IMPORTS = "fastapi, sqlalchemy, mangum"
_INIT_PROBE = (
    "import time; t = time.perf_counter(); import {module}; "
    "print('INIT_SECONDS', time.perf_counter() - t)"
)
# The unpacked zip alone: no site-packages (-S), no environment's PYTHON* (-I), no bytecode
# written (-B), the zip first on the path as /var/task is on Lambda's.
_ZIP_PREFIX = "import sys; sys.path.insert(0, {task!r}); "


def server_command(port: int, *, minimal: bool) -> list[str]:
    """The baseline's uvicorn command (one worker, no access log), for the app or the yardstick."""
    command = uvicorn_command(port, workers=1)
    if minimal:
        spec = command.index("shipways_app.main:app")
        command[spec : spec + 1] = ["minimal_app:app", "--app-dir", str(BENCHMARKS)]
    return command


@contextmanager
def serving(env: dict[str, str], log: Path, *, minimal: bool) -> Iterator[tuple[str, int]]:
    """Run one uvicorn server; yield its base URL and process id once /hello answers."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server_command(port, minimal=minimal), env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/hello", timeout=30)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(runs: list[LoadResult], cpu_us: list[float]) -> dict[str, float]:
    """Median over the rounds: one unlucky (or lucky) round on a shared machine moves it least."""
    return {
        "cpu_us_per_request": round(statistics.median(cpu_us), 1),
        "rps": round(statistics.median(run.rps for run in runs), 1),
        "p50_ms": round(statistics.median(run.p50_ms for run in runs), 3),
        "p99_ms": round(statistics.median(run.p99_ms for run in runs), 3),
    }


def compare_servers(env: dict[str, str], logs: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both servers up at once; per path, loaded in turn (ABBA...) over `rounds` rounds.

    Each round's ratio compares two runs made back to back, under the same neighbours' load;
    the figure reported is the median of those per-round ratios.
    """
    options = LoadOptions.from_args(args)
    figures: dict[str, Any] = {}
    with ExitStack() as stack:
        servers = {
            side: stack.enter_context(serving(env, logs / f"{side}.log", minimal=side == "minimal"))
            for side in ("app", "minimal")
        }
        for path in PATHS:
            runs: dict[str, list[LoadResult]] = {"app": [], "minimal": []}
            cpu_us: dict[str, list[float]] = {"app": [], "minimal": []}
            for round_ in range(args.rounds):
                order = ("app", "minimal") if round_ % 2 == 0 else ("minimal", "app")
                for side in order:
                    url, pid = servers[side]
                    cpu_before = cpu_seconds(pid)
                    result = measure(
                        url + path,
                        connections=options.connections,
                        duration_s=options.seconds,
                        max_requests=options.max_requests,
                    )
                    if result.errors or result.requests == 0:
                        raise SystemExit(f"{side} {path}: {result.errors} errors in the load run")
                    runs[side].append(result)
                    served = result.requests + WARMUP_REQUESTS  # approximately: wrk may overshoot
                    cpu_us[side].append((cpu_seconds(pid) - cpu_before) / served * 1e6)
            pairs = list(zip(runs["app"], runs["minimal"], strict=True))
            cpu_pairs = list(zip(cpu_us["app"], cpu_us["minimal"], strict=True))
            figures[path] = {
                "app": _summary(runs["app"], cpu_us["app"]),
                "minimal": _summary(runs["minimal"], cpu_us["minimal"]),
                # The server's own CPU per request, minimal/app: what one worker can serve at
                # most, relative to the minimal app; much steadier than req/s on a busy machine.
                "cpu_ratio": round(statistics.median(m / a for a, m in cpu_pairs), 3),
                "rps_ratio": round(statistics.median(a.rps / m.rps for a, m in pairs), 3),
                "p99_ratio": round(statistics.median(a.p99_ms / m.p99_ms for a, m in pairs), 3),
                "rounds_rps": {side: [run.rps for run in rs] for side, rs in runs.items()},
            }
    return figures


def with_goals(figures: dict[str, Any]) -> dict[str, Any]:
    products, hello = figures["/products"], figures["/hello"]
    products["goal"] = {
        "app_rps_at_least": PRODUCTS_RPS_GOAL,  # absolute: read it with the load average
        "pass": products["app"]["rps"] >= PRODUCTS_RPS_GOAL,
    }
    hello["goal"] = {
        "rps_ratio_at_least": HELLO_RATIO_GOAL,
        "pass": hello["rps_ratio"] >= HELLO_RATIO_GOAL,
    }
    return figures


def init_seconds(module: str, env: dict[str, str], task: Path | None = None) -> float:
    """Seconds to import `module` in a fresh interpreter (from the unpacked zip `task`, if any)."""
    probe = _INIT_PROBE.format(module=module)
    command = [sys.executable, "-c", probe]
    if task is not None:
        command = [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            _ZIP_PREFIX.format(task=str(task)) + probe,
        ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("INIT_SECONDS "):
            return float(line.split()[1])
    raise SystemExit(f"importing {module} failed:\n{done.stderr[-2000:]}")


def unpacked_zip(scratch: Path) -> Path | str:
    """The local sandbox's zip (built once, then cached), unpacked; or why it cannot run here."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != LOCAL_SYSTEM.python_version:
        return f"the local zip is built for Python {LOCAL_SYSTEM.python_version}, this is {here}"
    architecture: Architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    package = cached_zip(state_dir("serverless", "build"), ZipTarget(LOCAL_SYSTEM, architecture))
    task = scratch / "task"
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(task)
    return task


def init_figures(handler: list[float], minimum: list[float]) -> dict[str, Any]:
    median_s = round(statistics.median(handler), 3)
    return {
        "median_s": median_s,
        "samples_s": [round(sample, 3) for sample in handler],
        "minimum_imports_median_s": round(statistics.median(minimum), 3),
        "ratio_to_minimum": round(
            statistics.median(h / m for h, m in zip(handler, minimum, strict=True)), 3
        ),
        "goal": {"at_most_s": INIT_GOAL_S, "pass": median_s <= INIT_GOAL_S},
    }


def lambda_init(configs: dict[str, dict[str, str]], runs: int, scratch: Path) -> dict[str, Any]:
    """Per way and config: the handler's import (= its init) against the bare minimum's,
    measured alternately in fresh interpreters; medians and the median ratio."""
    task = unpacked_zip(scratch)
    figures: dict[str, Any] = {"from_zip": {}, "bytecode_cached": {}, "no_bytecode": {}}
    if isinstance(task, str):
        figures["from_zip"] = {"skipped": task}
    for mode in figures:
        if mode == "from_zip" and isinstance(task, str):
            continue
        cache = Path(tempfile.mkdtemp(prefix=f"pycache-{mode}-", dir=scratch))
        for name, base_env in configs.items():
            env = {**base_env, "PYTHONPYCACHEPREFIX": str(cache)}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if mode == "no_bytecode":
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            where = task if mode == "from_zip" and isinstance(task, Path) else None
            database = Path(env["SHIPWAYS_SQLITE_PATH"])
            handler, minimum = [], []
            for run in range(runs + (mode == "bytecode_cached")):
                database.unlink(missing_ok=True)  # a new container: SQLite in /tmp starts empty
                handler_s = init_seconds(HANDLER, env, where)
                minimum_s = init_seconds(MINIMUM_IMPORTS, env, where)
                if run or mode != "bytecode_cached":  # the first cached run only writes the cache
                    handler.append(handler_s)
                    minimum.append(minimum_s)
            figures[mode][name] = init_figures(handler, minimum)
    return figures


def record(report: dict[str, Any]) -> None:
    """The figures the goals are read from, for `shipways compare` and the docs snapshot."""
    for database in ("sqlite", "postgresql"):
        figures = report[database]
        if "skipped" in figures:
            continue
        for path in PATHS:
            name = f"app_{path.strip('/')}_{database}"
            results.record("local", f"{name}_rps", figures[path]["app"]["rps"], "req/s", SOURCE)
            results.record("local", f"{name}_rps_ratio", figures[path]["rps_ratio"], "x", SOURCE)
            results.record("local", f"{name}_cpu_ratio", figures[path]["cpu_ratio"], "x", SOURCE)
    for mode, configs in report["lambda_init"].items():
        for config, figures in configs.items():
            if config == "skipped":
                continue
            metric = f"lambda_init_{config}_{mode}_seconds"
            results.record("local", metric, figures["median_s"], "s", SOURCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    LoadOptions.add_arguments(parser)
    parser.add_argument("--rounds", type=int, default=4, help="load runs per server and path")
    parser.add_argument("--init-runs", type=int, default=5, help="fresh interpreters per figure")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "benchmark": "app",
        "server": "uvicorn, 1 worker each",
        "load": {**LoadOptions.from_args(args).model_dump(), "rounds": args.rounds},
        "load_average_at_start": list(os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="shipways-bench-app-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        sqlite_env = app_env(scratch / "bench.db")
        migrate(sqlite_env)
        report["sqlite"] = with_goals(compare_servers(sqlite_env, scratch, args))
        init_configs = {
            "sqlite_migrated_at_init": {
                **app_env(scratch / "init.db"),
                "SHIPWAYS_TARGET": "serverless",
                "SHIPWAYS_MIGRATE_ON_INIT": "true",
            }
        }
        try:
            server = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            report["postgresql"] = {"skipped": str(exc)}
        else:
            pg_env = {**sqlite_env, "DATABASE_URL": server.create_database("bench")}
            migrate(pg_env)
            report["postgresql"] = with_goals(compare_servers(pg_env, scratch, args))
            init_configs["postgresql"] = {**pg_env, "SHIPWAYS_TARGET": "serverless"}
        report["lambda_init"] = lambda_init(init_configs, args.init_runs, scratch)
    report["load_average_at_end"] = list(os.getloadavg())
    record(report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
