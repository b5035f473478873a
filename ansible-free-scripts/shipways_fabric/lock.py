"""The deploy lock: one deploy or rollback per server at a time, released even by a crash.

The lock is a `flock` held by a process on the server for as long as this side's SSH
channel stays open: when the deploy ends the channel closes; when the deploying machine dies
or loses the network, sshd closes it. Either way the lock goes away by itself, so there is
never a stale lock to remove by hand. A second deploy fails at once, saying who holds it.
"""

from __future__ import annotations

import shlex
import time
from types import TracebackType

from fabric import Connection
from paramiko import Channel

from shipways_fabric.remote import server_name

CONFLICT_EXIT = 75  # EX_TEMPFAIL: "try again later"
_WAIT_S = 30.0


class DeployLocked(RuntimeError):
    """Another deploy or rollback holds the lock on this server."""


class DeployLock:
    """`with DeployLock(conn, path, holder):` holds the server's deploy lock inside the block."""

    def __init__(self, conn: Connection, path: str, holder: str) -> None:
        self.conn = conn
        self.path = path
        self.holder = holder
        self._channel: Channel | None = None

    def __enter__(self) -> DeployLock:
        self.conn.open()
        transport = self.conn.client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        lock, info = shlex.quote(self.path), shlex.quote(self.path + ".info")
        held = (
            f"printf '%s\\n' {shlex.quote(self.holder)} > {info}; echo LOCKED; exec cat >/dev/null"
        )
        channel.exec_command(
            f"exec flock --nonblock --conflict-exit-code {CONFLICT_EXIT} {lock} "
            f"sh -c {shlex.quote(held)}"
        )
        first = self._first_line(channel)
        if first == "LOCKED":
            self._channel = channel
            return self
        code = channel.recv_exit_status()
        channel.close()
        if code == CONFLICT_EXIT:
            who = self.conn.run(
                f"cat {info} 2>/dev/null || true", hide=True, warn=True, in_stream=False
            )
            raise DeployLocked(
                f"{server_name(self.conn)}: deploy refused: another deploy or rollback is running "
                f"({str(who.stdout).strip() or 'holder unknown'}). Wait for it to finish; its "
                "lock goes away by itself when it ends or its connection drops."
            )
        raise DeployLocked(
            f"{server_name(self.conn)}: could not take the deploy lock {self.path} (exit {code})"
        )

    @staticmethod
    def _first_line(channel: Channel) -> str:
        data = b""
        deadline = time.monotonic() + _WAIT_S
        while b"\n" not in data and time.monotonic() < deadline:
            if channel.recv_ready():
                data += channel.recv(256)
            elif channel.exit_status_ready():
                break
            else:
                time.sleep(0.02)
        return data.decode(errors="replace").split("\n")[0].strip()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        channel, self._channel = self._channel, None
        if channel is None:
            return
        channel.shutdown_write()  # EOF for `cat`: flock exits and the lock is free
        deadline = time.monotonic() + _WAIT_S
        while not channel.exit_status_ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        channel.close()
