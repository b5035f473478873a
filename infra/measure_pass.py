"""The main job's measurement pass: after a target is up, the figures the comparison shows.

Per target, within a time budget (default 20 s, said when spent): requests/s and p50/p99 of
GET /hello and GET /products against uvicorn direct with the same worker count, both measured
in this run on a proxy-free path (`infra.measure.reach`); resident memory; for the Lambda
stand-in, a cold start (a restart: its Init Duration and first response); the target's
artifact rebuilt by its own builder for a code change (and removed); then a warm redeploy
and a rollback to the release the target was serving, each under a bounded request loop
through the target's front door (failed requests counted). Deploy times, time to healthy,
artifact sizes and a fresh target's cold artifact build come from `up` itself. Everything
goes to `infra.results`, which `shipways compare` reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from docker.errors import DockerException
from rich.console import Console

from infra import results
from infra.config import ConfigError, LoadedStack
from infra.loadgen import LoadError, LoadOptions, LoadResult, measure_paths, versus_direct
from infra.local_app import running
from infra.measure import (
    PATHS,
    lambda_cold_start,
    process_tree_memory_bytes,
    reach,
)
from infra.paths import state_dir
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import SandboxError
from infra.sandbox.narrate import Narrator
from infra.targets import BuiltArtifact, Endpoint, NotSupported, Sandbox, TargetName
from infra.testing.load import RequestLoop
from infra.testing.releases import code_change

SOURCE = "shipways demo"
# What a measurement can fail with; it is said, and the row stays "not measured".
MEASURE_FAILURES = (LoadError, LookupError, NotSupported, SandboxError, ConfigError)
DEFAULT_BUDGET_S = 20.0
REBUILD = "rebuild_seconds"  # the artifact rebuilt for a code change, with the target's builder
# Short, bounded runs: about 6 s of load per target (two paths, a warm-up each).
LOAD = LoadOptions(connections=8, seconds=2.0, max_requests=6_000, warmup_requests=100)


class Baselines:
    """uvicorn direct on the host's loopback (no proxy), measured once per worker count in
    this run, so every target's ratio is against the same run's baseline."""

    def __init__(self, options: LoadOptions = LOAD) -> None:
        self.options = options
        self._measured: dict[int, dict[str, LoadResult]] = {}

    def of(self, workers: int) -> dict[str, LoadResult]:
        if workers not in self._measured:
            with running(workers=workers) as url:
                self._measured[workers] = measure_paths(url, PATHS, self.options)
            if workers == 1:  # the comparison's "local (uvicorn)" column: one worker
                for path, result in self._measured[workers].items():
                    name = path.strip("/")
                    for metric, value, unit in (
                        (f"{name}_rps", result.rps, "req/s"),
                        (f"{name}_p50_ms", result.p50_ms, "ms"),
                        (f"{name}_p99_ms", result.p99_ms, "ms"),
                    ):
                        results.record("local", metric, value, unit, SOURCE, path=result.path)
        return self._measured[workers]


def workers_of(stack: LoadedStack) -> int:
    """How many app processes serve one instance: one per Lambda instance, else the stack's."""
    return 1 if stack.target is TargetName.SERVERLESS else stack.config.web_concurrency


