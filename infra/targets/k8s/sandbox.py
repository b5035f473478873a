"""`shipways up k8s`: the Deployment's pods, run on Docker as a cluster would run them.

There is no Kubernetes cluster here, so the sandbox does what the control plane and the
kubelets do for this stack, from the objects `manifests.render` declares (the same function
the Pulumi component declares), translated by `pod.plan`:

- a private Docker network per instance (no egress), a PostgreSQL server on it standing in
  for the database the stack is given (`infra.sandbox.postgres`), its URL delivered as the
  stack delivers it: the rendered Secret, mounted read-only as a file (`DATABASE_URL_FILE`);
  the write token likewise, generated once per instance (`WRITE_TOKEN_FILE`, every pod);
- the migration Job, run once per release to completion, before any pod of the release;
- the Deployment's `replicas` pods, each its own container, behind the front door
  (`infra.sandbox.frontdoor`), the Service stand-in: one loopback address for the life of
  the instance;
- releases as the Deployment's RollingUpdate (`rollout.Roller`): surge one, wait ready,
  add to the front door, drain one old pod (preStop), stop it with its grace period.

A failed Job or a pod that never becomes ready refuses the release and the previous pods
keep serving. Stopped pods are kept (like ReplicaSet history, `KEEP_STOPPED` revisions) so
that `shipways rollback k8s` rolls back to them through the same front door.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
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
from infra.sandbox.containers import ensure_container
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.frontdoor import FrontDoor, ensure_front_door, find_front_door, remove_front_door
from infra.sandbox.narrate import Narrator
from infra.sandbox.networks import ensure_private_network, remove_network
from infra.sandbox.postgres import ensure_postgres, remove_postgres
from infra.targets import BuiltArtifact, Checks, Endpoint, NotSupported
from infra.targets.k8s import manifests
from infra.targets.k8s.image import ensure_app_image
from infra.targets.k8s.pod import ContainerRun, PodPlan, plan
from infra.targets.k8s.rollout import GRACE_LABEL, PORT_LABEL, PRE_STOP_LABEL, Roller

CHECKS_DIR = Path(__file__).with_name("checks")
TARGET_LABEL = "shipways.target"
INSTANCE_LABEL = "shipways.k8s.instance"
ROLE_LABEL = "shipways.k8s.role"
REVISION_LABEL = "shipways.k8s.revision"
OBJECT_LABEL = "shipways.k8s.object"
KEEP_STOPPED = 2  # previous revisions kept for rollback, like revisionHistoryLimit
DATABASE = "shipways_k8s"


class K8sSandbox:
    """The `k8s` stack on the local Docker engine: pods, Job, database, front door."""

    name = TargetName.K8S
    proves = (
        "The image and the rendered pod spec run as specified (non-root, read-only root, no "
        "capabilities, limits, probes), the database URL read from the mounted Secret, the "
        "migration Job once per release before its pods, the Deployment's replicas behind one "
        "stable address sharing one PostgreSQL, and its RollingUpdate (maxSurge 1, "
        "maxUnavailable 0, preStop drain, grace) with no failed request; only a real cluster "
        "proves scheduling, kube-proxy/Ingress, the HPA, the PodDisruptionBudget and the "
        "NetworkPolicy."
    )

    def __init__(
        self,
        instance: str = "shipways-k8s",
        *,
        app_overrides: Mapping[str, bytes] | None = None,
    ) -> None:
        self.instance = instance
        # Files of app/ replaced in the image (app-relative path -> content): a release
        # with a code change without editing the working tree.
        self.app_overrides = app_overrides
        self.last_start_to_healthy_s: float | None = None  # of the first pod `up` started
        self.last_build_s: float | None = None

    @property
    def network(self) -> str:
        return f"{self.instance}-net"

    # -- up ---------------------------------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, K8sConfig)
        started = time.perf_counter()
        narrator = _narrator(console)
        with narrator.step("image", "building the app image") as step:
            client = ensure_engine(step.progress)
            image = ensure_app_image(
                client, step.progress, overrides=self.app_overrides, app_dir=config.app.directory
            )
            how = f"built in {image.build_seconds:.1f}s" if image.built else "unchanged"
            self.last_build_s = image.build_seconds if image.built else None
            step.result(f"{image.tag} ({image.size_mb:.0f} MB, {how})")
        results.record("k8s", "image_size_mb", round(image.size_mb, 1), "MB", "shipways up")
        door = self._infrastructure(client, narrator)
        with narrator.step("database", "starting the PostgreSQL stand-in") as step:
            database = ensure_postgres(
                client,
                self.instance,
                network=self.network,
                database=DATABASE,
                labels=self._labels("database"),
                progress=step.progress,
            )
            step.result(f"{database.container}, database {database.name}")
        # One token per deployment, kept until `down`, delivered as the stack delivers it.
        token = tokens.ensure(state_dir("sandbox", self.instance)).read_text().strip()
        release = manifests.plain_release(config, image.id, database.url, write_token=token)
        pods = plan(manifests.render(config, release))
        serving = self._running(client, pods.web.revision)
        roller = Roller(door, self.network, narrator.note)
        if len(serving) == pods.rollout.replicas and self._only_in_front(door, roller, serving):
            narrator.say("pods", f"{len(serving)} pods already serve revision {pods.web.revision}")
            return self._endpoint_of(door, serving)
        replacing = any(
            p.labels.get(REVISION_LABEL) != pods.web.revision for p in self._all(client)
        )
        for job in pods.jobs:
            with narrator.step("job", f"running the migration Job {job.name}") as step:
                self._run_job(client, job, step.note)
                step.result(f"{job.name} completed")
        self._roll_out(client, roller, pods, narrator)
        # A deploy replaces serving pods (warm) or starts the first ones (cold); both include
        # building the image when the app changed.
        metric = "warm_deploy_seconds" if replacing else "cold_deploy_seconds"
        results.record("k8s", metric, time.perf_counter() - started, "s", "shipways up")
        return self._endpoint_of(door, self._running(client, pods.web.revision))

    def _infrastructure(self, client: docker.DockerClient, narrator: Narrator) -> FrontDoor:
        """The instance's private network and its front door (kept until `down`)."""
        with narrator.step("front door", "starting the Service stand-in") as step:
            ensure_private_network(client, self.network, labels=self._labels("network"))
            door = ensure_front_door(
                client,
                self.instance,
                network=self.network,
                labels=self._labels("frontdoor"),
                progress=step.progress,
            )
            step.result(f"{door.url} (stays until `shipways down k8s`)")
        return door

    def _roll_out(
        self, client: docker.DockerClient, roller: Roller, pods: PodPlan, narrator: Narrator
    ) -> None:
        web, rollout = pods.web, pods.rollout
        # Pods of this revision that already run (an interrupted rollout) are taken over as
        # they are: `ensure_container` returns a running pod of the same name and spec.
        old = [p for p in self._running(client) if p.labels.get(REVISION_LABEL) != web.revision]
        volumes = self._secret_files(web)

        def next_pod(index: int) -> Container:
            return ensure_container(
                client,
                f"{self.instance}-{web.revision}-{index}",
                image=web.image,
                labels=self._run_labels(web, rollout.pre_stop_s),
                progress=narrator.note,
                network=self.network,
                hostname=f"{self.instance}-{web.revision}-{index}",
                volumes=volumes,
                **web.kwargs,
            )

        refused_logs: list[str] = []

        def discard(pod: Container) -> None:
            logs = bytes(pod.logs(tail=15)).decode(errors="replace").strip()
            refused_logs.append(f"{pod.name}:\n{logs}")
            narrator.note(f"removing refused pod {pod.name}")
            pod.remove(force=True)

        what = f"rolling out revision {web.revision} ({rollout.replicas} pods)"
        with narrator.step("rollout", what) as step:
            try:
                switch = roller.roll(
                    old,
                    rollout.replicas,
                    next_pod,
                    discard,
                    web.ready_timeout_s + 10,
                )
            except SandboxError as exc:
                raise SandboxError(
                    f"release {web.revision} refused: {exc}. The previous pods keep serving "
                    "at the same address. Last log lines of the refused pods:\n"
                    + "\n".join(refused_logs)
                ) from None
            step.result(f"{rollout.replicas} pods ready in {switch.seconds:.1f}s")
        if switch.started:
            self.last_start_to_healthy_s = _seconds_since_start(switch.started[0])
            results.record(
                "k8s",
                "start_to_healthy_seconds",
                round(self.last_start_to_healthy_s, 2),
                "s",
                "shipways up",
            )
        results.record("k8s", "rollout_seconds", round(switch.seconds, 2), "s", "shipways up")
        self._prune(client)

    def _labels(self, role: str) -> dict[str, str]:
        return {TARGET_LABEL: self.name.value, INSTANCE_LABEL: self.instance, ROLE_LABEL: role}

    def _run_labels(self, run: ContainerRun, pre_stop_s: float = 0.0) -> dict[str, str]:
        return {
            **self._labels(run.role),
            REVISION_LABEL: run.revision,
            OBJECT_LABEL: run.name,
            PORT_LABEL: str(run.app_port or ""),
            GRACE_LABEL: str(run.grace_s),
            PRE_STOP_LABEL: f"{pre_stop_s:g}",
        }

    def _secret_files(self, run: ContainerRun) -> dict[str, dict[str, str]]:
        """Write the pod's Secret files (0700 directory) and bind-mount each read-only.

        As on a kubelet with fsGroup: owned by root, group the pod's group, mode as the
        volume's defaultMode, so only the pod's user can read them.
        """
        directory = state_dir("sandbox", self.instance, "secrets", run.revision)
        directory.chmod(0o700)
        group = int(str(run.kwargs.get("user", "0:0")).partition(":")[2] or 0)
        volumes: dict[str, dict[str, str]] = {}
        for index, (path, file) in enumerate(sorted(run.files.items())):
            host = directory / f"{index}-{Path(path).name}"
            host.write_text(file.content)
            if os.geteuid() == 0:
                os.chown(host, 0, group)
                host.chmod(file.mode)
            else:  # cannot give the file to the pod's group: readable, in a private dir
                host.chmod(0o444)
            volumes[str(host)] = {"bind": path, "mode": "ro"}
        return volumes

    def _run_job(self, client: docker.DockerClient, job: ContainerRun, progress: Progress) -> None:
        """Run a Job's pod to completion, retrying up to backoffLimit; raise if it never does."""
        name = f"{self.instance}-{job.name}"
        volumes = self._secret_files(job)
        logs = ""
        for attempt in range(1, job.attempts + 1):
            progress(f"job {job.name}: attempt {attempt}/{job.attempts}")
            _remove(client, name)
            container = client.containers.run(
                job.image,
                name=name,
                detach=True,
                labels=self._run_labels(job),
                network=self.network,
                hostname=name[:63],
                volumes=volumes,
                **job.kwargs,
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
            f"release refused: migration Job {job.name} failed {job.attempts} time(s); the "
            f"previous pods keep serving at the same address. Last output:\n{logs}"
        )

    def build_artifact(
        self, work: Path, progress: Progress, *, stack: LoadedStack, changes: Mapping[str, bytes]
    ) -> BuiltArtifact:
        """The app image with `changes` in its build context, built as `up` builds it (layer
        cache on, so a code change rebuilds only the layers from the app's code on)."""
        overrides = {**(self.app_overrides or {}), **changes}
        app_dir = narrow(stack.config, K8sConfig).app.directory
        image = ensure_app_image(
            ensure_engine(progress), progress, overrides=overrides, app_dir=app_dir
        )
        return BuiltArtifact(f"k8s image {image.tag}", "image", image.tag)

    # -- discovery --------------------------------------------------------------------------

    def _all(self, client: docker.DockerClient) -> list[Container]:
        """This instance's web pods, running or kept, newest first."""
        found = client.containers.list(
            all=True,
            filters={"label": [f"{INSTANCE_LABEL}={self.instance}", f"{ROLE_LABEL}=web"]},
        )
        return sorted(found, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)

    def _running(self, client: docker.DockerClient, revision: str | None = None) -> list[Container]:
        """Running web pods (of `revision`, if given), by name: pod 0 first."""
        found = [
            p
            for p in self._all(client)
            if p.status == "running"
            and (revision is None or p.labels.get(REVISION_LABEL) == revision)
        ]
        return sorted(found, key=lambda c: str(c.name))

    def _only_in_front(self, door: FrontDoor, roller: Roller, pods: list[Container]) -> bool:
        """The front door sends to exactly these pods (and they are healthy)."""
        if any(_health(p) != "healthy" for p in pods):
            return False
        return sorted(door.backends()) == sorted(roller.address(p) for p in pods)

    def _endpoint_of(self, door: FrontDoor, pods: list[Container]) -> Endpoint:
        if not pods:
            raise NotSupported("k8s has no running pod; start it with `shipways up k8s`")
        return Endpoint(
            target=self.name,
            url=door.url,
            extra={
                # The front door: its network namespace serves the app on loopback through
                # the Service stand-in, which is where `infra.measure.reach` loads it from.
                "container": door.container.name,
                "pods": [p.name for p in pods],
                "revision": pods[0].labels.get(REVISION_LABEL),
                "image": pods[0].attrs["Config"]["Image"],
            },
        )

    def endpoint(self) -> Endpoint | None:
        try:
            client = ensure_engine()
        except SandboxError:
            return None
        door = find_front_door(client, self.instance)
        running = self._running(client)
        if door is None or not running:
            return None
        return self._endpoint_of(door, running)

    def token(self) -> str | None:
        """The write token of this instance's pods, if its Secret was ever rendered."""
        return tokens.read(state_dir("sandbox", self.instance))

    def checks(self, endpoint: Endpoint) -> Checks:
        pods = endpoint.extra.get("pods")
        if not isinstance(pods, list) or not pods:
            raise NotSupported("k8s has no running pod; start it with `shipways up k8s`")
        container = str(pods[0])  # the pod checks run inside one pod
        return Checks(
            modules=[CHECKS_DIR / "test_pod.py"],
            pytest_args=[f"--hosts=docker://{container}"],
            env={"SHIPWAYS_K8S_APP_UID": str(manifests.APP_UID)},
            instances=len(pods),  # the replicas behind the front door
        )

    # -- operations -------------------------------------------------------------------------

    def down(self, console: Console) -> bool:
        """Remove pods, front door, database (with its data) and network: nothing is left."""
        client = ensure_engine()
        narrator = _narrator(console)
        found = client.containers.list(
            all=True,
            filters={"label": [f"{INSTANCE_LABEL}={self.instance}", f"{ROLE_LABEL}=web"]},
        ) + client.containers.list(
            all=True,
            filters={"label": [f"{INSTANCE_LABEL}={self.instance}", f"{ROLE_LABEL}=job"]},
        )
        for container in found:
            narrator.say("down", f"removing {container.name}")
            container.remove(force=True, v=True)
        removed = bool(found)
        if remove_front_door(client, self.instance):
            narrator.say("down", "removing the front door")
            removed = True
        if remove_postgres(client, self.instance):
            narrator.say("down", "removing the PostgreSQL stand-in and its data")
            removed = True
        removed = remove_network(client, self.network) or removed
        shutil.rmtree(state_dir("sandbox", self.instance))  # the rendered Secret files
        return removed

    def status(self, console: Console) -> dict[str, Any]:
        client = ensure_engine()
        pods = self._all(client)
        if not pods:
            raise NotSupported("k8s is not running; start it with `shipways up k8s`")
        running = self._running(client)
        door = find_front_door(client, self.instance)
        return {
            "instance": self.instance,
            "serving": running[0].labels.get(REVISION_LABEL) if running else None,
            "url": door.url if door else None,
            "backends": door.backends() if door else [],
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
        """The serving pods' logs, one after the other (following: the first pod's)."""
        client = ensure_engine()
        running = self._running(client)
        if not running:
            raise NotSupported("k8s is not running; start it with `shipways up k8s`")
        if follow:
            for chunk in running[0].logs(stream=True, follow=True, tail=lines):
                console.out(bytes(chunk).decode(errors="replace"), end="")
            return
        for pod in running:
            console.out(f"==> {pod.name} <==")
            console.out(bytes(pod.logs(tail=lines)).decode(errors="replace"), end="")

    def rollback(self, console: Console, *, release: str | None) -> str:
        """Roll back to a kept revision (the previous one by default) through the front door."""
        client = ensure_engine()
        door = find_front_door(client, self.instance)
        current = self._running(client)
        serving = {p.labels.get(REVISION_LABEL) for p in current}
        kept: dict[str, list[Container]] = {}
        for pod in self._all(client):
            revision = str(pod.labels.get(REVISION_LABEL))
            if revision not in serving and pod.status != "running":
                kept.setdefault(revision, []).append(pod)
        choices = [release] if release is not None else list(kept)[:1]
        if door is None or not choices or choices[0] not in kept:
            raise NotSupported(
                f"no kept pods {'of revision ' + release if release else 'to roll back to'} "
                f"(kept revisions: {', '.join(kept) or 'none'})"
            )
        target = sorted(kept[choices[0]], key=lambda c: str(c.name))
        narrator = _narrator(console)
        roller = Roller(door, self.network, narrator.note)
        with narrator.step("rollback", f"rolling back to revision {choices[0]}") as step:
            switch = roller.roll(
                current,
                len(target),
                lambda index: _started(target[index]),
                lambda pod: pod.stop(timeout=_grace(pod)),
                float(90),
            )
            step.result(f"{len(target)} pods of {choices[0]} serve again ({switch.seconds:.1f}s)")
        results.record("k8s", "rollback_seconds", switch.seconds, "s", "shipways rollback")
        return choices[0]

    def _prune(self, client: docker.DockerClient) -> None:
        """Keep the stopped pods of the newest `KEEP_STOPPED` revisions; remove older ones."""
        serving = {p.labels.get(REVISION_LABEL) for p in self._running(client)}
        revisions: list[str] = []
        for pod in self._all(client):
            revision = str(pod.labels.get(REVISION_LABEL))
            if revision in serving:
                continue
            if revision not in revisions:
                revisions.append(revision)
            if revisions.index(revision) >= KEEP_STOPPED:
                pod.remove(force=True)


def _started(pod: Container) -> Container:
    pod.start()
    pod.reload()
    return pod


def _health(container: Container) -> str:
    container.reload()
    state = container.attrs.get("State", {})
    return str((state.get("Health") or {}).get("Status") or state.get("Status", "unknown"))


def _seconds_since_start(pod: Container) -> float:
    """Start-to-healthy as Docker saw it: StartedAt to the first passing health probe."""
    pod.reload()
    state = pod.attrs["State"]
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
