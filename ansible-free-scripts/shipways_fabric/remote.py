"""Commands and files on the server, check-then-change, reporting what actually changed.

Idempotence is the contract of `provision`: every helper here first looks at the server's
state and only acts when it differs from what is wanted, appending one line to `changed`
when it does. A second run therefore reports nothing, which is also how a reader can tell
that a server has drifted.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from fabric import Connection
from invoke.exceptions import CommandTimedOut
from invoke.runners import Result

Progress = Callable[[str], None]


class RemoteError(RuntimeError):
    """A command on the server failed; the message names the host, the step and its output."""


def server_name(conn: Connection) -> str:
    return conn.host if conn.port == 22 else f"{conn.host}:{conn.port}"


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Remote:
    """One server, reached over `conn`; root commands go through `sudo -n` (never a password)."""

    conn: Connection
    progress: Progress | None = None
    changed: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The server as messages name it: host, with the port unless it is 22."""
        return server_name(self.conn)

    @property
    def host(self) -> str:
        return f"{self.conn.user}@{self.where}"

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(f"[{self.where}] {message}")

    def change(self, what: str) -> None:
        """Record (and report) one change made on the server."""
        self.changed.append(what)
        self.say(f"changed: {what}")

    def run(
        self,
        command: str,
        *,
        sudo: bool = False,
        user: str | None = None,
        check: bool = True,
        stdin: str | None = None,
        timeout: float | None = None,
        what: str | None = None,
    ) -> Result:
        """Run a shell command, as root (`sudo`) or `user` if asked; raise on failure if `check`.

        `stdin` goes through a private temporary file: invoke feeds an `in_stream` to the
        remote command one byte per 10 ms (a 2 KB JSON record took over 20 s).
        """
        cleanup = None
        if stdin is not None:
            cleanup = self.upload(stdin.encode())
            command = f"{{ {command}\n}} < {cleanup}"
        full = command
        if sudo or user:
            target = f"-u {shlex.quote(user)} " if user else ""
            full = f"sudo -n {target}-- sh -c {shlex.quote(command)}"
        try:
            result: Result = self.conn.run(
                full, hide=True, warn=True, in_stream=False, timeout=timeout
            )
        except CommandTimedOut as exc:
            raise RemoteError(
                f"{self.host}: {what or command!r} did not finish within {timeout:.0f}s"
            ) from exc
        finally:
            if cleanup is not None:
                self.conn.run(f"rm -f {cleanup}", hide=True, warn=True, in_stream=False)
        if check and result.return_code != 0:
            output = _tail(result.stderr or result.stdout)
            hint = ""
            if "sudo" in output and "password" in output:
                hint = f"\n{self.conn.user} needs passwordless sudo on {self.where}."
            raise RemoteError(
                f"{self.host}: {what or command!r} failed (exit {result.return_code}):\n"
                f"{output}{hint}"
            )
        return result

    def out(
        self,
        command: str,
        *,
        sudo: bool = False,
        user: str | None = None,
        timeout: float | None = None,
        what: str | None = None,
    ) -> str:
        """stdout of a command that must succeed, stripped."""
        result = self.run(command, sudo=sudo, user=user, timeout=timeout, what=what)
        return str(result.stdout).strip()

    def ok(self, command: str, *, sudo: bool = False, user: str | None = None) -> bool:
        """Whether a (test-like) command exits 0."""
        return self.run(command, sudo=sudo, user=user, check=False).return_code == 0

    def upload(self, content: bytes) -> str:
        """Put bytes in a new private (0600, mktemp) file of the login user; return its path."""
        path = self.out("mktemp /tmp/shipways-XXXXXXXXXX")
        self.conn.sftp().putfo(io.BytesIO(content), path)
        return path

    def ensure_file(
        self,
        path: str,
        content: str | bytes,
        *,
        owner: str = "root",
        group: str = "root",
        mode: int = 0o644,
        precheck: str | None = None,
        validate: str | None = None,
        label: str | None = None,
        as_owner: bool = False,
    ) -> bool:
        """Make `path` hold `content` with owner, group and mode; True if anything changed.

        `precheck` (with `{path}` for the new file) vets the new content before it replaces
        anything (visudo, for instance). `validate` runs after it is in place (nginx -t,
        sshd -t); when it fails the previous file is put back and the error is raised.

        Root only ever works in folders no one else can write to (`root_only_folders`): in a
        folder a user owns, that user could plant a symlink for root to write through. Files
        in such a folder are written by their owner instead (`as_owner`).
        """
        if as_owner and owner == "root":
            raise ValueError("as_owner is for files a user owns, not root's")
        sudo, user = not as_owner, owner if as_owner else None
        data = content.encode() if isinstance(content, str) else content
        digest = hashlib.sha256(data).hexdigest()
        want_meta = f"{owner}:{group}:{mode:o}"
        q = shlex.quote(path)
        if not as_owner:
            self.root_only_folders(posixpath.dirname(path))
        state = self.out(
            f"if [ -f {q} ] && [ ! -L {q} ]; then sha256sum {q} | cut -d' ' -f1; "
            f"stat -c '%U:%G:%a' {q}; fi",
            sudo=sudo,
            user=user,
        ).split()
        name = label or path
        if state == [digest, want_meta]:
            return False
        if len(state) == 2 and state[0] == digest:
            chown = f"chgrp {group} {q}" if as_owner else f"chown {owner}:{group} {q}"
            self.run(f"{chown} && chmod {mode:o} {q}", sudo=sudo, user=user)
            self.change(f"{name}: owner/mode set to {want_meta}")
            return True
        tmp = self.upload(data)
        staged = f"{path}.shipways-new"
        qs, qt = shlex.quote(staged), shlex.quote(tmp)
        try:
            if as_owner:
                # The upload is private to the login user: its owner reads it through a pipe.
                self.run(
                    f"sudo -n -u {shlex.quote(owner)} -- sh -c "
                    + shlex.quote(
                        f"umask 077 && cat > {qs} && chgrp {group} {qs} && chmod {mode:o} {qs}"
                    )
                    + f" < {qt}",
                    what=f"stage {path}",
                )
            else:
                self.run(f"mkdir -p {shlex.quote(posixpath.dirname(path))}", sudo=True)
                self.run(
                    f"install -o {owner} -g {group} -m {mode:o} {qt} {qs}",
                    sudo=True,
                    what=f"stage {path}",
                )
            if precheck:
                self._vet(precheck.format(path=qs), staged, name)
            backup = f"{path}.shipways-old"
            qb = shlex.quote(backup)
            had_old = len(state) == 2
            if had_old:
                # Never through a symlink: a link at either name is replaced, not followed.
                self.run(
                    f"cp --no-dereference --preserve=all --remove-destination {q} {qb}",
                    sudo=sudo,
                    user=user,
                )
            self.run(f"mv -f {qs} {q}", sudo=sudo, user=user)
            if validate:
                check = self.run(validate, sudo=True, check=False)
                if check.return_code != 0:
                    restore = f"mv -f {qb} {q}" if had_old else f"rm -f {q}"
                    self.run(restore, sudo=sudo, user=user)
                    raise RemoteError(
                        f"{self.host}: new {name} rejected by `{validate}`; the previous file "
                        f"was restored:\n{_tail(str(check.stderr or check.stdout))}"
                    )
            if had_old:
                self.run(f"rm -f {qb}", sudo=sudo, user=user)
        finally:
            self.run(f"rm -f {qt}", check=False)
            self.run(f"rm -f {qs}", check=False, sudo=sudo, user=user)
        self.change(f"{name}: {'updated' if len(state) == 2 else 'created'}")
        return True

    def root_only_folders(self, folder: str) -> None:
        """Refuse to let root work in `folder` unless it and every folder above it belong to
        root and no one else may write to them (a user's folder could hold a planted symlink)."""
        parts = [p for p in folder.split("/") if p]
        chain = ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
        listing = self.out(
            "stat -c '%u %a %n' " + " ".join(shlex.quote(p) for p in chain) + " 2>/dev/null || true"
        )
        for line in listing.splitlines():
            uid, mode, name = line.split(" ", 2)
            writable_by_others = int(mode, 8) & 0o022 and not int(mode, 8) & 0o1000
            if uid != "0" or writable_by_others:
                raise RemoteError(
                    f"{self.host}: refusing to write as root in {folder}: {name} is not "
                    f"root's alone (uid {uid}, mode {mode}); a user there could plant a "
                    "symlink for root to follow. Write it as its owner instead."
                )

    def _vet(self, command: str, staged: str, name: str) -> None:
        check = self.run(command, sudo=True, check=False)
        if check.return_code != 0:
            raise RemoteError(
                f"{self.host}: new {name} rejected by `{command}`; nothing was replaced:\n"
                f"{_tail(str(check.stderr or check.stdout))}"
            )

    def ensure_dir(
        self, path: str, *, owner: str, group: str, mode: int, as_owner: bool = False
    ) -> bool:
        """Make `path` a directory with owner, group and mode; True if anything changed.

        Inside a folder a user owns, that user (`as_owner`) makes it, never root.
        """
        q = shlex.quote(path)
        want = f"{owner}:{group}:{mode:o}"
        sudo, user = not as_owner, owner if as_owner else None
        state = self.out(f"stat -c '%U:%G:%a' {q} 2>/dev/null || true", sudo=sudo, user=user)
        if state == want and self.ok(f"test -d {q} -a ! -L {q}", sudo=sudo, user=user):
            return False
        if as_owner:
            self.run(f"mkdir -p {q} && chgrp {group} {q} && chmod {mode:o} {q}", user=owner)
        else:
            self.root_only_folders(posixpath.dirname(path))
            self.run(f"install -d -o {owner} -g {group} -m {mode:o} {q}", sudo=True)
        self.change(f"{path}: directory {'fixed' if state else 'created'} ({want})")
        return True

    def ensure_link(self, link: str, target: str) -> bool:
        """Make `link` a symlink to `target`."""
        q = shlex.quote(link)
        if self.out(f"readlink {q} || true", sudo=True) == target:
            return False
        self.run(f"ln -sfn {shlex.quote(target)} {q}", sudo=True)
        self.change(f"{link}: linked to {target}")
        return True

    def ensure_absent(self, path: str) -> bool:
        q = shlex.quote(path)
        if not self.ok(f"test -e {q} -o -L {q}", sudo=True):
            return False
        self.run(f"rm -f {q}", sudo=True)
        self.change(f"{path}: removed")
        return True

    def ensure_service(
        self, unit: str, *, enabled: bool = True, active: bool = True, unmask: bool = False
    ) -> None:
        """Make a systemd unit enabled and/or running (and unmasked, if asked)."""
        q = shlex.quote(unit)
        state = self.out(f"systemctl is-enabled {q} 2>/dev/null || true")
        if unmask and state == "masked":
            self.run(f"systemctl unmask {q}", sudo=True)
            self.change(f"{unit}: unmasked")
            state = "disabled"
        if enabled and state not in {"enabled", "static", "alias", "indirect"}:
            self.run(f"systemctl enable {q}", sudo=True, what=f"enable {unit}")
            self.change(f"{unit}: enabled")
        if active and not self.ok(f"systemctl is-active --quiet {q}"):
            self.run(f"systemctl start {q}", sudo=True, what=f"start {unit}", timeout=120)
            self.change(f"{unit}: started")
