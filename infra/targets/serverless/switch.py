"""A release switch as Lambda does it: publish a version, check it, move the alias, drain.

1. publish  the version's instances are started with the version's own environment
            variables (each inits on its first request) and the version is added to the
            gateway's routes; the alias does not point at it.
2. migrate  (a new release) the version itself is invoked with `{"shipways": "migrate"}`,
            as the stack's `aws.lambda_.Invocation` does: once per release, never from two
            instances at once (the app migrates under a PostgreSQL advisory lock).
3. ready    the version is invoked with an API Gateway `GET /readyz` event: it must answer
            200 (its init ran, its database answers, its schema is the one it expects).
4. switch   the `live` alias moves to the version in one step (the gateway's reload); or,
            with the stack's `trafficShifting` (a new release only, not a rollback), in
            CodeDeploy's steps (`shift.py`): the version takes a weighted share of the
            alias's requests, then all of them, unless its 5xx trip the alarm: then the
            alias goes back, the version is unpublished and the release is refused.
5. drain    the old version stays published until its requests in flight are done; then
            its instances stop (kept, for a rollback: Lambda keeps every version).

A failure in 1-3 refuses the release: the version is unpublished and its instances
removed. The alias never moved, so the previous version served every request meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import docker
import httpx
from docker.errors import NotFound

from infra import results
from infra.config import ServerlessConfig
from infra.sandbox.errors import SandboxError
from infra.sandbox.health import NotYet, wait_until
from infra.sandbox.narrate import Narrator
from infra.targets.serverless import runtime_api, service, traffic
from infra.targets.serverless.shift import LOCAL_MINUTE_S, ShiftRolledBack, run_shift

MIGRATE_EVENT = {"shipways": "migrate"}
LABEL = "shipways.serverless"


class Release(Protocol):
    id: str
    image: str
    environment: dict[str, str]  # the app's variables, frozen with the version
    version: str


@dataclass
class Switcher:
    client: docker.DockerClient
    gateway: service.Gateway
    instance: str
    network: str
    function: str
    config: ServerlessConfig
    environment: dict[str, str]
    secret_files: dict[str, Path]  # variable (DATABASE_URL_FILE, ...) -> the file here
    concurrency: int
    labels: dict[str, str]
    narrator: Narrator | None
    minute_s: float = LOCAL_MINUTE_S  # one CodeDeploy minute of a gradual shift, here

    def instance_names(self, version: str) -> list[str]:
        return [service.instance_name(self.instance, version, i) for i in range(self.concurrency)]

    def serves(self, version: str) -> bool:
        """The alias points at `version` and all its instances run."""
        routes = service.Routes.read(self.gateway.routes_dir)
        if routes.alias != version or self.gateway.state().get("alias") != version:
            return False
        for name in self.instance_names(version):
            try:
                if self.client.containers.get(name).status != "running":
                    return False
            except NotFound:
                return False
        return True

    def switch(
        self, release: Release, previous: Release | None, *, migrate: bool, shift: bool = False
    ) -> None:
        """Move the alias to `release`; `shift`: the way the stack's `trafficShifting` says."""
        narrator = self._narrator
        version = release.version
        before = f"version {previous.version}" if previous else "nothing"
        names = self.instance_names(version)
        routes = service.Routes.read(self.gateway.routes_dir)
        with narrator.step("publish", f"version {version}: {len(names)} instances") as step:
            service.start_instances(
                self.client,
                names,
                service.instance_run(
                    image=release.image,
                    network=self.network,
                    name=names[0],
                    environment={
                        **release.environment,
                        **self.environment,
                        "AWS_LAMBDA_FUNCTION_VERSION": version,
                    },
                    secret_files=self.secret_files,
                    memory_mb=self.config.memory_mb,
                    timeout_s=self.config.timeout_s,
                    handler=self.config.app.lambda_handler,
                ),
                {**self.labels, f"{LABEL}.role": "instance", f"{LABEL}.version": version},
                step.note,
            )
            routes.versions[version] = [service.address(n) for n in names]
            self.gateway.apply(routes)
            step.result(f"{', '.join(names)} (each inits on its first request)")
        try:
            if migrate:
                with narrator.step("migrate", f"invoking version {version}: migrate") as step:
                    step.result(self._migrate(version))
            ready = f"invoking version {version}: GET {self.config.app.readiness_path}"
            with narrator.step("ready", ready) as step:
                step.result(self._ready(version))
        except SandboxError as exc:
            self._withdraw(version, names)
            raise SandboxError(
                f"release {release.id} (version {version}) refused: {exc}. The alias did not "
                f"move: {before} keeps serving at {self.gateway.url}."
            ) from None
        plan = traffic.plan(self.config.traffic_shifting)
        if shift and plan.gradual and previous is not None and previous.version != version:
            self._shift(release, previous.version, names, plan)
            self._retire(previous.version)
            return
        with narrator.step("switch", f"alias live: {before} -> version {version}") as step:
            started = time.perf_counter()
            routes.alias = version
            self.gateway.apply(routes)
            switched_ms = (time.perf_counter() - started) * 1000
            step.result(f"moved in {switched_ms:.0f} ms")
        results.record("serverless", "alias_switch_ms", round(switched_ms, 1), "ms", "switch")
        if previous is not None and previous.version != version:
            self._retire(previous.version)

    # -- steps -----------------------------------------------------------------------------

    def _shift(
        self, release: Release, current: str, names: list[str], plan: traffic.ShiftPlan
    ) -> None:
        """CodeDeploy's traffic shift from `current` to the release's version, or its rollback."""
        version = release.version
        scale = f"one CodeDeploy minute lasts {self.minute_s:g} s here"
        with self._narrator.step(
            "shift", f"{plan.name}: version {current} -> {version} ({scale})"
        ) as step:
            report = run_shift(
                self.gateway,
                current=current,
                target=version,
                plan=plan,
                minute_s=self.minute_s,
                progress=step.note,
            )
            served = ", ".join(f"version {n}: {r}" for n, r in sorted(report.requests.items()))
            step.result(
                f"{'rolled back' if report.rolled_back else 'done'} in {report.seconds:g} s "
                f"({served or 'no requests'})"
            )
        results.record("serverless", "traffic_shift_seconds", report.seconds, "s", "switch")
        if not report.rolled_back:
            return
        self._drain(version)
        self._withdraw(version, names)
        raise ShiftRolledBack(
            f"release {release.id} (version {version}) rolled back: {report.server_errors} "
            f"5xx answers from it within one alarm period ({traffic.ALARM_5XX} trip the "
            f"stack's alarm) while it took {report.weight:.0%} of the traffic. The alias is "
            f"back on version {current}, which serves every request at {self.gateway.url}.",
            report,
        )

    def _drain(self, version: str) -> None:
        """Wait until `version` has no request in flight (bounded by the function's timeout)."""

        def drained() -> None:
            left = self.gateway.state()["versions"].get(version, {}).get("in_flight", 0)
            if left:
                raise NotYet(f"{left} requests in flight on version {version}")

        wait_until(
            drained,
            timeout=self.config.timeout_s + runtime_api.INIT_TIMEOUT_S + 5,
            interval=0.1,
            failure=f"version {version} kept requests in flight",
            progress=self._narrator.note,
        )

    def _invoke(self, version: str, payload: object) -> Any:
        """Invoke `version`; its result, or a SandboxError saying why there is none."""
        timeout = runtime_api.INIT_TIMEOUT_S + self.config.timeout_s + 10
        try:
            answer = self.gateway.invoke(self.function, payload, version, timeout)
        except httpx.HTTPError as exc:
            raise SandboxError(f"the invocation did not complete ({exc})") from None
        if answer.status_code != 200:
            raise SandboxError(f"the Invoke API answered {answer.status_code}: {answer.text}")
        body = answer.json()
        if "x-amz-function-error" in answer.headers:
            kind = body.get("errorType", "Unhandled") if isinstance(body, dict) else "Unhandled"
            message = body.get("errorMessage", "") if isinstance(body, dict) else str(body)
            raise SandboxError(f"{kind}: {message}".strip())
        return body

    def _migrate(self, version: str) -> str:
        try:
            done = self._invoke(version, MIGRATE_EVENT)
        except SandboxError as exc:
            raise SandboxError(f"its migration failed: {exc}") from None
        return "schema changed" if done.get("changed") else "schema already current"

    def _ready(self, version: str) -> str:
        path = self.config.app.readiness_path
        request = runtime_api.HttpRequest("GET", path, [("host", "gateway")], b"", "127.0.0.1")
        event = runtime_api.http_api_event(request, api_id="release", request_id="readyz")
        try:
            result = self._invoke(version, event)
        except SandboxError as exc:
            raise SandboxError(f"GET {path} failed: {exc}") from None
        status = result.get("statusCode") if isinstance(result, dict) else None
        if status != 200:
            body = str(result.get("body", ""))[:300] if isinstance(result, dict) else result
            raise SandboxError(f"GET {path} answered {status}: {body}")
        return "200"

    def _withdraw(self, version: str, names: list[str]) -> None:
        """Unpublish a refused version and remove its instances (with their logs' last lines)."""
        routes = service.Routes.read(self.gateway.routes_dir)
        routes.versions.pop(version, None)
        self.gateway.apply(routes)
        for name in names:
            try:
                container = self.client.containers.get(name)
            except NotFound:
                continue
            tail = bytes(container.logs(tail=8)).decode(errors="replace").strip()
            self._narrator.note(f"removing refused instance {name}; its last lines:\n{tail}")
            container.remove(force=True)

    def _retire(self, version: str) -> None:
        """Wait for the old version's requests in flight, unpublish it, stop its instances."""
        narrator = self._narrator
        with narrator.step("drain", f"version {version}: requests in flight finish") as step:
            self._drain(version)
            routes = service.Routes.read(self.gateway.routes_dir)
            routes.versions.pop(version, None)
            self.gateway.apply(routes)
            for name in self.instance_names(version):
                try:
                    self.client.containers.get(name).stop(timeout=5)
                except NotFound:
                    continue
            step.result(f"version {version} unpublished, its instances stopped (kept)")

    @property
    def _narrator(self) -> Narrator:
        if self.narrator is None:
            raise SandboxError("a release switch needs a narrator")
        return self.narrator
