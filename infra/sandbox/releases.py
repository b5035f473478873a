"""Release state of a local sandbox: which releases are kept, which one serves, which came before.

A sandbox that deploys releases side by side (paas, serverless) remembers them in one JSON
file, so that `status`, `rollback` and the next `up` work from a fresh CLI process:

- `History` is the bookkeeping: kept releases oldest first, the current one, the one before
  it (what `rollback` serves again), and pruning to the newest N (never the current one).
  A target subclasses `Release` with what it needs to serve a release again.
- `StateFile` keeps a pydantic model in a file: written whole to a temporary file and moved
  over the old one (`os.replace`), so a crash or a concurrent reader never sees half a file;
  changed only under a lock, so two CLI processes (`up` in one shell, `rollback` in another)
  never lose each other's changes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from infra.sandbox.errors import SandboxError
from infra.sandbox.host import file_lock


class NoSuchRelease(SandboxError):
    """There is no release to roll back to, or not the one asked for."""


class Release(BaseModel):
    """What every kept release records; a target adds how to serve it again."""

    id: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


R = TypeVar("R", bound=Release)
S = TypeVar("S", bound=BaseModel)


class History(BaseModel, Generic[R]):
    """Kept releases (oldest first) and the id of the one serving."""

    releases: list[R] = Field(default_factory=list)
    current: str | None = None

    def find(self, release_id: str) -> R | None:
        """The release with this id, or the only one whose id starts with it."""
        exact = [r for r in self.releases if r.id == release_id]
        started = [r for r in self.releases if r.id.startswith(release_id)]
        found = exact or (started if len(started) == 1 else [])
        return found[0] if found else None

    def serving(self) -> R | None:
        return self.find(self.current) if self.current else None

    def record(self, release: R) -> None:
        """`release` is the newest and serves now (an id kept before moves to the end)."""
        self.releases = [r for r in self.releases if r.id != release.id] + [release]
        self.current = release.id

    def previous(self) -> R | None:
        """The release kept just before the serving one: a rollback after a rollback goes
        further back, as on the VPS."""
        ids = [r.id for r in self.releases]
        if self.current not in ids:
            return None
        index = ids.index(self.current)
        return self.releases[index - 1] if index > 0 else None

    def rollback_target(self, release_id: str | None) -> R:
        """The release `rollback` serves: the one asked for, else the previous one."""
        kept = ", ".join(r.id for r in self.releases) or "none"
        if release_id is None:
            chosen = self.previous()
            if chosen is None:
                raise NoSuchRelease(f"no earlier release to roll back to (kept: {kept})")
            return chosen
        found = self.find(release_id)
        if found is None:
            raise NoSuchRelease(f"release {release_id!r} is not kept; kept releases: {kept}")
        return found

    def prune(self, keep: int) -> list[R]:
        """Keep the newest `keep` releases and always the serving one; return the dropped."""
        kept = self.releases[-keep:] if keep > 0 else []
        serving = self.serving()
        if serving is not None and serving.id not in {r.id for r in kept}:
            kept = [serving, *kept[1:]]
        ids = {r.id for r in kept}
        dropped = [r for r in self.releases if r.id not in ids]
        self.releases = [r for r in self.releases if r.id in ids]
        return dropped


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new, whole.

    The temporary file is made in the same directory (`os.replace` is atomic only within a
    file system), private to the user (state may name paths and settings), and flushed to
    disk before it takes the name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


class StateFile(Generic[S]):
    """A pydantic model kept in one JSON file; `locked()` around every read-change-write."""

    def __init__(self, path: Path, model: type[S], *, lock: str) -> None:
        self.path = path
        self.model = model
        self.lock = lock  # a name for `file_lock`: kept outside the state's directory

    def load(self) -> S:
        """The stored state, or a fresh one when there is none yet."""
        if not self.path.exists():
            return self.model()
        return self.model.model_validate_json(self.path.read_text())

    def save(self, state: S) -> None:
        atomic_write(self.path, state.model_dump_json(indent=1))

    @contextmanager
    def locked(self) -> Iterator[S]:
        """Hold the lock for the block and hand over the state as stored; `save` to keep
        changes. The lock is not re-entrant: do not nest `locked()` on one file."""
        with file_lock(self.lock):
            yield self.load()
