"""The app's container image: its build context, a local build, and what it weighs.

`app/Dockerfile` is the one recipe: the `k8s` stack builds it with pulumi-docker for a
registry, the sandbox builds it here with the Docker SDK. The context is `app/` filtered by
`app/.dockerignore` (the SDK applies the same rules as `docker build`), plus, for offline
builds, the locked dependency wheels under `wheels/`: no container here can reach PyPI, so
the builder stage installs `--no-index` from wheels the host downloaded
(`infra.artifacts.wheelhouse`) for the base image's Python.

Builder: the SDK's `images.build` drives the engine's classic builder (BuildKit needs the
buildx CLI plugin and a gRPC session the SDK does not speak). The classic builder caches
layers by instruction and file content, so the Dockerfile's layer order is what makes a
code-only change rebuild only the last layers; `benchmarks/k8s.py` measures it.

Images are tagged with a hash of their whole context and build args: an unchanged app
reuses its image in milliseconds, any change builds a new one.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import shipways_app
from docker.errors import ImageNotFound
from docker.utils.build import exclude_paths

from infra.artifacts import wheelhouse
from infra.artifacts.revision import app_revision, source_url
from infra.paths import APP_DIR, state_dir
from infra.sandbox.digest import recipe_digest, tree_digest
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError, report
from infra.sandbox.host import file_lock
from infra.sandbox.images import build_image, ensure_base_image, prune_superseded
from infra.targets.registry import BuiltArtifact

REPOSITORY = "shipways/app"
FLAVOR = "app"  # tags are `shipways/app:app-<hash>`; older hashes are pruned after a build
DOCKERFILE = "Dockerfile"
WHEELS_DIR = "wheels"
# Where the builder stage finds `wheels/*` (the Dockerfile copies them next to requirements).
OFFLINE_PIP_ARGS = "--no-index --find-links=/build"
SOURCE_UNKNOWN = "unknown"

_python_of_base: dict[str, str] = {}


@dataclass(frozen=True)
class AppImage:
    """A locally built app image."""

    tag: str
    id: str  # sha256:..., what the sandbox's pod spec references (no registry, no repo digest)
    size_bytes: int
    python: str
    built: bool  # False when an image with this exact context and args already existed
    build_seconds: float

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def context_files(app_dir: Path = APP_DIR) -> list[str]:
    """Files of `app_dir` that `.dockerignore` lets into the build context, sorted."""
    ignore = app_dir / ".dockerignore"
    patterns = [
        line.strip()
        for line in (ignore.read_text().splitlines() if ignore.exists() else [])
        if line.strip() and not line.lstrip().startswith("#")
    ]
    paths = exclude_paths(str(app_dir), patterns, dockerfile=DOCKERFILE)
    return sorted(p for p in paths if (app_dir / p).is_file())


def source_digest(app_dir: Path = APP_DIR) -> str:
    """Short hash of the build context as `docker build app/` sees it (no wheels)."""
    return tree_digest({rel: app_dir / rel for rel in context_files(app_dir)})


def label_args(app_dir: Path = APP_DIR) -> dict[str, str]:
    """Build args that end up in the OCI labels (and SHIPWAYS_GIT_SHA)."""
    return {
        "VERSION": shipways_app.__version__,
        "GIT_SHA": app_revision(app_dir),
        "SOURCE": source_url(app_dir) or SOURCE_UNKNOWN,
    }


def write_context(
    out: IO[bytes],
    *,
    app_dir: Path = APP_DIR,
    wheels: Path | None = None,
    overrides: Mapping[str, bytes] | None = None,
) -> str:
    """Write the build context as an uncompressed tar to `out`; return its content hash.

    `overrides` replaces (or adds) files by context path without touching the checkout:
    the benchmark uses it for a code-only change. Metadata is normalised (owner root,
    fixed mtime), so the same content always makes the same context.
    """
    changed = dict(overrides or {})
    entries: list[tuple[str, bytes, int]] = []
    for rel in context_files(app_dir):
        path = app_dir / rel
        data = changed.pop(rel, None)
        entries.append((rel, path.read_bytes() if data is None else data, path.stat().st_mode))
    entries += [(rel, data, 0o644) for rel, data in changed.items()]
    if wheels is not None:
        entries += [(f"{WHEELS_DIR}/{w.name}", w.read_bytes(), 0o644) for w in wheels.glob("*.whl")]
    with tarfile.open(fileobj=out, mode="w") as tar:
        for rel, data, mode in sorted(entries):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = mode & 0o755
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return tree_digest({rel: data for rel, data, _mode in entries})


def base_python(client: docker.DockerClient, base_image: str) -> str:
    """`3.11`-style version of the base image's python3: the wheels must match it."""
    if base_image not in _python_of_base:
        output = client.containers.run(
            base_image,
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            remove=True,
            network_disabled=True,
        )
        _python_of_base[base_image] = bytes(output).decode().strip()
    return _python_of_base[base_image]


