"""The app at speed: shipways_app against a minimal FastAPI app, in one run. Prints JSON.

    uv run python benchmarks/app.py [--rounds 2] [--seconds 5] [--max-requests 20000]

On one uvicorn worker each, the app and `benchmarks/minimal_app.py` serve the same database,
first SQLite, then a throwaway PostgreSQL server (infra.testing.postgres; skipped with a reason
when the server binaries are missing). For `/hello` and `/products` the two are loaded in turn
(app, minimal, minimal, app, ... for `--rounds`), so a noisy neighbour hurts both alike; each
side's best round counts. Goals (issue 18): `/products` at least 1,500 req/s per worker, `/hello`
at least 0.8x of the minimal app, the Lambda init at most 0.5 s.

The Lambda init is `import shipways_app.lambda_handler` (which builds everything at import) in a
fresh interpreter, median of `--init-runs`, in the two configurations the serverless stack
deploys: SQLite in /tmp migrated at init, and PostgreSQL (migrated by the release step). It is
measured with compiled bytecode available (`bytecode_cached`) and without (`no_bytecode`: every
module compiled from source, as from a zip that ships no .pyc), beside the import of the bare
minimum (fastapi, sqlalchemy, mangum) under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from infra.loadgen import LoadOptions, LoadResult, measure
from infra.local_app import app_env, migrate, uvicorn_command
from infra.sandbox.containers import free_port, wait_for_http
from infra.testing.postgres import PostgresUnavailable, running_postgres

PATHS = ("/hello", "/products")
PRODUCTS_RPS_GOAL = 1500.0
HELLO_RATIO_GOAL = 0.8
INIT_GOAL_S = 0.5
BENCHMARKS = Path(__file__).resolve().parent
_INIT_PROBE = (
    "import time; t = time.perf_counter(); import {module}; "
    "print('INIT_SECONDS', time.perf_counter() - t)"
)


def server_command(port: int, *, minimal: bool) -> list[str]:
    """The baseline's uvicorn command (one worker, no access log), for the app or the yardstick."""
    command = uvicorn_command(port, workers=1)
    if minimal:
        spec = command.index("shipways_app.main:app")
        command[spec : spec + 1] = ["minimal_app:app", "--app-dir", str(BENCHMARKS)]
    return command


@contextmanager
def serving(env: dict[str, str], log: Path, *, minimal: bool) -> Iterator[str]:
    """Run one uvicorn server; yield its base URL once /hello answers."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server_command(port, minimal=minimal), env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/hello", timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _best(runs: list[LoadResult]) -> LoadResult:
    return max(runs, key=lambda run: run.rps)


def compare_servers(env: dict[str, str], logs: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both servers up at once; per path, loaded in turn (ABBA...) over `rounds` rounds."""
    options = LoadOptions.from_args(args)
    figures: dict[str, Any] = {}
    with ExitStack() as stack:
        urls = {
            side: stack.enter_context(serving(env, logs / f"{side}.log", minimal=side == "minimal"))
            for side in ("app", "minimal")
        }
        for path in PATHS:
            runs: dict[str, list[LoadResult]] = {"app": [], "minimal": []}
            for round_ in range(args.rounds):
                order = ("app", "minimal") if round_ % 2 == 0 else ("minimal", "app")
                for side in order:
                    result = measure(
                        urls[side] + path,
                        connections=options.connections,
                        duration_s=options.seconds,
                        max_requests=options.max_requests,
                    )
                    if result.errors or result.requests == 0:
                        raise SystemExit(f"{side} {path}: {result.errors} errors in the load run")
                    runs[side].append(result)
            app, minimal = _best(runs["app"]), _best(runs["minimal"])
            figures[path] = {
                "app": {"rps": app.rps, "p50_ms": app.p50_ms, "p99_ms": app.p99_ms},
                "minimal": {"rps": minimal.rps, "p50_ms": minimal.p50_ms, "p99_ms": minimal.p99_ms},
                "rps_ratio": round(app.rps / minimal.rps, 3),
                "p99_ratio": round(app.p99_ms / minimal.p99_ms, 3) if minimal.p99_ms else None,
                "rounds_rps": {
                    side: [run.rps for run in side_runs] for side, side_runs in runs.items()
                },
            }
    return figures


def with_goals(figures: dict[str, Any]) -> dict[str, Any]:
    products, hello = figures["/products"], figures["/hello"]
    products["goal"] = {
        "app_rps_at_least": PRODUCTS_RPS_GOAL,
        "pass": products["app"]["rps"] >= PRODUCTS_RPS_GOAL,
    }
    hello["goal"] = {
        "rps_ratio_at_least": HELLO_RATIO_GOAL,
        "pass": hello["rps_ratio"] >= HELLO_RATIO_GOAL,
    }
    return figures


def init_seconds(module: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _INIT_PROBE.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("INIT_SECONDS "):
            return float(line.split()[1])
    raise SystemExit(f"importing {module} failed:\n{done.stderr[-2000:]}")


def lambda_init(configs: dict[str, dict[str, str]], runs: int, scratch: Path) -> dict[str, Any]:
    """Median import time of the handler (= its init) and of the bare minimum, per config."""
    figures: dict[str, Any] = {}
    for mode in ("bytecode_cached", "no_bytecode"):
        cache = Path(tempfile.mkdtemp(prefix=f"pycache-{mode}-", dir=scratch))
        per_mode: dict[str, Any] = {}
        for name, base_env in {"minimum_imports": configs["sqlite"], **configs}.items():
            module = "fastapi, sqlalchemy, mangum" if name == "minimum_imports" else None
            module = module or "shipways_app.lambda_handler"
            env = {**base_env, "PYTHONPYCACHEPREFIX": str(cache)}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if mode == "no_bytecode":
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            else:
                init_seconds(module, env)  # compiles and caches the bytecode; not counted
            samples = []
            for _ in range(runs):
                Path(env.get("SHIPWAYS_SQLITE_PATH", scratch / "none")).unlink(missing_ok=True)
                samples.append(init_seconds(module, env))
            per_mode[name] = {
                "median_s": round(statistics.median(samples), 3),
                "samples_s": [round(s, 3) for s in samples],
            }
        for name in configs:
            per_mode[name]["goal"] = {
                "at_most_s": INIT_GOAL_S,
                "pass": per_mode[name]["median_s"] <= INIT_GOAL_S,
            }
        figures[mode] = per_mode
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    LoadOptions.add_arguments(parser)
    parser.add_argument("--rounds", type=int, default=2, help="load runs per server and path")
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
            "sqlite": {
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
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
