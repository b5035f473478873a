"""The Deployment's RollingUpdate, performed on Docker pods behind the front door.

What a Deployment controller and the endpoints controller do together, for the one
strategy the stack declares (maxSurge 1, maxUnavailable 0, readiness-gated):

1. start one more pod of the new revision (the surge),
2. wait until it is ready (every probe passes) and add it to the front door,
3. take one old pod out of the front door, wait its preStop sleep (the time endpoints need
   to forget it), then stop it with its terminationGracePeriodSeconds; repeat.

Capacity never drops below `replicas` and no request reaches a pod that stopped accepting.
A new pod that never becomes ready refuses the release: the steps already taken are undone
(stopped old pods started again, new ones removed) so the previous pods keep serving, which
is where a cluster's stuck rollout leaves a user too, minus the wait for
progressDeadlineSeconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from docker.models.containers import Container

from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.frontdoor import FrontDoor
from infra.sandbox.health import NotYet, container_stopped, wait_until
from infra.sandbox.networks import address_on

PORT_LABEL = "shipways.k8s.port"
GRACE_LABEL = "shipways.k8s.grace-seconds"
PRE_STOP_LABEL = "shipways.k8s.pre-stop-seconds"


@dataclass(frozen=True)
class Switch:
    """What one rollout did, for the figures: seconds and pods replaced."""

    seconds: float
    started: list[Container]
    stopped: list[Container]


class Roller:
    """Rolls the pods of one sandbox behind its front door, on its private network."""

    def __init__(self, door: FrontDoor, network: str, progress: Progress) -> None:
        self.door = door
        self.network = network
        self.progress = progress

    def roll(
        self,
        old: list[Container],
        replicas: int,
        next_pod: Callable[[int], Container],
        discard: Callable[[Container], None],
        ready_timeout_s: float,
    ) -> Switch:
        """Replace `old` by `replicas` pods from `next_pod(index)`, one surge at a time."""
        started_at = time.perf_counter()
        previous, old = list(old), list(old)
        serving: list[Container] = []
        started: list[Container] = []
        stopped: list[Container] = []
        try:
            while len(serving) < replicas:
                pod = next_pod(len(serving))
                started.append(pod)
                self.wait_ready(pod, ready_timeout_s)
                serving.append(pod)
                self.publish(serving + old)
                if old:
                    victim = old.pop(0)
                    self.retire(victim, serving + old)
                    stopped.append(victim)
            while old:
                victim = old.pop(0)
                self.retire(victim, serving + old)
                stopped.append(victim)
        except SandboxError:
            self._undo(previous, started, stopped, discard, ready_timeout_s)
            raise
        return Switch(time.perf_counter() - started_at, started, stopped)

    def wait_ready(self, pod: Container, timeout: float) -> None:
        """Ready: Docker's health check (every probe path, /readyz included) passes."""

        def healthy() -> None:
            health = (pod.attrs["State"].get("Health") or {}).get("Status", "none")
            if health != "healthy":
                raise NotYet(f"{pod.name}: {health}")

        wait_until(
            healthy,
            timeout=timeout,
            interval=0.25,
            failure=f"pod {pod.name} did not become ready",
            give_up=container_stopped(pod),
            progress=self.progress,
        )

    def publish(self, pods: list[Container]) -> None:
        """Make the front door send to exactly these pods (the Service's ready endpoints)."""
        self.door.set_backends([self.address(p) for p in pods], self.progress)

    def retire(self, pod: Container, remaining: list[Container]) -> None:
        """Endpoints first, then the preStop drain, then SIGTERM with the grace period."""
        self.publish(remaining)
        drain = float(pod.labels.get(PRE_STOP_LABEL, "0"))
        self.progress(f"draining {pod.name} for {drain:g}s (preStop), then stopping it")
        time.sleep(drain)
        pod.stop(timeout=int(pod.labels.get(GRACE_LABEL, "30")))

    def address(self, pod: Container) -> str:
        return f"{address_on(pod, self.network)}:{pod.labels[PORT_LABEL]}"

    def _undo(
        self,
        previous: list[Container],
        started: list[Container],
        stopped: list[Container],
        discard: Callable[[Container], None],
        ready_timeout_s: float,
    ) -> None:
        """Put the previous pods back in front, then the refused release's pods away."""
        for pod in stopped:
            self.progress(f"starting {pod.name} again: the release was refused")
            pod.start()
            self.wait_ready(pod, ready_timeout_s)
        published, drain = set(self.door.backends()), 0.0
        for pod in started:
            pod.reload()
            if pod.status == "running" and self.address(pod) in published:
                drain = max(drain, float(pod.labels.get(PRE_STOP_LABEL, "0")))
        self.publish(previous)
        time.sleep(drain)  # in-flight requests on the refused pods finish
        for pod in started:
            discard(pod)
