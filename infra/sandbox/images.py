"""Local base images, built without any registry, tagged by the hash of their recipe.

Where an image registry answers, the Debian base comes from the official image
(`infra.sandbox.official`); where none does, it is made with `debootstrap --variant=minbase`
and `docker import`. Everything else is built FROM it. Tags carry a short hash of the whole
recipe (package list, scripts, Dockerfile context, build args): an unchanged recipe reuses
the stored image in milliseconds, a changed one gets a new tag and is rebuilt. That is what
makes `up` and CI (which starts right after a session, with images still stored) idempotent
and fast.

`build_image` / `ensure_context_image` are the generic pieces the targets reuse for their
own Dockerfiles (app image, Lambda harness, ...).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.images import Image

from infra.sandbox import official
from infra.sandbox.digest import files_under, recipe_digest, tree_digest
from infra.sandbox.errors import Progress, SandboxError, report
from infra.sandbox.host import apt_install, can_self_install, file_lock, run_logged

REPOSITORY = "shipways/debian12"
DOCKERFILES = Path(__file__).parent / "dockerfiles"
# Image labels. Deliberately not `shipways.managed`: image labels are inherited by every
# container run from the image, and that label marks containers shipways itself manages.
IMAGE_LABEL = "shipways.image"
RECIPE_LABEL = "shipways.recipe"


@dataclass(frozen=True)
class BaseRecipe:
    """Everything that determines the content of the Debian base image.

    Debian 12 minbase plus what a Python web runtime needs: python3, venv (to install the
    app's wheels in isolation) and CA certificates (outbound TLS). Nothing else; derived
    images add their own packages.
    """

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates")
    finalize_script: Path = DOCKERFILES / "base" / "finalize.sh"
    changes: tuple[str, ...] = (
        "ENV LANG=C.UTF-8",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["python3"]',
        f"LABEL {IMAGE_LABEL}=base",
    )
    extra: Mapping[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        """Short content hash of the recipe: same recipe, same tag."""
        return recipe_digest(
            {
                "suite": self.suite,
                "mirror": self.mirror,
                "packages": sorted(self.packages),
                "finalize": self.finalize_script.read_text(),
                "changes": list(self.changes),
                "extra": dict(self.extra),
            }
        )

    def tag(self) -> str:
        return f"{REPOSITORY}:base-{self.digest()}"


def context_hash(context: Path, extra: Mapping[str, Any] | None = None) -> str:
    """Short hash of a build context directory (paths, modes, contents) plus `extra`.

    File modes count because an executable bit in a context changes the image.
    """
    files = files_under(context)
    if not files:
        raise SandboxError(f"build context {context} is empty; expected a Dockerfile there")
    return tree_digest(files, modes=True, extra=dict(extra or {}))


def image_size_mb(client: docker.DockerClient, tag: str) -> float:
    return float(client.images.get(tag).attrs["Size"]) / 1e6


def ensure_base_image(
    client: docker.DockerClient,
    progress: Progress | None = None,
    recipe: BaseRecipe | None = None,
) -> str:
    """Return the tag of the Debian 12 base image, making it if this recipe has none yet:
    from the official Debian image where a registry answers, else with debootstrap."""
    recipe = recipe or BaseRecipe()
    tag = recipe.tag()
    if _exists(client, tag):
        return tag
    with file_lock("image-base"):
        if _exists(client, tag):  # built by a concurrent caller while we waited
            return tag
        if official.registry_reachable():
            report(
                progress, "base image: from the official debian:bookworm-slim (a registry answers)"
            )
            official.build_from_official(
                client,
                tag,
                packages=recipe.packages,
                finalize_script=recipe.finalize_script,
                labels={RECIPE_LABEL: recipe.digest()},
                progress=progress,
            )
        else:
            report(
                progress,
                "base image: no image registry reachable, building Debian 12 with debootstrap",
            )
            _build_base(client, recipe, tag, progress)
        report(progress, f"built {tag} ({image_size_mb(client, tag):.0f} MB)")
        prune_superseded(client, tag, progress)
    return tag


def ensure_systemd_image(client: docker.DockerClient, progress: Progress | None = None) -> str:
    """Return the tag of the "VPS in a box" image: systemd as PID 1, sshd, sudo.

    See dockerfiles/systemd/Dockerfile for what it contains and why.
    """
    base = ensure_base_image(client, progress)
    return ensure_context_image(
        client,
        DOCKERFILES / "systemd",
        flavor="systemd",
        buildargs={"BASE_IMAGE": base},
        progress=progress,
    )


def ensure_context_image(
    client: docker.DockerClient,
    context: Path,
    *,
    flavor: str,
    repository: str = REPOSITORY,
    buildargs: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> str:
    """Build `context` once per content hash and return `repository:flavor-<hash>`.

    Build args are part of the hash, so a new base image rebuilds everything built on it.
    """
    args = dict(buildargs or {})
    tag = f"{repository}:{flavor}-{context_hash(context, args)}"
    if _exists(client, tag):
        return tag
    with file_lock(f"image-{flavor}"):
        if not _exists(client, tag):
            build_image(client, context, tag, args, progress)
            report(progress, f"built {tag} ({image_size_mb(client, tag):.0f} MB)")
            prune_superseded(client, tag, progress)
    return tag


def prune_superseded(client: docker.DockerClient, tag: str, progress: Progress | None) -> None:
    """Untag older builds of the same flavor (`repo:flavor-<oldhash>`) after a rebuild.

    Every recipe edit would otherwise leave another ~200 MB image behind. Images still used
    by a container are kept (Docker refuses, we skip); unreferenced layers are freed.
    """
    repository, _, version = tag.rpartition(":")
    flavor = version.rsplit("-", 1)[0]
    for image in client.images.list(name=repository):
        for old in image.tags:
            old_version = old.rpartition(":")[2]
            if old != tag and old_version.rsplit("-", 1)[0] == flavor:
                try:
                    client.images.remove(old)
                    report(progress, f"removed superseded image {old}")
                except APIError:
                    report(progress, f"kept superseded image {old} (still in use)")


def build_image(
    client: docker.DockerClient,
    context: Path | IO[bytes],
    tag: str,
    buildargs: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    *,
    dockerfile: str | None = None,
    labels: Mapping[str, str] | None = None,
    nocache: bool = False,
) -> Image:
    """Build an image from a directory or a tar stream, streaming the log to `progress`.

    Never pulls (there is no registry): FROM images must exist locally. `nocache` forces a
    cold build (benchmarks). On failure raises `SandboxError` with the failing step's
    message and the last log lines.
    """
    source: dict[str, Any] = (
        {"path": str(context)}
        if isinstance(context, Path)
        else {"fileobj": context, "custom_context": True}
    )
    tail: deque[str] = deque(maxlen=30)
    try:
        for chunk in client.api.build(
            **source,
            tag=tag,
            buildargs=dict(buildargs or {}),
            dockerfile=dockerfile,
            labels={IMAGE_LABEL: tag, **(labels or {})},
            nocache=nocache,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        ):
            for line in _log_lines(chunk):
                tail.append(line)
                report(progress, line)
            if "error" in chunk:
                raise SandboxError(
                    f"building {tag} failed: {chunk['error'].strip()}\n"
                    "Last build output:\n" + "\n".join(tail)
                )
    except (APIError, DockerException) as exc:
        if isinstance(exc, ImageNotFound) or "pull access denied" in str(exc):
            raise SandboxError(
                f"building {tag}: a FROM image is missing locally and there is no registry "
                f"to pull it from ({exc}). Build the base first (ensure_base_image) and pass "
                "its tag as a build arg."
            ) from exc
        raise SandboxError(f"building {tag} failed: {exc}\n" + "\n".join(tail)) from exc
    return client.images.get(tag)


def _log_lines(chunk: Mapping[str, Any]) -> Iterable[str]:
    text = chunk.get("stream") or chunk.get("status") or ""
    return [line for line in str(text).splitlines() if line.strip()]


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def _build_base(
    client: docker.DockerClient, recipe: BaseRecipe, tag: str, progress: Progress | None
) -> None:
    _ensure_debootstrap(progress)
    workdir = Path(tempfile.mkdtemp(prefix="shipways-rootfs-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    tarball = workdir / "rootfs.tar"
    try:
        report(progress, f"debootstrap {recipe.suite} minbase into {rootfs} (about a minute)")
        run_logged(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(rootfs),
                recipe.mirror,
            ],
            progress,
            what="debootstrap",
        )
        run_logged(
            ["sh", str(recipe.finalize_script), str(rootfs)], progress, what="finalize rootfs"
        )
        run_logged(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
            progress,
            what="tar rootfs",
        )
        report(progress, f"importing {tag}")
        repository, _, version = tag.rpartition(":")
        client.api.import_image(
            src=str(tarball),
            repository=repository,
            tag=version,
            changes=[*recipe.changes, f"LABEL {RECIPE_LABEL}={recipe.digest()}"],
        )
    finally:
        _remove_tree(workdir)


def _ensure_debootstrap(progress: Progress | None) -> None:
    if shutil.which("debootstrap"):
        return
    if not can_self_install():
        raise SandboxError(
            "debootstrap is needed to build the Debian base image without a registry. "
            "Install it (`sudo apt-get install debootstrap`) on a Debian/Ubuntu host and retry."
        )
    apt_install(["debootstrap"], progress)


def _remove_tree(path: Path) -> None:
    """Delete a rootfs work dir, first unmounting anything a failed run left mounted in it.

    Without the unmount, rmtree would walk into a still-mounted /proc of the chroot.
    """
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{path}/")
    ]
    for mount in sorted(mounts, reverse=True):
        run_logged(["umount", "-l", mount], None, what=f"unmount {mount}")
    shutil.rmtree(path, ignore_errors=True)
