"""Who reaches the pods, how, and where they may connect: Ingress and NetworkPolicies.

- The Ingress serves HTTPS when public: its TLS comes from an existing Secret
  (`ingressTlsSecret`) or from cert-manager (`ingressClusterIssuer`: the annotation makes
  cert-manager issue the certificate into `<app>-tls`). A host without TLS is refused by
  the config model unless `allowHttp: true`.
- ingress-nginx limits each client address to `rateLimitRps` requests a second (bursts of
  `rateLimitBurstMultiplier` times that) and `rateLimitConnections` open connections. The
  status code and the Retry-After header of a limited request are the controller's settings,
  cluster-wide (`limit-req-status-code` in its ConfigMap; see docs/k8s.md): an Ingress
  cannot set them.
- The web pods admit connections on the app port only from the ingress controller's pods
  (its namespace and `app.kubernetes.io/name` label), plus anyone when a LoadBalancer
  Service is allowed (`allowHttp`), since the cloud balancer forwards clients' own addresses.
- Every pod of the app (web and migration Job) may connect only to the cluster DNS
  (kube-dns in kube-system, port 53) and to the database (`databaseCidr`, `databasePort`).
"""

from __future__ import annotations

from typing import Any

from infra.config import K8sConfig

Obj = dict[str, Any]
NGINX = "nginx.ingress.kubernetes.io"
CLUSTER_ISSUER = "cert-manager.io/cluster-issuer"
DNS_PORT = 53


def tls_secret_name(config: K8sConfig) -> str | None:
    """The Secret the Ingress serves its certificate from (cert-manager's, or the given one)."""
    if config.ingress_tls_secret:
        return config.ingress_tls_secret
    if config.ingress_cluster_issuer:
        return f"{config.app_name}-tls"
    return None


def ingress_annotations(config: K8sConfig) -> dict[str, str]:
    annotations = {
        f"{NGINX}/limit-rps": str(config.rate_limit_rps),
        f"{NGINX}/limit-burst-multiplier": str(config.rate_limit_burst_multiplier),
        f"{NGINX}/limit-connections": str(config.rate_limit_connections),
    }
    if tls_secret_name(config):
        annotations[f"{NGINX}/force-ssl-redirect"] = "true"
    if config.ingress_cluster_issuer:
        annotations[CLUSTER_ISSUER] = config.ingress_cluster_issuer
    return annotations


def ingress(config: K8sConfig, web_labels: dict[str, str]) -> Obj:
    assert config.ingress_host is not None
    backend = {"service": {"name": config.app_name, "port": {"name": "http"}}}
    spec: Obj = {
        "ingressClassName": config.ingress_class,
        "rules": [
            {
                "host": config.ingress_host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ],
    }
    secret = tls_secret_name(config)
    if secret:
        spec["tls"] = [{"hosts": [config.ingress_host], "secretName": secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": config.app_name,
            "namespace": config.namespace,
            "labels": web_labels,
            "annotations": ingress_annotations(config),
        },
        "spec": spec,
    }


def ingress_url(config: K8sConfig) -> str | None:
    """Where users reach the app through its Ingress, if it has one."""
    if not config.ingress_host:
        return None
    scheme = "https" if tls_secret_name(config) else "http"
    return f"{scheme}://{config.ingress_host}"


def _egress(config: K8sConfig) -> list[Obj]:
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [
            {"protocol": "UDP", "port": DNS_PORT},
            {"protocol": "TCP", "port": DNS_PORT},
        ],
    }
    rules = [dns]
    if config.database_cidr:
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": config.database_cidr}}],
                "ports": [{"protocol": "TCP", "port": config.database_port}],
            }
        )
    return rules


def _ingress_sources(config: K8sConfig) -> list[Obj]:
    controller: Obj = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": config.ingress_controller_namespace}
        },
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": config.ingress_controller_name}},
    }
    sources: list[Obj] = [controller]
    if config.service_type == "LoadBalancer":
        sources.append({"ipBlock": {"cidr": "0.0.0.0/0"}})
    return sources


def network_policies(
    config: K8sConfig, pods: dict[str, dict[str, str]], app_port: int
) -> list[Obj]:
    """One policy per kind of pod: `pods` maps the component ("web", "migrate") to its
    selector labels. The web pods admit the app port; the migration Job admits nothing."""
    web = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": config.app_name,
            "namespace": config.namespace,
            "labels": {**pods["web"], "app.kubernetes.io/part-of": "shipways"},
        },
        "spec": {
            "podSelector": {"matchLabels": pods["web"]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": _ingress_sources(config),
                    "ports": [{"protocol": "TCP", "port": app_port}],
                }
            ],
            "egress": _egress(config),
        },
    }
    if "migrate" not in pods:
        return [web]
    migrate = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{config.app_name}-migrate",
            "namespace": config.namespace,
            "labels": {**pods["migrate"], "app.kubernetes.io/part-of": "shipways"},
        },
        "spec": {
            "podSelector": {"matchLabels": pods["migrate"]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": _egress(config),
        },
    }
    return [web, migrate]
