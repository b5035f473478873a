"""The `vps` stack: one hardened Debian 12 server on EC2 (or an existing host), set up by Fabric.

Pulumi owns the server's lifetime and the release on it: besides the EC2 resources, the
stack declares a `FabricRelease` whose inputs are the server's address and a fingerprint of
everything a deploy ships (app source, lock file, nginx site, the Fabric package and its
host templates). `pulumi up` runs the same Fabric provision + deploy that `shipways up vps`
runs against a local systemd container, again whenever that fingerprint, the settings or the
server itself change, so the code on the server is always the code of the last `pulumi up`.

SSH never trusts a host key on first sight. A created server gets its ed25519 host key from
the stack (generated once, kept as a secret in the state, handed over in cloud-init user
data), so the very first connection is already pinned to it; an existing `host` must be in
the operator's ~/.ssh/known_hosts. User data stays readable from the instance metadata
service, so provision closes that service to every account but root (the firewall, and the
app's units allow loopback alone): the app never reaches the key.

The write token (`writeToken` from the stack config, else generated once) is a secret input
of the release, handed to provision apart from the plain settings: provision installs it as
root's 0600 file, which systemd hands to the app as a credential (`LoadCredential=`).

With `host` set, nothing is created on AWS: the release is deployed to that server as is.

With a `domain`, certbot runs only once the domain resolves to the server. A server created
in the same update has an address no DNS record names yet: it serves the self-signed
certificate, the release records `certificate: pending` with what to do (the stack's
`certificate` and `certificateNotice` outputs), and the next `pulumi up` sees the pending
state and provisions again, obtaining the certificate once DNS resolves.

The server and its Elastic IP hold the data and the address users know: with
`protectStateful` (default outside demo/dev) they are protected and retained on destroy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import paramiko
import pulumi
import pulumi_aws as aws
import shipways_fabric
import yaml
from pulumi import dynamic

from infra import appspec, paths
from infra.config import StackConfig, VpsConfig, narrow
from infra.sandbox.digest import files_under, tree_digest
from infra.targets.vps import sample_app
from infra.targets.vps.settings import fabric_settings
from infra.write_token import CONFIG_KEY, deployment_token

DEBIAN_AWS_ACCOUNT = "136693071363"
WORLD_V4 = "0.0.0.0/0"
SSH_PORT = 22
SSH_WAIT_SECONDS = 300.0
SSH_OPEN_ATTEMPTS = 5
SSH_RETRY_PAUSE_S = 5.0

# What a deploy ships: any change here must reach the server on the next `pulumi up`. The
# Fabric package's directory holds its tasks and the host templates; the nginx site is apart.
RELEASE_INPUTS: tuple[Path, ...] = (
    paths.APP_DIR,
    paths.ROOT / "uv.lock",
    paths.NGINX_DIR,
    paths.FABRIC_DIR,
    Path(__file__).with_name("settings.py"),
    Path(__file__).with_name("sample_app.py"),
)
_NOT_SHIPPED = ("build", "dist", "*.egg-info")  # besides the caches every digest skips

# Inputs whose change means the server must be provisioned and deployed again.
RELEASE_KEYS = (
    "serverId",
    "host",
    "port",
    "user",
    "keyPath",
    "knownHosts",
    "settings",
    "app",
    "release",
    "writeToken",
)


def release_fingerprint(roots: Iterable[Path] | None = None) -> str:
    """A digest of every file a deploy ships, by relative path and content.

    Build leftovers (caches, wheels, egg-info) are skipped so that running the tests or
    building a wheelhouse does not count as a new release.
    """
    files: dict[str, Path] = {}
    for root in RELEASE_INPUTS if roots is None else roots:
        prefix = f"{root.name}/" if root.is_dir() else ""
        files.update(files_under(root, skip=_NOT_SHIPPED, prefix=prefix))
    return tree_digest(files, length=16)


def ami_architecture(instance_type: str) -> str:
    """Debian's image architecture for an instance type: Graviton families carry a `g`
    after the generation number (t4g, m7gd, c6gn); everything else is amd64."""
    family = instance_type.split(".", 1)[0]
    match = re.fullmatch(r"[a-z]+\d+([a-z-]*)", family)
    return "arm64" if match and "g" in match.group(1) else "amd64"


def known_hosts_line(host: str, public_key: str, port: int = SSH_PORT) -> str:
    """The known_hosts entry pinning `public_key` for `host` (OpenSSH's `[host]:port` form)."""
    name = host if port == SSH_PORT else f"[{host}]:{port}"
    return f"{name} {public_key}"


def cloud_init(private_key: str, public_key: str) -> str:
    """User data installing the given ed25519 host key and no other (none is generated)."""
    config = {
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {"ed25519_private": private_key, "ed25519_public": public_key},
    }
    return "#cloud-config\n" + yaml.safe_dump(config, default_flow_style=False)


class _HostKeyProvider(dynamic.ResourceProvider):
    """Generates an ed25519 SSH host key once; it then lives on in the stack's state."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        fingerprint = hashlib.sha256(public.encode()).hexdigest()[:16]
        return dynamic.CreateResult(fingerprint, {"public": public, "private": private})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=False)


class HostKey(dynamic.Resource, module="vps", name="HostKey"):
    """The server's SSH host key pair; `private` is a secret."""

    public: pulumi.Output[str]
    private: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["private"])
        opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(_HostKeyProvider(), name, {"public": None, "private": None}, opts)


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
        if certificate_pending(olds, news):
            changed.append("certificate")
        return dynamic.DiffResult(changes=bool(changed), replaces=[], stables=[])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = _ship(props)
        return dynamic.CreateResult(f"{props['host']}/{props['release']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(_ship(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


def certificate_pending(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the last run left the domain's certificate waiting for DNS: then every `up`
    provisions again (idempotent, so only the certbot step does anything new) until it
    has been obtained."""
    domain = (news.get("settings") or {}).get("domain")
    return bool(domain) and olds.get("certificate") == "pending"


def _ship(props: dict[str, Any]) -> dict[str, Any]:
    """Wait for SSH, then provision and deploy through the Fabric tasks, host key pinned."""
    host, port = str(props["host"]), int(props["port"])
    wait_for_port(host, port, timeout_s=SSH_WAIT_SECONDS)
    with tempfile.TemporaryDirectory(prefix="shipways-ssh-") as scratch:
        known_hosts = None  # the operator's ~/.ssh/known_hosts
        if props.get("knownHosts"):
            known_hosts = Path(scratch) / "known_hosts"
            known_hosts.write_text(str(props["knownHosts"]) + "\n")
        conn = shipways_fabric.connect(
            host,
            str(props["user"]),
            port=port,
            key_path=Path(str(props["keyPath"])),
            known_hosts=known_hosts,
        )
        try:
            _open(conn, pinned=known_hosts is not None)
            provisioned = shipways_fabric.provision(
                conn, props["settings"], write_token=props.get("writeToken")
            )
            app = appspec.resolve(props.get("app"))  # a release from before `app`: the default
            deployed = sample_app.deploy([conn], props["settings"], app=app)
        finally:
            conn.close()
    return {k: v for k, v in props.items() if not k.startswith("__")} | {
        "deployed": str(deployed),
        "certificate": provisioned.certificate,
        "certificateNotice": provisioned.notice or "",
    }


def _open(conn: Any, *, pinned: bool) -> None:
    """Log in once before any task, so a refusal says what to do about it.

    A server that has just booted may still drop the first sessions, so those are retried
    a few times; a wrong host key or key pair is final at once.
    """
    for attempt in range(1, SSH_OPEN_ATTEMPTS + 1):
        try:
            conn.open()
            return
        except paramiko.AuthenticationException as exc:
            raise RuntimeError(
                f"{conn.user}@{conn.host} refused the key {conn.connect_kwargs.get('key_filename')}"
                f" ({exc}); shipways:sshPrivateKeyPath must be the private half of "
                "shipways:sshPublicKey, and shipways:sshUser the image's login user"
            ) from exc
        except paramiko.SSHException as exc:
            if isinstance(exc, paramiko.BadHostKeyException) or "known_hosts" in str(exc):
                raise _host_key_error(conn, exc, pinned=pinned) from exc
            if attempt == SSH_OPEN_ATTEMPTS:
                raise
        except OSError:
            if attempt == SSH_OPEN_ATTEMPTS:
                raise
        time.sleep(SSH_RETRY_PAUSE_S)


def _host_key_error(conn: Any, exc: Exception, *, pinned: bool) -> RuntimeError:
    if pinned:
        return RuntimeError(
            f"{conn.host} did not present the host key this stack gave it ({exc}); "
            "someone may be intercepting the connection, or the server was not built "
            "from this stack's user data: do not proceed until you know which"
        )
    return RuntimeError(
        f"{conn.host}: its SSH host key is not in ~/.ssh/known_hosts ({exc}); read the "
        "key's fingerprint on the server's console (ssh-keygen -lf "
        "/etc/ssh/ssh_host_ed25519_key.pub), then add it, e.g. "
        f"`ssh-keyscan -t ed25519 {conn.host} >> ~/.ssh/known_hosts`, once they match"
    )


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
    """One release of the app on one server, shipped by the Fabric tasks. `write_token` (a
    Pulumi secret, and a secret output) goes to provision apart from the plain `settings`."""

    deployed: pulumi.Output[str]
    certificate: pulumi.Output[str]
    certificateNotice: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        server_id: pulumi.Input[str],
        host: pulumi.Output[str],
        known_hosts: pulumi.Input[str] | None,
        settings: dict[str, Any],
        config: VpsConfig,
        release: str,
        write_token: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "serverId": server_id,
            "host": host,
            "port": config.ssh_port,
            "user": config.ssh_user,
            "keyPath": config.ssh_private_key_path,
            "knownHosts": known_hosts,
            "settings": settings,
            "app": config.app.label(),  # a name or a directory: the provider reads its spec
            "release": release,
            "writeToken": write_token,  # a secret (deployment_token)
            "deployed": None,
            "certificate": None,
            "certificateNotice": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["writeToken"])
        opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(_FabricReleaseProvider(), name, props, opts)


class VpsServer(pulumi.ComponentResource):
    """The server (created on EC2 unless `host` is given) and the release deployed onto it."""

    def __init__(
        self,
        name: str,
        config: VpsConfig,
        opts: pulumi.ResourceOptions | None = None,
        *,
        given_token: pulumi.Output[str] | None = None,
    ) -> None:
        super().__init__("shipways:vps:Server", name, None, opts)
        self.release = release_fingerprint()
        ready: Sequence[pulumi.Resource] = ()
        self.known_hosts: pulumi.Output[str] | None = None
        if config.host is not None:
            host: pulumi.Output[str] = pulumi.Output.from_input(config.host)
            server_id: pulumi.Output[str] = host
        else:
            host_key = HostKey(f"{name}-host-key", opts=pulumi.ResourceOptions(parent=self))
            instance, association, eip = self._server(name, config, host_key)
            host, server_id, ready = eip.public_ip, instance.id, (instance, association)
            self.known_hosts = pulumi.Output.all(host, host_key.public).apply(
                lambda args: known_hosts_line(args[0], args[1])
            )
        self.host = host
        # Validated here, so a bad value stops `pulumi preview` rather than the deploy. Plain
        # data: resource inputs live in the state and travel to the provider process.
        settings = fabric_settings(config)
        self.write_token = deployment_token(given_token, pulumi.ResourceOptions(parent=self))
        self.deployment = FabricRelease(
            f"{name}-release",
            server_id=server_id,
            host=host,
            known_hosts=self.known_hosts,
            settings=settings.model_dump(mode="json", exclude_none=True),
            config=config,
            release=self.release,
            write_token=self.write_token,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(ready)),
        )
        web = f"https://{config.domain}" if config.domain else None
        self.url = pulumi.Output.from_input(web) if web else host.apply(lambda h: f"http://{h}")
        self.https_url = host.apply(lambda h: f"https://{config.domain or h}")
        port = f" -p {config.ssh_port}" if config.ssh_port != SSH_PORT else ""
        login = f"ssh -i {config.ssh_private_key_path}{port} {settings.deploy_user}@"
        self.ssh = host.apply(lambda h: login + h)
        self.register_outputs(
            {"url": self.url, "https_url": self.https_url, "host": host, "ssh": self.ssh}
        )

    def _server(
        self, name: str, config: VpsConfig, host_key: HostKey
    ) -> tuple[aws.ec2.Instance, aws.ec2.EipAssociation, aws.ec2.Eip]:
        child = pulumi.ResourceOptions(parent=self)
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
        user_data: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(host_key.private, host_key.public).apply(lambda k: cloud_init(*k))
        )
        instance = aws.ec2.Instance(
            f"{name}-server",
            ami=ami.id,
            instance_type=config.instance_type,
            key_name=key.key_name,
            vpc_security_group_ids=[group.id],
            user_data=user_data,
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
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["ami"], **config.stateful_options()
            ),
        )
        eip = aws.ec2.Eip(
            f"{name}-ip",
            domain="vpc",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, **config.stateful_options()),
        )
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
        ingress = [("ssh", SSH_PORT, ssh_source), ("http", 80, None), ("https", 443, None)]
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


def deploy(stack_config: StackConfig, secrets: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
    """The `vps` stack program: the server and its release; exports how to reach both."""
    config = narrow(stack_config, VpsConfig)
    # SSH uses a key file on the operator's disk; the one secret key is the write token.
    server = VpsServer(
        f"{config.app_name}-{config.environment}", config, given_token=secrets.get(CONFIG_KEY)
    )
    exports: dict[str, Any] = {
        "url": server.url,
        "https_url": server.https_url,
        "host": server.host,
        "ssh": server.ssh,
        "release": server.release,
        "deployed": server.deployment.deployed,
        "certificate": server.deployment.certificate,
        "certificateNotice": server.deployment.certificateNotice,
        "write_token": server.write_token,  # a secret: `pulumi stack output --show-secrets`
    }
    if server.known_hosts is not None:
        exports["known_hosts"] = server.known_hosts
    return exports
