"""What the Beanstalk environment has around its instances, stood in for on Docker.

| in AWS                                  | here                                              |
|-----------------------------------------|---------------------------------------------------|
| the VPC subnet                          | a private Docker network (no egress)              |
| Amazon RDS for PostgreSQL               | the PostgreSQL stand-in (`infra.sandbox.postgres`)|
| the load balancer / Elastic IP          | the front door (`infra.sandbox.frontdoor`): one   |
|                                         | 127.0.0.1 port from the first `up` to `down`      |
| an EC2 instance (address, host name)    | a placeholder container on the network: its       |
|                                         | network and UTS namespaces are the instance's     |
| the database secret (Secrets Manager)   | a 0600 file read through DATABASE_URL_FILE        |

The instance's processes run from the release workspace on this machine (`fleet.py`) inside
the namespaces of their instance container: their own address on the private network and
their own host name (what `/version` names), as on an instance of their own.

Beanstalk delivers the secret as an environment variable (environment secrets, resolved
from Secrets Manager when the instance starts); locally it is a file only this user can
read, so the URL never sits in a process environment or in the state file.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from infra.sandbox.containers import ensure_container, remove_container
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.frontdoor import FrontDoor, ensure_front_door, find_front_door, remove_front_door
from infra.sandbox.images import ensure_base_image
from infra.sandbox.networks import address_on, ensure_private_network, remove_network
from infra.sandbox.postgres import (
    container_name,
    database_url,
    ensure_postgres,
    generated_password,
    password_file,
    remove_postgres,
)

DATABASE = "shipways_paas"
TARGET_LABEL = "shipways.target"
INSTANCE_LABEL = "shipways.paas.environment"
ROLE_LABEL = "shipways.paas.role"
SECRET_FILE = "database-url"  # noqa: S105 - a file name


@dataclass(frozen=True)
class Environment:
    """The running stand-ins of one sandbox instance."""

    door: FrontDoor
    network: str
    secret: Path  # DATABASE_URL_FILE for every process of every release


class EnvironmentStandIn:
    """Creates, finds and removes one sandbox's network, database, front door and instances."""

    def __init__(self, client: docker.DockerClient, name: str, secrets_dir: Path) -> None:
        self.client = client
        self.name = name
        self.secrets_dir = secrets_dir

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    def labels(self, role: str) -> dict[str, str]:
        return {TARGET_LABEL: "paas", INSTANCE_LABEL: self.name, ROLE_LABEL: role}

    def ensure(self, progress: Progress) -> Environment:
        """Network, database and front door (each reused when it exists), and the secret."""
        ensure_private_network(self.client, self.network, labels=self.labels("network"))
        database = ensure_postgres(
            self.client,
            self.name,
            network=self.network,
            database=DATABASE,
            labels=self.labels("database"),
            progress=progress,
        )
        door = ensure_front_door(
            self.client,
            self.name,
            network=self.network,
            labels=self.labels("frontdoor"),
            progress=progress,
        )
        server = self.client.containers.get(database.container)
        # This machine's processes cannot resolve container names: the server by its address.
        password = generated_password(password_file(self.name))
        url = database_url(self.name, DATABASE, password, host=address_on(server, self.network))
        return Environment(door=door, network=self.network, secret=self._write_secret(url))

    def _write_secret(self, url: str) -> Path:
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets_dir.chmod(0o700)
        path = self.secrets_dir / SECRET_FILE
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(url + "\n")
        temporary.replace(path)
        return path

    def front_door(self) -> FrontDoor | None:
        return find_front_door(self.client, self.name)

    def launch_instance(self, progress: Progress) -> tuple[Container, str]:
        """A new instance: its container (namespaces, address) and its id, EC2-style."""
        instance_id = f"i-{secrets.token_hex(6)}"
        container = ensure_container(
            self.client,
            f"{self.name}-{instance_id}",
            image=ensure_base_image(self.client, progress),
            labels=self.labels("instance"),
            progress=progress,
            network=self.network,
            hostname=instance_id,
            entrypoint=["sleep", "infinity"],
            init=True,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
        )
        return container, instance_id

    def instance_container(self, instance_id: str) -> Container:
        return self.client.containers.get(f"{self.name}-{instance_id}")

    def terminate_instance(self, instance_id: str) -> None:
        remove_container(self.client, f"{self.name}-{instance_id}")

    def instance_address(self, container: Container) -> str:
        return address_on(container, self.network)

    def remove(self) -> list[str]:
        """Everything of this sandbox on Docker; returns what was removed."""
        removed = []
        for container in self.client.containers.list(
            all=True, filters={"label": [f"{INSTANCE_LABEL}={self.name}", f"{ROLE_LABEL}=instance"]}
        ):
            container.remove(force=True)
            removed.append(str(container.name))
        if remove_front_door(self.client, self.name):
            removed.append("front door")
        if remove_postgres(self.client, self.name):
            removed.append(container_name(self.name))
        if remove_network(self.client, self.network):
            removed.append(self.network)
        return removed


def netns_pid(container: Container) -> int:
    """The pid whose namespaces the instance's processes join (the container's init)."""
    container.reload()
    pid = int(container.attrs["State"].get("Pid") or 0)
    if pid <= 0:
        raise SandboxError(f"instance {container.name} is not running")
    return pid
