"""The one config model: what each stack accepts, validated before anything is declared.

Every key lives in the `shipways:` namespace of a stack file (`stacks/Pulumi.<stack>.yaml`).
The same model serves `pulumi up` (values from the Pulumi runtime), the offline harness and
the local sandboxes (values read straight from the stack file), so a typo or an unsafe value
is caught the same way everywhere, naming the key and what to do about it.

Secrets (`databaseUrl`, registry passwords) are not fields here: a validated model is plain
data that may be printed, while secrets must stay Pulumi secrets from config to resource. The
stack entry (`infra.stack.read_config`) reads them as Pulumi secrets and refuses one stored in
plain text.

Which model belongs to which target is the registry's (`infra.targets.registry`) to say;
`narrow` is the one check that a config is the model a target needs.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypedDict, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra import appspec
from infra.app_settings import RESERVED_EVERYWHERE, AppSettings, reserved
from infra.targets.registry import TargetName, slice_of, slices

NAMESPACE = "shipways"
STACKS_DIR = Path(__file__).resolve().parent.parent / "stacks"


class ConfigError(ValueError):
    """A stack's configuration is wrong; the message names the key and the fix."""


class NoStackFile(ConfigError):
    """The stack named has no file: a usage mistake rather than a broken configuration."""


TagKey = Annotated[str, Field(min_length=1, max_length=128)]
Tags = dict[TagKey, Annotated[str, Field(max_length=256)]]
AppName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
WebConcurrency = Annotated[int, Field(ge=1, le=32)]
ReleasesToKeep = Annotated[int, Field(ge=2, le=50)]
# Environments whose stateful resources may go away with `pulumi destroy` unless told otherwise.
THROWAWAY_ENVIRONMENTS = frozenset({"demo", "dev"})


def _app_spec(value: Any) -> Any:
    """`app: NAME|PATH` (a path relative to the project root) as the spec it names."""
    if isinstance(value, str):
        try:
            return appspec.resolve(value)
        except appspec.AppSpecError as exc:
            raise ValueError(str(exc)) from None
    return value


def _app_choice(spec: appspec.AppSpec) -> str:
    return spec.label()


# Which app the stack ships: written as a name or path, held as the spec read from it.
App = Annotated[appspec.AppSpec, BeforeValidator(_app_spec), PlainSerializer(_app_choice)]


class StatefulOptions(TypedDict):
    """The Pulumi resource options a stateful resource takes (`ResourceOptions(**these)`)."""

    protect: bool
    retain_on_delete: bool


