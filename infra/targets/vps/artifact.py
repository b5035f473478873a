"""What the vps target ships: the wheelhouse the server installs from (the app's wheel and
every dependency), built by the same builder `provision`/`deploy` use, for the proof's scan."""

from __future__ import annotations

from pathlib import Path

from infra.artifacts import wheelhouse
from infra.sandbox.errors import Progress
from infra.targets.registry import BuiltArtifact


def build_for_scan(work: Path, progress: Progress) -> BuiltArtifact:
    built = wheelhouse.build(work / "wheelhouse", progress=progress)
    return BuiltArtifact("vps wheelhouse", "directory", str(built.path))