def ensure_app_image(
    client: docker.DockerClient,
    progress: Progress | None = None,
    *,
    nocache: bool = False,
    overrides: Mapping[str, bytes] | None = None,
    app_dir: Path = APP_DIR,
) -> AppImage:
    """Build (or reuse) the image of the app in `app_dir` (its own Dockerfile) on the local
    Debian 12 base, offline from wheels.

    `nocache` rebuilds every layer (a cold build, for the benchmark); it always builds.
    """
    base = ensure_base_image(client, progress)
    python = base_python(client, base)
    report(progress, f"dependency wheels for Python {python} (cached after the first run)")
    wheels = wheelhouse.dependency_wheels(wheelhouse.Platform.linux(python), progress)
    args = {"BASE_IMAGE": base, "PIP_INDEX_ARGS": OFFLINE_PIP_ARGS, **label_args(app_dir)}
    with tempfile.TemporaryFile(dir=state_dir("tmp")) as context, file_lock("image-k8s-app"):
        content = write_context(context, app_dir=app_dir, wheels=wheels, overrides=overrides)
        tag = f"{REPOSITORY}:{FLAVOR}-{recipe_digest({'context': content, 'args': args})}"
        if not nocache and _existing(client, tag) is not None:
            return _describe(client, tag, python, built=False, seconds=0.0)
        context.seek(0)
        cache = "off" if nocache else "on"
        report(progress, f"building {tag} (classic builder, layer cache {cache})")
        started = time.perf_counter()
        _build(client, context, tag, args, progress, nocache=nocache)
        seconds = time.perf_counter() - started
        prune_superseded(client, tag, progress)
    image = _describe(client, tag, python, built=True, seconds=seconds)
    report(progress, f"built {tag} in {seconds:.1f}s ({image.size_mb:.0f} MB)")
    return image


def build_for_scan(work: Path, progress: Progress) -> BuiltArtifact:
    """The app image (all layers; the scan keeps to `/app` and `/opt/venv`), for the proof."""
    built = ensure_app_image(ensure_engine(progress=progress), progress)
    return BuiltArtifact(f"k8s image {built.tag}", "image", built.tag)


def _build(
    client: docker.DockerClient,
    context: IO[bytes],
    tag: str,
    args: Mapping[str, str],
    progress: Progress | None,
    *,
    nocache: bool,
) -> None:
    if not nocache:
        build_image(client, context, tag, args, progress, dockerfile=DOCKERFILE)
        return
    # build_image has no `nocache`; a cold build goes through the same SDK call directly.
    try:
        for chunk in client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=dict(args),
            dockerfile=DOCKERFILE,
            nocache=True,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        ):
            if "error" in chunk:
                raise SandboxError(f"building {tag} failed: {chunk['error'].strip()}")
            text = str(chunk.get("stream") or "").strip()
            if text:
                report(progress, text)
    except docker.errors.DockerException as exc:
        raise SandboxError(f"building {tag} failed: {exc}") from exc


def _existing(client: docker.DockerClient, tag: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def _describe(
    client: docker.DockerClient, tag: str, python: str, *, built: bool, seconds: float
) -> AppImage:
    image = client.images.get(tag)
    return AppImage(
        tag=tag,
        id=str(image.id),
        size_bytes=int(image.attrs["Size"]),
        python=python,
        built=built,
        build_seconds=seconds,
    )


def layers(client: docker.DockerClient, image: str) -> list[str]:
    """The image's filesystem layers (diff ids), base first."""
    return list(client.images.get(image).attrs["RootFS"]["Layers"])


def new_layers(before: list[str], after: list[str]) -> int:
    """How many layers of `after` are not shared with `before` (from the base up): what a
    rebuild really produced, and what a node would have to pull."""
    shared = 0
    for mine, theirs in zip(before, after, strict=False):
        if mine != theirs:
            break
        shared += 1
    return len(after) - shared
