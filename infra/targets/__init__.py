"""The four targets, each one vertical slice: artifact, deploy logic, Pulumi component, sandbox.

A slice lives whole in `infra/targets/<name>/`:
- `component.py`  `deploy(config, secrets) -> exports`: the Pulumi program (`pulumi up`).
- `mocks.py`      `OUTPUTS` and `CALLS`: what the cloud would answer, for the offline harness.
- `sandbox.py`    the `Sandbox` below: runs the same artifact on this machine (`shipways up`).
- an artifact builder (`build_for_scan`): what it ships, built for the proof's hygiene scan.
- `checks/`       testinfra modules that `shipways verify <name>` runs beside the HTTP contract.

`registry.py` names every slice's parts; the CLI, the stack entry, the offline harness, the
cost comparison and the proof ask it, so a target joins them all with one registry entry
(see docs/adding-a-target.md). This module holds what every sandbox speaks: the `Sandbox`
protocol and what it hands back. It imports nothing of `infra.config` at run time, because
`infra.config` asks the registry for its models.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from infra.targets.registry import (
    BuiltArtifact,
    Mocks,
    Progress,
    Slice,
    TargetName,
    slice_of,
    slices,
)

if TYPE_CHECKING:
    from rich.console import Console

    from infra.config import LoadedStack

__all__ = [
    "BuiltArtifact",
    "Checks",
    "Endpoint",
    "Mocks",
    "NotSupported",
    "Sandbox",
    "Slice",
    "TargetName",
    "slice_of",
    "slices",
]


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
    # Instances serving the main URL: the contract's shared-data check must reach 2 of them.
    instances: int = 1


class NotSupported(Exception):
    """This operation cannot be done on this target now (say why, and what to do instead)."""


class Sandbox(Protocol):
    """A local stand-in for one target's cloud; every method says what it did on `console`.

    `up` is handed the stack validated once by its caller and keeps what it needs of it in
    its own state, so `status`, `logs` and `rollback` in a later process read no stack file.
    """

    name: TargetName
    proves: str  # one honest sentence: what running it here proves, and what it does not
    # Seconds the last `up` of this object spent building the artifact it ships; None when
    # it built none (it reused one built before for the same source, or no `up` ran).
    last_build_s: float | None

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint: ...

    def build_artifact(
        self, work: Path, progress: Progress, *, stack: LoadedStack, changes: Mapping[str, bytes]
    ) -> BuiltArtifact:
        """Build what `up` would ship for `stack`, from the app with `changes` (app-relative
        path -> content), with the builder `up` uses, and deploy nothing: a code change's
        rebuild. Files go under `work`; an image stays on the engine. The caller removes both."""
        ...

    def down(self, console: Console) -> bool: ...

    def endpoint(self) -> Endpoint | None: ...

    def checks(self, endpoint: Endpoint) -> Checks: ...

    def token(self) -> str | None:
        """This deployment's write token (`infra.sandbox.tokens`), None before the first up."""
        ...

    def status(self, console: Console) -> dict[str, Any]: ...

    def logs(self, console: Console, *, follow: bool, lines: int) -> None: ...

    def rollback(self, console: Console, *, release: str | None) -> str: ...
