"""The `k8s` stack under mocks: its graph, its ordering and every security property."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from typer.testing import CliRunner

from infra import cli
from infra.config import ConfigError, K8sConfig, namespaced, narrow, read_stack_file
from infra.harness import OFFLINE_WRITE_TOKEN, Declared, OfflinePlan, plan_stack
from infra.paths import APP_DIR
from infra.targets.k8s import component, export, manifests
from infra.targets.k8s.image import source_digest
from policy.rules import unwrap

pytestmark = pytest.mark.stack

APP = "shipways:k8s:App"
IMAGE = "docker:index/image:Image"
NAMESPACE = "kubernetes:core/v1:Namespace"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
LOADED = "pulumi-python:dynamic:Resource"
WRITE_TOKEN = "pulumi-python:dynamic/shipways:WriteToken"
DB_URL = "postgresql://app:s3cret-pw@db.example.internal:5432/shipways"
# How the RPC marks a secret value: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class Registrations:
    """What the program told the engine beyond inputs: dependencies, options, secret inputs."""

    def __init__(self) -> None:
        self.depends: dict[str, set[str]] = {}
        self.ignore: dict[str, list[str]] = {}
        self.secret_outputs: dict[str, list[str]] = {}
        self.parent: dict[str, str] = {}
        self.raw: dict[str, Any] = {}

    def wrap(self, register: Any) -> Any:
        def recording(monitor: Any, request: Any) -> Any:
            self.depends[request.name] = {u.rsplit("::", 1)[-1] for u in request.dependencies}
            self.ignore[request.name] = list(request.ignoreChanges)
            self.secret_outputs[request.name] = list(request.additionalSecretOutputs)
            self.parent[request.name] = request.parent
            self.raw[request.name] = json_format.MessageToDict(request.object)
            return register(monitor, request)

        return recording


# Without a shared database each pod has its own SQLite, so the stack allows one pod only.
ONE_POD = {"replicas": 1, "hpaMaxReplicas": 1}


def _plan(
    secrets: dict[str, str] | None = None, **overrides: Any
) -> tuple[OfflinePlan, Registrations]:
    values, _ = namespaced(read_stack_file("k8s"))
    if "databaseUrl" not in (secrets or {}):
        values |= ONE_POD
    values = {k: v for k, v in (values | overrides).items() if v is not None}
    seen = Registrations()
    with pytest.MonkeyPatch.context() as patch:
        wrapped = seen.wrap(pulumi_mocks.MockMonitor.RegisterResource)
        patch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", wrapped)
        plan = plan_stack("k8s", overrides=values, secrets=secrets, use_stack_file=False)
    return plan, seen


@pytest.fixture(scope="module")
def sqlite() -> tuple[OfflinePlan, Registrations]:
    """The committed stack file with one pod and no database URL (SQLite in the pod)."""
    return _plan()


@pytest.fixture(scope="module")
def postgres() -> tuple[OfflinePlan, Registrations]:
    """With PostgreSQL, registry credentials and an Ingress with TLS."""
    return _plan(
        secrets={"databaseUrl": DB_URL, "registryPassword": "registry-token"},
        registryUsername="deployer",
        ingressHost="api.example.com",
        ingressTlsSecret="api-example-com-tls",
        databaseCidr="10.20.0.0/24",
    )


@pytest.fixture(scope="module")
def plan(postgres: tuple[OfflinePlan, Registrations]) -> OfflinePlan:
    return postgres[0]


def _spec(resource: Declared) -> dict[str, Any]:
    return export.from_plan([resource])[0]


def _secret(plan: OfflinePlan, name: str = "secret") -> Declared:
    """The database Secret (`secret`) or the registry login (`registrySecret`)."""
    (found,) = [r for r in plan.of_type(SECRET) if r.name == name]
    return found


def _pod(plan: OfflinePlan, kind: str = DEPLOYMENT) -> dict[str, Any]:
    return dict(_spec(plan.one(kind))["spec"]["template"]["spec"])


def test_graph_with_postgres_and_ingress(plan: OfflinePlan) -> None:
    counts = Counter(r.type for r in plan.resources)
    expected = [APP, IMAGE, NAMESPACE, ACCOUNT, CONFIG_MAP, SECRET, SECRET, JOB, DEPLOYMENT]
    expected += [SERVICE, WRITE_TOKEN, SECRET]  # the write token and its Secret
    expected += [PDB, HPA, POLICY, POLICY, INGRESS]  # the web pods' and the Job's policies
    assert counts == Counter(expected)


def test_graph_with_sqlite_has_no_job_secret_or_ingress(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    types = {r.type for r in sqlite[0].resources}
    assert not types & {JOB, INGRESS}
    assert [r.name for r in sqlite[0].of_type(SECRET)] == ["writeTokenSecret"]
    assert {DEPLOYMENT, SERVICE, HPA, PDB, POLICY, NAMESPACE} <= types


def test_every_resource_is_a_child_of_the_component(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, seen = postgres
    assert plan.one(APP).name == "shipways"
    for resource in plan.resources:
        if resource.type != APP:
            assert seen.parent[resource.name].endswith(f"{APP}::shipways"), resource.name


def test_namespace_enforces_the_restricted_pod_security_standard(plan: OfflinePlan) -> None:
    labels = _spec(plan.one(NAMESPACE))["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.31"


def test_every_namespaced_object_waits_for_the_namespace(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, seen = postgres
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:") and resource.type != NAMESPACE:
            assert _spec(resource)["metadata"]["namespace"] == "shipways"
            assert "namespace" in seen.depends[resource.name], resource.name


def test_image_is_built_from_the_app_dockerfile_with_buildkit_and_pushed(plan: OfflinePlan) -> None:
    image = plan.one(IMAGE)
    build = image.inputs["build"]
    assert build["context"] == str(APP_DIR)
    assert build["dockerfile"] == str(APP_DIR / "Dockerfile")
    assert build["builderVersion"] == "BuilderBuildKit"
    assert build["platform"] == "linux/amd64"
    assert set(build["args"]) == {"VERSION", "GIT_SHA", "SOURCE"}
    assert "BASE_IMAGE" not in build["args"]  # users build on python:3.12-slim
    assert image.inputs["imageName"] == f"ghcr.io/example/shipways:{source_digest()}"
    assert image.inputs["skipPush"] is False


def test_registry_credentials_come_from_config_and_the_password_stays_secret(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    _, seen = postgres
    registry = seen.raw["image"]["registry"]
    assert registry["server"] == "ghcr.io"
    assert registry["username"] == "deployer"
    password = seen.raw["image"]["registry"]["password"]
    assert password.get(SIG_KEY) == SECRET_SIG, "registry password sent in plain text"


def test_pods_run_the_pushed_image_by_digest(postgres: tuple[OfflinePlan, Registrations]) -> None:
    plan, seen = postgres
    assert "image" in seen.depends["deployment"]
    image = plan.exports["image"]
    assert image.startswith("ghcr.io/example/shipways@sha256:")
    for kind in (DEPLOYMENT, JOB):
        assert [c["image"] for c in _pod(plan, kind)["containers"]] == [image]


def test_secret_holds_the_database_url_as_a_pulumi_secret(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, seen = postgres
    assert _spec(_secret(plan))["stringData"] == {"DATABASE_URL": DB_URL}
    wrapped = seen.raw["secret"]["stringData"]  # the whole map travels as one secret
    assert wrapped[SIG_KEY] == SECRET_SIG
    assert wrapped["value"] == {"DATABASE_URL": DB_URL}
    assert {"stringData", "data"} <= set(seen.secret_outputs["secret"])


def test_config_map_is_immutable_content_named_and_holds_no_secret(plan: OfflinePlan) -> None:
    config_map = _spec(plan.one(CONFIG_MAP))
    assert config_map["immutable"] is True
    assert config_map["metadata"]["name"].startswith("shipways-config-")
    data = config_map["data"]
    assert data["SHIPWAYS_TARGET"] == "k8s"
    assert data["WEB_CONCURRENCY"] == "2"
    assert data["PORT"] == "8000"
    assert not any(DB_URL in v or "DATABASE" in k for k, v in data.items())


def test_a_settings_change_renames_the_config_map(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    changed, _ = _plan(webConcurrency=4)
    before = _spec(sqlite[0].one(CONFIG_MAP))["metadata"]["name"]
    after = _spec(changed.one(CONFIG_MAP))["metadata"]["name"]
    assert before != after
    assert _pod(changed)["containers"][0]["envFrom"][0]["configMapRef"]["name"] == after


def test_the_stacks_env_is_in_the_config_map_and_a_change_rolls_the_pods(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    changed, _ = _plan(env={"GREETING": "hello", "SHIPWAYS_LOG_LEVEL": "DEBUG"})
    config_map = _spec(changed.one(CONFIG_MAP))
    data = config_map["data"]
    assert (data["GREETING"], data["SHIPWAYS_LOG_LEVEL"]) == ("hello", "DEBUG")
    assert (data["SHIPWAYS_TARGET"], data["PORT"]) == ("k8s", "8000")  # the recipe's, kept
    # A new ConfigMap name is a new pod template: Kubernetes rolls out new pods.
    assert config_map["metadata"]["name"] != _spec(sqlite[0].one(CONFIG_MAP))["metadata"]["name"]
    refs = _pod(changed)["containers"][0]["envFrom"]
    assert refs == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert _pod(changed) != _pod(sqlite[0])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "9000"}, "env: PORT is set by the recipe"),
        ({"WEB_CONCURRENCY": "9"}, "env: WEB_CONCURRENCY is set by the recipe, from the `web"),
        ({"DATABASE_URL_FILE": "/x"}, "env: DATABASE_URL_FILE is set by the recipe"),
        ({"SHIPWAYS_GIT_SHA": "abc"}, "env: SHIPWAYS_GIT_SHA is set by the image"),
        ({"SESSION_SECRET": "x"}, "env.SESSION_SECRET.[key]: SESSION_SECRET looks like a secret"),
    ],
)
def test_env_names_the_recipe_sets_or_secrets_are_refused(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _plan(env=env)


def test_migration_job_runs_before_the_deployment_rolls(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, seen = postgres
    assert {"job", "configMap", "secret", "serviceAccount"} <= seen.depends["deployment"]
    assert {"configMap", "secret", "serviceAccount"} <= seen.depends["job"]
    job = _spec(plan.one(JOB))
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "shipways_app", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["activeDeadlineSeconds"] <= 600


def test_migration_job_is_named_after_the_image_so_each_release_migrates() -> None:
    config = K8sConfig(registry="ghcr.io/example/shipways", kubeContext="prod")
    first = manifests.migrate_job_name(config, "ghcr.io/example/shipways@sha256:" + "a" * 64)
    second = manifests.migrate_job_name(config, "ghcr.io/example/shipways@sha256:" + "b" * 64)
    assert first != second
    assert first.startswith("shipways-migrate-") and len(first) <= 63


def test_job_name_in_the_stack_follows_the_pushed_digest(plan: OfflinePlan) -> None:
    expected = manifests.migrate_job_name(
        K8sConfig(registry="r.example/x", kubeContext="c"), plan.exports["image"]
    )
    assert _spec(plan.one(JOB))["metadata"]["name"] == expected


def test_with_postgres_pods_read_the_secret_as_a_file_and_run_the_images_own_command(
    plan: OfflinePlan,
) -> None:
    for kind in (DEPLOYMENT, JOB):
        pod = _pod(plan, kind)
        container = pod["containers"][0]
        refs = [next(iter(source.values()))["name"] for source in container["envFrom"]]
        assert refs == [_spec(plan.one(CONFIG_MAP))["metadata"]["name"]]  # no secretRef
        assert container["env"][0] == {
            "name": "DATABASE_URL_FILE",
            "value": "/var/run/secrets/shipways/database/DATABASE_URL",
        }
        assert container["env"][0]["value"] == manifests.DATABASE_URL_FILE
        (volume,) = [v for v in pod["volumes"] if v["name"] == "database"]
        database = _spec(_secret(plan))["metadata"]["name"]
        assert volume["secret"] == {"secretName": database, "defaultMode": 0o440}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "database")
        assert mount == {
            "name": "database",
            "mountPath": manifests.DATABASE_SECRET_DIR,
            "readOnly": True,
        }
    assert database == manifests.secret_name(K8sConfig(registry="r", kubeContext="c"), DB_URL)
    container = _pod(plan)["containers"][0]
    assert "command" not in container and "args" not in container


def test_with_sqlite_each_pod_migrates_its_own_database_first(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    container = _pod(sqlite[0])["containers"][0]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    script = container["command"][2]
    assert script.startswith("python -m shipways_app migrate && exec gunicorn ")
    data = _spec(sqlite[0].one(CONFIG_MAP))["data"]
    assert data["SHIPWAYS_SQLITE_PATH"].startswith("/tmp/")


def test_deployment_rolls_without_losing_capacity(plan: OfflinePlan) -> None:
    spec = _spec(plan.one(DEPLOYMENT))["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_replicas_come_from_config_and_the_hpa_owns_them_afterwards() -> None:
    changed, seen = _plan(
        secrets={"databaseUrl": DB_URL}, replicas=3, hpaMaxReplicas=9, databaseCidr="10.20.0.0/24"
    )
    assert _spec(changed.one(DEPLOYMENT))["spec"]["replicas"] == 3
    assert seen.ignore["deployment"] == ["spec.replicas"]
    hpa = _spec(changed.one(HPA))["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)


def test_probes_startup_readiness_and_liveness(plan: OfflinePlan) -> None:
    container = _pod(plan)["containers"][0]
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_requests_and_limits_come_from_config() -> None:
    changed, _ = _plan(cpuRequest="250m", cpuLimit="1", memoryRequest="200Mi", memoryLimit="300Mi")
    resources = _pod(changed)["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "250m", "memory": "200Mi"},
        "limits": {"cpu": "1", "memory": "300Mi"},
    }


@pytest.mark.parametrize("kind", [DEPLOYMENT, JOB])
def test_pods_are_locked_down(plan: OfflinePlan, kind: str) -> None:
    pod = _pod(plan, kind)
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "shipways"
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == security["runAsGroup"] == 10001
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["privileged"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        token_mount = {
            "name": "write-token",
            "mountPath": "/var/run/secrets/shipways/write-token",
            "readOnly": True,
        }
        assert container["volumeMounts"] == [
            {"name": "tmp", "mountPath": "/tmp"},
            {
                "name": "database",
                "mountPath": "/var/run/secrets/shipways/database",
                "readOnly": True,
            },
            *([token_mount] if kind == DEPLOYMENT else []),  # the web pods only
        ]
    database = _spec(_secret(plan))["metadata"]["name"]
    token = _spec(_secret(plan, "writeTokenSecret"))["metadata"]["name"]
    token_volume = {"name": "write-token", "secret": {"secretName": token, "defaultMode": 0o440}}
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "database", "secret": {"secretName": database, "defaultMode": 0o440}},
        *([token_volume] if kind == DEPLOYMENT else []),
    ]


def test_service_account_has_no_token(plan: OfflinePlan) -> None:
    assert _spec(plan.one(ACCOUNT))["automountServiceAccountToken"] is False


def test_service_targets_the_web_pods_on_the_app_port(plan: OfflinePlan) -> None:
    spec = _spec(plan.one(SERVICE))["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {
        "app.kubernetes.io/name": "shipways",
        "app.kubernetes.io/component": "web",
    }
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_ingress_terminates_tls_for_the_host(plan: OfflinePlan) -> None:
    spec = _spec(plan.one(INGRESS))["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["api.example.com"], "secretName": "api-example-com-tls"}]
    backend = spec["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert spec["rules"][0]["host"] == "api.example.com"
    assert backend == {"name": "shipways", "port": {"name": "http"}}
    assert plan.exports["url"] == "https://api.example.com"


def test_without_ingress_the_url_is_reached_through_the_exported_port_forward(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    """A ClusterIP Service has no address outside the cluster: the URL is the local end of
    the exported `kubectl port-forward`, on the stack's own context."""
    exports = sqlite[0].exports
    assert exports["url"] == "http://127.0.0.1:8080"
    assert exports["portForward"] == (
        "kubectl --context replace-me-with-your-context --namespace shipways "
        "port-forward service/shipways 8080:80"
    )
    assert ".svc.cluster.local" not in str(exports)
    assert _spec(sqlite[0].one(SERVICE))["spec"]["type"] == "ClusterIP"


