"""The app's source with some files changed, in a scratch directory: what a developer's edit
would hand a builder, without touching the working tree.

Changes are app-relative paths -> new content (`infra.testing.releases.code_change`), the
same form the k8s sandbox's `app_overrides` and the Lambda sandbox's `app_changes` take, so
every builder that reads a directory (the wheelhouse, the PaaS bundle, the Lambda zip) builds
the same change.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from infra.paths import APP_DIR

# What running, testing or building the app leaves in its directory: never copied.
LEFTOVERS = ("__pycache__", "*.db", "build", "*.egg-info", ".venv")


def app_with_changes(changes: Mapping[str, bytes], dest: Path, app_dir: Path = APP_DIR) -> Path:
    """A copy of `app_dir` at `dest` (which must not exist) with `changes` applied."""
    shutil.copytree(app_dir, dest, ignore=shutil.ignore_patterns(*LEFTOVERS))
    for relative, content in changes.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return dest
