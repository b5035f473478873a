"""The Kubernetes objects of the `k8s` target, built once, as plain dicts.

This module is the single source of what runs on a cluster:
- the Pulumi component declares exactly these objects with pulumi-kubernetes,
- `shipways plan k8s --manifests DIR` writes them as YAML (validated offline against the
  OpenAPI schema of Kubernetes `KUBERNETES_VERSION`),
- the local sandbox runs the Deployment's pod template (and the migration Job) on Docker.

Values that only exist at deploy time (the image digest, the migration Job's name, the
database URL and its Secret's name, the registry login) are parameters: plain strings here
and in the sandbox, Pulumi Outputs (the URL and the login Pulumi secrets) in the component.
Nothing in here reads them, it only places them.

Databases. With `databaseUrl` (PostgreSQL) the schema is migrated by a Job, named after the
image, that must complete before the Deployment rolls. Without it every pod keeps its own
SQLite file in its `/tmp` emptyDir: a Job could not reach that file, so the pod migrates its
own database as it starts (`migrate && exec gunicorn`), and its data is lost with the pod.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infra.config import K8sConfig
from infra.targets.k8s import edge

KUBERNETES_VERSION = "1.31.0"  # schema the manifests are validated against (kubernetes-validate)
POD_SECURITY_VERSION = "v1.31"
APP_PORT = 8000
SERVICE_PORT = 80
APP_UID = 10001  # the image's `app` user (app/Dockerfile)
TMP_SIZE = "64Mi"
# The pod's private, memory-backed emptyDir (not a shared host /tmp).
TMP_DIR = "/tmp"  # noqa: S108
SQLITE_PATH = f"{TMP_DIR}/shipways.db"
DATABASE_URL_KEY = "DATABASE_URL"
# The database Secret is mounted here as files (not env): the URL never sits in the process
# environment, where crash dumps, `/proc/PID/environ` and child processes would see it.
DATABASE_SECRET_DIR = "/var/run/secrets/shipways/database"  # noqa: S105 - a path
DATABASE_URL_FILE = f"{DATABASE_SECRET_DIR}/{DATABASE_URL_KEY}"
# The write token's Secret, mounted into the web pods only (the migration Job writes nothing
# over HTTP): the app reads WRITE_TOKEN_FILE once, at start.
WRITE_TOKEN_KEY = "write-token"  # noqa: S105 - a key name
WRITE_TOKEN_DIR = "/var/run/secrets/shipways/write-token"  # noqa: S105 - a path
WRITE_TOKEN_FILE = f"{WRITE_TOKEN_DIR}/{WRITE_TOKEN_KEY}"
COMPONENT = "app.kubernetes.io/component"
DOCKER_CONFIG_KEY = ".dockerconfigjson"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Release:
    """What one deploy adds to the config: the image and, with PostgreSQL, its URL.

    `image` is `registry/repo@sha256:...` from the push (an image id locally). `migrate_job`
    and `database_secret` are set exactly when `database_url` is: the Job's name, from
    `migrate_job_name(image)`, and the Secret's, from `secret_name(database_url)`.
    `registry_auth`, a `.dockerconfigjson` document (`docker_config_json`), is set when the
    stack has registry credentials: pods then pull with it. `write_token` and `token_secret`
    (from `token_secret_name(write_token)`) go together: the bearer token writes need.
    """

    image: Any
    database_url: Any = None
    migrate_job: Any = None
    database_secret: Any = None
    registry_auth: Any = None
    write_token: Any = None
    token_secret: Any = None

    def __post_init__(self) -> None:
        if (self.database_url is None) != (self.migrate_job is None):
            raise ValueError("a migration Job is declared exactly when a database URL is set")
        if (self.database_url is None) != (self.database_secret is None):
            raise ValueError("a database Secret is named exactly when a database URL is set")
        if (self.write_token is None) != (self.token_secret is None):
            raise ValueError("a write token Secret is named exactly when a write token is set")


def migrate_job_name(config: K8sConfig, image: str) -> str:
    """A Job name per image: a new release runs its migrations again, a re-run does not."""
    return f"{config.app_name}-migrate-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


def plain_release(
    config: K8sConfig,
    image: str,
    database_url: str | None = None,
    registry_auth: str | None = None,
    write_token: str | None = None,
) -> Release:
    """A release from plain values (sandbox, YAML); the component builds its own from Outputs."""
    token = {}
    if write_token is not None:
        token = {"write_token": write_token, "token_secret": token_secret_name(config, write_token)}
    if database_url is None:
        return Release(image=image, registry_auth=registry_auth, **token)
    return Release(
        image=image,
        database_url=database_url,
        migrate_job=migrate_job_name(config, image),
        database_secret=secret_name(config, database_url),
        registry_auth=registry_auth,
        **token,
    )


def docker_config_json(server: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` a kubelet pulls with: one registry, one login."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auth = {"username": username, "password": password, "auth": token}
    return json.dumps({"auths": {server: auth}}, sort_keys=True)


def render(config: K8sConfig, release: Release) -> list[Obj]:
    """Every object of the target, in the order a cluster should receive them."""
    objects = [
        namespace(config),
        service_account(config),
        config_map(config),
        # Before any pod: a pod never runs, even briefly, without its policy.
        *network_policies(config, release),
    ]
    if release.registry_auth is not None:
        objects.append(registry_secret(config, release.registry_auth))
    if release.write_token is not None:
        objects.append(token_secret(config, release))
    if release.database_url is not None:
        objects += [secret(config, release), migrate_job(config, release)]
    objects += [
        deployment(config, release),
        service(config),
        pod_disruption_budget(config),
        autoscaler(config),
    ]
    if config.ingress_host:
        objects.append(ingress(config))
    return objects


def labels(config: K8sConfig, component: str | None = None) -> dict[str, str]:
    found = {
        "app.kubernetes.io/name": config.app_name,
        "app.kubernetes.io/part-of": "shipways",
        "app.kubernetes.io/managed-by": "pulumi",
        "shipways.dev/environment": config.environment,
    }
    if component:
        found["app.kubernetes.io/component"] = component
    return found


def selector(config: K8sConfig) -> dict[str, str]:
    """Stable labels that pick the web pods (never include anything that changes per release)."""
    return {"app.kubernetes.io/name": config.app_name, "app.kubernetes.io/component": "web"}


def _meta(config: K8sConfig, name: Any, component: str | None = None) -> Obj:
    return {"name": name, "namespace": config.namespace, "labels": labels(config, component)}


def namespace(config: K8sConfig) -> Obj:
    """The namespace, admitting only pods that meet the `restricted` Pod Security Standard."""
    pss = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "restricted"), ("-version", POD_SECURITY_VERSION))
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": config.namespace, "labels": {**labels(config), **pss}},
    }


def service_account(config: K8sConfig) -> Obj:
    """A dedicated identity with no API token: the app never talks to the Kubernetes API."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(config, config.app_name),
        "automountServiceAccountToken": False,
    }