def test_load_balancer_url_is_the_address_the_cloud_gives_the_service() -> None:
    plan, _ = _plan(serviceType="LoadBalancer", allowHttp=True)
    assert _spec(plan.one(SERVICE))["spec"]["type"] == "LoadBalancer"
    assert plan.exports["url"] == "http://a1b2c3-123456789.us-east-1.elb.amazonaws.example"
    assert "portForward" not in plan.exports


def test_ingress_url_wins_over_the_service_type() -> None:
    plan, _ = _plan(
        serviceType="LoadBalancer",
        allowHttp=True,
        ingressHost="api.example.com",
        ingressTlsSecret="api-example-com-tls",
    )
    assert plan.exports["url"] == "https://api.example.com"


def test_a_public_edge_without_tls_is_refused_unless_http_is_allowed() -> None:
    with pytest.raises(ConfigError, match="ingressTlsSecret or ingressClusterIssuer: required"):
        _plan(ingressHost="api.example.com")
    with pytest.raises(ConfigError, match="serviceType: LoadBalancer exposes the app over plain"):
        _plan(serviceType="LoadBalancer")
    plain, _ = _plan(ingressHost="api.example.com", allowHttp=True)
    assert "tls" not in _spec(plain.one(INGRESS))["spec"]
    assert plain.exports["url"] == "http://api.example.com"


