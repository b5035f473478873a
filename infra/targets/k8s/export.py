"""The objects the `k8s` stack declares, as YAML files, checked against Kubernetes' schema.

`shipways plan k8s --manifests DIR` runs the stack offline (`infra.harness`) and writes what
it declared: the inputs pulumi-kubernetes would send to the API server. So the YAML is not
another rendering of the manifests but the stack's own declaration. Every object is checked
against the OpenAPI schema of Kubernetes `manifests.KUBERNETES_VERSION`, shipped with
kubernetes-validate (offline, strict: unknown fields are errors).

Secret values never reach the files: the stack holds them as Pulumi secrets, the YAML
holds a placeholder naming the config key to set instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import kubernetes_validate
import yaml

from infra.targets.k8s.manifests import DOCKER_CONFIG_KEY, KUBERNETES_VERSION, Obj

# The Pulumi RPC's marker of a secret value: {_SIG_KEY: _SECRET_SIG, "value": ...}.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a secret
REDACTED = "<secret: `pulumi config set --secret databaseUrl ...`>"
# The registry login's placeholder: it is built from registryUsername and this secret.
REDACTED_LOGIN = "<secret: `pulumi config set --secret registryPassword ...`>"
_ORDER = (
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Job",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "Ingress",
)


class DeclaredLike(Protocol):
    type: str
    inputs: dict[str, Any]


class ManifestError(ValueError):
    """A manifest does not match the Kubernetes schema; the message names object and field."""


def from_plan(resources: Iterable[DeclaredLike]) -> list[Obj]:
    """The Kubernetes objects among a plan's declared resources, in apply order (by name
    within a kind: the order the program registers them in may vary between runs)."""
    objects = [
        _tidy({"apiVersion": r.inputs["apiVersion"], "kind": r.inputs["kind"], **r.inputs})
        for r in resources
        if r.type.startswith("kubernetes:") and "kind" in r.inputs
    ]
    return sorted(objects, key=_apply_order)


def _apply_order(obj: Obj) -> tuple[int, str]:
    kind_rank = _ORDER.index(obj["kind"]) if obj["kind"] in _ORDER else 99
    return kind_rank, str(obj.get("metadata", {}).get("name", ""))


def _tidy(value: Any) -> Any:
    """Undo the RPC encoding: secrets arrive wrapped, numbers as floats."""
    if isinstance(value, Mapping):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _tidy(value["value"])
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redact(objects: Iterable[Obj]) -> list[Obj]:
    """Copies of `objects` with every Secret value replaced by a placeholder."""
    out = []
    for obj in objects:
        if obj["kind"] == "Secret":
            obj = {
                **obj,
                **{
                    field: {
                        key: REDACTED_LOGIN if key == DOCKER_CONFIG_KEY else REDACTED
                        for key in obj[field]
                    }
                    for field in ("data", "stringData")
                    if field in obj
                },
            }
        out.append(obj)
    return out


def schema_errors(objects: Iterable[Obj], version: str = KUBERNETES_VERSION) -> list[str]:
    """One message per object that does not validate against Kubernetes `version`."""
    errors = []
    for obj in objects:
        where = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        try:
            used = kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(object)"
            errors.append(f"{where}: {path}: {exc.message}")
            continue
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{where}: no schema for it in Kubernetes {version} ({exc})")
            continue
        if used != _major_minor(version):
            errors.append(f"{where}: validated against {used}, not the pinned {version}")
    return errors


def _major_minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def check(objects: Iterable[Obj], version: str = KUBERNETES_VERSION) -> None:
    errors = schema_errors(objects, version)
    if errors:
        raise ManifestError(
            f"{len(errors)} manifest(s) invalid for Kubernetes {version}:\n  " + "\n  ".join(errors)
        )


def write(objects: Iterable[Obj], directory: Path) -> list[Path]:
    """Validate, redact and write one YAML file per object (`NN-kind-name.yaml`)."""
    objs = redact(objects)
    check(objs)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, obj in enumerate(objs, start=1):
        name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path = directory / name
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
