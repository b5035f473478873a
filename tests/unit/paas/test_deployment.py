"""The deployment policies' order of steps: no instance leaves before its replacement serves,
and a refused release puts the previous capacity back before the new instances go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from infra.sandbox.errors import SandboxError
from infra.targets.paas.deployment import Deployer
from infra.targets.paas.fleet import Web

pytestmark = pytest.mark.unit


class Door:
    """Records what the front door was told to send to."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def set_backends(self, backends: Sequence[str], progress: Any = None) -> None:
        self.log.append("door " + ",".join(sorted(b.removesuffix(":8000") for b in backends)))


def _web(name: str, release: str = "v1") -> Web:
    return Web(release=release, pid=1, started=1, port=8000, instance_id=name, address=name)


def _deployer(log: list[str]) -> Deployer:
    door: Any = Door(log)
    return Deployer(door, lambda web: log.append(f"terminate {web.instance_id}"), lambda _: None, 0)


def _launcher(log: list[str], names: list[str], fail_at: int | None = None) -> Any:
    launched = iter(names)

    def launch() -> Web:
        name = next(launched)
        if fail_at is not None and name == names[fail_at]:
            log.append(f"refuse {name}")
            raise SandboxError(f"{name} never healthy")
        log.append(f"launch {name}")
        return _web(name, "v2")

    return launch


def _relaunch(log: list[str]) -> Any:
    def relaunch(web: Web) -> Web:
        log.append(f"relaunch {web.instance_id}")
        return _web(f"{web.instance_id}'", web.release)

    return relaunch


def test_rolling_with_an_additional_batch_replaces_one_at_a_time() -> None:
    log: list[str] = []
    old = [_web("a"), _web("b")]
    switch = _deployer(log).deploy(
        "RollingWithAdditionalBatch", old, 2, _launcher(log, ["c", "d"]), _relaunch(log)
    )
    assert log == [
        "launch c",
        "door a,b,c",
        "door b,c",
        "terminate a",
        "launch d",
        "door b,c,d",
        "door c,d",
        "terminate b",
    ]
    assert [w.instance_id for w in switch.serving] == ["c", "d"]


def test_immutable_launches_the_whole_set_before_any_old_one_leaves() -> None:
    log: list[str] = []
    old = [_web("a"), _web("b")]
    _deployer(log).deploy("Immutable", old, 2, _launcher(log, ["c", "d"]), _relaunch(log))
    assert log == [
        "launch c",
        "door a,b,c",
        "launch d",
        "door a,b,c,d",
        "door b,c,d",
        "terminate a",
        "door c,d",
        "terminate b",
    ]


def test_a_refused_rolling_release_restores_the_previous_capacity_first() -> None:
    log: list[str] = []
    old = [_web("a"), _web("b")]
    with pytest.raises(SandboxError, match="d never healthy"):
        _deployer(log).deploy(
            "RollingWithAdditionalBatch", old, 2, _launcher(log, ["c", "d"], 1), _relaunch(log)
        )
    assert log[log.index("refuse d") :] == [
        "refuse d",
        "relaunch a",
        "door a',b",
        "terminate c",
    ]


def test_an_unknown_policy_is_named() -> None:
    with pytest.raises(SandboxError, match="AllAtOnce"):
        _deployer([]).deploy("AllAtOnce", [], 1, _launcher([], ["c"]), _relaunch([]))
