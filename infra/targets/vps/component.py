"""The `vps` stack: one hardened Debian 12 server on EC2 (or an existing host), set up by Fabric.

Pulumi owns the server's lifetime and the release on it: besides the EC2 resources, the
stack declares a `FabricRelease` whose inputs are the server's address and a fingerprint of
everything a deploy ships (app source, lock file, nginx templates, Fabric tasks). `pulumi up`
runs the same Fabric provision + deploy that `shipways up vps` runs against a local systemd
container, again whenever that fingerprint, the settings or the server itself change, so the
code on the server is always the code of the last `pulumi up`.

With `host` set, nothing is created on AWS: the release is deployed to that server as is.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import re
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi import dynamic

from infra import paths
from infra.config import StackConfig, VpsConfig

DEBIAN_AWS_ACCOUNT = "136693071363"
WORLD_V4 = "0.0.0.0/0"
DEPLOY_USER = "deploy"
SSH_WAIT_SECONDS = 300.0

# What a deploy ships: any change here must reach the server on the next `pulumi up`.
RELEASE_INPUTS: tuple[Path, ...] = (
    paths.APP_DIR,
    paths.ROOT / "uv.lock",
    paths.TEMPLATES_DIR,
    paths.FABRIC_DIR,
    Path(__file__).with_name("fabric_api.py"),
)
_NOT_SHIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"}

# Inputs whose change means the server must be provisioned and deployed again.
RELEASE_KEYS = ("serverId", "host", "port", "user", "keyPath", "settings", "release")


def release_fingerprint(roots: Iterable[Path] = RELEASE_INPUTS) -> str:
    """A digest of every file a deploy ships, by relative path and content.

    Build leftovers (caches, wheels, egg-info) are skipped so that running the tests or
    building a wheelhouse does not count as a new release.
    """
    digest = hashlib.sha256()
    for root in roots:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            parts = path.relative_to(root.parent).parts
            shipped = not any(p in _NOT_SHIPPED or p.endswith(".egg-info") for p in parts)
            if path.is_file() and shipped and path.suffix != ".pyc":
                digest.update("/".join(parts).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def ami_architecture(instance_type: str) -> str:
    """Debian's image architecture for an instance type: Graviton families carry a `g`
    after the generation number (t4g, m7gd, c6gn); everything else is amd64."""
    family = instance_type.split(".", 1)[0]
    match = re.fullmatch(r"[a-z]+\d+([a-z-]*)", family)
    return "arm64" if match and "g" in match.group(1) else "amd64"


def deploy_settings(config: VpsConfig) -> dict[str, Any]:
    """What the Fabric tasks need from the stack config, as plain data.

    Resource inputs are stored in the stack's state and travel to the provider process, so
    they carry only JSON-able values; EC2-only keys and tags stay out so that e.g. a resize
    alone does not count as a new release.
    """
    keys = {"app_name", "environment", "web_concurrency", "domain", "letsencrypt_email"}
    keys |= {"releases_to_keep"}
    return config.model_dump(mode="json", include=keys, exclude_none=True)


class _FabricReleaseProvider(dynamic.ResourceProvider):
    """Runs Fabric provision + deploy when the release, its settings or the server change.

    Deleting does nothing: a created server goes away with its instance, and an existing
    `host` keeps serving its last release rather than being wiped by `pulumi destroy`.
    """

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        key = Path(str(news.get("keyPath", ""))).expanduser()
        failures = []
        if not key.is_file():
            failures.append(
                dynamic.CheckFailure(
                    "keyPath",
                    f"no SSH private key at {key}; set shipways:sshPrivateKeyPath to the "
                    "private half of shipways:sshPublicKey",
                )
            )
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [k for k in RELEASE_KEYS if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=[], stables=[])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = _ship(props)
        return dynamic.CreateResult(f"{props['host']}/{props['release']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(_ship(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


def _ship(props: dict[str, Any]) -> dict[str, Any]:
    """Wait for SSH, then provision and deploy through the Fabric tasks."""
    from fabric import Connection

    # Imported here: only the provider process needs Fabric's tasks.
    fabric_api = importlib.import_module("infra.targets.vps.fabric_api")

    host, port = str(props["host"]), int(props["port"])
    wait_for_port(host, port, timeout_s=SSH_WAIT_SECONDS)
    conn = Connection(
        host,
        user=str(props["user"]),
        port=port,
        connect_timeout=15,
        connect_kwargs={"key_filename": str(Path(str(props["keyPath"])).expanduser())},
    )
    settings = fabric_api.settings_from(props["settings"])
    fabric_api.provision(conn, settings)
    deployed = fabric_api.deploy([conn], settings, release=props["release"])
    return {k: v for k, v in props.items() if not k.startswith("__")} | {
        "deployed": str(deployed) if deployed is not None else props["release"]
    }


def wait_for_port(host: str, port: int, *, timeout_s: float, interval_s: float = 3.0) -> None:
    """Block until `host:port` accepts TCP connections; a new instance's sshd needs a while."""
    deadline = time.monotonic() + timeout_s
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=min(5.0, timeout_s)):
                return
        except OSError as exc:
            last = exc
            time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
    raise TimeoutError(
        f"{host}:{port} did not accept SSH within {timeout_s:.0f}s ({last}); check that "
        "shipways:sshAllowedCidr contains the address `pulumi up` runs from"
    )


