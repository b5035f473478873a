"""A real PostgreSQL server standing in for a target's managed database.

Each target instance gets its own server: a container built from the local Debian base
with Debian's `postgresql` package (`dockerfiles/postgres`), on the instance's private
network (no published port, no egress), its data in a named volume. The app connects as a
dedicated role that owns one database per target, with a password generated here, kept
0600 in the sandbox state directory and never printed, logged or put in an environment
variable: the server receives it as a file copied into the container for one `psql` run.

`stop_server` / `start_server` stop and start the server process in place (the container,
its address and its name stay), as a managed database restarts: the fault tests use them.

`ensure_postgres` is idempotent: an existing server (same name, same spec) is reused,
started if stopped, and its role and database are (re)asserted. `remove_postgres` removes
the container, its data volume and the password file: `down` is a destroy, as
`pulumi destroy` is; data survives every `up`, redeploy, rollback and server restart.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from infra.paths import state_dir
from infra.sandbox.containers import ensure_container, remove_container
from infra.sandbox.errors import Progress, SandboxError, report
from infra.sandbox.health import wait_for_docker_health
from infra.sandbox.images import DOCKERFILES, ensure_base_image, ensure_context_image

PORT = 5432
ROLE = "app"
DATA_DIR = "/var/lib/postgresql/data"
BIN = "/usr/local/lib/postgresql-bin"  # the server version's binaries (see the Dockerfile)
# Where the password sits inside the container, only while `psql` sets it (then removed).
PASSWORD_DROP = "/var/lib/postgresql/.shipways-role-password"  # noqa: S105 - a path
NANO = 1_000_000_000
# Creates the role and its database if missing, (re)sets the password from the file.
# psql variables are quoted by psql itself (:'x' a literal, :"x" an identifier).
SETUP_SQL = r"""
\set ON_ERROR_STOP on
\set password `cat {drop}`
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
"""


@dataclass(frozen=True)
class Database:
    """A running stand-in: where it is and the URL the app connects with (a secret)."""

    container: str
    network: str
    name: str
    url: str = field(repr=False)


def container_name(instance: str) -> str:
    return f"{instance}-postgres"


def volume_name(instance: str) -> str:
    return f"{instance}-pgdata"


def password_file(instance: str) -> Path:
    directory = state_dir("sandbox", instance)
    directory.chmod(0o700)  # the instance's secrets: for the user who runs the sandbox only
    return directory / "postgres-password"


def database_url(instance: str, database: str, password: str, *, host: str | None = None) -> str:
    """The URL as the app reads it: psycopg 3, the server by its name on the private network
    (or by `host`, its address there, for a client that cannot resolve container names)."""
    server = host or container_name(instance)
    return f"postgresql+psycopg://{ROLE}:{password}@{server}:{PORT}/{database}"


def generated_password(path: Path) -> str:
    """The password stored at `path` (0600), generated on first use and then reused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _stored_password(path)
    password = secrets.token_urlsafe(32)  # URL-safe: no quoting in the database URL
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password