class StackConfig(BaseModel):
    """Keys every stack shares."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
    # Every target takes `writeToken` (the bearer token writes need; generated when unset).
    secret_keys: ClassVar[tuple[str, ...]] = ("writeToken",)
    required_tags: ClassVar[tuple[str, ...]] = ("project", "environment")

    target: TargetName | None = None
    app_name: AppName = "shipways"
    app: App = Field(default_factory=appspec.default)
    environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,20}$")] = "demo"
    tags: Tags = Field(default_factory=dict)
    web_concurrency: WebConcurrency = 2
    protect_stateful: bool | None = None

    def resource_tags(self) -> dict[str, str]:
        """Tags stamped on every taggable resource, so cost and ownership are traceable."""
        return {"project": self.app_name, "environment": self.environment, **self.tags}

    @property
    def protects_stateful(self) -> bool:
        """Whether resources holding data or addresses are protected and retained on delete.

        On by default outside throwaway environments: a mistyped `pulumi destroy` on prod
        must not take the server, its address or its bundles with it.
        """
        if self.protect_stateful is not None:
            return self.protect_stateful
        return self.environment not in THROWAWAY_ENVIRONMENTS

    def stateful_options(self) -> StatefulOptions:
        """`protect` and `retain_on_delete` for a stateful resource."""
        return {"protect": self.protects_stateful, "retain_on_delete": self.protects_stateful}


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR block like 203.0.113.7/32 ({exc})") from exc


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    re.I,
)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class VpsConfig(StackConfig):
    """A Debian 12 server configured over SSH: created on EC2, or an existing `host`."""

    host: str | None = None
    ssh_port: Annotated[int, Field(ge=1, le=65535)] = 22
    ssh_user: str = "admin"
    ssh_public_key: str | None = None
    ssh_private_key_path: str = "~/.ssh/id_ed25519"
    ssh_allowed_cidr: str | None = None
    allow_ssh_from_anywhere: bool = False
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")] = "t3.small"
    root_volume_gb: Annotated[int, Field(ge=8, le=512)] = 20
    domain: str | None = None
    letsencrypt_email: str | None = None
    releases_to_keep: ReleasesToKeep = 5

    @field_validator("ssh_allowed_cidr")
    @classmethod
    def _check_cidr(cls, value: str | None) -> str | None:
        return None if value is None else _cidr(value)

    @field_validator("host", "domain")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None or _is_ip(value) or _HOSTNAME.fullmatch(value):
            return value
        raise ValueError(f"{value!r} is not an IP address or DNS name (no scheme, port or path)")

    @field_validator("ssh_public_key")
    @classmethod
    def _check_public_key(cls, value: str | None) -> str | None:
        if value is not None and "PRIVATE KEY" in value:
            raise ValueError(
                "this is a PRIVATE key; put the `.pub` line here, keep the private key "
                "file on your machine (sshPrivateKeyPath) and replace the leaked key"
            )
        return value

    @field_validator("ssh_private_key_path")
    @classmethod
    def _check_private_key_path(cls, value: str) -> str:
        if value.endswith(".pub"):
            raise ValueError("names a public key; give the private half (without .pub)")
        return value

    @model_validator(mode="after")
    def _check_server(self) -> VpsConfig:
        if self.host is None and not self.ssh_public_key:
            raise ValueError(
                "sshPublicKey: required to create a server (or set `host` to use an existing one)"
            )
        if self.host is None and self.ssh_allowed_cidr is None:
            raise ValueError(
                "sshAllowedCidr: required to create a server; use your own address, "
                "e.g. `pulumi config set sshAllowedCidr 203.0.113.7/32`"
            )
        if self.host is None and self.ssh_port != 22:
            raise ValueError(
                "sshPort: a created server's sshd listens on 22; another port needs `host`"
            )
        world = self.ssh_allowed_cidr is not None and self.ssh_allowed_cidr.endswith("/0")
        if world and not self.allow_ssh_from_anywhere:
            raise ValueError(
                f"sshAllowedCidr: {self.ssh_allowed_cidr} opens SSH to the whole internet; "
                "use your own /32, or set allowSshFromAnywhere: true if you really mean it"
            )
        if self.domain and not self.letsencrypt_email:
            raise ValueError("letsencryptEmail: required when `domain` is set (certbot needs it)")
        return self


SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]


class ManagedDatabaseConfig(StackConfig):
    """Keys of the stacks that create their PostgreSQL on Amazon RDS (`infra/targets/database.py`).

    `database: managed` (the default) creates it; `external` uses the `databaseUrl` secret and
    creates nothing. The deploy checks that the secret and this key agree.
    """

    database: Literal["managed", "external"] = "managed"
    # The smallest current Graviton class: 2 vCPU (burstable), 1 GiB.
    database_instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] = (
        "db.t4g.micro"
    )
    database_storage_gb: Annotated[int, Field(ge=20, le=1024)] = 20
    # Automated backups: 0 would turn them off, which this recipe does not allow.
    database_backup_days: Annotated[int, Field(ge=1, le=35)] = 7
    # The database's (and the app's) subnets; unset: every subnet of the default VPC.
    database_subnet_ids: list[SubnetId] | None = None

    @field_validator("database_subnet_ids")
    @classmethod
    def _two_subnets(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) < 2:
            raise ValueError(
                "an RDS subnet group needs subnets in at least two availability zones; "
                "list two or more, or leave the key unset to use the default VPC's subnets"
            )
        return value


PAAS_RESERVED_ENV = {
    **RESERVED_EVERYWHERE,
    **reserved(["PORT", "WEB_BIND_HOST"], "the recipe: where the platform's nginx forwards to"),
}
K8S_RESERVED_ENV = {
    **RESERVED_EVERYWHERE,
    **reserved(["PORT"], "the recipe: the container port the probes and the Service use"),
    **reserved(["WEB_CONCURRENCY"], "the recipe, from the `webConcurrency` key"),
    **reserved(["SHIPWAYS_TRUSTED_PROXIES"], "the recipe, from the `trustedProxies` key"),
    **reserved(["SHIPWAYS_GIT_SHA"], "the image, so /version names the code that runs"),
}
# Lambda refuses these itself ("Reserved keys used in this request"): it sets them.
LAMBDA_RESERVED_ENV = frozenset(
    {
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)
SERVERLESS_RESERVED_ENV = {
    **RESERVED_EVERYWHERE,
    **reserved(LAMBDA_RESERVED_ENV, "Lambda itself (it refuses a function that sets it)"),
    **reserved(["SHIPWAYS_GIT_SHA"], "the recipe, so /version names the deployed code"),
    **reserved(
        ["SHIPWAYS_MIGRATE_ON_INIT"], "the recipe: each instance migrates its SQLite at init"
    ),
}
# How a new Lambda version takes the `live` alias's traffic: CodeDeploy's predefined Lambda
# deployment configurations (`CodeDeployDefault.Lambda<name>`), named as SAM names them.
TrafficShifting = Literal[
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
]
AcmCertificateArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$")
]


class PaasConfig(ManagedDatabaseConfig, AppSettings):
    """AWS Elastic Beanstalk running the source bundle."""

    secret_keys: ClassVar[tuple[str, ...]] = ("databaseUrl", "writeToken")
    reserved_env: ClassVar[Mapping[str, str]] = PAAS_RESERVED_ENV

    environment_type: Literal["SingleInstance", "LoadBalanced"] = "SingleInstance"
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")] = "t3.small"
    min_instances: Annotated[int, Field(ge=1, le=20)] = 1
    max_instances: Annotated[int, Field(ge=1, le=20)] = 2
    # Must pick the Python that app/.python-version names (a test keeps the two in step).
    platform_pattern: str = r"^64bit Amazon Linux 2023 (.*) running Python 3\.11$"
    health_check_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_-]*$")] = "/readyz"
    # Application versions Beanstalk keeps (the newest ones): what a rollback can go back to.
    versions_to_keep: Annotated[int, Field(ge=2, le=1000)] = 20
    # HTTPS (LoadBalanced): the ACM certificate the load balancer's 443 listener serves.
    certificate_arn: AcmCertificateArn | None = None
    allow_http: bool = False  # LoadBalanced without a certificate: plain HTTP, on purpose
    # How a new version replaces the running one; both start new instances that must pass
    # the health check before an old one drains (`shipways up paas` runs the same policy).
    deployment_policy: Literal["Immutable", "RollingWithAdditionalBatch"] = "Immutable"

    @field_validator("platform_pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_scaling(self) -> PaasConfig:
        if self.max_instances < self.min_instances:
            raise ValueError(
                f"maxInstances: {self.max_instances} is below minInstances {self.min_instances}"
            )
        load_balanced = self.environment_type == "LoadBalanced"
        if load_balanced and not self.certificate_arn and not self.allow_http:
            raise ValueError(
                "certificateArn: required when environmentType is LoadBalanced, so the load "
                "balancer serves HTTPS (an ACM certificate for your domain, in the stack's "
                "region: `aws acm request-certificate`); or set allowHttp: true to serve plain "
                "HTTP on purpose"
            )
        if self.deployment_policy == "RollingWithAdditionalBatch" and not load_balanced:
            raise ValueError(
                "deploymentPolicy: RollingWithAdditionalBatch needs environmentType: "
                "LoadBalanced (a batch is taken out of a load balancer); a SingleInstance "
                "environment deploys with Immutable"
            )
        if self.certificate_arn and not load_balanced:
            raise ValueError(
                "certificateArn: only used when environmentType is LoadBalanced: a "
                "SingleInstance environment has no load balancer to serve it (ACM "
                "certificates cannot be installed on an instance)"
            )
        return self


_MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
CpuQuantity = Annotated[str, Field(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")]
MemoryQuantity = Annotated[str, Field(pattern=r"^[0-9]+(k|M|G|Ki|Mi|Gi)?$")]
DnsName = Annotated[
    str,
    Field(
        max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]


K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (`250m`, `1.5`) in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (`256Mi`, `1G`, `1048576`) in bytes."""
    digits = quantity.rstrip("kMGi")
    return int(digits) * _MEMORY_UNITS[quantity[len(digits) :]]


