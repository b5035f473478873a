"""Recipe and build-context hashing: an unchanged recipe reuses its image tag."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infra.sandbox.errors import SandboxError
from infra.sandbox.images import DOCKERFILES, BaseRecipe, context_hash, recipe_hash

pytestmark = pytest.mark.unit


def test_recipe_hash_ignores_key_order_but_not_values() -> None:
    assert recipe_hash({"a": 1, "b": [1, 2]}) == recipe_hash({"b": [1, 2], "a": 1})
    assert recipe_hash({"a": 1}) != recipe_hash({"a": 2})
    assert len(recipe_hash({})) == 12


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
