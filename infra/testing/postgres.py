"""A throwaway, real PostgreSQL server for tests: initdb in a temp dir, pg_ctl on 127.0.0.1.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user
(`runuser`), owning only its temp dir. It listens on a free loopback port (plus a unix socket
inside the temp dir), authenticates with a random scram password, and trades durability for
speed (fsync off): it lives for one test session and is deleted afterwards.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

SERVER_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
_INSTALL_HINT = (
    "install the server (Debian/Ubuntu: `apt-get install -y postgresql`; the project's bootstrap "
    "does this) or set SHIPWAYS_PG_BIN to the directory holding initdb and pg_ctl"
)
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message says what to install or change."""


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str
    datadir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL (each test can get a fresh one)."""
        return create_database(self.url(), name)


def create_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE `name` via `admin_url`; returns the new database's URL."""
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r} is not valid: use [a-z_][a-z0-9_]*")
    with closing(psycopg.connect(admin_url, autocommit=True, connect_timeout=5)) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def find_bin_dir(debian_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """Directory with initdb/pg_ctl: SHIPWAYS_PG_BIN, else Debian's newest, else PATH."""
    candidates: list[Path] = []
    if os.environ.get("SHIPWAYS_PG_BIN"):
        candidates.append(Path(os.environ["SHIPWAYS_PG_BIN"]))
    debian = sorted(
        debian_root.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in "
        "$SHIPWAYS_PG_BIN, /usr/lib/postgresql/*/bin or PATH: " + _INSTALL_HINT
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user() -> list[str]:
    """Command prefix: `runuser -u postgres --` when root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root but there is no {SERVER_USER!r} OS user to run the server as: "
            + _INSTALL_HINT
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root but `runuser` (util-linux) is missing")
    return ["runuser", "-u", SERVER_USER, "--"]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise PostgresUnavailable(f"{what} failed (exit {result.returncode}): {output}")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh server; stop it and delete all its files on exit."""
    bin_dir = find_bin_dir()
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="shipways-pg-"))
    password = secrets.token_urlsafe(24)
    try:
        if prefix:
            shutil.chown(root, user=SERVER_USER, group=SERVER_USER)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if prefix:
            shutil.chown(pwfile, user=SERVER_USER)
        datadir = root / "data"
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        pwfile.unlink()
        port = _start(bin_dir, prefix, root, datadir)
        try:
            yield PostgresServer(port=port, password=password, datadir=datadir)
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(bin_dir: Path, prefix: list[str], root: Path, datadir: Path) -> int:
    """pg_ctl start on a free port; retried because another process may grab the port first."""
    last_error: PostgresUnavailable | None = None
    for _attempt in range(3):
        port = _free_port()
        options = (
            f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=50"
        )
        try:
            _run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-o",
                    options,
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "start",
                ],
                "pg_ctl start",
            )
            return port
        except PostgresUnavailable as exc:
            log = root / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            last_error = PostgresUnavailable(f"{exc}\nserver log:\n{tail}")
    assert last_error is not None
    raise last_error