class K8sConfig(StackConfig, AppSettings):
    """A Deployment on any conformant cluster, image from a registry or loaded locally."""

    secret_keys: ClassVar[tuple[str, ...]] = ("databaseUrl", "registryPassword", "writeToken")
    reserved_env: ClassVar[Mapping[str, str]] = K8S_RESERVED_ENV

    cluster_mode: Literal["registry", "kind", "k3d", "minikube"] = "registry"
    registry: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$")] | None = (
        None
    )
    registry_username: str | None = None
    # The kubeconfig context `pulumi up` deploys to (registry mode): named, never "current".
    kube_context: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    # The nodes' platform: the image is built for it (Graviton/Ampere nodes: linux/arm64).
    platform: Literal["linux/amd64", "linux/arm64"] = "linux/amd64"
    # How users reach the app without an Ingress: a cloud load balancer, or port-forward.
    service_type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    local_cluster: DnsName | None = None
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] = "shipways"
    replicas: Annotated[int, Field(ge=1, le=50)] = 2
    cpu_request: CpuQuantity = "100m"
    cpu_limit: CpuQuantity = "500m"
    memory_request: MemoryQuantity = "128Mi"
    memory_limit: MemoryQuantity = "256Mi"
    hpa_max_replicas: Annotated[int, Field(ge=1, le=100)] = 6
    hpa_cpu_percent: Annotated[int, Field(ge=10, le=95)] = 70
    ingress_host: DnsName | None = None
    # TLS for the Ingress: an existing Secret, or cert-manager issuing one from a ClusterIssuer.
    ingress_tls_secret: DnsName | None = None
    ingress_cluster_issuer: DnsName | None = None
    ingress_class: DnsName = "nginx"
    # A public edge without TLS (an Ingress host, or serviceType LoadBalancer) only with this.
    allow_http: bool = False
    # Per-client limits the ingress-nginx controller enforces for this Ingress.
    rate_limit_rps: Annotated[int, Field(ge=1, le=10_000)] = 50
    rate_limit_burst_multiplier: Annotated[int, Field(ge=1, le=100)] = 2
    rate_limit_connections: Annotated[int, Field(ge=1, le=10_000)] = 20
    # Who may connect to the pods (NetworkPolicy): the ingress controller's pods.
    ingress_controller_namespace: K8sName = "ingress-nginx"
    ingress_controller_name: K8sName = "ingress-nginx"  # its app.kubernetes.io/name label
    # Where the pods may connect besides DNS: the database (required with databaseUrl).
    database_cidr: str | None = None
    database_port: Annotated[int, Field(ge=1, le=65535)] = 5432
    # Peers whose X-Forwarded-* headers the app believes: the ingress controller's pod CIDR.
    trusted_proxies: str = "127.0.0.1"

    @field_validator("database_cidr")
    @classmethod
    def _check_database_cidr(cls, value: str | None) -> str | None:
        return None if value is None else _cidr(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for item in value.split(","):
            try:
                network = ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{item.strip()!r} is not an IP address or CIDR block; use a "
                    "comma-separated list such as your ingress controller's pod CIDR, "
                    "10.244.0.0/16"
                ) from None
            if network.prefixlen < (16 if network.version == 4 else 48):
                raise ValueError(
                    f"{item.strip()} is wider than a pod network: any peer in it could forge "
                    "X-Forwarded-For and X-Forwarded-Proto; use the ingress controller's pod "
                    "CIDR (e.g. 10.244.0.0/16)"
                )
        return value

    @model_validator(mode="after")
    def _check_cluster(self) -> K8sConfig:
        if self.cluster_mode == "registry" and not self.registry:
            raise ValueError(
                "registry: required when clusterMode is 'registry' (e.g. ghcr.io/you); "
                "for a local kind/k3d/minikube cluster set clusterMode instead"
            )
        if self.cluster_mode == "registry" and not self.kube_context:
            raise ValueError(
                "kubeContext: required when clusterMode is 'registry': the kubeconfig context "
                "of the cluster to deploy to (`kubectl config get-contexts` lists them), so "
                "`pulumi up` never deploys to whichever cluster happens to be current"
            )
        if self.kube_context and self.cluster_mode != "registry":
            raise ValueError(
                f"kubeContext: only used when clusterMode is 'registry'; {self.cluster_mode} "
                "deploys to the context its tool creates for localCluster"
            )
        if self.registry_username and self.cluster_mode != "registry":
            raise ValueError(
                f"registryUsername: only used when clusterMode is 'registry' "
                f"(it is {self.cluster_mode!r}, which loads the image without a registry)"
            )
        if self.hpa_max_replicas < self.replicas:
            raise ValueError(
                f"hpaMaxReplicas: {self.hpa_max_replicas} is below replicas {self.replicas}"
            )
        if cpu_cores(self.cpu_request) > cpu_cores(self.cpu_limit):
            raise ValueError(f"cpuRequest: {self.cpu_request} is above cpuLimit {self.cpu_limit}")
        if memory_bytes(self.memory_limit) < 64 * 2**20:
            raise ValueError(f"memoryLimit: {self.memory_limit} is too small; use at least 64Mi")
        if memory_bytes(self.memory_request) > memory_bytes(self.memory_limit):
            raise ValueError(
                f"memoryRequest: {self.memory_request} is above memoryLimit {self.memory_limit}"
            )
        if (self.ingress_tls_secret or self.ingress_cluster_issuer) and not self.ingress_host:
            raise ValueError(
                "ingressHost: required when ingressTlsSecret or ingressClusterIssuer is set"
            )
        tls = bool(self.ingress_tls_secret or self.ingress_cluster_issuer)
        if self.ingress_host and not tls and not self.allow_http:
            raise ValueError(
                f"ingressTlsSecret or ingressClusterIssuer: required with ingressHost "
                f"{self.ingress_host}, so the Ingress serves HTTPS (an existing TLS Secret, or "
                "a cert-manager ClusterIssuer such as letsencrypt-prod; see docs/k8s.md); or "
                "set allowHttp: true to serve plain HTTP on purpose"
            )
        if self.service_type == "LoadBalancer" and not self.allow_http:
            raise ValueError(
                "serviceType: LoadBalancer exposes the app over plain HTTP to the internet, "
                "without TLS or rate limits; set ingressHost with ingressTlsSecret or "
                "ingressClusterIssuer instead, or allowHttp: true if plain HTTP is meant"
            )
        return self