class Pass:
    """One target's measurement pass; `run` returns its headline figures, most telling first."""

    def __init__(
        self,
        box: Sandbox,
        stack: LoadedStack,
        narrator: Narrator,
        detail: Console,
        baselines: Baselines,
        budget_s: float = DEFAULT_BUDGET_S,
    ) -> None:
        self.box, self.stack, self.narrator, self.detail = box, stack, narrator, detail
        self.baselines = baselines
        self.budget_s = budget_s
        self.target = box.name.value
        self.summary: dict[str, str] = {}  # step -> its headline figure

    def run(self, endpoint: Endpoint) -> list[str]:
        self.baselines.of(workers_of(self.stack))  # once per run, outside the target's budget
        started = time.perf_counter()
        steps: list[tuple[str, Callable[[Endpoint], str]]] = [("load", self.load)]
        steps.append(("memory", self.memory))
        if self.box.name is TargetName.SERVERLESS:
            steps.insert(0, ("cold", self.cold_start))
        steps += [("build", self.build), ("redeploy", self.redeploy), ("rollback", self.rollback)]
        done: set[str] = set()
        for index, (name, step) in enumerate(steps):
            # A rollback undoes the redeploy just made, so it is never cut off from it.
            if name == "rollback" and "redeploy" not in done:
                break
            if name != "rollback" and time.perf_counter() - started > self.budget_s:
                skipped = ", ".join(n for n, _ in steps[index:])
                self.narrator.say(
                    "measure", f"budget of {self.budget_s:.0f}s spent: {skipped} skipped"
                )
                break
            try:
                with self.narrator.step(name, f"measuring {name}") as progress:
                    progress.result(step(self.box.endpoint() or endpoint))
            except MEASURE_FAILURES as exc:
                self.narrator.say(name, f"not measured: {' '.join(str(exc).split())[:160]}")
                continue
            done.add(name)
        return [self.summary[k] for k in ("load", "redeploy", "cold") if k in self.summary]

    def _record(self, metric: str, value: float, unit: str) -> None:
        results.record(self.target, metric, value, unit, SOURCE)

    def load(self, endpoint: Endpoint) -> str:
        where = reach(endpoint)
        direct = self.baselines.of(workers_of(self.stack))
        through = measure_paths(
            where.url, PATHS, LOAD, netns_pid=where.netns_pid, published=where.published
        )
        figures = versus_direct(self.target, SOURCE, through, direct)
        hello = through["/hello"]
        self.summary["load"] = f"/hello {hello.rps:,.0f} req/s ({figures['/hello']['rps_ratio']}x)"
        products = through["/products"]
        return (
            f"/hello {hello.rps:,.0f} req/s ({figures['/hello']['rps_ratio']}x uvicorn), "
            f"/products {products.rps:,.0f} req/s ({figures['/products']['rps_ratio']}x); "
            f"p99 {hello.p99_ms:.0f}/{products.p99_ms:.0f} ms; {hello.path}"
        )

    def memory(self, endpoint: Endpoint) -> str:
        host_pids = endpoint.extra.get("pids")
        if isinstance(host_pids, list) and host_pids:
            # paas: `container` is the front door; the app is every instance's process tree.
            used = sum(process_tree_memory_bytes(int(pid)) for pid in host_pids)
            self._record("memory_mib", round(used / 2**20, 1), "MiB")
            return f"{round(used / 2**20, 1)} MiB, {len(host_pids)} instances' processes (RSS)"
        # Resident memory of the target's processes, read in the host's /proc: a container's
        # cgroup figure counts page cache, and inside a systemd container on cgroup v1 it is
        # the host's.
        # k8s and serverless: `container` is the front door; the app is the pods (the
        # Lambda instances) behind it, every one.
        kind, behind = next(
            ((k, v) for k in ("pods", "instances") if isinstance(v := endpoint.extra.get(k), list)),
            ("", None),
        )
        if behind:
            client = ensure_engine()
            used = sum(
                process_tree_memory_bytes(int(client.containers.get(str(p)).attrs["State"]["Pid"]))
                for p in behind
            )
            self._record("memory_mib", round(used / 2**20, 1), "MiB")
            return f"{round(used / 2**20, 1)} MiB, {len(behind)} {kind}' processes (RSS)"
        where = reach(endpoint)
        if where.container is not None:
            used = process_tree_memory_bytes(int(where.container.attrs["State"]["Pid"]))
            what = "container's processes (RSS)"
        else:
            used = process_tree_memory_bytes(int(endpoint.extra["pid"]))
            what = "web process tree (RSS)"
        mib = round(used / 2**20, 1)
        self._record("memory_mib", mib, "MiB")
        return f"{mib} MiB, {what}"

    def build(self, endpoint: Endpoint) -> str:
        """The target's own builder, run on the app with one file changed (a code change):
        what every commit costs before a deploy starts. The build is removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="rebuild-", dir=state_dir("tmp")) as work:
            started = time.perf_counter()
            built = self.box.build_artifact(
                Path(work), self._progress, stack=self.stack, changes=code_change()
            )
            seconds = time.perf_counter() - started
            _discard(built)
        self._record(REBUILD, round(seconds, 2), "s")
        return f"{built.label.split(' (')[0]} rebuilt for a code change in {seconds:.1f}s"

    def _progress(self, line: str) -> None:
        self.detail.print(line, markup=False, highlight=False)

    def cold_start(self, endpoint: Endpoint) -> str:
        # The instance warm requests go to first (it ran the release steps), recycled.
        instances = endpoint.extra.get("instances")
        assert isinstance(instances, list) and instances, "the Lambda stand-in has instances"
        container = ensure_engine().containers.get(str(instances[0]))
        cold = lambda_cold_start(container, lambda: self._url_now(endpoint))
        self._record("cold_start_init_ms", round(cold.init_ms, 1), "ms")
        self._record("cold_start_first_response_ms", round(cold.first_response_ms, 1), "ms")
        self._record("start_to_healthy_seconds", round(cold.first_response_ms / 1000, 2), "s")
        self.summary["cold"] = f"cold start {cold.init_ms:,.0f} ms"
        return f"init {cold.init_ms:,.0f} ms, first response after {cold.first_response_ms:,.0f} ms"

    def _url_now(self, before: Endpoint) -> str:
        now = self.box.endpoint()
        return (now or before).url

    def redeploy(self, endpoint: Endpoint) -> str:
        started = time.perf_counter()
        with _traffic(endpoint) as load:
            after = self.box.up(self.detail, stack=_changed(self.stack))
        seconds = time.perf_counter() - started
        if _release(after) is not None and _release(after) == _release(endpoint):
            # Same release still serving: nothing was rolled out, so no figure and no rollback.
            raise NotSupported(f"the redeploy kept release {_release(after)}: no new release")
        self._record("warm_deploy_seconds", round(seconds, 2), "s")
        self._record("redeploy_switch_seconds", round(seconds, 2), "s")
        self._record("redeploy_failed_requests", load.failed, "count")
        self.summary["redeploy"] = f"redeploy {load.failed} of {load.total} requests failed"
        return (
            f"a new release of the same app, healthy after {seconds:.1f}s; "
            f"{load.failed} of {load.total} requests failed{_moved(endpoint, after)}"
        )

    def rollback(self, endpoint: Endpoint) -> str:
        started = time.perf_counter()
        with _traffic(endpoint) as load:
            release = self.box.rollback(self.detail, release=None)
        seconds = time.perf_counter() - started
        self._record("rollback_seconds", round(seconds, 2), "s")
        self._record("rollback_failed_requests", load.failed, "count")
        return (
            f"back to release {release} in {seconds:.1f}s; "
            f"{load.failed} of {load.total} requests failed"
        )


def _discard(built: BuiltArtifact) -> None:
    """A rebuilt image is nobody's release: removed now, its new layers with it (files go
    with the step's scratch directory). Should the engine refuse, the next build of the
    image prunes it as superseded (`infra.sandbox.images.prune_superseded`)."""
    if built.form == "image":
        with contextlib.suppress(DockerException):
            ensure_engine().images.remove(built.location)


def _traffic(endpoint: Endpoint) -> RequestLoop:
    """GET /version through the front door while a release switches: bounded in count and
    time, paced below the VPS's per-client rate limit so every non-200 is a real failure."""
    return RequestLoop(endpoint.url, rate=20.0, max_requests=3_000, max_seconds=150.0)


def _moved(before: Endpoint, after: Endpoint) -> str:
    return "" if after.url == before.url else f" (the address moved to {after.url})"


def _release(endpoint: Endpoint) -> str | None:
    """The serving release as the endpoint names it (None: it does not; the VPS's Fabric
    deploy always makes a new, timestamped one)."""
    named = endpoint.extra.get("release") or endpoint.extra.get("revision")
    return None if named is None else str(named)


def _changed(stack: LoadedStack) -> LoadedStack:
    """The same stack with a setting a platform must roll out (a PaaS redeploys an unchanged
    bundle only when its environment changed): a warm redeploy, not a no-op."""
    config = stack.config
    env = getattr(config, "env", None)
    if isinstance(env, dict):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        config = config.model_copy(update={"env": {**env, "SHIPWAYS_DEPLOYED_AT": stamp}})
    return dataclasses.replace(stack, config=config)
