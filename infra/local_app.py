"""The sample app run directly by uvicorn on this machine: `shipways serve` and the baseline.

Every target's latency and throughput is compared with this run (same app, no proxy, no
platform in between), measured in the same session, so the ratios survive a noisy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from infra.paths import state_dir
from infra.sandbox.containers import free_port
from infra.sandbox.health import wait_for_http


def app_env(database: Path) -> dict[str, str]:
    """Environment for a local run: SQLite file, target `local`, nothing inherited that matters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPWAYS_", "DATABASE_"))}
    env.update({"SHIPWAYS_SQLITE_PATH": str(database), "SHIPWAYS_TARGET": "local"})
    return env


class MigrationFailed(RuntimeError):
    """`python -m shipways_app migrate` failed; the message carries its output."""


def migrate(env: dict[str, str]) -> None:
    """The explicit release step: apply migrations (and the seed) before serving."""
    done = subprocess.run(
        [sys.executable, "-m", "shipways_app", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MigrationFailed(f"migration failed:\n{done.stderr or done.stdout}")


def uvicorn_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "shipways_app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]


def serve(*, port: int, database: Path | None, console: Console) -> None:
    """Foreground run for a person: migrate, then uvicorn until Ctrl-C."""
    env = app_env(database or state_dir() / "serve.db")
    console.print(f"migrating {env['SHIPWAYS_SQLITE_PATH']} ...")
    migrate(env)
    console.print(f"serving on http://127.0.0.1:{port} (Ctrl-C stops)")
    os.execvpe(sys.executable, uvicorn_command(port), env)  # noqa: S606 - replaces this process


@contextmanager
def running(workers: int = 1, timeout: float = 30) -> Iterator[str]:
    """uvicorn direct on a free 127.0.0.1 port with a fresh database; yields its base URL."""
    port = free_port()
    database = state_dir("baseline") / f"baseline-{port}.db"
    database.unlink(missing_ok=True)
    env = app_env(database)
    migrate(env)
    log = database.with_suffix(".log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            uvicorn_command(port, workers), env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", timeout=timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        database.unlink(missing_ok=True)