def app_env(config: K8sConfig) -> dict[str, str]:
    """The app's non-secret settings: the stack's `env` (which may change the log level)
    and the recipe's own (the image sets SHIPWAYS_GIT_SHA itself).

    They are the ConfigMap's content, hence its name: a changed `env` is a new pod
    template, which is what makes Kubernetes roll out new pods.
    """
    return {
        "SHIPWAYS_LOG_LEVEL": "INFO",
        **config.env,
        "SHIPWAYS_TARGET": "k8s",
        "SHIPWAYS_TRUSTED_PROXIES": config.trusted_proxies,
        "SHIPWAYS_SQLITE_PATH": SQLITE_PATH,
        "PORT": str(APP_PORT),
        "WEB_CONCURRENCY": str(config.web_concurrency),
    }


def config_map_name(config: K8sConfig) -> str:
    """Named after its content and immutable: a settings change rolls the pods."""
    blob = json.dumps(app_env(config), sort_keys=True).encode()
    return f"{config.app_name}-config-{hashlib.sha256(blob).hexdigest()[:10]}"


def config_map(config: K8sConfig) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(config, config_map_name(config)),
        "immutable": True,
        "data": app_env(config),
    }


def secret_name(config: K8sConfig, database_url: str) -> str:
    """Named after its content, like the ConfigMap: a rotated URL is a new Secret, so the
    pod template changes and the Deployment rolls.
    Ten hex digits of a SHA-256 say nothing usable about the URL (kustomize does the same).
    The app reads the mounted file once, at start: the new name is what makes it re-read."""
    return f"{config.app_name}-database-{hashlib.sha256(database_url.encode()).hexdigest()[:10]}"


