"""The base image from the official Debian image, where an image registry answers.

On a laptop with Docker, pulling `debian:bookworm-slim` and adding the recipe's packages
takes seconds and needs nothing Debian-specific on the host; the local debootstrap build
(`infra.sandbox.images`) is the fallback where no registry is reachable. `ensure_base_image`
asks `registry_reachable` once and says which way it went in one line.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import docker
import httpx
from docker.errors import DockerException

from infra.sandbox.errors import Progress, SandboxError, report

OFFICIAL_DEBIAN = ("debian", "bookworm-slim")
REGISTRY_PROBE = "https://registry-1.docker.io/v2/"
CONTEXT = Path(__file__).parent / "dockerfiles" / "official"


def registry_reachable(url: str = REGISTRY_PROBE, timeout: float = 3.0) -> bool:
    """Whether the image registry answers at all (any HTTP status: it asks for a token)."""
    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def build_from_official(
    client: docker.DockerClient,
    tag: str,
    *,
    packages: tuple[str, ...],
    finalize_script: Path,
    labels: dict[str, str],
    progress: Progress | None = None,
) -> None:
    """Pull the official Debian image and build `tag` from it (recipe packages, finalize)."""
    from infra.sandbox.images import build_image

    repository, version = OFFICIAL_DEBIAN
    report(progress, f"pulling {repository}:{version}")
    try:
        client.images.pull(repository, tag=version)
    except DockerException as exc:
        raise SandboxError(f"pulling {repository}:{version} failed: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="shipways-official-") as tmp:
        context = Path(tmp)
        shutil.copy(CONTEXT / "Dockerfile", context / "Dockerfile")
        shutil.copy(finalize_script, context / "finalize.sh")
        build_image(
            client,
            context,
            tag,
            buildargs={"DEBIAN_IMAGE": f"{repository}:{version}", "PACKAGES": " ".join(packages)},
            progress=progress,
            labels=labels,
        )