def test_cert_manager_issues_the_ingress_certificate() -> None:
    issued, _ = _plan(ingressHost="api.example.com", ingressClusterIssuer="letsencrypt-prod")
    ingress = _spec(issued.one(INGRESS))
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert ingress["spec"]["tls"] == [{"hosts": ["api.example.com"], "secretName": "shipways-tls"}]
    assert issued.exports["url"] == "https://api.example.com"


def test_ingress_limits_each_client(plan: OfflinePlan) -> None:
    annotations = _spec(plan.one(INGRESS))["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "50"
    assert annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"] == "2"
    assert annotations["nginx.ingress.kubernetes.io/limit-connections"] == "20"
    tuned, _ = _plan(
        ingressHost="api.example.com",
        ingressTlsSecret="api-example-com-tls",
        rateLimitRps=5,
        rateLimitConnections=3,
    )
    tuned_annotations = _spec(tuned.one(INGRESS))["metadata"]["annotations"]
    assert tuned_annotations["nginx.ingress.kubernetes.io/limit-rps"] == "5"
    assert tuned_annotations["nginx.ingress.kubernetes.io/limit-connections"] == "3"


def test_hpa_scales_the_deployment_on_cpu(plan: OfflinePlan) -> None:
    spec = _spec(plan.one(HPA))["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "shipways",
    }
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]


