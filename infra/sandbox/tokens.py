"""The write token of a local deployment: generated once, kept in a 0600 file, never printed
unless asked (`shipways token TARGET`).

One token per deployment, as on the real platforms: a sandbox's `up` calls `ensure` with its
state directory, hands the file (never the value) to the app the way its platform would, and
`token()` reads it back for `shipways verify`. `down` removes the state directory and the
token with it, so the next deployment gets a new one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_FILE = "write-token"  # noqa: S105 - a file name, not a secret


def generate() -> str:
    """43 URL-safe characters: 256 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(32)


def ensure(directory: Path, given: str | None = None) -> Path:
    """The token file in `directory`: kept if present (unless `given` replaces it), else
    created with a fresh token. Created 0600 from the start, so it is never world-readable."""
    path = directory / TOKEN_FILE
    if path.is_file() and given is None:
        return path
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write((given or generate()) + "\n")
    return path


def read(directory: Path) -> str | None:
    """The token kept in `directory`, or None when that deployment has none (yet)."""
    path = directory / TOKEN_FILE
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None
