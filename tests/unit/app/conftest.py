"""Fixtures for the app's unit tests: a clean environment and in-process clients."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from shipways_app.app import create_app
from shipways_app.db import Database
from shipways_app.migrate import upgrade

with warnings.catch_warnings():
    # Starlette announces a future httpx successor; the locked httpx works fine.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

MakeClient = Callable[..., TestClient]
WRITE_TOKEN = "unit-test-write-token-0123456789"
_TOUCHED_LOGGERS = (
    "",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "mangum.http",
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """create_app() configures process-wide logging (as it must in production); undo it so
    JSON log lines never leak into other tests' captured output."""
    saved = [
        (lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for lg in map(logging.getLogger, _TOUCHED_LOGGERS)
    ]
    yield
    for lg, handlers, level, propagate, disabled in saved:
        lg.handlers, lg.propagate, lg.disabled = handlers, propagate, disabled
        lg.setLevel(level)  # not `.level =`: setLevel also clears the isEnabledFor cache


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No SHIPWAYS_*/DATABASE_*/WRITE_TOKEN_* leaks in from the caller; SQLite lives in
    tmp_path, and the write token in a file there (WRITE_TOKEN_FILE), as in production."""
    for name in list(os.environ):
        if name.startswith(("SHIPWAYS_", "DATABASE_", "WRITE_TOKEN")) or (
            name == "CREDENTIALS_DIRECTORY"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPWAYS_SQLITE_PATH", str(tmp_path / "app.db"))
    token_file = tmp_path / "write-token"
    token_file.write_text(WRITE_TOKEN + "\n")
    monkeypatch.setenv("WRITE_TOKEN_FILE", str(token_file))
    return monkeypatch


@pytest.fixture
def write_token() -> str:
    """The token the app under test reads from WRITE_TOKEN_FILE (see `app_env`)."""
    return WRITE_TOKEN


@pytest.fixture
def make_client(app_env: pytest.MonkeyPatch) -> Iterator[MakeClient]:
    """Build the app from the environment (plus `variables`), optionally migrated. The client
    sends the write token unless `authorized=False`."""
    databases: list[Database] = []

    def make(
        *,
        migrate: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
        authorized: bool = True,
        **variables: str,
    ) -> TestClient:
        for name, value in variables.items():
            app_env.setenv(name, value)
        app = create_app()
        databases.append(app.state.db)
        if migrate:
            upgrade(app.state.db.engine)
        headers = {"Authorization": f"Bearer {WRITE_TOKEN}"} if authorized else {}
        return TestClient(app, client=client, raise_server_exceptions=False, headers=headers)

    yield make
    for database in databases:
        anyio.run(database.close)  # what the app's lifespan does at shutdown


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
