"""Baseline: the app on uvicorn direct, no proxy, no platform. Prints JSON.

Every target's benchmark measures this again in its own run and reports ratios against it,
because absolute numbers on a shared 2-core machine mean little; ratios measured side by side do.

    uv run python benchmarks/baseline.py [--workers 1] [--seconds 5] [--max-requests 20000]
"""

from __future__ import annotations

import argparse
import json

from infra import results
from infra.loadgen import LoadOptions, measure_paths
from infra.local_app import running

PATHS = ("/hello", "/products")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    LoadOptions.add_arguments(parser)
    args = parser.parse_args()

    with running(workers=args.workers) as url:
        measured = measure_paths(url, PATHS, LoadOptions.from_args(args))
    for path, result in measured.items():
        name = path.strip("/")
        results.record("local", f"{name}_rps", result.rps, "req/s", "benchmark:baseline")
        results.record("local", f"{name}_p50_ms", result.p50_ms, "ms", "benchmark:baseline")
        results.record("local", f"{name}_p99_ms", result.p99_ms, "ms", "benchmark:baseline")
    figures = {path: result.model_dump(exclude={"url"}) for path, result in measured.items()}
    report = {"benchmark": "baseline", "server": "uvicorn", "workers": args.workers}
    print(json.dumps({**report, "paths": figures}, indent=2))


if __name__ == "__main__":
    main()
