"""Rendered Kubernetes objects: offline schema validation (pinned version), YAML, redaction."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.config import K8sConfig
from infra.harness import Declared
from infra.targets.k8s import export, manifests

pytestmark = pytest.mark.unit

IMAGE = "registry.example.com/shipways@sha256:" + "0" * 64
DB_URL = "postgresql://app:pa55word@db.example.internal/shipways"


def _objects(database_url: str | None = DB_URL, **config: Any) -> list[dict[str, Any]]:
    settings = K8sConfig.model_validate(
        {
            "registry": "registry.example.com/shipways",
            "kubeContext": "prod",
            "ingressHost": "api.example.com",
            "ingressTlsSecret": "api-example-com-tls",
        }
        | config
    )
    return manifests.render(settings, manifests.plain_release(settings, IMAGE, database_url))


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = manifests.find(objects, kind)
    return found


def test_the_pinned_kubernetes_schema_is_available_offline() -> None:
    """kubernetes-validate ships the schema; no fallback to an older version is accepted."""
    namespace = _one(_objects(), "Namespace")
    assert kubernetes_validate.validate(namespace, manifests.KUBERNETES_VERSION, strict=True) == (
        "1.31"
    )


@pytest.mark.parametrize("database_url", [DB_URL, None])
def test_every_rendered_object_validates(database_url: str | None) -> None:
    assert export.schema_errors(_objects(database_url)) == []


@pytest.mark.parametrize(
    ("path", "value", "expect"),
    [
        (
            ("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"),
            "http",
            "integer",
        ),
        (("spec", "replicaz"), 2, "replicaz"),
        (("spec", "template", "spec", "containers", 0, "securityContext", "runAsUser"), "app", ""),
        (("spec", "strategy", "type"), 7, "type"),
    ],
)
def test_a_broken_manifest_fails_the_check(path: tuple[Any, ...], value: Any, expect: str) -> None:
    objects = _objects()
    deployment = _one(objects, "Deployment")
    target = deployment
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = export.schema_errors(objects)
    assert len(errors) == 1
    assert errors[0].startswith("Deployment shipways: ")
    assert expect in errors[0]


def test_a_missing_required_field_fails_the_check() -> None:
    objects = _objects()
    del _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["name"]
    [error] = export.schema_errors(objects)
    assert "'name' is a required property" in error


def test_an_unknown_kind_fails_the_check() -> None:
    errors = export.schema_errors([{"apiVersion": "v1", "kind": "Pod2", "metadata": {}}])
    assert len(errors) == 1 and "no schema" in errors[0]


def test_write_refuses_invalid_objects_and_writes_nothing(tmp_path: Path) -> None:
    objects = _objects()
    _one(objects, "Service")["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(export.ManifestError, match=r"Service shipways: spec\.ports\.0\.port"):
        export.write(objects, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_write_one_file_per_object_in_apply_order(tmp_path: Path) -> None:
    objects = _objects()
    written = export.write(objects, tmp_path)
    assert [p.name for p in written][:3] == [
        "01-namespace-shipways.yaml",
        "02-serviceaccount-shipways.yaml",
        f"03-configmap-{_one(objects, 'ConfigMap')['metadata']['name']}.yaml",
    ]
    loaded = [yaml.safe_load(p.read_text()) for p in written]
    assert [o["kind"] for o in loaded] == [o["kind"] for o in objects]
    assert export.schema_errors(loaded) == []


def test_written_yaml_never_contains_the_database_url(tmp_path: Path) -> None:
    objects = _objects()
    original = copy.deepcopy(objects)
    written = export.write(objects, tmp_path)
    text = "".join(p.read_text() for p in written)
    assert DB_URL not in text and "pa55word" not in text
    secret = yaml.safe_load(next(p for p in written if "-secret-" in p.name).read_text())
    assert secret["stringData"] == {"DATABASE_URL": export.REDACTED}
    assert objects == original  # redaction copies; the caller's objects are untouched


def test_from_plan_undoes_the_rpc_encoding() -> None:
    secret = Declared(
        "kubernetes:core/v1:Secret",
        "secret",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "generation": 3.0},
            "stringData": {
                "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                "value": {"DATABASE_URL": "x"},
            },
        },
        {},
    )
    other = Declared("docker:index/image:Image", "image", {"imageName": "x"}, {})
    [obj] = export.from_plan([other, secret])
    assert obj == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "generation": 3},
        "stringData": {"DATABASE_URL": "x"},
    }
    assert list(obj)[:2] == ["apiVersion", "kind"]


def test_config_map_name_follows_its_content() -> None:
    first = _one(_objects(webConcurrency=2), "ConfigMap")["metadata"]["name"]
    again = _one(_objects(webConcurrency=2), "ConfigMap")["metadata"]["name"]
    other = _one(_objects(webConcurrency=3), "ConfigMap")["metadata"]["name"]
    assert first == again != other


def test_release_requires_a_job_exactly_with_a_database() -> None:
    with pytest.raises(ValueError, match="exactly when"):
        manifests.Release(image=IMAGE, database_url=DB_URL)
    with pytest.raises(ValueError, match="exactly when"):
        manifests.Release(image=IMAGE, migrate_job="job")


def test_objects_are_plain_json_data() -> None:
    """What the sandbox and the YAML read must be plain data (no Outputs, no objects)."""
    assert json.loads(json.dumps(_objects())) == _objects()


def test_registry_login_is_a_dockerconfigjson_secret_the_pods_pull_with() -> None:
    settings = K8sConfig(registry="registry.example.com/shipways", kubeContext="prod")
    login = manifests.docker_config_json("registry.example.com", "ci", "tok")
    objects = manifests.render(settings, manifests.plain_release(settings, IMAGE, DB_URL, login))
    secrets = {s["metadata"]["name"]: s for s in manifests.find(objects, "Secret")}
    assert secrets["shipways-registry"]["type"] == "kubernetes.io/dockerconfigjson"
    assert secrets["shipways-registry"]["stringData"] == {".dockerconfigjson": login}
    for kind in ("Deployment", "Job"):
        pod = _one(objects, kind)["spec"]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "shipways-registry"}]
    assert export.schema_errors(objects) == []


def test_database_secret_name_follows_the_url() -> None:
    settings = K8sConfig(registry="registry.example.com/shipways", kubeContext="prod")
    first = manifests.secret_name(settings, DB_URL)
    assert first == manifests.secret_name(settings, DB_URL)
    assert first != manifests.secret_name(settings, DB_URL + "?sslmode=require")
    assert first.startswith("shipways-database-") and "pa55word" not in first
