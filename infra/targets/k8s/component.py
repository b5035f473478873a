"""The `k8s` stack: the app's image, built and pushed (or loaded), and its Kubernetes objects.

The objects come from `manifests.render`, the same function `shipways plan k8s --manifests`
writes as YAML and the local sandbox runs, so the three can never drift. This module only
adds what a real deploy needs around them:

- the image, built from `app/Dockerfile` with BuildKit for the nodes' `platform` and pushed
  to `registry` (credentials from config, the password a secret); pods reference it by the
  digest the push returned, and pull it with those same credentials (an imagePullSecret);
  With `clusterMode: kind | k3d | minikube` it is not pushed but loaded into that cluster,
  under a tag named after the build context's content hash (a local image has no digest);
- the order: every object waits for its Namespace, pods for their ConfigMap, Secret and
  ServiceAccount, and the Deployment for the migration Job, which pulumi-kubernetes awaits
  until it has completed. The Job is named after the image, so each release migrates once;
- the write token (`writeToken` from the stack config, else generated once): a
  content-hashed Secret mounted read-only into the web pods (`WRITE_TOKEN_FILE`), never an
  environment variable; exported as a secret output;
- the HPA owns `replicas` after the first deploy (`ignore_changes`), so `pulumi up` does not
  scale the Deployment back down under load;
- the cluster: always a named kubeconfig context (`kubeContext`, or the one the local tool
  creates), never whichever context is current on the deploying machine;
- the URL users reach: the Ingress host, the LoadBalancer's address, or, for a ClusterIP
  Service, 127.0.0.1 through the exported `portForward` command;
- the Namespace is stateful (deleting it deletes everything in it): `protectStateful`.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
from pulumi import dynamic

from infra.config import NAMESPACE, ConfigError, K8sConfig, StackConfig, narrow
from infra.targets.k8s import image as app_image
from infra.targets.k8s import manifests
from infra.write_token import CONFIG_KEY, deployment_token

TYPE = "shipways:k8s:App"

KINDS: dict[str, type[pulumi.CustomResource]] = {
    "Namespace": k8s.core.v1.Namespace,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Secret": k8s.core.v1.Secret,
    "Job": k8s.batch.v1.Job,
    "Deployment": k8s.apps.v1.Deployment,
    "Service": k8s.core.v1.Service,
    "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "HorizontalPodAutoscaler": k8s.autoscaling.v2.HorizontalPodAutoscaler,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "Ingress": k8s.networking.v1.Ingress,
}
# Which objects (by kind) must exist before an object of this kind is applied.
NEEDS: dict[str, tuple[str, ...]] = {
    # A pod never runs, even briefly, before its NetworkPolicy is in place.
    "Job": ("ServiceAccount", "ConfigMap", "Secret", "NetworkPolicy"),
    "Deployment": ("ServiceAccount", "ConfigMap", "Secret", "Job", "NetworkPolicy"),
    "HorizontalPodAutoscaler": ("Deployment",),
    "PodDisruptionBudget": ("Deployment",),
    "Ingress": ("Service",),
}
# `kind`: the kubeconfig context each local cluster tool creates, and its default cluster name.
LOCAL_CLUSTERS: dict[str, tuple[str, str]] = {
    "kind": ("kind-{}", "kind"),
    "k3d": ("k3d-{}", "k3s-default"),
    "minikube": ("{}", "minikube"),
}


def load_command(tool: str, cluster: str, image: str) -> list[str]:
    """How each local cluster tool copies an image from the Docker engine into the cluster."""
    commands = {
        "kind": ["kind", "load", "docker-image", image, "--name", cluster],
        "k3d": ["k3d", "image", "import", image, "--cluster", cluster],
        "minikube": ["minikube", "image", "load", image, "--profile", cluster],
    }
    return commands[tool]


class _LoadImageProvider(dynamic.ResourceProvider):
    """Runs `kind load` / `k3d image import` / `minikube image load` on the deploying host."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        command = load_command(props["tool"], props["cluster"], props["image"])
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise RuntimeError(
                f"`{command[0]}` is not on the PATH of `pulumi up`: install {props['tool']} "
                f"(shipways:clusterMode is {props['tool']}), or use clusterMode: registry"
            ) from None
        if result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(command)}` failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}\n"
                f"Is the {props['tool']} cluster {props['cluster']!r} running?"
            )
        return dynamic.CreateResult(id_=f"{props['cluster']}/{props['image']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("tool", "cluster", "image")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=changed)


class LoadedImage(dynamic.Resource):
    """An image present in a local cluster's container runtime."""

    image: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        tool: str,
        cluster: str,
        image: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _LoadImageProvider(),
            name,
            {"tool": tool, "cluster": cluster, "image": image},
            opts,
        )


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def kube_context(config: K8sConfig) -> str:
    """The kubeconfig context the stack deploys to: configured, or the local tool's."""
    if config.cluster_mode == "registry":
        assert config.kube_context is not None  # required by K8sConfig in registry mode
        return config.kube_context
    context, default = LOCAL_CLUSTERS[config.cluster_mode]
    return context.format(config.local_cluster or default)


def _load_balancer_url(status: Any) -> str:
    """`http://<hostname or ip>` of a LoadBalancer Service (pulumi-kubernetes waits for it)."""
    first = status.load_balancer.ingress[0]
    return f"http://{first.hostname or first.ip}"


