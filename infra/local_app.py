"""The app run directly by uvicorn on this machine: `shipways serve` and the baseline.

Every target's latency and throughput is compared with this run (same app, no proxy, no
platform in between), measured in the same session, so the ratios survive a noisy machine.
Like every deployment it has its own write token, in a 0600 file the app reads through
WRITE_TOKEN_FILE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from infra.appspec import AppSpec, default
from infra.paths import state_dir
from infra.sandbox import tokens
from infra.sandbox.containers import free_port
from infra.sandbox.health import wait_for_http


def app_env(
    database: Path, token_file: Path | None = None, app: AppSpec | None = None
) -> dict[str, str]:
    """Environment for a local run: SQLite file, target `local`, the write token's file (if
    given), the app's source importable, nothing inherited that matters."""
    inherited = ("SHIPWAYS_", "DATABASE_", "WRITE_TOKEN", "CREDENTIALS_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update({"SHIPWAYS_SQLITE_PATH": str(database), "SHIPWAYS_TARGET": "local"})
    source = str((app or default()).source_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    if token_file is not None:
        env["WRITE_TOKEN_FILE"] = str(token_file)
    return env


class MigrationFailed(RuntimeError):
    """The app's release command (`python -m shipways_app migrate`) failed; the message
    carries its output."""


def release_command(app: AppSpec) -> list[str]:
    """The app's release command, its `python` being this interpreter (the one with the
    app's dependencies)."""
    argv = app.release_argv
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def migrate(env: dict[str, str], app: AppSpec | None = None) -> None:
    """The explicit release step: apply migrations (and the seed) before serving."""
    done = subprocess.run(
        release_command(app or default()),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MigrationFailed(f"migration failed:\n{done.stderr or done.stdout}")


def uvicorn_command(port: int, workers: int = 1, app: AppSpec | None = None) -> list[str]:
    spec = app or default()
    interface = ["--interface", "wsgi"] if spec.interface == "wsgi" else []
    return [
        sys.executable,
        "-m",
        "uvicorn",
        spec.entry,
        *interface,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]


def serve(
    *,
    port: int,
    database: Path | None,
    write_token: str | None,
    console: Console,
    app: AppSpec | None = None,
) -> None:
    """Foreground run for a person: migrate, then uvicorn until Ctrl-C. Prints the write token
    (the one given, else a new one) so the person can send writes."""
    spec = app or default()
    token_file = tokens.ensure(state_dir("serve"), given=write_token or tokens.generate())
    env = app_env(database or state_dir() / "serve.db", token_file, spec)
    console.print(f"migrating {env['SHIPWAYS_SQLITE_PATH']} ...")
    migrate(env, spec)
    console.print(f"serving on http://127.0.0.1:{port} (Ctrl-C stops)")
    console.print("writes need `Authorization: Bearer <token>`; this run's token:")
    console.print(tokens.read(state_dir("serve")), markup=False, highlight=False)
    command = uvicorn_command(port, app=spec)
    os.execvpe(sys.executable, command, env)  # noqa: S606 - replaces this process


@contextmanager
def running(
    workers: int = 1,
    timeout: float = 30,
    write_token: str | None = None,
    app: AppSpec | None = None,
) -> Iterator[str]:
    """uvicorn direct on a free 127.0.0.1 port with a fresh database; yields its base URL.
    Writes need `write_token` (a new, unknown one when None: a read-only baseline)."""
    spec = app or default()
    port = free_port()
    database = state_dir("baseline") / f"baseline-{port}.db"
    database.unlink(missing_ok=True)
    token_file = tokens.ensure(
        state_dir("baseline", str(port)), given=write_token or tokens.generate()
    )
    env = app_env(database, token_file, spec)
    migrate(env, spec)
    log = database.with_suffix(".log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            uvicorn_command(port, workers, spec), env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}{spec.health_path}", timeout=timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        database.unlink(missing_ok=True)
        token_file.unlink(missing_ok=True)
        token_file.parent.rmdir()
