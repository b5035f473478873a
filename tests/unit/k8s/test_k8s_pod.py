"""The sandbox's pod: every Docker setting is derived from the rendered Kubernetes objects."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import K8sConfig
from infra.sandbox.errors import SandboxError
from infra.targets.k8s import manifests, pod

pytestmark = pytest.mark.unit

IMAGE = "sha256:" + "1" * 64
DB_URL = "postgresql://app:pw@db.example.internal/shipways"
CONFIG = K8sConfig(
    registry="registry.example.com/shipways",
    kubeContext="prod",
    memoryLimit="300Mi",
    cpuLimit="750m",
)


def _objects(database_url: str | None = None) -> list[dict[str, Any]]:
    return manifests.render(CONFIG, manifests.plain_release(CONFIG, IMAGE, database_url))


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = manifests.find(objects, "Deployment")
    return found


def _web_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(_deployment(objects)["spec"]["template"]["spec"]["containers"][0])


def test_web_pod_runs_as_the_pod_spec_says() -> None:
    plan = pod.plan(_objects())
    web = plan.web
    assert plan.jobs == []
    assert web.image == IMAGE
    assert web.kwargs["user"] == "10001:10001"
    assert web.kwargs["read_only"] is True
    assert web.kwargs["cap_drop"] == ["ALL"]
    assert "cap_add" not in web.kwargs
    assert web.kwargs["security_opt"] == ["no-new-privileges:true"]
    assert web.kwargs["privileged"] is False
    assert web.kwargs["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,mode=1777,size={64 * 2**20}"}
    assert web.kwargs["mem_limit"] == web.kwargs["memswap_limit"] == 300 * 2**20
    assert web.kwargs["mem_reservation"] == 128 * 2**20
    assert web.kwargs["nano_cpus"] == 750_000_000
    assert web.kwargs["cpu_shares"] == 102
    assert "ports" not in web.kwargs  # reached on the private network, via the front door
    assert web.kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert web.app_port == 8000
    assert web.grace_s == 30


def test_environment_is_the_config_map_and_the_secret_a_mounted_file() -> None:
    sqlite = pod.plan(_objects()).web
    [config_map] = manifests.find(_objects(), "ConfigMap")
    assert sqlite.kwargs["environment"] == config_map["data"]
    assert sqlite.files == {}
    postgres = pod.plan(_objects(DB_URL)).web
    assert postgres.kwargs["environment"] == {
        **config_map["data"],
        "DATABASE_URL_FILE": manifests.DATABASE_URL_FILE,
    }
    assert DB_URL not in postgres.kwargs["environment"].values()
    assert postgres.files == {manifests.DATABASE_URL_FILE: pod.MountedFile(DB_URL, 0o440)}
    assert list(postgres.kwargs["tmpfs"]) == ["/tmp"]  # the Secret is a file, not a tmpfs


def test_rollout_follows_the_deployment() -> None:
    rollout = pod.plan(_objects(DB_URL)).rollout
    assert rollout == pod.Rollout(replicas=CONFIG.replicas, pre_stop_s=5.0, grace_s=30)


@pytest.mark.parametrize(
    ("strategy", "lifecycle"),
    [
        ({"type": "Recreate"}, None),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}, None),
        (None, {"preStop": {"exec": {"command": ["sleep", "5"]}}}),
    ],
)
def test_a_rollout_the_sandbox_cannot_run_fails_loudly(
    strategy: dict[str, Any] | None, lifecycle: dict[str, Any] | None
) -> None:
    objects = _objects(DB_URL)
    spec = _deployment(objects)["spec"]
    if strategy is not None:
        spec["strategy"] = strategy
    if lifecycle is not None:
        spec["template"]["spec"]["containers"][0]["lifecycle"] = lifecycle
    with pytest.raises(SandboxError, match=r"strategy|preStop"):
        pod.plan(objects)


def test_a_writable_secret_mount_is_refused() -> None:
    objects = _objects(DB_URL)
    container = _deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    container["volumeMounts"][1]["readOnly"] = False
    with pytest.raises(SandboxError, match="readOnly"):
        pod.plan(objects)


def test_command_follows_kubernetes_override_rules() -> None:
    sqlite = pod.plan(_objects()).web.kwargs
    assert sqlite["entrypoint"] == _web_container(_objects())["command"]
    assert "command" not in sqlite  # no `args`: the image's CMD is dropped, as on a kubelet
    postgres = pod.plan(_objects(DB_URL)).web.kwargs
    assert "entrypoint" not in postgres and "command" not in postgres  # the image's own CMD


def test_probes_become_one_health_check() -> None:
    check = pod.plan(_objects()).web.kwargs["healthcheck"]
    assert check["test"][:3] == ["CMD", "python3", "-c"]
    assert check["test"][4:] == ["8000", "2", "/healthz", "/readyz"]
    assert check["interval"] == 2 * pod.NANO  # the startup probe's period
    assert check["start_period"] == 60 * pod.NANO  # its whole budget
    assert check["retries"] == 3  # readiness failureThreshold
    assert pod.plan(_objects()).web.ready_timeout_s == 60


def test_postgres_release_runs_the_migration_job_first() -> None:
    plan = pod.plan(_objects(DB_URL))
    [job] = plan.jobs
    assert job.role == "job"
    assert job.name == manifests.migrate_job_name(CONFIG, IMAGE)
    assert job.kwargs["entrypoint"] == ["python", "-m", "shipways_app", "migrate"]
    assert job.kwargs["environment"]["DATABASE_URL_FILE"] == manifests.DATABASE_URL_FILE
    assert "DATABASE_URL" not in job.kwargs["environment"]
    assert job.files[manifests.DATABASE_URL_FILE].content == DB_URL
    assert job.kwargs["read_only"] is True and job.kwargs["user"] == "10001:10001"
    assert "ports" not in job.kwargs and "restart_policy" not in job.kwargs
    assert job.attempts == 3  # backoffLimit 2
    assert job.ready_timeout_s == 300  # activeDeadlineSeconds


def test_a_changed_object_changes_the_container_and_its_revision() -> None:
    objects = _objects()
    before = pod.plan(objects).web
    container = _web_container(objects)
    container["resources"]["limits"]["memory"] = "512Mi"
    after = pod.plan(objects).web
    assert after.kwargs["mem_limit"] == 512 * 2**20
    assert after.revision != before.revision


def test_an_env_change_is_a_new_revision_with_the_new_environment() -> None:
    before = pod.plan(_objects()).web
    changed = CONFIG.model_copy(update={"env": {"SHIPWAYS_DEPLOYED_AT": "20260101T000000"}})
    after = pod.plan(manifests.render(changed, manifests.plain_release(changed, IMAGE))).web
    assert after.revision != before.revision  # the same image, rolled out again
    assert after.kwargs["environment"] == {
        **before.kwargs["environment"],
        "SHIPWAYS_DEPLOYED_AT": "20260101T000000",
    }


def test_the_same_objects_are_the_same_revision() -> None:
    assert pod.plan(_objects()).web.revision == pod.plan(_objects()).web.revision


def _break(change: Any) -> list[dict[str, Any]]:
    objects = _objects()
    change(_deployment(objects)["spec"]["template"]["spec"])
    return objects


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["volumes"].__setitem__(0, {"name": "tmp", "hostPath": {}}), "emptyDir"),
        (lambda s: s["containers"][0]["readinessProbe"].update(httpGet=None, exec={}), "httpGet"),
        (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda s: s["containers"].append(dict(s["containers"][0])), "exactly one container"),
        (lambda s: s.update(initContainers=[{}]), "initContainers"),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                seccompProfile={"type": "Unconfined"}
            ),
            "RuntimeDefault",
        ),
        (
            lambda s: s["containers"][0]["envFrom"].append({"configMapRef": {"name": "absent"}}),
            "ConfigMap absent",
        ),
    ],
)
def test_what_docker_cannot_run_fails_loudly(change: Any, message: str) -> None:
    objects = _break(change)
    if message == "httpGet":
        probe = _web_container(objects)["readinessProbe"]
        del probe["httpGet"]
    with pytest.raises(SandboxError, match=message):
        pod.plan(objects)


def test_run_as_non_root_needs_an_explicit_uid() -> None:
    def drop_uid(spec: dict[str, Any]) -> None:
        del spec["securityContext"]["runAsUser"]
        del spec["containers"][0]["securityContext"]["runAsUser"]

    with pytest.raises(SandboxError, match="explicit uid"):
        pod.plan(_break(drop_uid))


def test_write_token_is_a_mounted_file_of_every_web_pod_and_never_the_jobs() -> None:
    token = "a-write-token-for-this-deployment-0123"
    objects = manifests.render(CONFIG, manifests.plain_release(CONFIG, IMAGE, DB_URL, None, token))
    plan = pod.plan(objects)
    web = plan.web
    assert web.files[manifests.WRITE_TOKEN_FILE] == pod.MountedFile(token, 0o440)
    assert web.kwargs["environment"]["WRITE_TOKEN_FILE"] == manifests.WRITE_TOKEN_FILE
    assert token not in web.kwargs["environment"].values()
    (job,) = plan.jobs
    assert manifests.WRITE_TOKEN_FILE not in job.files
    assert "WRITE_TOKEN_FILE" not in job.kwargs["environment"]
    # A new token is a new Secret name, so a new pod template: the pods roll.
    other = manifests.plain_release(CONFIG, IMAGE, DB_URL, None, token + "-rotated")
    assert pod.plan(manifests.render(CONFIG, other)).web.revision != web.revision
