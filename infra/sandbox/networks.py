"""Private Docker networks: one per target instance, shared by its app, database and proxy.

A user-defined bridge gives its containers DNS by container name (the app reaches
`<instance>-postgres` by name, as it would reach a managed database's endpoint) and keeps
them apart from every other container on the machine. `internal=True` also cuts the route
to the outside world: the app and its database need no egress, so they get none. Only the
front door, attached to a second (default) network, publishes a port, on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from infra.sandbox.containers import MANAGED_LABEL
from infra.sandbox.errors import SandboxError


def ensure_private_network(
    client: docker.DockerClient,
    name: str,
    *,
    labels: Mapping[str, str],
    internal: bool = True,
) -> Network:
    """Return the bridge network `name`, creating it (internal: no egress) if absent."""
    try:
        network = client.networks.get(name)
    except NotFound:
        try:
            return client.networks.create(
                name,
                driver="bridge",
                internal=internal,
                labels={**labels, MANAGED_LABEL: "true"},
            )
        except APIError as exc:
            raise SandboxError(f"creating network {name} failed: {exc.explanation or exc}") from exc
    if network.attrs.get("Labels", {}).get(MANAGED_LABEL) != "true":
        raise SandboxError(
            f"network {name} exists but was not created by shipways; remove it "
            f"(`docker network rm {name}`) or choose another sandbox name."
        )
    return network


def connect(network: Network, container: Container) -> None:
    """Attach `container` to `network` unless it already is (idempotent)."""
    container.reload()
    if network.name in (container.attrs["NetworkSettings"].get("Networks") or {}):
        return
    network.connect(container)


def address_on(container: Container, network: str) -> str:
    """The container's IP address on `network` (what a Service's endpoints list holds)."""
    container.reload()
    settings = (container.attrs["NetworkSettings"].get("Networks") or {}).get(network) or {}
    address = settings.get("IPAddress")
    if not address:
        raise SandboxError(f"container {container.name} has no address on network {network}")
    return str(address)


def remove_network(client: docker.DockerClient, name: str) -> bool:
    """Remove network `name` (its containers must be gone first); False if it did not exist."""
    try:
        client.networks.get(name).remove()
    except NotFound:
        return False
    return True
