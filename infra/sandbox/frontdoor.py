"""The front door: one stable loopback address in front of a target's instances.

In the cloud every platform has an edge that outlives releases (a Kubernetes Service and
its Ingress, a PaaS load balancer, an API Gateway stage). Locally that is this proxy: nginx
from Debian's packages (`dockerfiles/frontdoor`), in its own container, on the target's
private network, publishing ONE port on 127.0.0.1 that stays the same from the first `up`
to `down`, through every redeploy and rollback.

Requests are spread round robin over the current set of ready backends. The set is
changed only by the target's release logic (`set_backends`): the upstream file is
rewritten, checked with `nginx -t` and applied with `nginx -s reload`, which is graceful:
new workers take new connections, old ones finish the requests they hold. A target that
removes a backend, waits its drain, and only then stops it drops no request.

An empty set answers 502 (no live upstream), as a Service with no ready endpoints refuses.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import docker
import httpx
from docker.errors import NotFound
from docker.models.containers import Container

from infra.sandbox.containers import (
    LOOPBACK,
    ensure_container,
    free_port,
    kept_host_port,
    remove_container,
)
from infra.sandbox.errors import Progress, SandboxError, report
from infra.sandbox.health import NotYet, wait_until
from infra.sandbox.images import DOCKERFILES, ensure_base_image, ensure_context_image
from infra.sandbox.networks import connect

LISTEN_PORT = 8080
CONFIG_DIR = "/etc/shipways-frontdoor"
UPSTREAM_FILE = "upstream.conf"
NGINX = ["nginx", "-c", f"{CONFIG_DIR}/nginx.conf"]
PLACEHOLDER = "127.0.0.1:9"  # nginx needs one server per upstream: this one is `down`
_SERVER = re.compile(r"^\s*server\s+(\S+?)(\s+down)?;", re.MULTILINE)
_BACKEND = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
# nginx retitles its processes: accepting workers read exactly "nginx: worker process".
_LIST_WORKERS = (
    'for p in /proc/[0-9]*; do [ "$(tr -d "\\0" < $p/cmdline 2>/dev/null)" = '
    '"nginx: worker process" ] && echo ${p#/proc/}; done; true'
)


def container_name(instance: str) -> str:
    return f"{instance}-frontdoor"


def upstream_conf(backends: Sequence[str]) -> str:
    """The nginx upstream block for `backends` ("address:port" each, order kept)."""
    for backend in backends:
        if not _BACKEND.match(backend):
            raise SandboxError(f"backend {backend!r} is not ADDRESS:PORT")
    if len(set(backends)) != len(backends):
        raise SandboxError(f"backends listed twice: {list(backends)}")
    servers = [f"    server {b};" for b in backends] or [f"    server {PLACEHOLDER} down;"]
    return "upstream backends {\n" + "\n".join(servers) + "\n}\n"


def parse_upstream(text: str) -> list[str]:
    """The backends an upstream file sends traffic to (the `down` placeholder excluded)."""
    return [m.group(1) for m in _SERVER.finditer(text) if not m.group(2)]


@dataclass(frozen=True)
class FrontDoor:
    """The running proxy of one target instance."""

    container: Container
    url: str  # http://127.0.0.1:PORT, the target's address for its whole life

    def backends(self) -> list[str]:
        """The backends the proxy spreads requests over right now."""
        result = self.container.exec_run(["cat", f"{CONFIG_DIR}/{UPSTREAM_FILE}"])
        if result.exit_code != 0:
            raise SandboxError(f"{self.container.name}: cannot read its upstream list")
        return parse_upstream(bytes(result.output).decode())

    def set_backends(self, backends: Sequence[str], progress: Progress | None = None) -> None:
        """Send new requests to exactly `backends` from now on, dropping none in flight."""
        payload = upstream_conf(backends).encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(UPSTREAM_FILE)
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
        self.container.put_archive(CONFIG_DIR, archive.getvalue())
        serving = self._workers()
        for command in ([*NGINX, "-t", "-q"], [*NGINX, "-s", "reload"]):
            result = self.container.exec_run(command)
            if result.exit_code != 0:
                output = bytes(result.output).decode(errors="replace").strip()
                raise SandboxError(f"{self.container.name}: {' '.join(command)} failed: {output}")
        self._wait_for_new_workers(serving)
        report(progress, f"front door now sends to: {', '.join(backends) or 'nothing (502)'}")

    def _workers(self) -> set[str]:
        """PIDs of the workers that accept new connections (not those shutting down)."""
        result = self.container.exec_run(["sh", "-c", _LIST_WORKERS])
        return set(bytes(result.output).decode().split())

    def _wait_for_new_workers(self, old: set[str]) -> None:
        """`nginx -s reload` only signals the master and returns: until the new workers run,
        the old ones (with the old upstream list) still accept connections. Wait until every
        accepting worker is a new one, so the list is live when this returns."""

        def switched() -> None:
            now = self._workers()
            if not now or now & old:
                raise NotYet(f"workers {sorted(now)} (old: {sorted(old)})")

        wait_until(
            switched,
            timeout=10.0,
            interval=0.05,
            failure=f"{self.container.name}: nginx did not start its new workers",
        )


def ensure_frontdoor_image(client: docker.DockerClient, progress: Progress | None = None) -> str:
    base = ensure_base_image(client, progress)
    return ensure_context_image(
        client,
        DOCKERFILES / "frontdoor",
        flavor="frontdoor",
        buildargs={"BASE_IMAGE": base},
        progress=progress,
    )


def ensure_front_door(
    client: docker.DockerClient,
    instance: str,
    *,
    network: str,
    labels: Mapping[str, str],
    progress: Progress | None = None,
) -> FrontDoor:
    """Start (or reuse, keeping its port) the instance's proxy, attached to `network`."""
    image = ensure_frontdoor_image(client, progress)
    name = container_name(instance)
    port = _kept_port(client, name) or free_port()
    proxy = ensure_container(
        client,
        name,
        image=image,
        labels=labels,
        progress=progress,
        ports={f"{LISTEN_PORT}/tcp": (LOOPBACK, port)},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        restart_policy={"Name": "unless-stopped"},
    )
    connect(client.networks.get(network), proxy)
    url = f"http://{LOOPBACK}:{port}"
    _wait_until_answering(url)
    return FrontDoor(container=proxy, url=url)


def _wait_until_answering(url: str) -> None:
    """nginx is up when it answers at all (502 while it has no backend is an answer)."""
    with httpx.Client(timeout=2.0, trust_env=False) as http:

        def answers() -> None:
            try:
                http.get(f"{url}/healthz")
            except httpx.HTTPError as exc:
                raise NotYet(f"{url}: {type(exc).__name__}") from None

        wait_until(answers, timeout=30, interval=0.2, failure=f"front door {url} did not answer")


def _kept_port(client: docker.DockerClient, name: str) -> int | None:
    """The host port an existing front door was given: its address must never change."""
    return kept_host_port(client, name, f"{LISTEN_PORT}/tcp")


def find_front_door(client: docker.DockerClient, instance: str) -> FrontDoor | None:
    """The instance's running proxy, if it has one (without starting anything)."""
    try:
        proxy = client.containers.get(container_name(instance))
    except NotFound:
        return None
    port = _kept_port(client, proxy.name)
    if proxy.status != "running" or port is None:
        return None
    return FrontDoor(container=proxy, url=f"http://{LOOPBACK}:{port}")


def remove_front_door(client: docker.DockerClient, instance: str) -> bool:
    """Remove the proxy (its address is released); False if there was none."""
    return remove_container(client, container_name(instance))
