"""The app's write token on the server: a root-owned 0600 file that systemd hands to the
service as a credential.

`LoadCredential=write-token:<file>` in both app units makes systemd copy the file, at each
service start, into the service's private `$CREDENTIALS_DIRECTORY` (readable by the service
alone, on a non-swappable file system), where the app reads it. The token is never in the
release, the unit, an environment file or a log: provision uploads it through a private
temporary file and `install -m 600`, and reports only that it changed. Because systemd reads
the credential at start, a changed token restarts the service (a reload would keep the old).
"""

from __future__ import annotations

import secrets

from shipways_fabric.remote import Remote
from shipways_fabric.settings import CREDSTORE, Layout

CREDENTIAL = "write-token"  # the name the app looks for in $CREDENTIALS_DIRECTORY


def install(remote: Remote, lay: Layout, token: str | None) -> bool:
    """Put `token` in place; with none given, keep the installed one or create a new one.
    True if the file changed."""
    remote.ensure_dir(CREDSTORE, owner="root", group="root", mode=0o700)
    if token is None:
        if remote.ok(f"test -f {lay.write_token_file}", sudo=True):
            return False
        token = secrets.token_urlsafe(32)  # 256 bits; `sudo cat` the file to read it
    return remote.ensure_file(
        lay.write_token_file, token.strip() + "\n", mode=0o600, label="write token"
    )