def secret(config: K8sConfig, release: Release) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(config, release.database_secret),
        "type": "Opaque",
        "stringData": {DATABASE_URL_KEY: release.database_url},
    }


def token_secret_name(config: K8sConfig, write_token: str) -> str:
    """Content-hashed like the database Secret: a rotated token rolls the Deployment."""
    digest = hashlib.sha256(write_token.encode()).hexdigest()[:10]
    return f"{config.app_name}-write-token-{digest}"


def token_secret(config: K8sConfig, release: Release) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(config, release.token_secret, WRITE_TOKEN_KEY),
        "type": "Opaque",
        "immutable": True,
        "stringData": {WRITE_TOKEN_KEY: release.write_token},
    }


def registry_secret_name(config: K8sConfig) -> str:
    return f"{config.app_name}-registry"


def registry_secret(config: K8sConfig, registry_auth: Any) -> Obj:
    """The registry login pods pull with (a private registry otherwise: ImagePullBackOff)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(config, registry_secret_name(config)),
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {DOCKER_CONFIG_KEY: registry_auth},
    }


def _env_from(config: K8sConfig) -> list[Obj]:
    return [{"configMapRef": {"name": config_map_name(config)}}]


def _database_volume(release: Release) -> Obj:
    """The database Secret as read-only files: readable by the pod's group (fsGroup) only."""
    return {
        "name": "database",
        "secret": {"secretName": release.database_secret, "defaultMode": 0o440},
    }


def _container_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "fsGroup": APP_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(config: K8sConfig) -> Obj:
    return {
        "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
        "limits": {"cpu": config.cpu_limit, "memory": config.memory_limit},
    }


