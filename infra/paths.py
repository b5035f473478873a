"""Where things are: the repository's parts, and the local state the sandboxes keep.

Local state (wheel caches, sandbox keys, measured results) lives in `.shipways/` at the
repository root, or in `$SHIPWAYS_HOME`; it is never committed.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
APP_REQUIREMENTS = APP_DIR / "requirements.txt"
NGINX_DIR = ROOT / "nginx"  # the nginx site template
FABRIC_DIR = ROOT / "ansible-free-scripts"  # the Fabric package (and the host templates it ships)
STACKS_DIR = ROOT / "stacks"


def state_dir(*parts: str) -> Path:
    """A directory under the local state root, created on first use."""
    base = Path(os.environ.get("SHIPWAYS_HOME", ROOT / ".shipways"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
