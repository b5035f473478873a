"""VPS benchmark: cold provision, warm deploy, rollback, and nginx -> gunicorn vs uvicorn direct.

Creates its own local VPS (`shipways-bench-vps`, removed at the end unless --keep), times each
operation of the Fabric tasks over SSH, then loads the app through nginx and the same app on
uvicorn direct on this machine with the same worker count, in the same run, and prints JSON.

The load comes from one address (Docker's bridge gateway), which nginx's per-client rate
limit (50 r/s) would throttle: the benchmark exempts that address, and says so in its output.

    uv run python benchmarks/vps.py [--seconds 5] [--connections 8] [--max-requests N] [--keep]

/products reads PostgreSQL on the VPS and SQLite on uvicorn direct: its ratio includes that.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import shipways_fabric
from rich.console import Console

from infra import results
from infra.config import VpsConfig, load_stack, narrow
from infra.loadgen import LoadOptions, measure_paths, versus_direct
from infra.local_app import running
from infra.measure import reach
from infra.sandbox import ensure_engine
from infra.targets.vps import sample_app
from infra.targets.vps.sandbox import ADMIN, VpsSandbox

INSTANCE = "shipways-bench-vps"
SOURCE = "benchmark:vps"
PATHS = ("/hello", "/products")


def _timed(what: str, console: Console, action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    outcome = action()
    seconds = time.perf_counter() - started
    console.print(f"[bold]{what}: {seconds:.1f}s")
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    LoadOptions.add_arguments(parser)
    parser.add_argument("--keep", action="store_true", help="leave the VPS running")
    args = parser.parse_args()
    options = LoadOptions.from_args(args)
    console = Console(stderr=True)

    box = VpsSandbox(INSTANCE)
    box.down(console)  # cold means cold: a brand-new server
    access = box.create(console)
    gateway = ensure_engine().containers.get(INSTANCE).attrs["NetworkSettings"]["Gateway"]
    box.overrides["rate_limit_exempt"] = ("127.0.0.1/32", "::1/128", f"{gateway}/32")
    settings = box.settings(narrow(load_stack("vps"), VpsConfig))
    admin = access.connection(ADMIN)
    deployer = access.connection("deploy")
    try:
        cold, provisioned = _timed(
            "cold provision", console, lambda: shipways_fabric.provision(admin, settings)
        )
        first, _ = _timed("first deploy", console, lambda: sample_app.deploy([admin], settings))
        warm_provision, again = _timed(
            "warm provision", console, lambda: shipways_fabric.provision(admin, settings)
        )
        warm, deployed = _timed(
            "warm deploy", console, lambda: sample_app.deploy([deployer], settings)
        )
        rollback, _ = _timed(
            "rollback", console, lambda: shipways_fabric.rollback(deployer, settings)
        )
        endpoint = box.endpoint()
        assert endpoint is not None
        where = reach(endpoint)
        through = measure_paths(
            where.url, PATHS, options, netns_pid=where.netns_pid, published=where.published
        )
        with running(workers=settings.web_concurrency) as url:
            direct = measure_paths(url, PATHS, options)
    finally:
        admin.close()
        deployer.close()
        if not args.keep:
            box.down(console)

    figures = {
        "cold_provision_seconds": cold,
        "first_deploy_seconds": first,
        "warm_provision_seconds": warm_provision,
        "warm_deploy_seconds": warm,
        "rollback_seconds": rollback,
    }
    for metric, value in figures.items():
        results.record("vps", metric, value, "s", SOURCE)
    load = versus_direct("vps", SOURCE, through, direct)
    print(
        json.dumps(
            {
                "benchmark": "vps",
                "workers": settings.web_concurrency,
                "cold_provision_changes": len(provisioned.changed),
                "warm_provision_changes": len(again.changed),
                "release": deployed.release,
                "seconds": {k: round(v, 2) for k, v in figures.items()},
                "paths": load,
                "notes": [
                    f"through nginx, {where.why}: nginx (HTTP) -> unix socket "
                    "-> gunicorn + uvicorn workers; direct: uvicorn on the host, same workers",
                    f"nginx's rate limit exempts the load generator's address ({gateway})",
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
