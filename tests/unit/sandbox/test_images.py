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


class _EmptyEngineImages:
    """`client.images` of an engine with no base image yet: records pulls."""

    def __init__(self) -> None:
        self.pulled: list[str] = []

    def get(self, tag: str) -> object:
        from docker.errors import ImageNotFound

        raise ImageNotFound(tag)

    def pull(self, repository: str, tag: str) -> None:
        self.pulled.append(f"{repository}:{tag}")


@pytest.mark.parametrize("reachable", [True, False], ids=["registry", "no registry"])
def test_the_base_comes_from_the_official_image_where_a_registry_answers(
    reachable: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from infra.sandbox import images, official

    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    client = SimpleNamespace(images=_EmptyEngineImages())
    built: list[dict[str, object]] = []
    bootstrapped: list[str] = []
    monkeypatch.setattr(official, "registry_reachable", lambda: reachable)
    monkeypatch.setattr(
        images,
        "build_image",
        lambda client, context, tag, **kw: built.append(
            {"tag": tag, "dockerfile": (context / "Dockerfile").read_text(), **kw}
        ),
    )
    monkeypatch.setattr(images, "_build_base", lambda c, r, tag, p: bootstrapped.append(tag))
    monkeypatch.setattr(images, "image_size_mb", lambda c, tag: 100.0)
    monkeypatch.setattr(images, "prune_superseded", lambda *a, **k: [])
    said: list[str] = []

    tag = images.ensure_base_image(client, progress=said.append)  # type: ignore[arg-type]

    assert tag == BaseRecipe().tag()
    if reachable:
        assert client.images.pulled == ["debian:bookworm-slim"]
        assert bootstrapped == []
        assert built[0]["tag"] == tag
        assert "FROM ${DEBIAN_IMAGE}" in str(built[0]["dockerfile"])
        assert built[0]["buildargs"] == {
            "DEBIAN_IMAGE": "debian:bookworm-slim",
            "PACKAGES": "python3 python3-venv ca-certificates",
        }
        assert said[0] == "base image: from the official debian:bookworm-slim (a registry answers)"
    else:
        assert client.images.pulled == [] and built == []
        assert bootstrapped == [tag]
        assert said[0].startswith("base image: no image registry reachable, building Debian 12")


def test_the_registry_probe_says_no_when_nothing_answers() -> None:
    from infra.sandbox.official import registry_reachable

    assert registry_reachable("http://127.0.0.1:9/v2/", timeout=0.5) is False