class FabricRelease(dynamic.Resource, module="vps", name="FabricRelease"):
    """One release of the app on one server, shipped by the Fabric tasks."""

    deployed: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        server_id: pulumi.Input[str],
        host: pulumi.Input[str],
        config: VpsConfig,
        release: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "serverId": server_id,
            "host": host,
            "port": 22,
            "user": config.ssh_user,
            "keyPath": config.ssh_private_key_path,
            "settings": deploy_settings(config),
            "release": release,
            "deployed": None,
        }
        super().__init__(_FabricReleaseProvider(), name, props, opts)


class VpsServer(pulumi.ComponentResource):
    """The server (created on EC2 unless `host` is given) and the release deployed onto it."""

    def __init__(
        self, name: str, config: VpsConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shipways:vps:Server", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.release = release_fingerprint()
        ready: Sequence[pulumi.Resource] = ()
        if config.host is not None:
            host: pulumi.Output[str] = pulumi.Output.from_input(config.host)
            server_id: pulumi.Output[str] = host
        else:
            instance, association, eip = self._server(name, config, child)
            host, server_id, ready = eip.public_ip, instance.id, (instance, association)
        self.host = host
        self.deployment = FabricRelease(
            f"{name}-release",
            server_id=server_id,
            host=host,
            config=config,
            release=self.release,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(ready)),
        )
        web = f"https://{config.domain}" if config.domain else None
        self.url = pulumi.Output.from_input(web) if web else host.apply(lambda h: f"http://{h}")
        self.https_url = host.apply(lambda h: f"https://{config.domain or h}")
        self.ssh = host.apply(lambda h: f"ssh -i {config.ssh_private_key_path} {DEPLOY_USER}@{h}")
        self.register_outputs(
            {"url": self.url, "https_url": self.https_url, "host": host, "ssh": self.ssh}
        )

    def _server(
        self, name: str, config: VpsConfig, child: pulumi.ResourceOptions
    ) -> tuple[aws.ec2.Instance, aws.ec2.EipAssociation, aws.ec2.Eip]:
        tags = config.resource_tags()
        arch = ami_architecture(config.instance_type)
        ami = aws.ec2.get_ami_output(
            owners=[DEBIAN_AWS_ACCOUNT],
            most_recent=True,
            filters=[
                {"name": "name", "values": [f"debian-12-{arch}-*"]},
                {"name": "architecture", "values": ["arm64" if arch == "arm64" else "x86_64"]},
                {"name": "virtualization-type", "values": ["hvm"]},
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        key = aws.ec2.KeyPair(
            f"{name}-key", public_key=config.ssh_public_key, tags=tags, opts=child
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description="shipways vps: HTTP and HTTPS from anywhere, SSH from the admin CIDR",
            tags=tags,
            opts=child,
        )
        self._rules(name, group, config, tags)
        burstable = config.instance_type.startswith("t")
        instance = aws.ec2.Instance(
            f"{name}-server",
            ami=ami.id,
            instance_type=config.instance_type,
            key_name=key.key_name,
            vpc_security_group_ids=[group.id],
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            root_block_device={
                "encrypted": True,
                "volume_type": "gp3",
                "volume_size": config.root_volume_gb,
                "delete_on_termination": True,
                "tags": tags,
            },
            # Unlimited burst credits can bill far beyond the hourly price under load.
            credit_specification={"cpu_credits": "standard"} if burstable else None,
            tags={"Name": f"{config.app_name}-{config.environment}", **tags},
            # A newer Debian image must not silently replace a server holding data;
            # move to one on purpose with `pulumi up --replace <instance urn>`.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami"]),
        )
        eip = aws.ec2.Eip(f"{name}-ip", domain="vpc", tags=tags, opts=child)
        association = aws.ec2.EipAssociation(
            f"{name}-ip-association",
            allocation_id=eip.allocation_id,
            instance_id=instance.id,
            opts=child,
        )
        return instance, association, eip

    def _rules(
        self, name: str, group: aws.ec2.SecurityGroup, config: VpsConfig, tags: dict[str, str]
    ) -> None:
        assert config.ssh_allowed_cidr is not None  # enforced by VpsConfig without `host`
        admin = ipaddress.ip_network(config.ssh_allowed_cidr)
        ssh_source = {"cidr_ipv6" if admin.version == 6 else "cidr_ipv4": str(admin)}
        ingress = [("ssh", 22, ssh_source), ("http", 80, None), ("https", 443, None)]
        for label, port, source in ingress:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{label}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"{label} in",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=group),
                **(source or {"cidr_ipv4": WORLD_V4}),
            )
        # Outbound only for apt and certbot; DNS and NTP go to the VPC's own link-local
        # services, which security groups do not filter.
        for label, port in (("http", 80), ("https", 443)):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-{label}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=WORLD_V4,
                description=f"{label} out (packages, certificates)",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=group),
            )


def deploy(config: StackConfig, secrets: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
    """The `vps` stack program: the server and its release; exports how to reach both."""
    if not isinstance(config, VpsConfig):
        raise TypeError(f"the vps component needs a VpsConfig, got {type(config).__name__}")
    del secrets  # the vps target has no secret keys; SSH uses a key file on the operator's disk
    server = VpsServer(f"{config.app_name}-{config.environment}", config)
    return {
        "url": server.url,
        "https_url": server.https_url,
        "host": server.host,
        "ssh": server.ssh,
        "release": server.release,
    }
