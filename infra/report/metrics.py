"""The catalogue of operations figures a comparison shows: one row per metric, in order.

Each row names the metric names it accepts (benchmarks of different targets were written by
different hands) and one display unit; a recorded value in another unit of the same kind
(ms vs s, bytes vs MiB) converts into it (`convert`). Reading the figures out of a results
file is `infra.report.figures`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

_SCALES: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6},
    "size": {
        "B": 1.0,
        "bytes": 1.0,
        "KB": 1e3,
        "KiB": 1024.0,
        "MB": 1e6,
        "MiB": 2.0**20,
        "GB": 1e9,
        "GiB": 2.0**30,
    },
    "rate": {"req/s": 1.0, "rps": 1.0, "requests/s": 1.0},
    "count": {"": 1.0, "count": 1.0, "x": 1.0},
}


def convert(value: float, unit: str, to: str) -> float | None:
    """`value` `unit` expressed in `to`, or None when the two are not the same kind."""
    for scale in _SCALES.values():
        if unit in scale and to in scale:
            return value * scale[unit] / scale[to]
    return None


class Metric(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    unit: str
    names: tuple[str, ...]  # accepted metric names, the canonical one first
    better: Literal["lower", "higher"] = "lower"
    chart: bool = True  # drawn as a bar chart in the report
    # The targets (and "local", uvicorn alone) the figure means something for; () means every
    # target but not uvicorn alone, which has no deploy, no platform and no artifact.
    applies_to: tuple[str, ...] = ()
    # Why the row has no figure for the others: said beside the table, so "n/a" is explained.
    not_applicable: str = "uvicorn alone is not deployed: no platform, release or artifact"
    # Where the figure comes from when the main job (`shipways demo`) does not measure it.
    measured_by: str = ""

    def applies(self, target: str) -> bool:
        return target in self.applies_to if self.applies_to else target != "local"


_ONLY_VPS_PROVISIONS = (
    "only the VPS recipe provisions its own server; the platforms hand over servers, nodes "
    "and function instances ready"
)
_BASELINE_RATIO = "uvicorn alone is the baseline these ratios divide by"
_UNDER_TRAFFIC = (
    "the main job's redeploy and rollback, under a bounded request loop through the target's "
    "front door (and the e2e tests: `pytest -m e2e tests/e2e/test_*_zero_downtime.py`)"
)
_NEW_RELEASE = (
    "the main job's warm redeploy (a settings change, which every platform rolls out as a new "
    "release) and rollback, within its time budget; or `shipways up`/`rollback TARGET`"
)
_COLD_BUILD = (
    "the main job, when a target it brings up from nothing has to build its artifact (where "
    "an earlier run built it, `up` reuses it); or the benchmarks (`python -m benchmarks.k8s`, "
    "`benchmarks.serverless`, `benchmarks.paas`), which build from nothing"
)
_REBUILD = (
    "the main job's build step (the target's own builder, on the app with one file changed), "
    "within its time budget; or `python -m benchmarks.k8s`"
)

CATALOGUE: tuple[Metric, ...] = (
    Metric(
        key="cold_deploy",
        label="cold deploy (first, from nothing)",
        unit="s",
        names=(
            "cold_deploy_seconds",
            "first_deploy_seconds",
            "bundle_to_healthy_seconds",
        ),
    ),
    Metric(
        key="warm_deploy",
        label="warm deploy (new release)",
        unit="s",
        names=(
            "warm_deploy_seconds",
            "redeploy_cached_deps_seconds",
            "deploy_seconds",
            "redeploy_seconds",
        ),
        measured_by=_NEW_RELEASE,
    ),
    Metric(key="up", label="`shipways up` (whole run)", unit="s", names=("up_seconds",)),
    Metric(
        key="provision_cold",
        label="provision a fresh server",
        unit="s",
        names=("cold_provision_seconds",),
        applies_to=("vps",),
        not_applicable=_ONLY_VPS_PROVISIONS,
        chart=False,
    ),
    Metric(
        key="provision_warm",
        label="provision again (no changes)",
        unit="s",
        names=("warm_provision_seconds",),
        applies_to=("vps",),
        not_applicable=_ONLY_VPS_PROVISIONS,
        chart=False,
    ),
    Metric(
        key="healthy",
        label="time to healthy",
        unit="s",
        names=(
            "time_to_healthy_seconds",
            "healthy_seconds",
            "start_to_healthy_seconds",
        ),
    ),
    Metric(
        key="rollback",
        label="rollback",
        unit="s",
        names=("rollback_seconds", "rollback_s"),
        measured_by=_NEW_RELEASE,
    ),
    Metric(
        key="redeploy_failed",
        label="failed requests during a redeploy",
        unit="count",
        names=("redeploy_failed_requests",),
        measured_by=_UNDER_TRAFFIC,
        chart=False,
    ),
    Metric(
        key="redeploy_switch",
        label="redeploy under traffic (build to switched)",
        unit="s",
        names=("redeploy_switch_seconds",),
        measured_by=_UNDER_TRAFFIC,
        chart=False,
    ),
    Metric(
        key="rollback_failed",
        label="failed requests during a rollback",
        unit="count",
        names=("rollback_failed_requests",),
        measured_by=_UNDER_TRAFFIC,
        chart=False,
    ),
    Metric(
        key="cold_start",
        label="cold start",
        unit="ms",
        names=(
            "cold_start_ms",
            "cold_start_first_response_ms",
            "cold_start_seconds",
            "cold_start_init_ms",
        ),
        applies_to=("serverless",),
        not_applicable="servers, PaaS instances and pods keep running between requests; only "
        "a function instance starts cold on a request",
    ),
    Metric(
        key="p50",
        label="p50 latency, GET /hello",
        unit="ms",
        names=("hello_p50_ms", "p50_ms"),
        applies_to=("local", "vps", "paas", "k8s", "serverless"),
    ),
    Metric(
        key="p99",
        label="p99 latency, GET /hello",
        unit="ms",
        names=("hello_p99_ms", "p99_ms", "nginx_p99_ms"),
        applies_to=("local", "vps", "paas", "k8s", "serverless"),
    ),
    Metric(
        key="rps",
        label="requests/s, GET /hello",
        unit="req/s",
        better="higher",
        names=("hello_rps", "rps", "nginx_rps"),
        applies_to=("local", "vps", "paas", "k8s", "serverless"),
    ),
    Metric(
        key="rps_ratio",
        label="requests/s vs uvicorn alone, GET /hello",
        unit="x",
        better="higher",
        names=("hello_rps_ratio",),
        not_applicable=_BASELINE_RATIO,
        chart=False,
    ),
    Metric(
        key="p99_ratio",
        label="p99 vs uvicorn alone, GET /hello",
        unit="x",
        names=("hello_p99_ratio",),
        not_applicable=_BASELINE_RATIO,
        chart=False,
    ),
    Metric(
        key="products_p99",
        label="p99 latency, GET /products",
        unit="ms",
        names=("products_p99_ms",),
        applies_to=("local", "vps", "paas", "k8s", "serverless"),
    ),
    Metric(
        key="products_rps",
        label="requests/s, GET /products",
        unit="req/s",
        better="higher",
        names=("products_rps",),
        applies_to=("local", "vps", "paas", "k8s", "serverless"),
    ),
    Metric(
        key="memory",
        label="memory (resident)",
        unit="MiB",
        names=("memory_mib", "memory_mb", "memory_bytes", "rss_mib", "rss_bytes"),
        not_applicable="uvicorn alone is not deployed: memory is what a target's own processes "
        "hold",
    ),
    Metric(
        key="artifact",
        label="artifact size",
        unit="MiB",
        names=(
            "artifact_mib",
            "artifact_mb",
            "artifact_bytes",
            "image_mib",
            "image_mb",
            "image_size_mb",
            "image_bytes",
            "bundle_bytes",
            "zip_mib",
            "zip_bytes",
        ),
    ),
    Metric(
        key="build",
        label="artifact build (cold)",
        unit="s",
        names=(
            "build_seconds",
            "image_build_seconds",
            "bundle_build_seconds",
            "zip_build_seconds",
            "artifact_build_seconds",
        ),
        measured_by=_COLD_BUILD,
    ),
    Metric(
        key="rebuild",
        label="artifact rebuild (code change)",
        unit="s",
        names=(
            "image_warm_build_seconds",
            "warm_build_seconds",
            "rebuild_seconds",
        ),
        measured_by=_REBUILD,
        chart=False,
    ),
)