class App(pulumi.ComponentResource):
    """The image and every Kubernetes object of one environment of the app."""

    url: pulumi.Output[str]
    image: pulumi.Output[str]
    port_forward: str | None

    def __init__(
        self,
        name: str,
        config: K8sConfig,
        secrets: dict[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        registry_auth = _registry_auth(config, secrets)  # refused before anything is declared
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.image = self._build_image(config, secrets, child)
        database_url = secrets.get("databaseUrl")
        self.write_token = deployment_token(secrets.get(CONFIG_KEY), child)
        release = manifests.Release(
            image=self.image,
            database_url=database_url,
            migrate_job=(
                self.image.apply(lambda ref: manifests.migrate_job_name(config, ref))
                if database_url is not None
                else None
            ),
            # A hash of the URL, not the URL: shown in plain text like any object name.
            database_secret=(
                pulumi.Output.unsecret(
                    database_url.apply(lambda url: manifests.secret_name(config, url))
                )
                if database_url is not None
                else None
            ),
            registry_auth=registry_auth,
            write_token=self.write_token,
            token_secret=pulumi.Output.unsecret(
                self.write_token.apply(lambda token: manifests.token_secret_name(config, token))
            ),
        )
        provider = k8s.Provider("cluster", context=kube_context(config), opts=child)
        self.objects: dict[str, list[pulumi.CustomResource]] = {}
        for obj in manifests.render(config, release):
            self._declare(
                obj,
                pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(provider=provider)),
                config,
            )
        self.url, self.port_forward = self._url(config)
        self.register_outputs({"url": self.url, "image": self.image})

    def _url(self, config: K8sConfig) -> tuple[pulumi.Output[str], str | None]:
        """Where a user reaches the app, and the command that opens it when one is needed."""
        ingress = manifests.ingress_url(config)
        if ingress is not None:
            return pulumi.Output.from_input(ingress), None
        service = self.objects["Service"][0]
        if config.service_type == "LoadBalancer":
            return service.status.apply(_load_balancer_url), None  # type: ignore[attr-defined]
        local = f"http://127.0.0.1:{manifests.PORT_FORWARD_LOCAL}"
        command = manifests.port_forward_command(config, kube_context(config))
        return pulumi.Output.from_input(local), command

    def _build_image(
        self,
        config: K8sConfig,
        secrets: dict[str, pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """Build the image; return the reference pods use (a digest, or a loaded tag)."""
        local = config.cluster_mode != "registry"
        repository = config.app_name if local else str(config.registry)
        app_dir = config.app.directory  # the app's own Dockerfile builds its image
        registry = None
        if not local and config.registry_username:
            registry = docker.RegistryArgs(
                server=repository.split("/")[0],
                username=config.registry_username,
                password=secrets.get("registryPassword"),
            )
        built = docker.Image(
            "image",
            image_name=f"{repository}:{app_image.source_digest(app_dir)}",
            build=docker.DockerBuildArgs(
                context=str(app_dir),
                dockerfile=str(app_dir / app_image.DOCKERFILE),
                platform=config.platform,
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
                args=app_image.label_args(app_dir),
            ),
            registry=registry,
            skip_push=local,
            opts=child,
        )
        if not local:
            return built.repo_digest
        _, default = LOCAL_CLUSTERS[config.cluster_mode]
        loaded = LoadedImage(
            "loaded-image",
            tool=config.cluster_mode,
            cluster=config.local_cluster or default,
            image=built.image_name,
            opts=child,
        )
        return loaded.image

    def _declare(
        self, obj: dict[str, Any], opts: pulumi.ResourceOptions, config: K8sConfig
    ) -> None:
        kind = obj["kind"]
        kinds = ("Namespace", *NEEDS.get(kind, ()))
        needs = [r for k in kinds for r in self.objects.get(k, [])]
        extra = pulumi.ResourceOptions(depends_on=needs)
        if kind == "Namespace":
            extra = pulumi.ResourceOptions(**config.stateful_options())
        if kind == "Deployment":
            extra.ignore_changes = ["spec.replicas"]
        if kind == "Secret":
            extra.additional_secret_outputs = ["stringData", "data"]
        props = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        name = kind[0].lower() + kind[1:]
        if obj.get("type") == "kubernetes.io/dockerconfigjson":
            name = "registrySecret"
        if kind == "Secret" and manifests.WRITE_TOKEN_KEY in obj.get("stringData", {}):
            name = "writeTokenSecret"
        if kind == "NetworkPolicy" and self.objects.get(kind):  # the migration Job's
            name = f"{name}-{obj['metadata']['labels'][manifests.COMPONENT]}"
        merged = pulumi.ResourceOptions.merge(opts, extra)
        self.objects.setdefault(kind, []).append(KINDS[kind](name, opts=merged, **props))


def _registry_auth(config: K8sConfig, secrets: dict[str, pulumi.Output[str]]) -> Any:
    """The `.dockerconfigjson` pods pull with (a secret), when the stack logs in to push."""
    if not config.registry_username:
        return None
    password = secrets.get("registryPassword")
    if password is None:
        raise ConfigError(
            f"{NAMESPACE}:registryPassword: required with registryUsername (the cluster pulls "
            "with the same login); `pulumi config set --secret registryPassword ...`"
        )
    server = str(config.registry).split("/")[0]
    username = config.registry_username
    return pulumi.Output.secret(
        password.apply(lambda pw: manifests.docker_config_json(server, username, pw))
    )


def require_shared_database(config: K8sConfig, secrets: dict[str, pulumi.Output[str]]) -> None:
    """More than one pod without `databaseUrl` would give each pod its own SQLite: a product
    created through one pod would be missing from the next read served by another."""
    if "databaseUrl" in secrets or max(config.replicas, config.hpa_max_replicas) == 1:
        return
    raise ConfigError(
        f"{NAMESPACE}:databaseUrl: required with replicas: {config.replicas} and "
        f"hpaMaxReplicas: {config.hpa_max_replicas}: without a shared database every pod keeps "
        "its own SQLite, and reads through one pod miss what another stored. Set "
        "`pulumi config set --secret databaseUrl postgresql://...` (on EKS, the URL of an RDS "
        f"instance) with {NAMESPACE}:databaseCidr, or run one pod: {NAMESPACE}:replicas: 1 and "
        f"{NAMESPACE}:hpaMaxReplicas: 1"
    )


def deploy(stack_config: StackConfig, secrets: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
    config = narrow(stack_config, K8sConfig)
    require_shared_database(config, secrets)
    if "databaseUrl" in secrets and not config.database_cidr:
        raise ConfigError(
            f"{NAMESPACE}:databaseCidr: required with databaseUrl: the pods' NetworkPolicy "
            "lets them connect only to DNS and this network (the database's address or "
            "subnet, e.g. 10.20.0.0/24; databasePort defaults to 5432)"
        )
    app = App(config.app_name, config, secrets)
    exports: dict[str, Any] = {
        "url": app.url,
        "image": app.image,
        "namespace": config.namespace,
        "write_token": app.write_token,  # a secret: `pulumi stack output --show-secrets`
    }
    if app.port_forward is not None:
        exports["portForward"] = app.port_forward
    return exports
