"""SSH connections that verify the server's host key.

Fabric's `Connection` accepts any host key by default (paramiko's AutoAddPolicy, and it loads
no known_hosts at all), which makes every task open to a man in the middle. Every connection
made here rejects unknown keys and trusts only a known_hosts file: one pinned for the server
(the local VPS writes one from the key it reads out of the container) or ~/.ssh/known_hosts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paramiko
from fabric import Connection

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


def pin_host_keys(conn: Connection, known_hosts: Path | None = None) -> Connection:
    """Make `conn` refuse any host key not listed in `known_hosts` (default ~/.ssh/known_hosts)."""
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    path = (known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
    if path.is_file():
        conn.client.load_host_keys(str(path))
    return conn


def connect(
    host: str,
    user: str,
    *,
    port: int = 22,
    key_path: Path | None = None,
    known_hosts: Path | None = None,
    timeout: int = 15,
) -> Connection:
    """A Connection to `user@host:port` with the given private key and pinned host keys."""
    connect_kwargs: dict[str, Any] = {}
    if key_path is not None:
        connect_kwargs = {
            "key_filename": str(key_path.expanduser()),
            "look_for_keys": False,
            "allow_agent": False,
        }
    conn = Connection(
        host, user=user, port=port, connect_timeout=timeout, connect_kwargs=connect_kwargs
    )
    return pin_host_keys(conn, known_hosts)


def as_user(conn: Connection, user: str) -> Connection:
    """A new connection to the same server as `conn`, logging in as `user` with the same key.

    The host keys `conn` trusts (and its policy for unknown ones) carry over unchanged.
    """
    other = Connection(
        conn.host,
        user=user,
        port=conn.port,
        connect_timeout=conn.connect_timeout,
        connect_kwargs=dict(conn.connect_kwargs),
    )
    policy = conn.client._policy  # paramiko keeps the policy only as this attribute
    other.client.set_missing_host_key_policy(policy)
    keys = other.client.get_host_keys()
    for hostname, entry in conn.client.get_host_keys().items():
        for key_type, key in entry.items():
            keys.add(hostname, key_type, key)
    return other


def public_key_of(conn: Connection) -> str:
    """The OpenSSH public key line of the private key file `conn` logs in with."""
    filename = conn.connect_kwargs.get("key_filename")
    if isinstance(filename, list | tuple):
        filename = filename[0] if filename else None
    if not filename:
        raise ValueError(
            f"cannot tell which key logs in to {conn.host}: pass deploy_public_keys in the "
            "settings, or connect with connect_kwargs={'key_filename': PATH}"
        )
    key = paramiko.PKey.from_path(Path(str(filename)).expanduser())
    return f"{key.get_name()} {key.get_base64()}"
