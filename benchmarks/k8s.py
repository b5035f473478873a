"""k8s: the app image and its pod on Docker, against uvicorn direct in the same run. Prints JSON.

    uv run python benchmarks/k8s.py [--connections 8] [--seconds 5] [--max-requests 20000]

Measures, on this machine:
- image size, and build time cold (every Dockerfile layer rebuilt; the local Debian base and
  the host's wheel cache already exist) and warm (a code-only change: one line appended to
  shipways_app/__init__.py in the build context, the checkout untouched);
- the pod's start to healthy (Docker health status, from the pod's probes);
- requests/s and p50/p99 for GET /hello and GET /products through the pod (its CPU and
  memory limits apply, gunicorn with WEB_CONCURRENCY workers, Docker's loopback port
  forwarding) and through uvicorn direct with as many workers, as ratios;
- the pod's memory use after the load.
Every figure is recorded with `infra.results.record` for `shipways compare`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console

from infra import results
from infra.config import K8sConfig, narrow, read_stack
from infra.loadgen import LoadOptions, measure_paths, versus_direct
from infra.local_app import running
from infra.measure import container_memory_bytes, reach
from infra.paths import APP_DIR
from infra.sandbox.engine import ensure_engine
from infra.targets.k8s.image import ensure_app_image, layers, new_layers
from infra.targets.k8s.sandbox import K8sSandbox

SOURCE = "benchmark:k8s"
PATHS = ("/hello", "/products")
CODE_FILE = "shipways_app/__init__.py"
console = Console(stderr=True)


def record(metric: str, value: float, unit: str) -> float:
    results.record("k8s", metric, value, unit, SOURCE)
    return value


def builds() -> dict[str, Any]:
    client = ensure_engine(progress=console.print)
    console.print("cold build (no layer cache)")
    cold = ensure_app_image(client, nocache=True)
    cold_layers = layers(client, cold.id)  # the warm build prunes the cold image
    original = (APP_DIR / CODE_FILE).read_bytes()
    changed = original + f"\n# benchmark code-only change {time.time_ns()}\n".encode()
    console.print("warm build (code-only change)")
    warm = ensure_app_image(client, overrides={CODE_FILE: changed})
    return {
        "image_size_mb": record("image_size_mb", round(cold.size_mb, 1), "MB"),
        "cold_build_s": record("image_build_seconds", round(cold.build_seconds, 2), "s"),
        "warm_build_s": record("image_warm_build_seconds", round(warm.build_seconds, 2), "s"),
        "warm_build_new_layers": new_layers(cold_layers, layers(client, warm.id)),
        "layers": len(cold_layers),
        "python": cold.python,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    LoadOptions.add_arguments(parser)
    args = parser.parse_args()
    options = LoadOptions.from_args(args)

    stack = read_stack("k8s")
    config = narrow(stack.config, K8sConfig)
    figures: dict[str, Any] = {"benchmark": "k8s", "image": builds()}

    box = K8sSandbox("shipways-bench-k8s")
    box.down(console)
    try:
        endpoint = box.up(console, stack=stack)
        assert box.last_start_to_healthy_s is not None
        healthy = record("start_to_healthy_seconds", round(box.last_start_to_healthy_s, 2), "s")
        where = reach(endpoint)
        pod = measure_paths(
            where.url, PATHS, options, netns_pid=where.netns_pid, published=where.published
        )
        where = reach(endpoint)
        assert where.container is not None
        memory = record(
            "memory_mib", round(container_memory_bytes(where.container) / 2**20, 1), "MiB"
        )
    finally:
        box.down(console)
    with running(workers=config.web_concurrency) as url:
        direct = measure_paths(url, PATHS, options)

    paths = versus_direct("k8s", SOURCE, pod, direct)
    figures |= {
        "pod": {
            "start_to_healthy_s": healthy,
            "memory_mib_after_load": memory,
            "workers": config.web_concurrency,
            "cpu_limit": config.cpu_limit,
            "memory_limit": config.memory_limit,
        },
        "uvicorn_direct_workers": config.web_concurrency,
        "paths": paths,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