def _stored_password(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise SandboxError(f"{path} is readable by other users; restrict it (`chmod 600 {path}`)")
    password = path.read_text().strip()
    if not password:
        raise SandboxError(f"{path} is empty; remove it to generate a new password")
    return password


def ensure_postgres_image(client: docker.DockerClient, progress: Progress | None = None) -> str:
    base = ensure_base_image(client, progress)
    return ensure_context_image(
        client,
        DOCKERFILES / "postgres",
        flavor="postgres",
        buildargs={"BASE_IMAGE": base},
        progress=progress,
    )


def ensure_postgres(
    client: docker.DockerClient,
    instance: str,
    *,
    network: str,
    database: str,
    labels: Mapping[str, str],
    progress: Progress | None = None,
) -> Database:
    """Start (or reuse) the instance's server, wait until it accepts connections, make sure
    the app's role and `database` exist, and return how to reach them."""
    image = ensure_postgres_image(client, progress)
    name = container_name(instance)
    server = ensure_container(
        client,
        name,
        image=image,
        labels=labels,
        progress=progress,
        network=network,
        volumes={volume_name(instance): {"bind": DATA_DIR, "mode": "rw"}},
        healthcheck={
            "test": ["CMD", f"{BIN}/pg_isready", "--quiet", "--host=/var/run/postgresql"],
            "interval": NANO,
            "timeout": 3 * NANO,
            "retries": 60,
        },
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        restart_policy={"Name": "unless-stopped"},
    )
    wait_for_docker_health(server, 90, progress=progress)
    password = generated_password(password_file(instance))
    _set_up_role_and_database(server, database, password)
    report(progress, f"PostgreSQL {name}: database {database} ready for role {ROLE}")
    return Database(
        container=name,
        network=network,
        name=database,
        url=database_url(instance, database, password),
    )


def _server_ids(server: Container, attempts: int = 5) -> tuple[int, int]:
    """The server account's uid and gid. Under load Docker (20.10) can hand back an exec's
    output empty although the command ran (its attach loses the race with a command this
    short), so an unreadable answer is asked again a few times before giving up."""
    answer = b""
    for _ in range(attempts):
        result = server.exec_run(["sh", "-c", "id -u; id -g"])
        answer = bytes(result.output or b"")
        ids = answer.split()
        if result.exit_code == 0 and len(ids) == 2 and all(i.isdigit() for i in ids):
            return int(ids[0]), int(ids[1])
        time.sleep(0.5)
    raise SandboxError(
        f"could not read the server account's uid/gid in {server.name} "
        f"(`id` answered {answer[:200]!r}); see `docker logs {server.name}`"
    )


def _set_up_role_and_database(server: Container, database: str, password: str) -> None:
    uid, gid = _server_ids(server)
    payload = (password + "\n").encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(Path(PASSWORD_DROP).name)
        info.size, info.mode, info.uid, info.gid = len(payload), 0o400, uid, gid
        tar.addfile(info, io.BytesIO(payload))
    server.put_archive(str(Path(PASSWORD_DROP).parent), archive.getvalue())
    script = SETUP_SQL.format(drop=PASSWORD_DROP)
    command = (
        f"{BIN}/psql --no-psqlrc --quiet --dbname=postgres "
        f"--set=role={ROLE} --set=db={database} <<'SQL'\n{script}SQL\n"
    )
    result = server.exec_run(
        ["sh", "-c", f"{command}status=$?; rm -f {PASSWORD_DROP}; exit $status"]
    )
    if result.exit_code != 0:
        output = bytes(result.output).decode(errors="replace").replace(password, "***")
        raise SandboxError(f"setting up database {database} in {server.name} failed: {output}")


def stop_server(client: docker.DockerClient, instance: str) -> None:
    """Stop the server process, keeping its container, address and name (a DB restart)."""
    _pg_ctl(client, instance, "stop", "--mode=fast")


def start_server(client: docker.DockerClient, instance: str) -> None:
    """Start the server process again after `stop_server`."""
    _pg_ctl(client, instance, "start")


def _pg_ctl(client: docker.DockerClient, instance: str, *args: str) -> None:
    server = client.containers.get(container_name(instance))
    result = server.exec_run([f"{BIN}/pg_ctl", *args, f"--pgdata={DATA_DIR}", "--wait"])
    if result.exit_code != 0:
        output = bytes(result.output).decode(errors="replace").strip()
        raise SandboxError(f"pg_ctl {args[0]} in {server.name} failed: {output}")


def remove_postgres(client: docker.DockerClient, instance: str) -> bool:
    """Remove the server, its data volume and its password; False if there was no server."""
    removed = remove_container(client, container_name(instance))
    with contextlib.suppress(NotFound):
        client.volumes.get(volume_name(instance)).remove(force=True)
    password_file(instance).unlink(missing_ok=True)
    return removed
