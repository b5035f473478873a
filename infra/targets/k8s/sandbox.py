"""`shipways up k8s`: the Deployment's pod, run on Docker as a cluster would run it.

There is no Kubernetes cluster here, so the sandbox does what a kubelet does for one pod:
it builds the image from `app/Dockerfile`, renders the stack's objects with
`manifests.render` (the same function the Pulumi component declares), runs the migration
Job (if the release has one) to completion as a one-off container, then starts the
Deployment's pod template (`pod.plan` translates every field) and waits for its probes.

Releases behave like a RollingUpdate with maxUnavailable 0: a new pod is started next to
the old one (Docker picks a free loopback port, as a cluster picks a pod IP) and the old
pod is stopped only once the new one is healthy. A failed Job or an unhealthy new pod
leaves the previous pod serving. Stopped pods are kept (like ReplicaSet history) so that
`shipways rollback k8s` can start the previous one again.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from rich.console import Console

from infra import results
from infra.config import K8sConfig, LoadedStack, TargetName, narrow
from infra.paths import state_dir
from infra.sandbox import tokens
from infra.sandbox.containers import ensure_container, published_port
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.health import wait_for_docker_health, wait_for_http
from infra.sandbox.narrate import Narrator
from infra.targets import Checks, Endpoint, NotSupported
from infra.targets.k8s import manifests
from infra.targets.k8s.image import ensure_app_image
from infra.targets.k8s.pod import ContainerRun, plan

CHECKS_DIR = Path(__file__).with_name("checks")
TARGET_LABEL = "shipways.target"
INSTANCE_LABEL = "shipways.k8s.instance"
ROLE_LABEL = "shipways.k8s.role"
REVISION_LABEL = "shipways.k8s.revision"
OBJECT_LABEL = "shipways.k8s.object"
PORT_LABEL = "shipways.k8s.port"
GRACE_LABEL = "shipways.k8s.grace-seconds"
KEEP_STOPPED = 2  # previous pods kept for rollback, like a Deployment's revisionHistoryLimit
DATABASE_URL_ENV = "SHIPWAYS_K8S_DATABASE_URL"


class K8sSandbox:
    """One pod of the `k8s` stack on the local Docker engine, named `instance`."""

    name = TargetName.K8S
    proves = (
        "The image and the rendered pod spec run as specified: non-root, read-only root with a "
        "tmpfs /tmp, no capabilities, CPU/memory limits, probes as health checks, migration "
        "first; only a real cluster proves scheduling, Services, Ingress, rolling updates "
        "across pods, the HPA, the PodDisruptionBudget and the NetworkPolicy."
    )

    def __init__(
        self,
        instance: str = "shipways-k8s",
        *,
        database_url: str | None = None,
    ) -> None:
        self.instance = instance
        self.database_url = database_url
        self.last_start_to_healthy_s: float | None = None  # of the last pod `up` started

    # -- up ---------------------------------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, K8sConfig)
        started = time.perf_counter()
        narrator = _narrator(console)
        with narrator.step("image", "building the app image") as step:
            client = ensure_engine(step.progress)
            image = ensure_app_image(client, step.progress)
            how = f"built in {image.build_seconds:.1f}s" if image.built else "unchanged"
            step.result(f"{image.tag} ({image.size_mb:.0f} MB, {how})")
        results.record("k8s", "image_size_mb", round(image.size_mb, 1), "MB", "shipways up")
        database_url = self.database_url or os.environ.get(DATABASE_URL_ENV) or None
        release = manifests.plain_release(config, image.id, database_url)
        pods = plan(manifests.render(config, release))
        current = self._running_pod(client, pods.web.revision)
        if current is not None:
            narrator.say("pod", f"{current.name} already runs this release")
            self._retire_others(client, keep=current, progress=narrator.note)  # interrupted up
            return self._endpoint_of(current)
        replacing = any(p.status == "running" for p in self._pods(client))
        for job in pods.jobs:
            with narrator.step("job", f"running the migration Job {job.name}") as step:
                self._run_job(client, job, step.note)
                step.result(f"{job.name} completed")
        with narrator.step("pod", f"starting the pod of revision {pods.web.revision}") as step:
            pod = self._start_pod(client, pods.web, step.progress)
            step.result(f"{pod.name} healthy after {self.last_start_to_healthy_s:.1f}s")
        self._retire_others(client, keep=pod, progress=narrator.note)
        # A deploy replaces a serving pod (warm) or starts the first one (cold); both include
        # building the image when the app changed.
        metric = "warm_deploy_seconds" if replacing else "cold_deploy_seconds"
        results.record("k8s", metric, time.perf_counter() - started, "s", "shipways up")
        return self._endpoint_of(pod)

    def _labels(self, run: ContainerRun) -> dict[str, str]:
        return {
            TARGET_LABEL: self.name.value,
            INSTANCE_LABEL: self.instance,
            ROLE_LABEL: run.role,
            REVISION_LABEL: run.revision,
            OBJECT_LABEL: run.name,
            PORT_LABEL: str(run.app_port or ""),
            GRACE_LABEL: str(run.grace_s),
        }

    def _run_job(self, client: docker.DockerClient, job: ContainerRun, progress: Progress) -> None:
        """Run a Job's pod to completion, retrying up to backoffLimit; raise if it never does."""
        name = f"{self.instance}-{job.name}"
        for attempt in range(1, job.attempts + 1):
            progress(f"job {job.name}: attempt {attempt}/{job.attempts}")
            _remove(client, name)
            container = client.containers.run(
                job.image, name=name, detach=True, labels=self._labels(job), **job.kwargs
            )
            try:
                status = container.wait(timeout=job.ready_timeout_s)
            except requests.exceptions.RequestException as exc:  # activeDeadlineSeconds
                container.kill()
                status = {"StatusCode": -1, "Error": {"Message": f"deadline exceeded ({exc})"}}
            logs = bytes(container.logs(tail=20)).decode(errors="replace").strip()
            container.remove(force=True)
            if status.get("StatusCode") == 0:
                return
            progress(f"job {job.name} failed (exit {status.get('StatusCode')}): {logs}")
        raise SandboxError(
            f"migration Job {job.name} failed {job.attempts} time(s); the previous pod keeps "
            f"serving. Last output:\n{logs}"
        )

    def _start_pod(
        self, client: docker.DockerClient, web: ContainerRun, progress: Progress
    ) -> Container:
        name = f"{self.instance}-{web.revision}"
        started = time.perf_counter()
        pod = ensure_container(
            client, name, image=web.image, labels=self._labels(web), progress=progress, **web.kwargs
        )
        try:
            health = wait_for_docker_health(pod, web.ready_timeout_s + 10, progress=progress)
            seconds = _seconds_since_start(health) or (time.perf_counter() - started)
            wait_for_http(f"{_url(pod)}/readyz", timeout=10)
        except SandboxError:
            logs = bytes(pod.logs(tail=30)).decode(errors="replace")
            pod.remove(force=True)
            raise SandboxError(
                f"pod {name} did not become healthy; it was removed and the previous pod (if "
                f"any) keeps serving. Its log:\n{logs}"
            ) from None
        self.last_start_to_healthy_s = seconds
        results.record("k8s", "start_to_healthy_seconds", round(seconds, 2), "s", "shipways up")
        return pod

    def _retire_others(
        self, client: docker.DockerClient, keep: Container, progress: Progress
    ) -> None:
        """Stop the other pods (newest first kept for rollback), remove the oldest."""
        others = [p for p in self._pods(client) if p.id != keep.id]
        for index, pod in enumerate(others):
            if index < KEEP_STOPPED:
                if pod.status == "running":
                    progress(f"stopping previous pod {pod.name}")
                    pod.stop(timeout=_grace(pod))
            else:
                progress(f"removing old pod {pod.name}")
                pod.remove(force=True)

    # -- discovery --------------------------------------------------------------------------

    def _pods(self, client: docker.DockerClient) -> list[Container]:
        """This instance's web pods, newest first."""
        found = client.containers.list(
            all=True,
            filters={"label": [f"{INSTANCE_LABEL}={self.instance}", f"{ROLE_LABEL}=web"]},
        )
        return sorted(found, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)

    def _running_pod(self, client: docker.DockerClient, revision: str) -> Container | None:
        for pod in self._pods(client):
            if pod.labels.get(REVISION_LABEL) == revision:
                if pod.status != "running":
                    return None
                try:
                    wait_for_docker_health(pod, 60)
                except SandboxError:
                    return None
                return pod
        return None

    def _endpoint_of(self, pod: Container) -> Endpoint:
        return Endpoint(
            target=self.name,
            url=_url(pod),
            extra={
                "container": pod.name,
                "revision": pod.labels.get(REVISION_LABEL),
                "image": pod.attrs["Config"]["Image"],
            },
        )

    def endpoint(self) -> Endpoint | None:
        try:
            client = ensure_engine()
        except SandboxError:
            return None
        running = [p for p in self._pods(client) if p.status == "running"]
        return self._endpoint_of(running[0]) if running else None

    def token(self) -> str | None:
        """The write token of this instance's pods, if its Secret was ever rendered."""
        return tokens.read(state_dir("k8s", self.instance))

    def checks(self, endpoint: Endpoint) -> Checks:
        container = str(endpoint.extra["container"])
        return Checks(
            modules=[CHECKS_DIR / "test_pod.py"],
            pytest_args=[f"--hosts=docker://{container}"],
            env={"SHIPWAYS_K8S_APP_UID": str(manifests.APP_UID)},
        )

    # -- operations -------------------------------------------------------------------------

    def down(self, console: Console) -> bool:
        client = ensure_engine()
        found = client.containers.list(
            all=True, filters={"label": f"{INSTANCE_LABEL}={self.instance}"}
        )
        for container in found:
            _narrator(console).say("down", f"removing {container.name}")
            if container.status == "running":
                container.stop(timeout=_grace(container))
            container.remove(force=True, v=True)
        return bool(found)

    def status(self, console: Console) -> dict[str, Any]:
        client = ensure_engine()
        pods = self._pods(client)
        if not pods:
            raise NotSupported("k8s is not running; start it with `shipways up k8s`")
        running = next((p for p in pods if p.status == "running"), None)
        return {
            "instance": self.instance,
            "serving": running.labels.get(REVISION_LABEL) if running else None,
            "url": self._endpoint_of(running).url if running else None,
            "pods": [
                {
                    "name": p.name,
                    "revision": p.labels.get(REVISION_LABEL),
                    "status": p.status,
                    "health": _health(p) if p.status == "running" else None,
                    "image": p.attrs["Config"]["Image"],
                    "created": p.attrs.get("Created"),
                }
                for p in pods
            ],
        }

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        endpoint = self.endpoint()
        if endpoint is None:
            raise NotSupported("k8s is not running; start it with `shipways up k8s`")
        pod = ensure_engine().containers.get(str(endpoint.extra["container"]))
        if follow:
            for chunk in pod.logs(stream=True, follow=True, tail=lines):
                console.out(bytes(chunk).decode(errors="replace"), end="")
        else:
            console.out(bytes(pod.logs(tail=lines)).decode(errors="replace"), end="")

    def rollback(self, console: Console, *, release: str | None) -> str:
        """Start a kept pod again (the previous one by default), then stop the current one."""
        client = ensure_engine()
        pods = self._pods(client)
        current = next((p for p in pods if p.status == "running"), None)
        candidates = [p for p in pods if p is not current]
        if release is not None:
            candidates = [p for p in candidates if p.labels.get(REVISION_LABEL) == release]
        if not candidates:
            kept = ", ".join(str(p.labels.get(REVISION_LABEL)) for p in pods) or "none"
            raise NotSupported(
                f"no kept pod {'for revision ' + release if release else 'to roll back to'} "
                f"(kept revisions: {kept})"
            )
        target = candidates[0]
        started = time.perf_counter()
        with _narrator(console).step("rollback", f"starting {target.name}") as step:
            target.start()
            wait_for_docker_health(target, 90, progress=step.progress)
            if current is not None:
                step.note(f"stopping {current.name}")
                current.stop(timeout=_grace(current))
            step.result(f"{target.name} serves again")
        seconds = time.perf_counter() - started
        results.record("k8s", "rollback_seconds", seconds, "s", "shipways rollback")
        return str(target.labels.get(REVISION_LABEL))


