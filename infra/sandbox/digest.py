"""Content digests: of a tree of files, and of a JSON-able recipe.

Every artifact builder asks the same question, "did anything that goes in change?", to reuse
what it built last time (an image tag, a cached zip, a release). The answer must not depend on
the order a file system lists files in, nor on what running the code leaves behind (bytecode,
tool caches), or the tests alone would count as a change. So there is one tree digest:

- `files_under(root)` lists a tree as archive-style names (`a/b.py`) -> paths, caches skipped;
- `tree_digest(entries)` hashes names and contents, in name order, plus optional modes and a
  JSON `extra` (build args, the target platform);
- `recipe_digest(value)` hashes a JSON value with its keys sorted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Left behind by running, testing or linting Python: never part of what ships.
CACHES: tuple[str, ...] = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
)
SHORT = 12  # hex digits: tags and file names


def skipped(parts: Iterable[str], patterns: Iterable[str]) -> bool:
    """True when any path component matches any of the glob `patterns`."""
    globs = tuple(patterns)
    return any(fnmatch.fnmatchcase(part, glob) for part in parts for glob in globs)


def files_under(root: Path, *, skip: Iterable[str] = (), prefix: str = "") -> dict[str, Path]:
    """`prefix` + path relative to `root` (POSIX) -> file, for every file in the tree.

    Components matching `CACHES` or `skip` (glob patterns, such as `*.egg-info`) are left out
    with everything below them. A file given as `root` is listed under its own name.
    """
    patterns = (*CACHES, *skip)
    if root.is_file():
        return {} if skipped([root.name], patterns) else {f"{prefix}{root.name}": root}
    found: dict[str, Path] = {}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if path.is_file() and not skipped(parts, patterns):
            found[prefix + "/".join(parts)] = path
    return found


def tree_digest(
    entries: Mapping[str, Path | bytes],
    *,
    modes: bool = False,
    extra: Any = None,
    length: int = SHORT,
) -> str:
    """Hex digest of names and contents (a path is read, bytes are taken as they are).

    Entries are hashed in name order, so the listing order never matters. `modes` adds each
    file's permission bits (an executable bit changes an image); `extra` is any JSON value
    that decides the result as well. `length` shortens the hex digest.
    """
    digest = hashlib.sha256()
    for name in sorted(entries):
        content = entries[name]
        data = content if isinstance(content, bytes) else content.read_bytes()
        digest.update(name.encode() + b"\0")
        if modes and isinstance(content, Path):
            digest.update(f"{content.stat().st_mode & 0o777:o}\0".encode())
        digest.update(hashlib.sha256(data).digest())
    if extra is not None:
        digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()[:length]


def recipe_digest(recipe: Any, *, length: int = SHORT) -> str:
    """Hex digest of a JSON-serialisable value; key order does not matter, values do."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
