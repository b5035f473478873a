"""Beanstalk's deployment policies, performed on the instances behind the front door.

The stack declares the policy (`spec.deployment_settings`, the environment's
`aws:elasticbeanstalk:command` options); the stand-in runs the one it declares:

- Immutable: a full new set of instances is launched beside the old ones; each joins the
  front door once it passes the health check; when all have, the old instances are taken
  out of the front door, drained (the load balancer's deregistration delay) and terminated.
- RollingWithAdditionalBatch (batch size 1): one extra instance is launched; once healthy it
  joins the front door and one old instance is taken out, drained and terminated; repeat.

Either way capacity never drops below the instance count, and an instance receives traffic
only after it passed its health check. A new instance that fails its check refuses the
release: the steps taken are undone (old instances that were terminated are replaced by
fresh instances of their release, the new ones leave the front door and are terminated),
so the previous release keeps serving, as Beanstalk leaves an environment whose deployment
failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.frontdoor import FrontDoor
from infra.targets.paas.fleet import Web

POLICIES = ("Immutable", "RollingWithAdditionalBatch")
DEREGISTRATION_DELAY_S = 1.0  # the ALB default is 300 s; here requests take milliseconds


@dataclass(frozen=True)
class Switch:
    """What one deployment did, for the figures."""

    seconds: float
    serving: list[Web]
    terminated: list[Web]


class Deployer:
    """Replaces the instances of one environment behind its front door."""

    def __init__(
        self,
        door: FrontDoor,
        terminate: Callable[[Web], None],
        progress: Progress,
        drain_s: float = DEREGISTRATION_DELAY_S,
    ) -> None:
        self.door = door
        self.terminate = terminate
        self.progress = progress
        self.drain_s = drain_s

    def deploy(
        self,
        policy: str,
        old: Sequence[Web],
        count: int,
        launch: Callable[[], Web],
        relaunch: Callable[[Web], Web],
    ) -> Switch:
        """Replace `old` by `count` instances from `launch()` (each healthy when returned,
        or raising SandboxError); `relaunch(web)` starts a fresh instance of `web`'s
        release, to undo a refused deployment."""
        if policy not in POLICIES:
            raise SandboxError(f"deployment policy {policy!r}: the stand-in runs {POLICIES}")
        started_at = time.perf_counter()
        remaining, new, terminated = list(old), list[Web](), list[Web]()
        try:
            while len(new) < count:
                new.append(launch())
                self.publish(new + remaining)
                if policy == "RollingWithAdditionalBatch" and remaining:
                    victim = remaining.pop(0)
                    self.retire(victim, new + remaining)
                    terminated.append(victim)
        except SandboxError:
            self._undo(remaining, terminated, new, relaunch)
            raise
        while remaining:
            victim = remaining.pop(0)
            self.retire(victim, new + remaining)
            terminated.append(victim)
        return Switch(time.perf_counter() - started_at, new, terminated)

    def publish(self, webs: Sequence[Web]) -> None:
        """The front door sends to exactly these instances (the target group's healthy ones)."""
        self.door.set_backends([w.backend for w in webs], self.progress)

    def retire(self, web: Web, remaining: Sequence[Web]) -> None:
        """Deregister, wait the deregistration delay, then terminate (SIGTERM: gunicorn
        finishes the requests it holds)."""
        self.publish(remaining)
        self.progress(f"draining {web.instance_id} for {self.drain_s:g}s, then terminating it")
        time.sleep(self.drain_s)
        self.terminate(web)

    def _undo(
        self,
        survivors: list[Web],
        terminated: list[Web],
        new: list[Web],
        relaunch: Callable[[Web], Web],
    ) -> None:
        """Back to the previous release's capacity, then the refused instances away."""
        restored = list(survivors)
        for web in terminated:
            self.progress(f"replacing {web.instance_id}: the release was refused")
            restored.append(relaunch(web))
        if new or terminated:
            self.publish(restored)
            time.sleep(self.drain_s)
        for web in new:
            self.terminate(web)