class ServerlessConfig(ManagedDatabaseConfig, AppSettings):
    """A Lambda function behind an API Gateway HTTP API."""

    secret_keys: ClassVar[tuple[str, ...]] = ("databaseUrl", "writeToken")
    reserved_env: ClassVar[Mapping[str, str]] = SERVERLESS_RESERVED_ENV

    runtime: Literal["python3.12", "python3.11"] = "python3.12"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512
    timeout_s: Annotated[int, Field(ge=1, le=29)] = 10
    # Caps concurrent instances, each holding one database connection: protects the database
    # (20, twice during a release while the old version's instances linger: about half of
    # what the smallest RDS class accepts).
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] | None = 20
    # RDS Proxy between the function and a managed database (IAM authentication).
    rds_proxy: bool = False
    log_retention_days: int = 14
    throttle_rate: Annotated[float, Field(gt=0, le=10000)] = 50
    throttle_burst: Annotated[int, Field(ge=1, le=5000)] = 100
    # The write route's own, tighter throttle (POST /products), within the stage's.
    write_throttle_rate: Annotated[float, Field(gt=0, le=10000)] = 5
    write_throttle_burst: Annotated[int, Field(ge=1, le=5000)] = 10
    # AllAtOnce: `pulumi up` moves the alias itself. Anything else: CodeDeploy shifts the
    # alias's traffic in steps and rolls back on the API's 5xx alarm (docs/serverless.md).
    traffic_shifting: TrafficShifting = "AllAtOnce"

    # CloudWatch accepts only these (shorter ones listed; it also has 400 to 3653).
    RETENTION_DAYS: ClassVar[tuple[int, ...]] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365)

    @field_validator("log_retention_days")
    @classmethod
    def _check_retention(cls, value: int) -> int:
        # A validator, not a Literal: Pulumi hands config values over as text ("14").
        if value not in cls.RETENTION_DAYS:
            allowed = ", ".join(map(str, cls.RETENTION_DAYS))
            raise ValueError(f"CloudWatch keeps logs for one of {allowed} days, not {value}")
        return value

    @model_validator(mode="after")
    def _check_proxy(self) -> ServerlessConfig:
        if self.rds_proxy and self.database != "managed":
            raise ValueError(
                "rdsProxy: only with database: managed (the proxy fronts the RDS instance the "
                "stack creates); an external database brings its own pooling"
            )
        return self

    @model_validator(mode="after")
    def _check_write_throttle(self) -> ServerlessConfig:
        if self.write_throttle_rate > self.throttle_rate:
            raise ValueError(
                f"writeThrottleRate: {self.write_throttle_rate:g} is above throttleRate "
                f"{self.throttle_rate:g}; writes are throttled tighter than reads"
            )
        if self.write_throttle_burst > self.throttle_burst:
            raise ValueError(
                f"writeThrottleBurst: {self.write_throttle_burst} is above throttleBurst "
                f"{self.throttle_burst}; writes are throttled tighter than reads"
            )
        return self


