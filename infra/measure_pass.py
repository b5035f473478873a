"""The main job's measurement pass: after a target is up, the figures the comparison shows.

Per target, within a time budget (default 20 s, said when spent): requests/s and p50/p99 of
GET /hello and GET /products against uvicorn direct with the same worker count, both measured
in this run on a proxy-free path (`infra.measure.reach`); resident memory; for the Lambda
stand-in, a cold start (a restart: its Init Duration and first response); then a warm
redeploy and a rollback to the release the target was serving. Deploy times, time to
healthy and artifact sizes come from `up` itself. Everything goes to `infra.results`, which
`shipways compare` reads.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime

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
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import SandboxError
from infra.sandbox.narrate import Narrator
from infra.targets import Endpoint, NotSupported, Sandbox, TargetName

SOURCE = "shipways demo"
# What a measurement can fail with; it is said, and the row stays "not measured".
MEASURE_FAILURES = (LoadError, LookupError, NotSupported, SandboxError, ConfigError)
DEFAULT_BUDGET_S = 20.0
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
    """One target's measurement pass; `run` returns its one-line summary."""

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
        self.summary: list[str] = []

    def run(self, endpoint: Endpoint) -> str:
        self.baselines.of(workers_of(self.stack))  # once per run, outside the target's budget
        started = time.perf_counter()
        steps: list[tuple[str, Callable[[Endpoint], str]]] = [("load", self.load)]
        steps.append(("memory", self.memory))
        if self.box.name is TargetName.SERVERLESS:
            steps.insert(0, ("cold", self.cold_start))
        steps += [("redeploy", self.redeploy), ("rollback", self.rollback)]
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
        return "; ".join(self.summary)

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
        self.summary.append(f"/hello {hello.rps:,.0f} req/s ({figures['/hello']['rps_ratio']}x)")
        shown = ", ".join(
            f"{p} {through[p].rps:,.0f} req/s, p99 {through[p].p99_ms:.1f} ms "
            f"({figures[p]['rps_ratio']}x uvicorn)"
            for p in PATHS
        )
        return f"{shown}; {hello.path}"

    def memory(self, endpoint: Endpoint) -> str:
        # Resident memory of the target's processes, read in the host's /proc: a container's
        # cgroup figure counts page cache, and inside a systemd container on cgroup v1 it is
        # the host's.
        pods = endpoint.extra.get("pods")
        if isinstance(pods, list) and pods:
            # k8s: `container` is the front door; the app is the pods behind it, every one.
            client = ensure_engine()
            used = sum(
                process_tree_memory_bytes(int(client.containers.get(str(p)).attrs["State"]["Pid"]))
                for p in pods
            )
            self._record("memory_mib", round(used / 2**20, 1), "MiB")
            return f"{round(used / 2**20, 1)} MiB, {len(pods)} pods' processes (RSS)"
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

    def cold_start(self, endpoint: Endpoint) -> str:
        container = reach(endpoint).container
        assert container is not None, "the Lambda stand-in runs in a container"
        cold = lambda_cold_start(container, lambda: self._url_now(endpoint))
        self._record("cold_start_init_ms", round(cold.init_ms, 1), "ms")
        self._record("cold_start_first_response_ms", round(cold.first_response_ms, 1), "ms")
        self._record("start_to_healthy_seconds", round(cold.first_response_ms / 1000, 2), "s")
        self.summary.append(f"cold start {cold.init_ms:,.0f} ms")
        return f"init {cold.init_ms:,.0f} ms, first response after {cold.first_response_ms:,.0f} ms"

    def _url_now(self, before: Endpoint) -> str:
        now = self.box.endpoint()
        return (now or before).url

    def redeploy(self, endpoint: Endpoint) -> str:
        started = time.perf_counter()
        after = self.box.up(self.detail, stack=_changed(self.stack))
        seconds = time.perf_counter() - started
        if _release(after) is not None and _release(after) == _release(endpoint):
            # Same release still serving: nothing was rolled out, so no figure and no rollback.
            raise NotSupported(f"the redeploy kept release {_release(after)}: no new release")
        self._record("warm_deploy_seconds", round(seconds, 2), "s")
        return f"a new release of the same app, healthy after {seconds:.1f}s"

    def rollback(self, endpoint: Endpoint) -> str:
        started = time.perf_counter()
        release = self.box.rollback(self.detail, release=None)
        seconds = time.perf_counter() - started
        self._record("rollback_seconds", round(seconds, 2), "s")
        return f"back to release {release} in {seconds:.1f}s"


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
