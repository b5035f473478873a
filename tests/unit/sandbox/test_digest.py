"""The one tree digest: stable over listing order, blind to caches, sensitive to content."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.sandbox.digest import files_under, recipe_digest, tree_digest

pytestmark = pytest.mark.unit


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("A = 1\n")
    (root / "sub" / "b.py").write_text("B = 2\n")
    return root


def test_files_are_named_relative_to_the_root(tree: Path) -> None:
    assert files_under(tree) == {"a.py": tree / "a.py", "sub/b.py": tree / "sub" / "b.py"}
    assert set(files_under(tree, prefix="pkg/")) == {"pkg/a.py", "pkg/sub/b.py"}
    assert files_under(tree / "a.py") == {"a.py": tree / "a.py"}


def test_caches_and_skipped_patterns_are_left_out(tree: Path) -> None:
    before = tree_digest(files_under(tree, skip=("*.egg-info",)))
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tree / "sub" / "stray.pyc").write_bytes(b"\0")
    (tree / ".pytest_cache").mkdir()
    (tree / ".pytest_cache" / "v").write_text("x")
    (tree / "pkg.egg-info").mkdir()
    (tree / "pkg.egg-info" / "PKG-INFO").write_text("x")
    listed = files_under(tree, skip=("*.egg-info",))
    assert set(listed) == {"a.py", "sub/b.py"}
    assert tree_digest(listed) == before
    assert "pkg.egg-info/PKG-INFO" in files_under(tree)  # only when asked to skip it


def test_the_digest_does_not_depend_on_listing_order(tree: Path) -> None:
    listed = files_under(tree)
    reversed_order = dict(reversed(list(listed.items())))
    assert list(reversed_order) != list(sorted(listed))
    assert tree_digest(reversed_order) == tree_digest(listed)


def test_content_names_modes_and_extra_change_the_digest(tree: Path) -> None:
    first = tree_digest(files_under(tree))
    (tree / "a.py").write_text("A = 2\n")
    changed = tree_digest(files_under(tree))
    assert changed != first
    (tree / "a.py").rename(tree / "c.py")
    assert tree_digest(files_under(tree)) not in (first, changed)
    renamed = tree_digest(files_under(tree))
    assert tree_digest(files_under(tree), modes=True) == tree_digest(files_under(tree), modes=True)
    before_chmod = tree_digest(files_under(tree), modes=True)
    (tree / "c.py").chmod(0o755)
    assert tree_digest(files_under(tree), modes=True) != before_chmod
    assert tree_digest(files_under(tree)) == renamed  # modes count only when asked
    assert tree_digest(files_under(tree), extra={"arch": "arm64"}) != renamed


def test_bytes_and_files_with_the_same_content_agree(tree: Path) -> None:
    from_files = tree_digest(files_under(tree))
    from_bytes = tree_digest({name: p.read_bytes() for name, p in files_under(tree).items()})
    assert from_files == from_bytes


def test_length_shortens_the_hex_digest(tree: Path) -> None:
    assert len(tree_digest(files_under(tree))) == 12
    full = tree_digest(files_under(tree), length=64)
    assert len(full) == 64 and full.startswith(tree_digest(files_under(tree), length=16))


def test_recipe_digest_ignores_key_order_but_not_values() -> None:
    assert recipe_digest({"a": 1, "b": [1, 2]}) == recipe_digest({"b": [1, 2], "a": 1})
    assert recipe_digest({"a": 1}) != recipe_digest({"a": 2})
    assert recipe_digest({"a": [1, 2]}) != recipe_digest({"a": [2, 1]})
    assert len(recipe_digest({})) == 12
