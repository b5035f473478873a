"""Turn the rendered Kubernetes objects into Docker containers: a pod without a cluster.

The sandbox never describes a container itself: it reads the Deployment's pod template and
the migration Job from `manifests.render(...)` and translates field by field, so what runs
locally is what the cluster would run. Kubernetes -> Docker:

- image, command/args        -> image, entrypoint/command (same override rules)
- env, envFrom (ConfigMap, Secret objects of the same render) -> environment
- securityContext runAsUser/runAsGroup -> user; readOnlyRootFilesystem -> read_only;
  capabilities drop/add -> cap_drop/cap_add; allowPrivilegeEscalation: false ->
  no-new-privileges; seccomp RuntimeDefault -> Docker's default seccomp profile
- emptyDir volumes           -> tmpfs mounts of the same size (private to the container)
- secret volumes             -> `files` (path -> content, mode): the sandbox writes them and
                                bind-mounts each one read-only, as a kubelet projects a Secret
- resources.limits           -> memory (no swap) and CPU quota; requests -> reservation/shares
- startup/readiness/liveness probes -> one Docker health check that GETs every probe path
- containerPort              -> reached on the pod's private network (the front door, the
                                Service stand-in, publishes one loopback port for all pods)
- replicas, strategy.rollingUpdate, preStop sleep, terminationGracePeriodSeconds -> the
  rollout the sandbox performs (`Rollout`)

What has no Docker equivalent fails loudly instead of being dropped (another volume type,
a probe that is not httpGet), so the translation can never silently diverge.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.config import cpu_cores, memory_bytes
from infra.sandbox.errors import SandboxError

Obj = dict[str, Any]
NANO = 1_000_000_000
# The probe, run inside the container by the image's own Python: every path must answer 2xx.
PROBE_SCRIPT = (
    "import sys, urllib.request\n"
    "port, timeout = sys.argv[1], float(sys.argv[2])\n"
    "for path in sys.argv[3:]:\n"
    "    urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=timeout)\n"
)
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass(frozen=True)
class Rollout:
    """How the Deployment replaces its pods: only the strategy Kubernetes calls safe here,
    RollingUpdate with maxUnavailable 0 and maxSurge 1, is run (anything else fails loudly)."""

    replicas: int
    pre_stop_s: float  # the preStop sleep: endpoints drop the pod before it gets SIGTERM
    grace_s: int  # terminationGracePeriodSeconds: SIGTERM to SIGKILL


@dataclass(frozen=True)
class MountedFile:
    """One key of a Secret volume, as the kubelet projects it into the container."""

    content: str
    mode: int


@dataclass(frozen=True)
class ContainerRun:
    """One container to start: `kwargs` go to `containers.run` / `ensure_container`."""

    role: str  # "web" or "job"
    name: str  # the Kubernetes object name (Deployment or Job)
    image: str
    kwargs: Obj
    revision: str  # hash of the pod template: a changed template is a new pod
    ready_timeout_s: float = 60.0  # startup budget (web) or activeDeadlineSeconds (job)
    attempts: int = 1  # job: backoffLimit + 1
    app_port: int | None = None
    grace_s: int = 30
    labels: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, MountedFile] = field(default_factory=dict)  # container path -> file


@dataclass(frozen=True)
class PodPlan:
    jobs: list[ContainerRun]
    web: ContainerRun
    rollout: Rollout


def plan(objects: Iterable[Obj]) -> PodPlan:
    """The Jobs (run first, to completion) and the web pod of a rendered object list."""
    objs = list(objects)
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        raise SandboxError(
            f"expected one Deployment in the rendered objects, found {len(deployments)}"
        )
    jobs = [_job(o, objs) for o in objs if o["kind"] == "Job"]
    web = _web(deployments[0], objs)
    return PodPlan(jobs=jobs, web=web, rollout=_rollout(deployments[0], web))


def _rollout(deployment: Obj, web: ContainerRun) -> Rollout:
    strategy = deployment["spec"].get("strategy", {})
    rolling = strategy.get("rollingUpdate", {})
    shape = (strategy.get("type"), rolling.get("maxUnavailable"), rolling.get("maxSurge"))
    if shape != ("RollingUpdate", 0, 1):
        raise SandboxError(
            f"Deployment strategy {shape}: the sandbox runs RollingUpdate with "
            "maxUnavailable 0 and maxSurge 1 only"
        )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if pre_stop is not None and "sleep" not in pre_stop:
        raise SandboxError(f"preStop {sorted(pre_stop)}: the sandbox runs a preStop sleep only")
    return Rollout(
        replicas=int(deployment["spec"].get("replicas", 1)),
        pre_stop_s=float(pre_stop["sleep"]["seconds"]) if pre_stop else 0.0,
        grace_s=web.grace_s,
    )


def _web(deployment: Obj, objs: list[Obj]) -> ContainerRun:
    template = deployment["spec"]["template"]
    container, kwargs = _single_container(template["spec"], objs)
    port = _container_port(container)
    kwargs["healthcheck"] = healthcheck(container, port)
    kwargs["restart_policy"] = {"Name": "unless-stopped"}  # restartPolicy: Always
    startup = container.get("startupProbe") or container.get("readinessProbe") or {}
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    return ContainerRun(
        role="web",
        name=deployment["metadata"]["name"],
        image=container["image"],
        kwargs=kwargs,
        revision=_revision(template),
        ready_timeout_s=float(budget + startup.get("initialDelaySeconds", 0)),
        app_port=port,
        grace_s=int(template["spec"].get("terminationGracePeriodSeconds", 30)),
        labels=template["metadata"].get("labels", {}),
        files=mounted_files(template["spec"], container, objs),
    )


def _job(job: Obj, objs: list[Obj]) -> ContainerRun:
    template = job["spec"]["template"]
    if template["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        raise SandboxError(f"Job {job['metadata']['name']}: restartPolicy must be Never/OnFailure")
    container, kwargs = _single_container(template["spec"], objs)
    return ContainerRun(
        role="job",
        name=job["metadata"]["name"],
        image=container["image"],
        kwargs=kwargs,
        revision=_revision(template),
        ready_timeout_s=float(job["spec"].get("activeDeadlineSeconds", 600)),
        attempts=int(job["spec"].get("backoffLimit", 6)) + 1,
        grace_s=int(template["spec"].get("terminationGracePeriodSeconds", 30)),
        labels=template["metadata"].get("labels", {}),
        files=mounted_files(template["spec"], container, objs),
    )


def _revision(template: Obj) -> str:
    """Like Kubernetes' pod-template-hash: the same template is the same pod."""
    blob = json.dumps(template, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _single_container(pod: Obj, objs: list[Obj]) -> tuple[Obj, Obj]:
    if pod.get("initContainers") or len(pod["containers"]) != 1:
        raise SandboxError("the sandbox runs pods of exactly one container and no initContainers")
    container = pod["containers"][0]
    return container, container_kwargs(pod, container, objs)


def container_kwargs(pod: Obj, container: Obj, objs: list[Obj]) -> Obj:
    """Docker run kwargs for one container of a pod spec (no ports, health or restart)."""
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    kwargs: Obj = {
        "environment": environment(container, objs),
        "read_only": bool(security.get("readOnlyRootFilesystem", False)),
        "tmpfs": _tmpfs(pod, container),
        "privileged": False,
    }
    if "command" in container:
        kwargs["entrypoint"] = list(container["command"])
    if "args" in container:
        kwargs["command"] = list(container["args"])
    if "workingDir" in container:
        kwargs["working_dir"] = container["workingDir"]
    if security.get("privileged"):
        raise SandboxError("privileged containers are not run by the sandbox")
    user = security.get("runAsUser")
    if user is not None:
        group = security.get("runAsGroup")
        kwargs["user"] = f"{user}:{group}" if group is not None else str(user)
    elif security.get("runAsNonRoot"):
        raise SandboxError("runAsNonRoot without runAsUser: the sandbox needs an explicit uid")
    capabilities = security.get("capabilities", {})
    if capabilities.get("drop"):
        kwargs["cap_drop"] = list(capabilities["drop"])
    if capabilities.get("add"):
        kwargs["cap_add"] = list(capabilities["add"])
    if security.get("allowPrivilegeEscalation") is False:
        kwargs["security_opt"] = ["no-new-privileges:true"]
    seccomp = security.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp != "RuntimeDefault":
        raise SandboxError(f"seccompProfile {seccomp}: the sandbox only runs RuntimeDefault")
    kwargs |= resources(container.get("resources", {}))
    return kwargs


def resources(spec: Obj) -> Obj:
    limits, requests = spec.get("limits", {}), spec.get("requests", {})
    kwargs: Obj = {}
    if "memory" in limits:
        kwargs["mem_limit"] = memory_bytes(limits["memory"])
        kwargs["memswap_limit"] = kwargs["mem_limit"]  # no swap, as on a kubelet
    if "memory" in requests:
        kwargs["mem_reservation"] = memory_bytes(requests["memory"])
    if "cpu" in limits:
        kwargs["nano_cpus"] = int(cpu_cores(limits["cpu"]) * NANO)
    if "cpu" in requests:
        kwargs["cpu_shares"] = max(2, int(cpu_cores(requests["cpu"]) * 1024))
    return kwargs


def environment(container: Obj, objs: list[Obj]) -> dict[str, str]:
    """envFrom, then env (which wins), resolved against the rendered ConfigMaps and Secrets."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _data(objs, "ConfigMap", source["configMapRef"]["name"])
        elif "secretRef" in source:
            data = _data(objs, "Secret", source["secretRef"]["name"])
        else:
            raise SandboxError(f"envFrom source {sorted(source)} is not supported by the sandbox")
        env |= {prefix + k: v for k, v in data.items()}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[item["name"]] = _data(objs, "ConfigMap", key["name"])[key["key"]]
        elif "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            env[item["name"]] = _data(objs, "Secret", key["name"])[key["key"]]
        else:
            raise SandboxError(f"env {item['name']}: valueFrom {sorted(ref)} is not supported")
    return env


def _data(objs: list[Obj], kind: str, name: str) -> dict[str, str]:
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return {**obj.get("data", {}), **obj.get("stringData", {})}
    raise SandboxError(f"{kind} {name} is referenced by the pod but not rendered")


def mounted_files(pod: Obj, container: Obj, objs: list[Obj]) -> dict[str, MountedFile]:
    """Every key of the container's Secret volumes: its path in the container and content."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files: dict[str, MountedFile] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "secret" not in volume:
            continue
        if not mount.get("readOnly"):
            raise SandboxError(f"volume {mount['name']}: mount Secret volumes readOnly: true")
        source = volume["secret"]
        mode = int(source.get("defaultMode", 0o644))
        for key, value in _data(objs, "Secret", source["secretName"]).items():
            files[f"{mount['mountPath'].rstrip('/')}/{key}"] = MountedFile(value, mode)
    return files


def _tmpfs(pod: Obj, container: Obj) -> dict[str, str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is not None and "secret" in volume:
            continue  # a file mount (`mounted_files`), not a tmpfs
        if volume is None or "emptyDir" not in volume:
            raise SandboxError(
                f"volume {mount['name']}: only emptyDir and secret volumes can be run by the "
                "sandbox"
            )
        size = volume["emptyDir"].get("sizeLimit")
        options = "rw,nosuid,nodev,mode=1777" + (f",size={memory_bytes(size)}" if size else "")
        mounts[mount["mountPath"]] = options
    return mounts


def _container_port(container: Obj) -> int:
    ports = container.get("ports", [])
    if len(ports) != 1:
        raise SandboxError("the web container must expose exactly one containerPort")
    return int(ports[0]["containerPort"])


def _probe_port(probe: Obj, container: Obj) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    for item in container.get("ports", []):
        if item.get("name") == port:
            return int(item["containerPort"])
    raise SandboxError(f"probe port {port!r} names no containerPort")


def healthcheck(container: Obj, port: int) -> Obj:
    """The pod's probes as one Docker health check.

    Healthy means every probe path answers (readiness and liveness alike). It is checked at
    the startup probe's period, and failures during the startup probe's budget do not count,
    as on a kubelet. Unlike a kubelet, Docker only reports an unhealthy container: it neither
    restarts it (liveness) nor takes it out of a Service (readiness).
    """
    probes = [container[name] for name in PROBES if name in container]
    if not probes:
        raise SandboxError("the web container has no probes to turn into a health check")
    for probe in probes:
        if "httpGet" not in probe:
            raise SandboxError("only httpGet probes can be run by the sandbox")
        if _probe_port(probe, container) != port:
            raise SandboxError("every probe must target the container's port")
    paths = list(dict.fromkeys(p["httpGet"].get("path", "/") for p in probes))
    first = probes[0]
    readiness = container.get("readinessProbe", first)
    timeout = max(p.get("timeoutSeconds", 1) for p in probes)
    return {
        "test": ["CMD", "python3", "-c", PROBE_SCRIPT, str(port), str(timeout), *paths],
        "interval": first.get("periodSeconds", 10) * NANO,
        "timeout": (timeout * len(paths) + 1) * NANO,
        "retries": readiness.get("failureThreshold", 3),
        "start_period": first.get("periodSeconds", 10) * first.get("failureThreshold", 3) * NANO,
    }