# What the committed stack files use as example values: documentation addresses (RFC 5737,
# RFC 3849), reserved names (RFC 2606) and an explicit marker. None of them can be a real
# deploy's value, so `pulumi preview`/`up` refuses them; the local sandboxes, which never
# create a server or push an image, do not ask.
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_RESERVED_NAMES = ("example.com", "example.net", "example.org", "example", "test", "invalid")
_MARKER = "replace-me"


def _example_reason(key: str, value: str) -> str | None:
    """Why `value` is a placeholder rather than a real setting, or None if it looks real."""
    if _MARKER in value.lower():
        return f"carries the {_MARKER!r} marker"
    for token in re.split(r"[\s/@]+", value.lower()):
        try:
            network = ipaddress.ip_network(token, strict=False)
        except ValueError:
            network = None
        if network is not None and any(
            network.version == doc.version and network.subnet_of(doc)  # type: ignore[arg-type]
            for doc in _DOCUMENTATION_NETWORKS
        ):
            return f"{token} is a documentation address (RFC 5737/3849), not yours"
        name = token.split(":")[0]
        if "." in name and any(name == r or name.endswith(f".{r}") for r in _RESERVED_NAMES):
            return f"{name} is a reserved example name (RFC 2606)"
    if key == "registry" and value.split("/")[1:2] == ["example"]:
        return "the `example` account is the stack file's placeholder"
    return None