def _health(container: Container) -> str:
    container.reload()
    state = container.attrs.get("State", {})
    return str((state.get("Health") or {}).get("Status") or state.get("Status", "unknown"))


def _seconds_since_start(state: dict[str, Any]) -> float:
    """Start-to-healthy as Docker saw it: StartedAt to the first passing health probe."""
    started = datetime.fromisoformat(_trim_nanos(state["StartedAt"]))
    log = (state.get("Health") or {}).get("Log") or []
    passed = [
        datetime.fromisoformat(_trim_nanos(entry["End"]))
        for entry in log
        if entry.get("ExitCode") == 0
    ]
    since_start = [(end - started).total_seconds() for end in passed if end >= started]
    return min(since_start) if since_start else 0.0


def _trim_nanos(stamp: str) -> str:
    """Docker prints nanoseconds; fromisoformat takes at most microseconds."""
    head, dot, rest = stamp.partition(".")
    if not dot:
        return stamp.replace("Z", "+00:00")
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits) :].replace("Z", "+00:00")
    return f"{head}.{digits[:6]}{zone}"


def _url(pod: Container) -> str:
    port = published_port(pod, pod.labels.get(PORT_LABEL) or "8000")
    return f"http://127.0.0.1:{port}"


def _grace(container: Container) -> int:
    """terminationGracePeriodSeconds of the pod, as recorded when it was started."""
    return int(container.labels.get(GRACE_LABEL, "30"))


def _remove(client: docker.DockerClient, name: str) -> None:
    try:
        client.containers.get(name).remove(force=True)
    except NotFound:
        pass
    except APIError as exc:
        raise SandboxError(f"removing {name} failed: {exc}") from exc


def _narrator(console: Console) -> Narrator:
    return Narrator(console, "k8s")
