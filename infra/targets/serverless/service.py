"""The local Lambda service, host side: a function's instances and its API Gateway stage.

- `Gateway`: the container running `gateway.py`, the target's one address (HTTP API and
  Invoke API, both on 127.0.0.1, their ports kept from the first `up` to `down`). Its routes
  (published versions, their instances, the `live` alias) are a file written here, in a
  directory mounted read-only into it; `reload` applies the file in one step.
- `instance_run`: how one execution environment runs: a container shaped like Lambda's
  (read-only root, /tmp only, uid 993, no capabilities, memoryMb, CPU share, limits),
  on the target's private network only, the database URL a read-only file. Each version
  has `concurrency` of them; each runs its init when the gateway first sends it a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
from docker.models.containers import Container
from docker.types import Ulimit

from infra.sandbox.containers import (
    LOOPBACK,
    ensure_container,
    exec_checked,
    free_port,
    kept_host_port,
)
from infra.sandbox.errors import Progress
from infra.sandbox.networks import connect
from infra.sandbox.releases import atomic_write
from infra.targets.serverless.images import SANDBOX_UID

HTTP_PORT = "8080/tcp"  # API Gateway's side
INVOKE_PORT = "9000/tcp"  # Lambda's Invoke API
INSTANCE_INVOKE = 9000  # each instance's Invoke API, on the private network only
RUNTIME_API = "127.0.0.1:9001"  # inside each instance only
ROUTES_DIR = "/var/gateway"
SECRETS_DIR = "/run/secrets"  # where an instance finds its secrets' read-only files
FULL_CPU_MB = 1769  # Lambda allots one vCPU per 1,769 MB (and a full one during init)
TMP_MB = 512  # Lambda's default ephemeral storage
LIMITS = 1024  # Lambda's process/thread and file descriptor limits


def gateway_name(instance: str) -> str:
    return f"{instance}-gateway"


def instance_name(instance: str, version: str, index: int) -> str:
    return f"{instance}-v{version}-{index}"


@dataclass
class Routes:
    """What the gateway serves: version -> instance addresses, and the alias: the version it
    points at and, during a gradual shift, the alias's routing configuration (Lambda's
    `AdditionalVersionWeights`: another version and its share of the alias's requests)."""

    versions: dict[str, list[str]]
    alias: str | None
    weights: dict[str, float] = field(default_factory=dict)

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)  # addresses only, no secret: the gateway's user reads it
        path = directory / "routes.json"
        routes = {"versions": self.versions, "alias": self.alias, "weights": self.weights}
        atomic_write(path, json.dumps(routes))
        path.chmod(0o644)

    @classmethod
    def read(cls, directory: Path) -> Routes:
        try:
            data = json.loads((directory / "routes.json").read_text())
        except FileNotFoundError:
            return cls({}, None)
        return cls(dict(data["versions"]), data.get("alias"), dict(data.get("weights") or {}))


@dataclass(frozen=True)
class Gateway:
    container: Container
    url: str
    invoke_url: str
    routes_dir: Path

    def apply(self, routes: Routes) -> dict[str, Any]:
        """Write `routes` and make the gateway use them now; its state after the change."""
        routes.write(self.routes_dir)
        return self._control("POST", "/reload")

    def state(self) -> dict[str, Any]:
        return self._control("GET", "/state")

    def _control(self, method: str, path: str) -> dict[str, Any]:
        command = ["python3", "/var/harness/gateway.py", "control", method, path]
        return dict(json.loads(exec_checked(self.container, command)))

    def invoke(
        self, function: str, payload: object, version: str, timeout: float
    ) -> httpx.Response:
        """A synchronous invocation of `version` itself (not the alias), as a release step."""
        url = f"{self.invoke_url}/2015-03-31/functions/{function}/invocations"
        with httpx.Client(timeout=timeout, trust_env=False) as http:
            return http.post(url, params={"Qualifier": version}, json=payload)


def ensure_gateway(
    client: docker.DockerClient,
    instance: str,
    *,
    image: str,
    network: str,
    routes_dir: Path,
    environment: dict[str, str],
    timeout_s: int,
    labels: dict[str, str],
    progress: Progress | None,
) -> Gateway:
    """Start (or keep, with its ports) the gateway container and attach it to `network`."""
    name = gateway_name(instance)
    http_port = kept_host_port(client, name, HTTP_PORT) or free_port()
    invoke_port = kept_host_port(client, name, INVOKE_PORT) or free_port()
    if not (routes_dir / "routes.json").exists():
        Routes({}, None).write(routes_dir)
    container = ensure_container(
        client,
        name,
        image=image,
        labels=labels,
        progress=progress,
        command=[
            "/var/harness/gateway.py",
            "--routes",
            f"{ROUTES_DIR}/routes.json",
            "--timeout",
            str(timeout_s),
        ],
        environment=environment,
        user=f"{SANDBOX_UID}:{SANDBOX_UID}",
        read_only=True,
        volumes={str(routes_dir): {"bind": ROUTES_DIR, "mode": "ro"}},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        restart_policy={"Name": "unless-stopped"},
        ports={HTTP_PORT: (LOOPBACK, http_port), INVOKE_PORT: (LOOPBACK, invoke_port)},
    )
    connect(client.networks.get(network), container)
    gateway = Gateway(
        container,
        f"http://{LOOPBACK}:{http_port}",
        f"http://{LOOPBACK}:{invoke_port}",
        routes_dir,
    )
    gateway.apply(Routes.read(routes_dir))  # a restarted gateway serves what it served
    return gateway