def example_values(config: StackConfig) -> dict[str, str]:
    """Keys still holding a stack file's example value, with why each one is refused."""
    found = {}
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        if isinstance(value, str):
            reason = _example_reason(name, value)
            if reason is not None:
                found[field.alias or name] = reason
    return found


def require_real_values(config: StackConfig) -> None:
    """Refuse example values before a real deploy (`pulumi preview`/`up`), naming each key."""
    found = example_values(config)
    if found:
        lines = [
            f"{NAMESPACE}:{key}: still the stack file's example value ({reason}); set yours "
            f"with `pulumi config set {NAMESPACE}:{key} ...`"
            for key, reason in found.items()
        ]
        raise ConfigError(
            "example values must be replaced before a deploy:\n  " + "\n  ".join(lines)
        )


Model = TypeVar("Model", bound=StackConfig)


def narrow(config: StackConfig, model: type[Model]) -> Model:
    """`config` as the target model `model`, or a ConfigError saying which stack to use.

    A sandbox or a component is handed the config of the stack it was pointed at; this is the
    one check that the stack is for its target (`shipways up vps --stack k8s`).
    """
    if isinstance(config, model):
        return config
    wanted = _target_of(model)
    raise ConfigError(
        f"this is a {_target_of(type(config))} stack's configuration, not a {wanted} one: use "
        f"a stack named {wanted} or {wanted}-<suffix>, or set `shipways:target: {wanted}`"
    )


