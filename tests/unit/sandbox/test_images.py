"""Recipe and build-context hashing: an unchanged recipe reuses its image tag."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from docker.errors import APIError

from infra.sandbox.errors import SandboxError
from infra.sandbox.images import (
    DOCKERFILES,
    BaseRecipe,
    context_hash,
    prune_superseded,
)

pytestmark = pytest.mark.unit


def test_base_tag_is_stable_and_derived_from_the_recipe() -> None:
    recipe = BaseRecipe()
    assert recipe.tag() == BaseRecipe().tag()
    assert recipe.tag() == f"shipways/debian12:base-{recipe.digest()}"


def test_base_tag_changes_with_packages_but_not_their_order() -> None:
    recipe = BaseRecipe()
    reordered = dataclasses.replace(recipe, packages=tuple(reversed(recipe.packages)))
    extended = dataclasses.replace(recipe, packages=(*recipe.packages, "tzdata"))
    assert reordered.digest() == recipe.digest()
    assert extended.digest() != recipe.digest()


def test_base_tag_changes_with_the_finalize_script(tmp_path: Path) -> None:
    script = tmp_path / "finalize.sh"
    script.write_text((DOCKERFILES / "base" / "finalize.sh").read_text())
    recipe = BaseRecipe(finalize_script=script)
    assert recipe.digest() == BaseRecipe().digest()
    script.write_text(script.read_text() + "\necho changed\n")
    assert recipe.digest() != BaseRecipe().digest()


def test_context_hash_tracks_content_mode_and_build_args(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    first = context_hash(tmp_path, {"BASE_IMAGE": "a"})
    assert first == context_hash(tmp_path, {"BASE_IMAGE": "a"})
    assert first != context_hash(tmp_path, {"BASE_IMAGE": "b"})
    dockerfile.chmod(0o755)
    moded = context_hash(tmp_path, {"BASE_IMAGE": "a"})
    assert moded != first
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file").write_text("x")
    assert context_hash(tmp_path, {"BASE_IMAGE": "a"}) != moded


def test_empty_build_context_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="expected a Dockerfile"):
        context_hash(tmp_path)


def test_systemd_context_ships_no_host_keys_or_passwords() -> None:
    context = DOCKERFILES / "systemd"
    dockerfile = (context / "Dockerfile").read_text()
    assert "rm -f /etc/ssh/ssh_host_*" in dockerfile
    assert "passwd --lock root" in dockerfile
    assert "privileged" not in dockerfile
    sshd = (context / "sshd-hardening.conf").read_text()
    assert "PasswordAuthentication no" in sshd
    assert "PermitRootLogin prohibit-password" in sshd


class _FakeImage:
    def __init__(self, *tags: str) -> None:
        self.tags = list(tags)


class _FakeImages:
    """Just enough of `client.images` to observe which tags get pruned."""

    def __init__(self, *images: _FakeImage, in_use: str = "") -> None:
        self.images = list(images)
        self.in_use = in_use
        self.removed: list[str] = []

    def list(self, name: str) -> list[_FakeImage]:
        return [i for i in self.images if any(t.startswith(f"{name}:") for t in i.tags)]

    def remove(self, tag: str) -> None:
        if tag == self.in_use:
            raise APIError("conflict: image is being used by a container")
        self.removed.append(tag)


def test_prune_removes_only_older_builds_of_the_same_flavor() -> None:
    repo = "shipways/debian12"
    images = _FakeImages(
        _FakeImage(f"{repo}:base-old1"),
        _FakeImage(f"{repo}:base-new"),
        _FakeImage(f"{repo}:systemd-old"),
        _FakeImage(f"{repo}:lambda-harness-old", f"{repo}:lambda-old"),
        _FakeImage(f"{repo}:base-busy"),
        in_use=f"{repo}:base-busy",
    )
    client = type("Client", (), {"images": images})()
    notes: list[str] = []
    prune_superseded(client, f"{repo}:base-new", notes.append)
    assert images.removed == [f"{repo}:base-old1"]
    assert f"kept superseded image {repo}:base-busy (still in use)" in notes

    images.removed.clear()
    prune_superseded(client, f"{repo}:lambda-harness-new", None)
    assert images.removed == [f"{repo}:lambda-harness-old"]