def test_pdb_allows_one_voluntary_disruption_at_a_time(plan: OfflinePlan) -> None:
    spec = _spec(plan.one(PDB))["spec"]
    assert spec["maxUnavailable"] == 1
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "web"


DNS_EGRESS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
DATABASE_EGRESS = {
    "to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
    "ports": [{"protocol": "TCP", "port": 5432}],
}


def _policies(plan: OfflinePlan) -> dict[str, dict[str, Any]]:
    return {_spec(r)["metadata"]["name"]: _spec(r)["spec"] for r in plan.of_type(POLICY)}


def test_network_policy_admits_only_the_ingress_controller_on_the_app_port(
    plan: OfflinePlan,
) -> None:
    web = _policies(plan)["shipways"]
    assert web["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
    assert web["policyTypes"] == ["Ingress", "Egress"]
    assert web["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]


def test_pods_may_connect_only_to_dns_and_the_database(plan: OfflinePlan) -> None:
    policies = _policies(plan)
    assert set(policies) == {"shipways", "shipways-migrate"}
    for spec in policies.values():
        assert spec["egress"] == [DNS_EGRESS, DATABASE_EGRESS]
    job = policies["shipways-migrate"]
    assert job["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "migrate"
    assert job["policyTypes"] == ["Ingress", "Egress"] and job["ingress"] == []


def test_sqlite_pods_may_connect_only_to_dns(sqlite: tuple[OfflinePlan, Registrations]) -> None:
    (spec,) = _policies(sqlite[0]).values()
    assert spec["egress"] == [DNS_EGRESS]


def test_a_database_url_needs_the_databases_network() -> None:
    with pytest.raises(ConfigError, match="databaseCidr: required with databaseUrl"):
        _plan(secrets={"databaseUrl": DB_URL})


def test_policies_exist_before_any_pod(postgres: tuple[OfflinePlan, Registrations]) -> None:
    _, seen = postgres
    for pods in ("job", "deployment"):
        assert {"networkPolicy", "networkPolicy-migrate"} <= seen.depends[pods]


def test_only_a_narrow_proxy_network_is_trusted(plan: OfflinePlan) -> None:
    data = _spec(plan.one(CONFIG_MAP))["data"]
    assert data["SHIPWAYS_TRUSTED_PROXIES"] == "127.0.0.1"
    for wide in ("*", "10.0.0.0/8", "172.16.0.0/12", "0.0.0.0/0"):
        with pytest.raises(ConfigError, match="trustedProxies"):
            _plan(trustedProxies=wide)
    pods, _ = _plan(trustedProxies="10.244.0.0/16")
    assert _spec(pods.one(CONFIG_MAP))["data"]["SHIPWAYS_TRUSTED_PROXIES"] == "10.244.0.0/16"


def test_local_cluster_mode_loads_the_image_instead_of_pushing() -> None:
    local, seen = _plan(clusterMode="kind", registry=None, kubeContext=None, localCluster="dev")
    image = local.one(IMAGE)
    assert image.inputs["skipPush"] is True
    assert "registry" not in image.inputs
    loaded = local.one(LOADED)
    assert loaded.inputs["tool"] == "kind" and loaded.inputs["cluster"] == "dev"
    assert loaded.inputs["image"] == f"shipways:{source_digest()}"
    assert _pod(local)["containers"][0]["image"] == loaded.inputs["image"]
    assert "loaded-image" in seen.depends["deployment"]


@pytest.mark.parametrize(
    ("tool", "context"),
    [("kind", "kind-kind"), ("k3d", "k3d-k3s-default"), ("minikube", "minikube")],
)
def test_local_clusters_use_their_own_kubeconfig_context(
    tool: str, context: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    original = component.k8s.Provider.__init__

    def spy(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        seen["context"] = kwargs.get("context")
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(component.k8s.Provider, "__init__", spy)
    _plan(clusterMode=tool, registry=None, kubeContext=None)
    assert seen["context"] == context


def _provider_contexts(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> list[Any]:
    contexts: list[Any] = []
    original = component.k8s.Provider.__init__

    def spy(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        contexts.append(kwargs.get("context"))
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(component.k8s.Provider, "__init__", spy)
    _plan(**overrides)
    return contexts


def test_registry_mode_deploys_to_the_configured_context_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One explicit provider, on `kubeContext`: never the kubeconfig's current context."""
    contexts = _provider_contexts(monkeypatch, kubeContext="arn:aws:eks:eu-west-1:1:cluster/prod")
    assert contexts == ["arn:aws:eks:eu-west-1:1:cluster/prod"]


def test_every_object_goes_through_the_explicit_provider(plan: OfflinePlan) -> None:
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider and "pulumi:providers:kubernetes::cluster" in resource.provider


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kubeContext": None}, "kubeContext: required when clusterMode is 'registry'"),
        ({"clusterMode": "kind", "registry": None}, "kubeContext: only used when"),
    ],
)
def test_kube_context_is_required_exactly_in_registry_mode(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _plan(**overrides)


def test_load_commands_name_image_and_cluster() -> None:
    assert component.load_command("kind", "dev", "shipways:1") == [
        "kind",
        "load",
        "docker-image",
        "shipways:1",
        "--name",
        "dev",
    ]
    assert component.load_command("k3d", "dev", "shipways:1")[:3] == ["k3d", "image", "import"]
    assert component.load_command("minikube", "dev", "shipways:1")[-2:] == ["--profile", "dev"]


def test_declared_objects_are_exactly_the_rendered_manifests(plan: OfflinePlan) -> None:
    """The single source: what the stack declares is `manifests.render`, field for field."""
    config = narrow(plan.config, K8sConfig)
    login = manifests.docker_config_json("ghcr.io", "deployer", "registry-token")
    release = manifests.plain_release(
        config, plan.exports["image"], DB_URL, login, OFFLINE_WRITE_TOKEN
    )
    rendered = manifests.render(config, release)

    def by_name(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The two Secrets' registrations may reach the engine in either order.
        return sorted(objects, key=lambda o: (o["kind"], o["metadata"]["name"]))

    assert by_name(export.from_plan(plan.resources)) == by_name(rendered)


def test_declared_objects_validate_against_the_pinned_kubernetes_schema(
    plan: OfflinePlan, sqlite: tuple[OfflinePlan, Registrations]
) -> None:
    for declared in (plan, sqlite[0]):
        assert export.schema_errors(export.from_plan(declared.resources)) == []


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"registry": None}, "registry"),
        ({"cpuRequest": "2", "cpuLimit": "500m"}, "cpuRequest"),
        ({"memoryLimit": "256MB"}, "memoryLimit"),
        ({"memoryRequest": "512Mi"}, "memoryRequest"),
        ({"replicas": 2, "hpaMaxReplicas": 1}, "hpaMaxReplicas"),
        ({"ingressTlsSecret": "tls"}, "ingressHost"),
        ({"ingressHost": "Not A Host"}, "ingressHost"),
        ({"trustedProxies": "10.0.0.0/8,nope"}, "trustedProxies"),
        (
            {"clusterMode": "kind", "registry": None, "kubeContext": None, "registryUsername": "x"},
            "registryUsername",
        ),
        ({"platform": "linux/s390x"}, "platform"),
        ({"serviceType": "NodePort"}, "serviceType"),
        ({"replicaz": 2}, "replicaz"),
    ],
)
def test_bad_config_is_refused_naming_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _plan(**overrides)


def test_database_url_in_plain_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="databaseUrl: stored in plain text"):
        _plan(databaseUrl=DB_URL)


def test_plan_manifests_writes_what_the_stack_declares(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["plan", "k8s", "--manifests", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(tmp_path.glob("*.yaml"))
    loaded = [yaml.safe_load(p.read_text()) for p in written]
    assert loaded == export.redact(export.from_plan(plan_stack("k8s").resources))
    (token,) = [
        o for o in loaded if o["kind"] == "Secret" and "write-token" in o.get("stringData", {})
    ]
    assert token["stringData"] == {"write-token": export.REDACTED_TOKEN}  # never the value
    assert export.schema_errors(loaded) == []


def test_plan_manifests_is_only_for_the_k8s_stack(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["plan", "vps", "--manifests", str(tmp_path)])
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())


def test_pods_and_the_migration_job_pull_with_the_registry_login(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    """A private registry needs the login on the node too, or pods sit in ImagePullBackOff."""
    plan, seen = postgres
    login = _spec(_secret(plan, "registrySecret"))
    assert login["type"] == "kubernetes.io/dockerconfigjson"
    document = json.loads(login["stringData"][".dockerconfigjson"])
    token = base64.b64encode(b"deployer:registry-token").decode()
    assert document == {
        "auths": {"ghcr.io": {"username": "deployer", "password": "registry-token", "auth": token}}
    }
    assert seen.raw["registrySecret"]["stringData"][SIG_KEY] == SECRET_SIG
    for kind, name in ((DEPLOYMENT, "deployment"), (JOB, "job")):
        assert _pod(plan, kind)["imagePullSecrets"] == [{"name": "shipways-registry"}]
        assert "registrySecret" in seen.depends[name]


def test_without_a_registry_login_pods_pull_anonymously(
    sqlite: tuple[OfflinePlan, Registrations],
) -> None:
    assert "imagePullSecrets" not in _pod(sqlite[0])
    assert "registrySecret" not in [r.name for r in sqlite[0].of_type(SECRET)]


def test_a_registry_username_without_its_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="registryPassword: required with registryUsername"):
        _plan(registryUsername="deployer")


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_image_platform_comes_from_config(platform: str) -> None:
    plan, _ = _plan(platform=platform)
    assert plan.one(IMAGE).inputs["build"]["platform"] == platform


def test_a_rotated_database_url_rolls_the_pods(plan: OfflinePlan) -> None:
    """The app reads the mounted Secret when it starts: the Secret is named after its
    content, so a new URL is a new Secret and a changed pod template, which rolls."""
    rotated, _ = _plan(
        secrets={"databaseUrl": DB_URL.replace("s3cret-pw", "rotated-pw")},
        ingressHost="api.example.com",
        ingressTlsSecret="api-example-com-tls",
        databaseCidr="10.20.0.0/24",
    )
    before = _spec(_secret(plan))["metadata"]["name"]
    after = _spec(_secret(rotated))["metadata"]["name"]
    assert before != after and after.startswith("shipways-database-")
    for kind in (DEPLOYMENT, JOB):
        volumes = _pod(rotated, kind)["volumes"]
        refs = [v["secret"]["secretName"] for v in volumes if v["name"] == "database"]
        assert refs == [after]
    assert "rotated-pw" not in after and "s3cret" not in before


@pytest.mark.parametrize(
    ("environment", "protect", "expected"),
    [("demo", None, False), ("dev", None, False), ("prod", None, True), ("prod", False, False)],
)
def test_namespace_is_protected_and_retained_outside_demo(
    environment: str, protect: bool | None, expected: bool
) -> None:
    plan, _ = _plan(environment=environment, protectStateful=protect)
    options = plan.one(NAMESPACE).options
    assert options is not None
    assert (options.protect, options.retain_on_delete) == (expected, expected)
    others = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type != NAMESPACE]
    assert others and not any(r.options and r.options.protect for r in others)


@pytest.mark.parametrize(("replicas", "hpa_max"), [(2, 6), (1, 3)])
def test_several_pods_without_a_shared_database_are_refused(replicas: int, hpa_max: int) -> None:
    """Pods with their own SQLite would each see a different catalogue: refused up front,
    naming the keys that fix it, before anything is declared."""
    with pytest.raises(ConfigError) as refused:
        _plan(replicas=replicas, hpaMaxReplicas=hpa_max)
    message = str(refused.value)
    assert message.startswith("shipways:databaseUrl: required with")
    for key in ("shipways:replicas: 1", "shipways:hpaMaxReplicas: 1", "--secret databaseUrl"):
        assert key in message


def test_the_committed_stack_plans_with_a_stand_in_database() -> None:
    """The committed file runs 2 pods; its offline plan stands in for the databaseUrl secret
    (a name that resolves nowhere), so every pod reads the same database."""
    plan = plan_stack("k8s")
    assert _spec(plan.one(DEPLOYMENT))["spec"]["replicas"] == 2
    assert unwrap(_secret(plan).inputs)["stringData"]["DATABASE_URL"].endswith(
        ".invalid:5432/shipways"
    )
    assert len(plan.of_type(JOB)) == 1


def test_write_token_is_a_secret_mounted_as_a_file_in_the_web_pods_only(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, seen = postgres
    token = _spec(_secret(plan, "writeTokenSecret"))
    assert token["stringData"] == {"write-token": OFFLINE_WRITE_TOKEN}
    assert token["immutable"] is True
    name = manifests.token_secret_name(narrow(plan.config, K8sConfig), OFFLINE_WRITE_TOKEN)
    assert token["metadata"]["name"] == name  # content-hashed: a new token rolls the pods
    # The value travels as a Pulumi secret and stays one in the state.
    assert seen.raw["writeTokenSecret"]["stringData"][SIG_KEY] == SECRET_SIG
    assert {"stringData", "data"} <= set(seen.secret_outputs["writeTokenSecret"])
    web = _pod(plan)
    (volume,) = [v for v in web["volumes"] if v["name"] == "write-token"]
    assert volume["secret"] == {"secretName": name, "defaultMode": 0o440}
    container = web["containers"][0]
    assert {"name": "WRITE_TOKEN_FILE", "value": manifests.WRITE_TOKEN_FILE} in container["env"]
    assert {
        "name": "write-token",
        "mountPath": manifests.WRITE_TOKEN_DIR,
        "readOnly": True,
    } in container["volumeMounts"]
    assert OFFLINE_WRITE_TOKEN not in json.dumps(container), "a file, never an env value"
    assert "writeTokenSecret" in seen.depends["deployment"]
    # The migration Job writes nothing over HTTP: it never sees the token.
    job = _pod(plan, JOB)
    assert "write-token" not in json.dumps(job)


def test_write_token_is_exported_as_a_secret_and_a_given_one_is_used(
    postgres: tuple[OfflinePlan, Registrations],
) -> None:
    plan, _ = postgres
    exported = plan.exports["write_token"]
    assert exported[SIG_KEY] == SECRET_SIG, "exported in plain text"
    assert exported["value"] == OFFLINE_WRITE_TOKEN
    given = "given-token-of-the-operator-0123456789"
    chosen, _ = _plan(secrets={"writeToken": given})
    assert not chosen.of_type(WRITE_TOKEN), "a given token is used, none generated"
    assert _spec(_secret(chosen, "writeTokenSecret"))["stringData"] == {"write-token": given}
    with pytest.raises(Exception, match=r"writeToken \(value hidden\) is no usable write token"):
        _plan(secrets={"writeToken": "short"})
