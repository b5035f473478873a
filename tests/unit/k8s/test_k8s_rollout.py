"""The rolling update's order of steps, on fake pods and a fake front door (no Docker).

What must hold at every step: the front door never has fewer than `replicas` ready
backends, a pod leaves the front door before it is stopped, and a refused release leaves
exactly the previous pods in front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from infra.sandbox.errors import Progress, SandboxError
from infra.targets.k8s.rollout import GRACE_LABEL, PORT_LABEL, PRE_STOP_LABEL, Roller

pytestmark = pytest.mark.unit
NET = "net"


class FakeDoor:
    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events
        self.current: list[str] = []

    def set_backends(self, backends: Sequence[str], progress: Progress | None = None) -> None:
        self.current = list(backends)
        self.events.append(("front", list(backends)))

    def backends(self) -> list[str]:
        return list(self.current)


class FakePod:
    def __init__(self, name: str, events: list[tuple[str, Any]], *, ready: bool = True) -> None:
        self.name, self.events, self.ready = name, events, ready
        self.status = "running"
        self.labels = {PORT_LABEL: "8000", GRACE_LABEL: "30", PRE_STOP_LABEL: "0"}

    @property
    def attrs(self) -> dict[str, Any]:
        health = "healthy" if self.ready else "starting"
        return {
            "State": {"Health": {"Status": health}},
            "NetworkSettings": {"Networks": {NET: {"IPAddress": self.name}}},
        }

    def reload(self) -> None:
        pass

    def stop(self, timeout: int) -> None:
        self.status = "exited"
        self.events.append(("stop", self.name))

    def start(self) -> None:
        self.status = "running"
        self.events.append(("start", self.name))


def _roller(events: list[tuple[str, Any]]) -> tuple[Roller, FakeDoor]:
    door = FakeDoor(events)
    return Roller(door, NET, lambda _: None), door  # type: ignore[arg-type]


def test_one_surge_at_a_time_and_never_below_the_replicas() -> None:
    events: list[tuple[str, Any]] = []
    roller, _ = _roller(events)
    old = [FakePod("a", events), FakePod("b", events)]
    new = [FakePod("c", events), FakePod("d", events)]
    switch = roller.roll(old, 2, lambda i: new[i], lambda pod: None, 1.0)  # type: ignore[arg-type,return-value]
    assert events == [
        ("front", ["c:8000", "a:8000", "b:8000"]),
        ("front", ["c:8000", "b:8000"]),
        ("stop", "a"),
        ("front", ["c:8000", "d:8000", "b:8000"]),
        ("front", ["c:8000", "d:8000"]),
        ("stop", "b"),
    ]
    assert all(len(backends) >= 2 for kind, backends in events if kind == "front")
    assert switch.started == new and switch.stopped == old


def test_a_pod_that_never_gets_ready_refuses_the_release_and_restores_the_previous() -> None:
    events: list[tuple[str, Any]] = []
    roller, door = _roller(events)
    old = [FakePod("a", events), FakePod("b", events)]
    new = [FakePod("c", events), FakePod("d", events, ready=False)]
    discarded: list[str] = []
    with pytest.raises(SandboxError, match="pod d did not become ready"):
        roller.roll(old, 2, lambda i: new[i], lambda pod: discarded.append(pod.name), 0.5)  # type: ignore[arg-type,return-value]
    assert ("start", "a") in events  # the old pod already stopped is back
    assert door.backends() == ["a:8000", "b:8000"]
    assert discarded == ["c", "d"]
    assert [p.status for p in old] == ["running", "running"]


def test_a_first_release_that_fails_leaves_the_front_door_empty() -> None:
    events: list[tuple[str, Any]] = []
    roller, door = _roller(events)
    broken = FakePod("c", events, ready=False)
    with pytest.raises(SandboxError):
        roller.roll([], 2, lambda i: broken, lambda pod: None, 0.3)  # type: ignore[arg-type,return-value]
    assert door.backends() == []
