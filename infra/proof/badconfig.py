"""Wrong or missing stack config must be refused before anything is declared.

Each case starts from the committed stack file, replaces (`overrides`) or removes (`drop`)
some keys, and plans the stack offline. It passes only if planning raises `ConfigError`,
the message names the key, and the mock engine saw no resource registered at all: a program
that declared half a stack and then failed would leave `pulumi up` with half a stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks, settings

from infra.config import ConfigError, TargetName, namespaced, read_stack_file
from infra.harness import plan_stack

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"
)


@dataclass(frozen=True)
class ConfigCase:
    stack: str
    key: str  # the key the error message must name
    what: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    case: ConfigCase
    message: str | None  # None: the stack was accepted
    declared: int  # resources registered before the error

    @property
    def ok(self) -> bool:
        return self.message is not None and self.case.key in self.message and self.declared == 0


def attempt(case: ConfigCase) -> Rejection:
    """Plan the stack with the bad values; report the error and what was registered first."""
    values, _ = namespaced(read_stack_file(case.stack))
    values = {k: v for k, v in values.items() if k not in case.drop} | dict(case.overrides)
    before = _monitor()
    try:
        plan_stack(case.stack, overrides=values, use_stack_file=False)
    except ConfigError as exc:
        monitor = _monitor()
        # No new mock monitor: the error came before the program started (e.g. the target).
        declared = len(monitor.resources) if monitor is not before and monitor else 0
        return Rejection(case, str(exc), declared)
    return Rejection(case, None, len(_monitor().resources))


def _monitor() -> Any:
    monitor = settings.SETTINGS.monitor
    return monitor if isinstance(monitor, mocks.MockMonitor) else None


CASES: tuple[ConfigCase, ...] = (
    # shared keys (every stack validates them the same way; checked on each)
    *(
        case
        for stack in (t.value for t in TargetName)
        for case in (
            ConfigCase(stack, "appName", "app name with capitals", {"appName": "Shop"}),
            ConfigCase(stack, "environment", "environment with spaces", {"environment": "pro d"}),
            ConfigCase(stack, "webConcurrency", "zero workers", {"webConcurrency": 0}),
            ConfigCase(stack, "sshAlowedCidr", "misspelt key", {"sshAlowedCidr": "10.0.0.1/32"}),
        )
    ),
    ConfigCase("vps", "sshAllowedCidr", "SSH from the world", {"sshAllowedCidr": "0.0.0.0/0"}),
    ConfigCase("vps", "sshAllowedCidr", "not a CIDR", {"sshAllowedCidr": "my-office"}),
    ConfigCase("vps", "sshAllowedCidr", "missing admin CIDR", drop=("sshAllowedCidr",)),
    ConfigCase("vps", "sshPublicKey", "missing SSH key", drop=("sshPublicKey",)),
    ConfigCase("vps", "sshPublicKey", "private key pasted", {"sshPublicKey": PRIVATE_KEY}),
    ConfigCase("vps", "sshPrivateKeyPath", "public half", {"sshPrivateKeyPath": "~/.ssh/k.pub"}),
    ConfigCase("vps", "instanceType", "malformed type", {"instanceType": "big"}),
    ConfigCase("vps", "rootVolumeGb", "disk too small", {"rootVolumeGb": 4}),
    ConfigCase("vps", "host", "URL instead of host", {"host": "https://example.com/"}),
    ConfigCase("vps", "letsencryptEmail", "domain without email", {"domain": "api.example.com"}),
    ConfigCase("paas", "maxInstances", "max below min", {"minInstances": 3, "maxInstances": 2}),
    ConfigCase("paas", "environmentType", "unknown type", {"environmentType": "Cluster"}),
    ConfigCase("paas", "healthCheckPath", "path without /", {"healthCheckPath": "readyz"}),
    ConfigCase("paas", "platformPattern", "broken regex", {"platformPattern": "Python (3"}),
    ConfigCase("paas", "DB_PASSWORD", "secret in env", {"env": {"DB_PASSWORD": "hunter2"}}),
    ConfigCase("paas", "databaseUrl", "secret in plain text", {"databaseUrl": "postgresql://x"}),
    ConfigCase(
        "paas", "certificateArn", "load balancer without HTTPS", {"environmentType": "LoadBalanced"}
    ),
    ConfigCase("k8s", "registry", "registry mode without registry", drop=("registry",)),
    ConfigCase("k8s", "cpuRequest", "request above limit", {"cpuRequest": "2"}),
    ConfigCase("k8s", "memoryLimit", "limit too small", {"memoryLimit": "32Mi"}),
    ConfigCase("k8s", "replicas", "no replicas", {"replicas": 0}),
    ConfigCase("k8s", "hpaMaxReplicas", "autoscaler below replicas", {"hpaMaxReplicas": 1}),
    ConfigCase("k8s", "namespace", "invalid namespace", {"namespace": "Shop_NS"}),
    ConfigCase("k8s", "databaseUrl", "secret in plain text", {"databaseUrl": "postgresql://x"}),
    ConfigCase("k8s", "kubeContext", "registry mode without a context", drop=("kubeContext",)),
    ConfigCase("k8s", "platform", "unknown node platform", {"platform": "linux/s390x"}),
    ConfigCase("k8s", "ingressTlsSecret", "public host without TLS", {"ingressHost": "a.b.dev"}),
    ConfigCase("k8s", "trustedProxies", "every private network", {"trustedProxies": "10.0.0.0/8"}),
    ConfigCase("k8s", "serviceType", "unsupported Service type", {"serviceType": "NodePort"}),
    ConfigCase("paas", "versionsToKeep", "nothing to roll back to", {"versionsToKeep": 1}),
    ConfigCase("serverless", "memoryMb", "below Lambda's minimum", {"memoryMb": 64}),
    ConfigCase("serverless", "timeoutS", "beyond API Gateway's 30 s", {"timeoutS": 60}),
    ConfigCase(
        "serverless", "logRetentionDays", "not a CloudWatch value", {"logRetentionDays": 10}
    ),
    ConfigCase("serverless", "runtime", "unsupported runtime", {"runtime": "python2.7"}),
    ConfigCase("serverless", "architecture", "unknown architecture", {"architecture": "sparc"}),
    ConfigCase(
        "serverless", "databaseUrl", "secret in plain text", {"databaseUrl": "postgresql://x"}
    ),
    ConfigCase("serverless", "target", "unknown target", {"target": "mainframe"}),
)
