"""Create, reuse and probe the sandbox containers that stand in for cloud machines.

Containers are "pets" across runs: a demo's VPS-in-a-box must survive a CLI restart, and CI
starts right after a session with the session's containers still stored but stopped. So
`ensure_container` is idempotent by name: it reuses a container whose recorded spec hash
matches what the caller asks for (starting it if stopped) and replaces it otherwise.

Network rule of the project: nothing listens beyond loopback. Every published port must be
bound to 127.0.0.1; anything else is rejected before Docker sees it, as are host networking
and "publish all ports" (both would expose services on every interface).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from infra.sandbox.digest import recipe_digest
from infra.sandbox.errors import Progress, SandboxError, report

LOOPBACK = "127.0.0.1"
MANAGED_LABEL = "shipways.managed"
SPEC_LABEL = "shipways.spec"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_version(
    client: docker.DockerClient | None = None, *, cgroup_root: Path = CGROUP_ROOT
) -> int:
    """cgroup version of the Docker host: 2 (unified) or 1 (v1 or hybrid).

    The engine's own answer wins when a client is given, because the daemon may not run on
    this filesystem (Docker Desktop's VM, a remote DOCKER_HOST). Otherwise the local
    `cgroup.controllers` file, which exists only at the root of a unified hierarchy, decides.
    """
    if client is not None:
        reported = str(client.info().get("CgroupVersion", ""))
        if reported in {"1", "2"}:
            return int(reported)
    return 2 if (cgroup_root / "cgroup.controllers").exists() else 1


def systemd_run_kwargs(
    client: docker.DockerClient | None = None, *, cgroup_root: Path = CGROUP_ROOT
) -> dict[str, Any]:
    """`containers.run` kwargs that let systemd run as PID 1 without `--privileged`.

    systemd needs a writable cgroup tree plus tmpfs on /run and /run/lock. Docker mounts a
    private cgroup namespace read-only in unprivileged containers, on v1 and v2 alike, so
    both versions share the host cgroup namespace and bind the host tree read-write;
    systemd then creates its units under the container's own cgroup only. On v1 systemd
    also needs the host's `name=systemd` hierarchy, which is checked when visible here.
    `--privileged` is not used: it fails on the project's machines (no CAP_SYS_RESOURCE)
    and would grant far more than systemd needs; no extra capability is needed either.
    """
    version = cgroup_version(client, cgroup_root=cgroup_root)
    if version == 1 and cgroup_root.is_dir() and not (cgroup_root / "systemd").is_dir():
        raise SandboxError(
            f"cgroup v1 host without {cgroup_root}/systemd: systemd cannot run in a container "
            "here. Mount it (`mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o "
            "none,name=systemd cgroup /sys/fs/cgroup/systemd`) or boot with cgroup v2."
        )
    return {
        "cgroupns": "host",
        "volumes": {str(CGROUP_ROOT): {"bind": str(CGROUP_ROOT), "mode": "rw"}},
        "tmpfs": {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
        "environment": {"container": "docker"},
        "stop_signal": "SIGRTMIN+3",
    }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; a race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def validate_ports(ports: Mapping[Any, Any] | None) -> None:
    """Reject any port publication that is not bound to 127.0.0.1.

    Accepted binding forms (Docker SDK `ports=`): ("127.0.0.1", host_port),
    ("127.0.0.1",) for a random loopback port, or a list of those. A bare port number,
    None, or another address would listen on every interface.
    """
    for container_port, binding in (ports or {}).items():
        bindings = binding if isinstance(binding, list) else [binding]
        for item in bindings:
            if not (isinstance(item, tuple) and len(item) in (1, 2) and item[0] == LOOPBACK):
                raise SandboxError(
                    f"port {container_port!r} is published as {item!r}, which would listen "
                    f"beyond loopback. Publish it as ('{LOOPBACK}', HOST_PORT), e.g. "
                    f"ports={{'{container_port}': ('{LOOPBACK}', free_port())}}."
                )


def _validate_network(run_kwargs: Mapping[str, Any]) -> None:
    if run_kwargs.get("network_mode") == "host":
        raise SandboxError(
            "network_mode='host' would expose every container service on the host's "
            "interfaces; publish the needed ports on 127.0.0.1 instead."
        )
    if run_kwargs.get("publish_all_ports"):
        raise SandboxError(
            "publish_all_ports=True publishes on 0.0.0.0; list the ports explicitly, "
            f"bound to {LOOPBACK}."
        )


def spec_hash(image_id: str, labels: Mapping[str, str], run_kwargs: Mapping[str, Any]) -> str:
    """Hash of everything that defines a container; a different hash means recreate."""
    return recipe_digest(
        {
            "image": image_id,
            "labels": dict(labels),
            "run": {k: _jsonable(v) for k, v in run_kwargs.items()},
        }
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def ensure_container(
    client: docker.DockerClient,
    name: str,
    *,
    image: str,
    labels: Mapping[str, str],
    recreate: bool = False,
    progress: Progress | None = None,
    **run_kwargs: Any,
) -> Container:
    """Return a running container `name` built from `image` with exactly this spec.

    Reuses (and starts, if stopped) an existing container whose spec hash matches; removes
    and recreates it when the image, labels or run kwargs changed, or when `recreate`.
    `run_kwargs` go to `client.containers.run` (detached); ports must be loopback-bound.
    """
    validate_ports(run_kwargs.get("ports"))
    _validate_network(run_kwargs)
    try:
        image_id = client.images.get(image).id
    except ImageNotFound as exc:
        raise SandboxError(
            f"image {image} for container {name} does not exist locally (no registry to pull "
            "from); build it first, e.g. with infra.sandbox.images.ensure_systemd_image."
        ) from exc
    spec = spec_hash(image_id, labels, run_kwargs)
    all_labels = {**labels, MANAGED_LABEL: "true", SPEC_LABEL: spec}

    existing = _get(client, name)
    if existing is not None:
        _require_managed(existing)
        if not recreate and existing.labels.get(SPEC_LABEL) == spec:
            if existing.status == "paused":
                existing.unpause()
            elif existing.status != "running":
                report(progress, f"starting existing container {name}")
                _start(existing)
            existing.reload()
            return existing
        report(progress, f"replacing container {name} (spec changed or recreate requested)")
        existing.remove(force=True, v=True)

    report(progress, f"creating container {name} from {image}")
    try:
        container = client.containers.run(
            image, name=name, detach=True, labels=all_labels, **run_kwargs
        )
    except APIError as exc:
        if exc.status_code == 409:  # a concurrent caller created it first
            raced = _get(client, name)
            if raced is not None and raced.labels.get(SPEC_LABEL) == spec:
                return raced
        raise SandboxError(f"creating container {name} failed: {exc.explanation or exc}") from exc
    container.reload()
    return container


def _get(client: docker.DockerClient, name: str) -> Container | None:
    try:
        return client.containers.get(name)
    except NotFound:
        return None


def _require_managed(container: Container) -> None:
    """Refuse to touch a same-named container that shipways did not create."""
    if container.labels.get(MANAGED_LABEL) != "true":
        raise SandboxError(
            f"container {container.name} exists but was not created by shipways (no "
            f"{MANAGED_LABEL}=true label); rename or remove it yourself "
            f"(`docker rm -f {container.name}`), or choose another sandbox name."
        )


def _start(container: Container) -> None:
    try:
        container.start()
    except APIError as exc:
        raise SandboxError(
            f"starting existing container {container.name} failed: {exc.explanation or exc}. "
            "If another program took one of its published ports since (after a restart of "
            "Docker), stop that program, or start the target over: `shipways down TARGET`, then "
            "`shipways up TARGET`."
        ) from exc
    container.reload()


def remove_container(client: docker.DockerClient, name: str) -> bool:
    """Force-remove container `name` and its anonymous volumes; False if it did not exist.

    Only containers shipways created (labelled) are removed; others raise `SandboxError`.
    """
    container = _get(client, name)
    if container is None:
        return False
    _require_managed(container)
    try:
        container.remove(force=True, v=True)
    except NotFound:
        return False
    return True


def exec_checked(
    container: Container,
    cmd: str | Sequence[str],
    user: str | None = None,
    *,
    environment: Mapping[str, str] | None = None,
    workdir: str | None = None,
) -> str:
    """Run `cmd` in `container` and return its combined output; raise on a non-zero exit."""
    result = container.exec_run(
        cmd if isinstance(cmd, str) else list(cmd),
        user=user or "",
        environment=dict(environment or {}),
        workdir=workdir,
    )
    output = (result.output or b"").decode(errors="replace")
    if result.exit_code != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(cmd)
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise SandboxError(
            f"`{shown}` in container {container.name} exited with {result.exit_code}:\n{tail}"
        )
    return output


def wait_for_systemd(
    container: Container,
    timeout: float = 90.0,
    *,
    allow_degraded: bool = False,
    progress: Progress | None = None,
) -> str:
    """Poll until systemd in `container` reports `running` (or `degraded`); return the state.

    A degraded system raises, listing the failed units, unless `allow_degraded`. A container
    that exits, or a boot that does not finish in `timeout` seconds, raises with its logs.
    """
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        container.reload()
        if container.status != "running":
            raise SandboxError(
                f"container {container.name} stopped while booting (status "
                f"{container.status}). Its log:\n{_logs_tail(container)}"
            )
        result = container.exec_run(["systemctl", "is-system-running"])
        state = (result.output or b"").decode(errors="replace").strip() or "unknown"
        if state == "running":
            return state
        if state == "degraded":
            failed = exec_checked(container, ["systemctl", "--failed", "--no-legend", "--plain"])
            if not allow_degraded:
                raise SandboxError(
                    f"systemd in {container.name} is degraded; failed units:\n{failed.strip()}\n"
                    f"Inspect with `docker exec {container.name} journalctl -u UNIT`."
                )
            report(progress, f"{container.name} degraded; failed units: {failed.strip()}")
            return state
        time.sleep(0.5)
    raise SandboxError(
        f"systemd in {container.name} did not finish booting within {timeout:.0f}s "
        f"(last state: {state}). Container log:\n{_logs_tail(container)}"
    )


def _logs_tail(container: Container, lines: int = 30) -> str:
    try:
        return bytes(container.logs(tail=lines)).decode(errors="replace")
    except APIError:
        return "(logs unavailable)"


def published_port(container: Container, container_port: int | str) -> int:
    """Host port (on 127.0.0.1) that `container_port` ("80" or "80/tcp") is published on."""
    key = str(container_port) if "/" in str(container_port) else f"{container_port}/tcp"
    container.reload()
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(key) or []
    for binding in bindings:
        if binding.get("HostIp") == LOOPBACK:
            return int(binding["HostPort"])
    raise SandboxError(
        f"container {container.name} does not publish {key} on {LOOPBACK} "
        f"(bindings: {bindings or 'none'}); is it running with ports={{'{key}': "
        f"('{LOOPBACK}', PORT)}}?"
    )


def kept_host_port(client: docker.DockerClient, name: str, container_port: str) -> int | None:
    """The loopback port an existing container `name` publishes `container_port` on (None
    if there is no such container): a front door recreated with it keeps its address."""
    existing = _get(client, name)
    if existing is None:
        return None
    bindings = (existing.attrs["HostConfig"].get("PortBindings") or {}).get(container_port) or []
    ports = [int(b["HostPort"]) for b in bindings if b.get("HostPort")]
    return ports[0] if ports else None