def find_gateway(client: docker.DockerClient, instance: str, routes_dir: Path) -> Gateway:
    """The running gateway of `instance`, without starting anything."""
    container = client.containers.get(gateway_name(instance))
    http_port = kept_host_port(client, container.name, HTTP_PORT)
    invoke_port = kept_host_port(client, container.name, INVOKE_PORT)
    return Gateway(
        container,
        f"http://{LOOPBACK}:{http_port}",
        f"http://{LOOPBACK}:{invoke_port}",
        routes_dir,
    )


def instance_run(
    *,
    image: str,
    network: str,
    name: str,
    environment: dict[str, str],
    secret_files: Mapping[str, Path],
    memory_mb: int,
    timeout_s: int,
    handler: str,
) -> dict[str, Any]:
    """`ensure_container` arguments for one execution environment of a version.

    `secret_files` maps a variable (DATABASE_URL_FILE, WRITE_TOKEN_FILE) to a file on this
    machine: each is mounted read-only under SECRETS_DIR, the variable holding its path there,
    so no secret value is ever in the instance's environment."""
    mounts = {name: f"{SECRETS_DIR}/{path.name}" for name, path in secret_files.items()}
    return {
        "image": image,
        "network": network,
        "hostname": name,  # what /version reports as `instance`
        "command": [
            "/var/harness/runtime_api.py",
            "--http",
            "",
            "--invoke",
            f"0.0.0.0:{INSTANCE_INVOKE}",
            "--timeout",
            str(timeout_s),
            "--",
            "python3",
            "-m",
            "awslambdaric",
            handler,
        ],
        "environment": {**environment, **mounts},
        "volumes": {
            str(secret_files[name]): {"bind": mount, "mode": "ro"} for name, mount in mounts.items()
        },
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={TMP_MB}m,mode=1777"},  # noqa: S108
        "mem_limit": f"{memory_mb}m",
        "memswap_limit": f"{memory_mb}m",
        "nano_cpus": cpu_share(memory_mb),
        "pids_limit": LIMITS,
        "ulimits": [Ulimit(name="nofile", soft=LIMITS, hard=LIMITS)],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
    }


def write_secret_file(path: Path, value: str) -> Path:
    """The database URL as a file only the function's user can read, mounted read-only.

    On AWS the function reads it from Secrets Manager at init (DATABASE_URL_SECRET_ARN);
    there is no Secrets Manager here, so the same value arrives as a file (DATABASE_URL_FILE),
    never as an environment variable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_text(value)
    return hand_to_function(path)


def hand_to_function(path: Path) -> Path:
    """`path` (a secret's file) for the function's user alone: owned by it and 0400 when this
    runs as root; without root it cannot be given to that uid, so it becomes readable inside
    the instance (whose only user is the function) while its 0700 directory keeps it from
    everyone else on this machine."""
    path.parent.chmod(0o700)
    if os.geteuid() == 0:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
        path.chmod(0o400)
    else:
        path.chmod(0o444)
    return path


def cpu_share(memory_mb: int, host_cpus: int | None = None) -> int:
    """CPU for one instance, in Docker's nano-CPUs: one vCPU per 1,769 MB, at least one.

    Lambda runs the init phase on a full vCPU and invocations on memory/1769 of one (more
    vCPUs above 1,769 MB). A container's quota cannot follow that switch from inside, so
    the local run keeps the init burst throughout: below 1,769 MB warm requests here get
    more CPU than on Lambda, and local warm latency is a lower bound (docs/serverless.md).
    """
    cpus = max(1.0, memory_mb / FULL_CPU_MB)
    return int(min(cpus, host_cpus or os.cpu_count() or 1) * 1e9)


def start_instances(
    client: docker.DockerClient,
    names: list[str],
    run: dict[str, Any],
    labels: dict[str, str],
    progress: Progress | None,
) -> list[Container]:
    """The version's instances, created or started again (a rolled-back version's)."""
    started = []
    for name in names:
        kwargs = {**run, "hostname": name}
        image = kwargs.pop("image")
        started.append(
            ensure_container(client, name, image=image, labels=labels, progress=progress, **kwargs)
        )
    return started


def address(name: str) -> str:
    """An instance's Invoke API as the gateway reaches it: by name, on the private network."""
    return f"{name}:{INSTANCE_INVOKE}"
