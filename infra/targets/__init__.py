"""The four targets, each one vertical slice: artifact, deploy logic, Pulumi component, sandbox.

A slice lives in `infra/targets/<name>/`:
- `component.py`  `deploy(config, secrets) -> exports`: the Pulumi program (`pulumi up`).
- `mocks.py`      provider lookups and computed outputs for the offline harness.
- `sandbox.py`    `SANDBOX`: runs the same artifact on this machine (`shipways up <name>`).
- `checks/`       testinfra modules that `shipways verify <name>` runs beside the HTTP contract.

The CLI finds sandboxes here by name, so a target joins every command (and the main job)
by adding its module; nothing else needs to know about it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from rich.console import Console

from infra.config import TargetName


class Endpoint(BaseModel):
    """Where a running local target answers, and how to reach its host for checks."""

    target: TargetName
    url: str
    extra: dict[str, Any] = Field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target.value, "url": self.url, **self.extra}


class Checks(BaseModel):
    """What `verify` runs for a target besides the HTTP contract."""

    modules: list[Path] = Field(default_factory=list)
    pytest_args: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)  # further base URLs the contract must pass on
    env: dict[str, str] = Field(default_factory=dict)


class NotSupported(Exception):
    """This operation makes no sense for this target (say why in the message)."""


class Sandbox(Protocol):
    """A local stand-in for one target's cloud; every method says what it did on `console`."""

    name: TargetName
    proves: str  # one honest sentence: what running it here proves, and what it does not

    def up(self, console: Console, *, stack: str) -> Endpoint: ...

    def down(self, console: Console) -> bool: ...

    def endpoint(self) -> Endpoint | None: ...

    def checks(self, endpoint: Endpoint) -> Checks: ...

    def status(self, console: Console) -> dict[str, Any]: ...

    def logs(self, console: Console, *, follow: bool, lines: int) -> None: ...

    def rollback(self, console: Console, *, release: str | None) -> str: ...


ORDER = (TargetName.VPS, TargetName.PAAS, TargetName.K8S, TargetName.SERVERLESS)


def sandbox(name: TargetName) -> Sandbox:
    """The sandbox of a target, or a clear error if that slice has not landed yet."""
    try:
        module = importlib.import_module(f"infra.targets.{name.value}.sandbox")
    except ModuleNotFoundError as exc:
        if exc.name != f"infra.targets.{name.value}.sandbox" and exc.name != (
            f"infra.targets.{name.value}"
        ):
            raise
        raise NotSupported(f"the {name.value} target has no local sandbox yet") from None
    box: Sandbox = module.SANDBOX
    return box


def available() -> Iterator[Sandbox]:
    """Every target whose sandbox exists, in the README's order."""
    for name in ORDER:
        try:
            yield sandbox(name)
        except NotSupported:
            continue
