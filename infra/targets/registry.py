"""The registry of slices: the one place that knows which targets exist and what each is made of.

Every question "which targets are there" and "what is this target's config model / sandbox /
Pulumi component / mocks / artifact" is answered here (`infra.config.narrow` asks it whether
a config is the right target's), so a target joins every command, the offline plan, the cost
comparison and the proof by having one `Slice` entry below.

Each part is named by a dotted path (`module:attribute`) and imported only when asked for:
the registry itself imports nothing of the project, so the stack entry that asks it for the
vps component never loads the Kubernetes or Lambda SDKs, and `infra.config` can ask it for a
config model without an import loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pulumi

    from infra.config import StackConfig
    from infra.targets import Sandbox


class TargetName(StrEnum):
    """The targets, in the order every listing shows them (README, compare, proof, demo)."""

    VPS = "vps"
    PAAS = "paas"
    K8S = "k8s"
    SERVERLESS = "serverless"


MockFn = Callable[[dict[str, Any]], dict[str, Any]]
Deploy = Callable[["StackConfig", dict[str, "pulumi.Output[str]"]], dict[str, Any]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Mocks:
    """What the cloud would answer, for the offline harness: outputs it computes for a
    resource type, and answers to provider lookups (type token -> function of the inputs)."""

    outputs: Mapping[str, MockFn]
    calls: Mapping[str, MockFn]
    # Values a committed stack file needs but cannot hold (a real deploy sets them): secrets,
    # and plain keys that only make sense for one user's network.
    secrets: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltArtifact:
    """What a slice ships, built exactly as it ships, for the proof's hygiene scan."""

    label: str  # "vps wheelhouse", "paas bundle shipways-....zip"
    form: Literal["directory", "zip", "image"]
    location: str  # the directory or zip path, or the image tag on the local Docker engine
    # Globs of our own files (the rest are dependencies); None: all are ours, or for an image
    # the scanner's list of where the app lives.
    first_party: tuple[str, ...] | None = None


BuildArtifact = Callable[[Path, Progress], BuiltArtifact]  # (scratch dir, progress) -> artifact


def _attribute(path: str) -> Any:
    """`package.module:attribute`, imported now (and only now)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Slice:
    """One target's vertical slice, every part named by its dotted path."""

    name: TargetName
    config_model_path: str  # the pydantic model of its `shipways:` keys
    sandbox_path: str  # the local stand-in class; its constructor takes the instance name
    component_path: str  # `deploy(config, secrets) -> exports`: its Pulumi program
    mocks_path: str  # module with `OUTPUTS` and `CALLS` (and `SECRETS`, `CONFIG`) for the harness
    artifact_path: str  # `(work, progress) -> BuiltArtifact`: what it ships

    @property
    def package(self) -> str:
        """Where the whole slice lives."""
        return f"infra.targets.{self.name.value}"

    def config_model(self) -> type[StackConfig]:
        model: type[StackConfig] = _attribute(self.config_model_path)
        return model

    def sandbox(self, instance: str | None = None) -> Sandbox:
        """The local stand-in; `instance` names its containers and state (default: the demo's)."""
        cls = _attribute(self.sandbox_path)
        box: Sandbox = cls() if instance is None else cls(instance)
        return box

    def deploy(self) -> Deploy:
        deploy: Deploy = _attribute(self.component_path)
        return deploy

    def mocks(self) -> Mocks:
        module = importlib.import_module(self.mocks_path)
        return Mocks(
            dict(module.OUTPUTS),
            dict(module.CALLS),
            dict(getattr(module, "SECRETS", {})),
            dict(getattr(module, "CONFIG", {})),
        )

    def artifact(self) -> BuildArtifact:
        build: BuildArtifact = _attribute(self.artifact_path)
        return build


def _slice(name: TargetName, model: str, sandbox: str, artifact: str) -> Slice:
    """A slice laid out the standard way: `component.deploy`, `mocks`, `sandbox.<class>`."""
    package = f"infra.targets.{name.value}"
    return Slice(
        name=name,
        config_model_path=f"infra.config:{model}",
        sandbox_path=f"{package}.sandbox:{sandbox}",
        component_path=f"{package}.component:deploy",
        mocks_path=f"{package}.mocks",
        artifact_path=f"{package}.{artifact}",
    )


_SLICES: dict[TargetName, Slice] = {
    TargetName.VPS: _slice(TargetName.VPS, "VpsConfig", "VpsSandbox", "artifact:build_for_scan"),
    TargetName.PAAS: _slice(TargetName.PAAS, "PaasConfig", "PaasSandbox", "bundle:build_for_scan"),
    TargetName.K8S: _slice(TargetName.K8S, "K8sConfig", "K8sSandbox", "image:build_for_scan"),
    TargetName.SERVERLESS: _slice(
        TargetName.SERVERLESS, "ServerlessConfig", "ServerlessSandbox", "artifact:build_for_scan"
    ),
}
if set(_SLICES) != set(TargetName):  # a new TargetName needs its slice, and the other way round
    raise RuntimeError(f"slices {sorted(_SLICES)} do not match targets {sorted(TargetName)}")


def slices() -> Iterator[Slice]:
    """Every slice, in `TargetName` order."""
    return (_SLICES[name] for name in TargetName)


def slice_of(target: TargetName | str) -> Slice:
    """The slice of one target (by enum or by its name)."""
    return _SLICES[TargetName(target)]