def _tmp_volume() -> Obj:
    """The only writable path: memory-backed, bounded, gone with the pod."""
    return {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": TMP_SIZE}}


def _pod_spec(config: K8sConfig, release: Release, containers: list[Obj], restart: str) -> Obj:
    spec: Obj = {
        "serviceAccountName": config.app_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": 30,
        "securityContext": _pod_security(),
        "containers": containers,
        "volumes": [_tmp_volume()],
    }
    if release.database_url is not None:
        spec["volumes"].append(_database_volume(release))
    if release.registry_auth is not None:
        spec["imagePullSecrets"] = [{"name": registry_secret_name(config)}]
    return spec


def _container(config: K8sConfig, release: Release, name: str) -> Obj:
    container: Obj = {
        "name": name,
        "image": release.image,
        "imagePullPolicy": "IfNotPresent",
        "envFrom": _env_from(config),
        "resources": _resources(config),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": TMP_DIR}],
    }
    if release.database_url is not None:
        container["env"] = [{"name": "DATABASE_URL_FILE", "value": DATABASE_URL_FILE}]
        container["volumeMounts"].append(
            {"name": "database", "mountPath": DATABASE_SECRET_DIR, "readOnly": True}
        )
    return container


def web_command(config: K8sConfig, release: Release) -> list[str] | None:
    """The pod's command: the image's own with PostgreSQL; with SQLite, the app's release
    command first, then its server (both from the app spec)."""
    if release.database_url is not None:
        return None
    app = config.app
    script = f"{shlex.join(app.release_argv)} && exec {shlex.join(app.serve_argv())}"
    return ["/bin/sh", "-c", script]


def _probe(path: str, period: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def web_container(config: K8sConfig, release: Release) -> Obj:
    container = _container(config, release, "web")
    if release.write_token is not None:
        env = container.setdefault("env", [])
        env.append({"name": "WRITE_TOKEN_FILE", "value": WRITE_TOKEN_FILE})
        container["volumeMounts"].append(
            {"name": "write-token", "mountPath": WRITE_TOKEN_DIR, "readOnly": True}
        )
    command = web_command(config, release)
    if command is not None:
        container["command"] = command
    container |= {
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        # Up to 60 s to start (and, with SQLite, to migrate); liveness only after that.
        "startupProbe": _probe(config.app.health_path, period=2, failures=30),
        # Traffic only while the database answers and the schema is current.
        "readinessProbe": _probe(config.app.readiness_path, period=5, failures=3),
        "livenessProbe": _probe(config.app.health_path, period=10, failures=3),
        # Let endpoints drop the pod before gunicorn stops accepting connections.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    }
    return container


def deployment(config: K8sConfig, release: Release) -> Obj:
    template_labels = {**labels(config, "web"), **selector(config)}
    pod = _pod_spec(config, release, [web_container(config, release)], "Always")
    if release.write_token is not None:
        # Like the database Secret: files readable by the pod's group (fsGroup) only.
        secret_volume = {"secretName": release.token_secret, "defaultMode": 0o440}
        pod["volumes"].append({"name": "write-token", "secret": secret_volume})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(config, config.app_name, "web"),
        "spec": {
            "replicas": config.replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 300,
            "minReadySeconds": 5,
            "selector": {"matchLabels": selector(config)},
            # New pods must be ready before an old one goes: capacity never drops.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": template_labels},
                "spec": pod,
            },
        },
    }


def migrate_job(config: K8sConfig, release: Release) -> Obj:
    """Applies the migrations once per release, before the Deployment rolls."""
    container = _container(config, release, "migrate")
    container["command"] = config.app.release_argv
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(config, release.migrate_job, "migrate"),
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 300,
            "template": {
                "metadata": {"labels": labels(config, "migrate")},
                "spec": _pod_spec(config, release, [container], "Never"),
            },
        },
    }


def service(config: K8sConfig) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(config, config.app_name, "web"),
        "spec": {
            "type": config.service_type,
            "selector": selector(config),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def pod_disruption_budget(config: K8sConfig) -> Obj:
    """Voluntary evictions (node drains) take at most one pod at a time, never blocked."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(config, config.app_name, "web"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(config)}},
    }


def autoscaler(config: K8sConfig) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(config, config.app_name, "web"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": config.app_name,
            },
            "minReplicas": config.replicas,
            "maxReplicas": config.hpa_max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": config.hpa_cpu_percent,
                        },
                    },
                }
            ],
        },
    }


def network_policies(config: K8sConfig, release: Release) -> list[Obj]:
    pods = {"web": selector(config)}
    if release.migrate_job is not None:
        pods["migrate"] = {**selector(config), "app.kubernetes.io/component": "migrate"}
    policies = edge.network_policies(config, pods, APP_PORT)
    for policy in policies:
        policy["metadata"]["labels"] = labels(config, policy["metadata"]["labels"][COMPONENT])
    return policies


def ingress(config: K8sConfig) -> Obj:
    return edge.ingress(config, labels(config, "web"))


def ingress_url(config: K8sConfig) -> str | None:
    """Where users reach the app through its Ingress, if it has one."""
    return edge.ingress_url(config)


PORT_FORWARD_LOCAL = 8080


def port_forward_command(config: K8sConfig, context: str) -> str:
    """How a user reaches a ClusterIP Service from their machine (then http://127.0.0.1:8080)."""
    return (
        f"kubectl --context {shlex.quote(context)} --namespace {config.namespace} "
        f"port-forward service/{config.app_name} {PORT_FORWARD_LOCAL}:{SERVICE_PORT}"
    )


def find(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]
