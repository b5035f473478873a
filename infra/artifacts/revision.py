"""Which revision of the app an artifact carries: what `/version` reports as `git_sha`.

The last commit that changed the app's directory, not HEAD: a commit elsewhere in the
repository (docs, another target) must not make a new image, function version or release.
Uncommitted changes there add `-dirty`, so a local build never passes for a commit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.paths import APP_DIR

UNKNOWN = "unknown"


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def app_revision(app_dir: Path = APP_DIR) -> str:
    """Short sha of the last commit touching `app_dir` (+`-dirty`), or `unknown` outside git."""
    sha = _git(app_dir, "log", "-1", "--format=%h", "--abbrev=12", "--", ".")
    if not sha:
        return UNKNOWN
    dirty = _git(app_dir, "status", "--porcelain", "--", ".")
    return f"{sha}-dirty" if dirty else sha


def source_url(app_dir: Path = APP_DIR) -> str | None:
    """The repository's `origin` URL (for the OCI `source` label), if it has one."""
    return _git(app_dir, "remote", "get-url", "origin") or None
