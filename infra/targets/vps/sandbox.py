"""The local VPS: a Debian 12 systemd container reached over real SSH, set up by the Fabric tasks.

`up` creates (or reuses) a container running systemd and sshd, publishes 22/80/443 on free
127.0.0.1 ports, and then does exactly what happens to a fresh cloud server: a sudo user
`admin` with the sandbox's key (cloud-init's job on EC2), then the same `provision` and
`deploy` that `pulumi up` runs, over SSH with a pinned host key. The container gets
CAP_NET_ADMIN (the nftables firewall) and CAP_SYS_ADMIN (the mount namespaces that
ProtectSystem=, ProtectHome= and PrivateTmp= need; without it systemd skips them silently)
- both things a real VM has - and nothing else (no --privileged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import shipways_fabric
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from docker.models.containers import Container
from fabric import Connection
from rich.console import Console
from shipways_fabric import release as wheel_release
from shipways_fabric.remote import Remote, RemoteError

from infra import results
from infra.artifacts.source import app_with_changes
from infra.config import LoadedStack, TargetName, VpsConfig, narrow
from infra.paths import state_dir
from infra.sandbox import (
    Progress,
    SandboxError,
    ensure_container,
    ensure_engine,
    ensure_systemd_image,
    exec_checked,
    free_port,
    published_port,
    remove_container,
    systemd_run_kwargs,
    tokens,
    wait_for_systemd,
)
from infra.sandbox.narrate import Narrator
from infra.sandbox.releases import atomic_write
from infra.targets import BuiltArtifact, Checks, Endpoint, NotSupported
from infra.targets.vps import sample_app
from infra.targets.vps.sample_app import sample_app_wheels
from infra.targets.vps.settings import fabric_settings

ADMIN = "admin"
LOOPBACK = "127.0.0.1"
PORTS = (22, 80, 443)
CAPABILITIES = ["NET_ADMIN", "SYS_ADMIN"]
CHECKS = Path(__file__).with_name("checks") / "test_vps_host.py"
# What probing the server and building its wheelhouse can fail with, each message actionable.
BUILD_FAILURES: tuple[type[Exception], ...] = (*shipways_fabric.FAILURES, RemoteError)
# What cloud-init does on a Debian cloud image: a sudo user that logs in with the given key.
_CLOUD_INIT = """
set -eu
id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo {user}
install -d -m 700 -o {user} -g {user} /home/{user}/.ssh
printf '%s\\n' "$AUTHORIZED_KEY" > /home/{user}/.ssh/authorized_keys
chown {user}:{user} /home/{user}/.ssh/authorized_keys
chmod 600 /home/{user}/.ssh/authorized_keys
printf '{user} ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/90-cloud-init-users
chmod 440 /etc/sudoers.d/90-cloud-init-users
"""


@dataclass(frozen=True)
class Access:
    """How to reach one local VPS: its ports, key and pinned host key, all on disk."""

    state: Path
    ssh_port: int
    http_port: int
    https_port: int

    @property
    def key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.state / "ssh_config"

    @property
    def ca_bundle(self) -> Path:
        return self.state / "server-cert.pem"

    def connection(self, user: str) -> Connection:
        return shipways_fabric.connect(
            LOOPBACK,
            user,
            port=self.ssh_port,
            key_path=self.key,
            known_hosts=self.known_hosts,
        )

    def ssh_command(self, user: str) -> str:
        return (
            f"ssh -i {self.key} -p {self.ssh_port} -o IdentitiesOnly=yes "
            f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes "
            f"{user}@{LOOPBACK}"
        )


class VpsSandbox:
    """`shipways up vps`: the VPS recipe, run for real against a container on 127.0.0.1."""

    name = TargetName.VPS
    proves = (
        "provision, zero-downtime deploy, rollback and the hardening run for real over SSH on "
        "Debian 12 with systemd, nginx and PostgreSQL; only a cloud run proves EC2, the "
        "security group, a public IP and a Let's Encrypt certificate"
    )

    def __init__(self, instance: str = "shipways-vps", **settings: Any) -> None:
        self.instance = instance
        self.overrides = settings
        self.last_build_s: float | None = None

    # -- state -------------------------------------------------------------------------
    @property
    def state(self) -> Path:
        return state_dir("vps", self.instance)

    def access(self) -> Access | None:
        path = self.state / "access.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return Access(self.state, data["ssh"], data["http"], data["https"])

    def settings(self, config: VpsConfig | None = None) -> shipways_fabric.Settings:
        """The Fabric settings for this VPS: `config`, or the one `up` was given (kept in its
        state, so later commands read no stack file), plus its key."""
        if config is None:
            kept = self.state / "config.json"
            if not kept.exists():
                raise NotSupported(f"{self.instance} was never brought up; run `shipways up vps`")
            config = VpsConfig.model_validate_json(kept.read_text())
        key = self.state / "id_ed25519.pub"
        return fabric_settings(
            config,
            tls_names=("localhost", LOOPBACK),
            deploy_public_keys=(key.read_text().strip(),) if key.exists() else (),
            **self.overrides,
        )

    def keep_config(self, config: VpsConfig) -> None:
        """Remember the stack config this server is deployed with, so later status, logs and
        rollback (another process) read no stack file. `up` does it; so does anything else
        that deploys here, such as `pulumi up` of an existing-host stack."""
        atomic_write(self.state / "config.json", config.model_dump_json())

    # -- lifecycle -----------------------------------------------------------------------
    def create(self, console: Console) -> Access:
        """A fresh (or the existing) server, as a cloud hands it over: sshd and a sudo user."""
        with _narrator(console).step("server", f"starting {self.instance}") as step:
            client = ensure_engine(progress=step.note)
            image = ensure_systemd_image(client, progress=step.note)
            self._ensure_key()
            container = self._container(client, image, step.note)
            wait_for_systemd(container, timeout=120, progress=step.note)
            access = self._bootstrap(container)
            step.result(f"{self.instance} booted; SSH on {LOOPBACK}:{access.ssh_port}")
        return access

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        narrator = _narrator(console)
        config = narrow(stack.config, VpsConfig)
        access = self.create(console)
        settings = self.settings(config)
        self.keep_config(config)
        admin = access.connection(ADMIN)
        # One token per server, as the stack's: kept here (0600) until `down`, handed to
        # provision apart from the settings; on the server it is a systemd credential.
        token = tokens.ensure(self.state).read_text().strip()
        try:
            with narrator.step("provision", f"provisioning {self.instance} over SSH") as step:
                outcome = shipways_fabric.provision(
                    admin, settings, progress=step.note, write_token=token
                )
                provision_s = step.elapsed
                step.result(f"{len(outcome.changed)} change(s)")
            with narrator.step("deploy", f"deploying to {self.instance}") as step:
                deployed = sample_app.deploy([admin], settings, app=config.app, progress=step.note)
                deploy_s = step.elapsed
                step.result(f"release {deployed.release} live on {self.instance}")
        except shipways_fabric.FAILURES as exc:
            raise SandboxError(f"{self.instance}: {exc}") from exc
        finally:
            admin.close()
        source = f"shipways up vps ({self.instance})"
        metric = "cold_provision_seconds" if outcome.changed else "warm_provision_seconds"
        results.record("vps", metric, provision_s, "s", source)
        results.record("vps", "deploy_seconds", deploy_s, "s", source)
        for host in deployed.hosts:  # one server here
            results.record("vps", "time_to_healthy_seconds", host.healthy_seconds, "s", source)
        results.record("vps", "artifact_bytes", deployed.build_bytes, "B", source)
        self.last_build_s = deployed.build_seconds  # every deploy builds the app's wheel anew
        self._fetch_certificate(access, settings)
        endpoint = self.endpoint()
        if endpoint is None:
            raise SandboxError(f"{self.instance} vanished right after deploying")
        return endpoint

    def build_artifact(
        self, work: Path, progress: Progress, *, stack: LoadedStack, changes: Mapping[str, bytes]
    ) -> BuiltArtifact:
        """The wheelhouse a deploy of the app with `changes` uploads, built as `deploy` builds
        it: for the server's Python (probed over SSH), with the sample app's wheel builder."""
        access = self.access()
        if access is None:
            raise NotSupported(f"{self.instance} was never brought up; run `shipways up vps`")
        admin = access.connection(ADMIN)
        try:
            platform = wheel_release.server_platform(Remote(admin, progress))
            source = app_with_changes(changes, work / "app")
            wheels = work / "wheels"
            built = wheel_release.build(source, platform, wheels, sample_app_wheels, progress)
        except BUILD_FAILURES as exc:
            raise SandboxError(f"{self.instance}: {exc}") from exc
        finally:
            admin.close()
        return BuiltArtifact(
            f"vps wheelhouse ({len(built.wheels)} wheels)", "directory", str(wheels)
        )

    def _ensure_key(self) -> None:
        key = self.state / "id_ed25519"
        if key.exists():
            return
        private = Ed25519PrivateKey.generate()
        key.touch(mode=0o600)
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        key.with_suffix(".pub").write_text(f"{public.decode()} shipways-{self.instance}\n")

    def _container(self, client: docker.DockerClient, image: str, say: Progress) -> Container:
        access = self.access()
        try:
            existing = client.containers.get(self.instance)
        except docker.errors.NotFound:
            existing = None
        if existing is not None and access is not None:
            ports = (access.ssh_port, access.http_port, access.https_port)
        else:
            ports = (free_port(), free_port(), free_port())
        container = ensure_container(
            client,
            self.instance,
            image=image,
            labels={"shipways.target": "vps", "shipways.sandbox": self.instance},
            ports={f"{p}/tcp": (LOOPBACK, host) for p, host in zip(PORTS, ports, strict=True)},
            cap_add=CAPABILITIES,
            hostname=self.instance,
            progress=say,
            **systemd_run_kwargs(client),
        )
        atomic_write(
            self.state / "access.json",
            json.dumps(
                {
                    k: published_port(container, p)
                    for k, p in zip(("ssh", "http", "https"), PORTS, strict=True)
                }
            ),
        )
        return container

    def _bootstrap(self, container: Container) -> Access:
        """The cloud's part: the admin user with the key, and the host key pinned."""
        access = self.access()
        assert access is not None
        public = (self.state / "id_ed25519.pub").read_text().strip()
        exec_checked(
            container,
            ["sh", "-c", _CLOUD_INIT.format(user=ADMIN)],
            environment={"AUTHORIZED_KEY": public},
        )
        host_key = exec_checked(container, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).split()
        access.known_hosts.write_text(
            f"[{LOOPBACK}]:{access.ssh_port} {host_key[0]} {host_key[1]}\n"
        )
        lines = []
        for user in (ADMIN, "deploy"):
            lines += [
                f"Host {self.instance}-{user}",
                f"  HostName {LOOPBACK}",
                f"  Port {access.ssh_port}",
                f"  User {user}",
                f"  IdentityFile {access.key}",
                "  IdentitiesOnly yes",
                f"  UserKnownHostsFile {access.known_hosts}",
                "  GlobalKnownHostsFile /dev/null",
                "  StrictHostKeyChecking yes",
                "",
            ]
        access.ssh_config.write_text("\n".join(lines))
        return access

    def _fetch_certificate(self, access: Access, settings: Any) -> None:
        """The server's self-signed certificate: the CA bundle for checks over HTTPS."""
        with self._deployer() as conn:
            pem = conn.run(
                f"cat {settings.layout.self_signed_cert}", hide=True, in_stream=False
            ).stdout
        access.ca_bundle.write_text(str(pem))

    def down(self, console: Console) -> bool:
        narrator = _narrator(console)
        removed = remove_container(ensure_engine(progress=narrator.note), self.instance)
        kept = ("access.json", "known_hosts", "ssh_config", "server-cert.pem", "config.json")
        for name in (*kept, tokens.TOKEN_FILE):
            (self.state / name).unlink(missing_ok=True)
        if removed:
            narrator.say("down", f"removed container {self.instance}")
        return removed

    # -- discovery and operations ------------------------------------------------------
    def endpoint(self) -> Endpoint | None:
        access = self.access()
        if access is None:
            return None
        try:
            container = ensure_engine().containers.get(self.instance)
        except docker.errors.NotFound:
            return None
        if container.status != "running":
            return None
        return Endpoint(
            target=TargetName.VPS,
            url=f"http://{LOOPBACK}:{access.http_port}",
            extra={
                "https_url": f"https://{LOOPBACK}:{access.https_port}",
                "ssh": access.ssh_command("deploy"),
                "ca_bundle": str(access.ca_bundle),
                "container": self.instance,
            },
        )

    def _access_or_fail(self) -> Access:
        access = self.access()
        if access is None or self.endpoint() is None:
            raise NotSupported(f"{self.instance} is not running; start it with `shipways up vps`")
        return access

    def token(self) -> str | None:
        """The write token provision installed (kept beside the SSH key), if any."""
        return tokens.read(self.state)

    def checks(self, endpoint: Endpoint) -> Checks:
        access = self._access_or_fail()
        settings = self.settings()
        return Checks(
            modules=[CHECKS],
            pytest_args=[
                f"--hosts=ssh://{self.instance}-{ADMIN}",
                f"--ssh-config={access.ssh_config}",
            ],
            urls=[str(endpoint.extra["https_url"])],
            env={
                "SHIPWAYS_CA_BUNDLE": str(access.ca_bundle),
                "SHIPWAYS_VPS_APP": settings.app_name,
                "SHIPWAYS_VPS_DEPLOY_USER": settings.deploy_user,
            },
        )

    @contextmanager
    def _deployer(self) -> Iterator[Connection]:
        """A deploy-user connection to the running VPS; task failures become SandboxErrors."""
        conn = self._access_or_fail().connection("deploy")
        try:
            yield conn
        except shipways_fabric.FAILURES as exc:
            raise SandboxError(f"{self.instance}: {exc}") from exc
        finally:
            conn.close()

    def status(self, console: Console) -> dict[str, Any]:
        with self._deployer() as conn:
            return dict(shipways_fabric.status(conn, self.settings()))

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        with self._deployer() as conn:
            shipways_fabric.logs(conn, self.settings(), follow=follow, lines=lines)

    def rollback(self, console: Console, *, release: str | None) -> str:
        with (
            _narrator(console).step("rollback", f"rolling back {self.instance}") as step,
            self._deployer() as conn,
        ):
            outcome = shipways_fabric.rollback(conn, self.settings(), release, progress=step.note)
            seconds = step.elapsed
            step.result(f"release {outcome.release} live again")
        results.record("vps", "rollback_seconds", seconds, "s", "shipways rollback vps")
        return str(outcome.release)


def _narrator(console: Console) -> Narrator:
    return Narrator(console, "vps")