def _target_of(model: type[StackConfig]) -> str:
    return next((s.name.value for s in slices() if s.config_model() is model), "shared")


def select_target(stack: str, target_key: str | None) -> TargetName:
    """The stack name picks the target (`vps`, `paas-prod` -> paas) unless `target` is set."""
    wanted = target_key or stack.split("-")[0]
    try:
        return TargetName(wanted)
    except ValueError:
        names = ", ".join(t.value for t in TargetName)
        where = "shipways:target" if target_key else f"stack name {stack!r}"
        raise ConfigError(
            f"{where}: unknown target {wanted!r}; name the stack after one of {names} "
            "(optionally with a suffix, e.g. vps-prod) or set `shipways:target`"
        ) from None


def _decode(value: Any) -> Any:
    """Pulumi hands structured values over as JSON text; plain strings stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def validate(target: TargetName, raw: dict[str, Any]) -> StackConfig:
    """Validate `shipways:*` values (keys without the namespace) for one target."""
    model = slice_of(target).config_model()
    plain = {k: _decode(v) for k, v in raw.items() if k not in model.secret_keys}
    try:
        config = model.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, model)) from None
    missing_tags = [t for t in model.required_tags if t not in config.resource_tags()]
    if missing_tags:
        raise ConfigError(f"tags: missing required tag(s) {', '.join(missing_tags)}")
    return config


def _explain(exc: ValidationError, model: type[StackConfig]) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(stack)"
        if err["type"] == "extra_forbidden":
            known = ", ".join(sorted(f.alias or n for n, f in model.model_fields.items()))
            lines.append(f"{NAMESPACE}:{key}: unknown key; known keys are {known}")
        elif err["type"] == "value_error" and not err["loc"]:
            lines.append(f"{NAMESPACE}:{str(err['msg']).removeprefix('Value error, ')}")
        elif err["type"] == "value_error":  # our own validators' messages name the value
            lines.append(f"{NAMESPACE}:{key}: {str(err['msg']).removeprefix('Value error, ')}")
        else:
            lines.append(f"{NAMESPACE}:{key}: {err['msg']} (got {err.get('input')!r})")
    return "invalid stack configuration:\n  " + "\n  ".join(lines)


def read_stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> dict[str, Any]:
    """All `config:` values of `stacks/Pulumi.<stack>.yaml`, keys as Pulumi spells them."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.name.split(".")[1] for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise NoStackFile(f"no stack file {path}; known stacks: {', '.join(known)}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}; fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a `config:` key; fix the file")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: `config:` must be a mapping")
    return config


def namespaced(config: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Split a Pulumi config bag into our keys (namespace stripped) and which of them are secret.

    In a stack file a secret is `{secure: ...}` ciphertext; the local tools can't decrypt it
    and don't need to, so it only counts as "set, secret".
    """
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret.add(key)
        values[key] = value
    return values, secret


@dataclass(frozen=True)
class LoadedStack:
    """A stack file read and validated once, as the local tools hand it down."""

    name: str
    target: TargetName
    config: StackConfig
    aws_region: str | None = None  # `aws:region`, for stand-ins that mimic an AWS service

    def with_app(self, app: appspec.AppSpec) -> LoadedStack:
        """This stack shipping `app` instead of the one its file names (`up --app`)."""
        return replace(self, config=self.config.model_copy(update={"app": app}))


def read_stack(stack: str, stacks_dir: Path = STACKS_DIR) -> LoadedStack:
    """Read and validate `stacks/Pulumi.<stack>.yaml` (the CLI does this once per command)."""
    bag = read_stack_file(stack, stacks_dir)
    values, _ = namespaced(bag)
    target = select_target(stack, values.get("target"))
    region = bag.get("aws:region")
    return LoadedStack(
        stack, target, validate(target, values), None if region is None else str(region)
    )


def load_stack(stack: str, stacks_dir: Path = STACKS_DIR) -> StackConfig:
    """The validated config of a stack file, as the local tools see it."""
    return read_stack(stack, stacks_dir).config
