"""Local sandbox: the Docker engine, base images and containers every target runs on.

The clouds are stood in for by local containers on 127.0.0.1: a systemd "VPS in a box",
app containers, Lambda harnesses. This package is the one place that knows how to get an
engine, build images without a registry and run containers safely and idempotently.

It is also the toolkit every target's sandbox is written with, so the four read alike:
`releases` (kept releases, atomic state file, rollback target), `health` (one bounded
wait-until-healthy loop), `narrate` (one step-by-step voice on the console) and `digest`
(one content digest of a file tree, for artifact caches and release fingerprints).
"""

from infra.sandbox.containers import (
    cgroup_version,
    ensure_container,
    exec_checked,
    free_port,
    published_port,
    remove_container,
    systemd_run_kwargs,
    wait_for_systemd,
)
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.health import wait_for_http
from infra.sandbox.images import (
    build_image,
    ensure_base_image,
    ensure_context_image,
    ensure_systemd_image,
)

__all__ = [
    "Progress",
    "SandboxError",
    "build_image",
    "cgroup_version",
    "ensure_base_image",
    "ensure_container",
    "ensure_context_image",
    "ensure_engine",
    "ensure_systemd_image",
    "exec_checked",
    "free_port",
    "published_port",
    "remove_container",
    "systemd_run_kwargs",
    "wait_for_http",
    "wait_for_systemd",
]
