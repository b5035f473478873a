"""PaaS: bundle size, bundle-to-healthy time, and load against uvicorn direct. Prints JSON.

Deploys the bundle to its own local PaaS instance (`shipways-bench-paas`, removed at the end)
twice: cold (dependencies installed from the wheelhouse) and warm (a settings change, the
dependency cache reused), then loads the served release and uvicorn direct with the same
number of workers, one after the other, so the ratios compare like with like on this machine;
then reads gunicorn's resident memory and times a rollback to the first release.

    uv run python benchmarks/paas.py [--seconds 5] [--connections 8] [--max-requests 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from rich.console import Console

from infra import results
from infra.config import PaasConfig, load_stack, narrow
from infra.loadgen import LoadOptions, measure_paths, versus_direct
from infra.local_app import running
from infra.paths import APP_DIR, state_dir
from infra.targets.paas import bundle as bundles
from infra.targets.paas.sandbox import PaasSandbox

PATHS = ("/hello", "/products")
SOURCE = "benchmark:paas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    LoadOptions.add_arguments(parser)
    args = parser.parse_args()
    console = Console(stderr=True)
    config = narrow(load_stack("paas"), PaasConfig)

    started = time.perf_counter()
    built = bundles.build(state_dir("paas", "bundles"), APP_DIR, config.app_name)
    build_seconds = time.perf_counter() - started
    box = PaasSandbox("shipways-bench-paas")
    box.down(console)
    try:
        begun = time.perf_counter()
        box.deploy(built, config, console, source=SOURCE)
        cold = time.perf_counter() - begun
        begun = time.perf_counter()
        warm_config = config.model_copy(update={"env": {"SHIPWAYS_LOG_LEVEL": "WARNING"}})
        endpoint = box.deploy(built, warm_config, console, source=SOURCE)
        warm = time.perf_counter() - begun
        load = _compare(endpoint.url, config.web_concurrency, args)
        instances = box.load().instances
        assert instances, "the deploy left no instance serving"
        memory = box.memory_bytes(instances)
        begun = time.perf_counter()
        box.rollback(console, release=None)
        rollback = time.perf_counter() - begun
    finally:
        box.down(console)

    results.record("paas", "bundle_bytes", built.size_bytes, "B", SOURCE)
    results.record("paas", "bundle_build_seconds", build_seconds, "s", SOURCE)
    results.record("paas", "bundle_to_healthy_seconds", cold, "s", SOURCE)
    results.record("paas", "redeploy_cached_deps_seconds", warm, "s", SOURCE)
    results.record("paas", "rollback_seconds", rollback, "s", SOURCE)
    results.record("paas", "memory_mib", memory / 2**20, "MiB", SOURCE)
    print(
        json.dumps(
            {
                "benchmark": "paas",
                "machine_cpus": os.cpu_count(),
                "bundle": {
                    "file": built.path.name,
                    "bytes": built.size_bytes,
                    "files": len(built.files),
                },
                "bundle_build_seconds": round(build_seconds, 3),
                "bundle_to_healthy_seconds": round(cold, 2),
                "redeploy_cached_deps_seconds": round(warm, 2),
                "rollback_seconds": round(rollback, 2),
                "memory_mib_after_load": round(memory / 2**20, 1),
                "workers": config.web_concurrency,
                "paths": load,
            },
            indent=2,
        )
    )


def _compare(paas_url: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """Per path: the PaaS release, uvicorn direct, and their ratios (recorded as they go)."""
    options = LoadOptions.from_args(args)
    paas = measure_paths(paas_url, PATHS, options)
    with running(workers=workers) as direct_url:
        direct = measure_paths(direct_url, PATHS, options)
    return versus_direct("paas", SOURCE, paas, direct)


if __name__ == "__main__":
    main()
