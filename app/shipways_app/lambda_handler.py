"""AWS Lambda entry point (`shipways_app.lambda_handler.handler`) behind API Gateway.

Everything expensive happens once per container, at import (Lambda's init phase): settings,
engine, app. Warm invocations reuse them. Two kinds of events arrive:

- API Gateway (HTTP API v2 / REST / ALB) events, handled by Mangum like any ASGI request;
- a direct invocation `{"shipways": "migrate"}`: the release step that migrates the
  PostgreSQL database before traffic moves to a new version. It returns a result dict and
  raises (a Lambda "function error") when the migration fails.

SHIPWAYS_MIGRATE_ON_INIT=true migrates at init: only meant for SQLite in /tmp, where each
container has its own throwaway database that must be created before the first request.

The init imports only what serving needs: Alembic (`shipways_app.migrate`) is imported when a
migration actually runs, the PostgreSQL driver only when DATABASE_URL points at PostgreSQL
(SQLAlchemy loads a dialect's driver when the engine is created), boto3 only when a secret is
read through it, and the settings are a plain pydantic model (no pydantic-settings). What is
left is FastAPI, SQLAlchemy, Mangum and the app's own modules; the deployment zip carries their
bytecode, compiled for the runtime's Python, so the read-only /var/task costs no compiling.
`benchmarks/app.py` measures the init against importing FastAPI, SQLAlchemy and Mangum alone
(a unit test holds the list of what the init must not import).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from mangum import Mangum
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from shipways_app.migrate import MigrationResult
from shipways_app.app import create_app
from shipways_app.db import create_db_engine, summarise_db_error
from shipways_app.settings import Settings, load_settings

log = logging.getLogger("shipways_app.lambda")

COMMANDS = ("migrate",)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    app: FastAPI
    asgi: Mangum


init_count = 0  # how many times this container initialised: 1, whatever the invocation count


def _open_connection(engine: Engine) -> None:
    """Open this instance's one PostgreSQL connection during init, off the first request's
    clock; it stays in the pool for every request the instance serves (one at a time). A
    database that is down only logs here: /healthz still answers and /readyz says why."""
    if engine.dialect.name != "postgresql":
        return
    try:
        engine.connect().close()
    except SQLAlchemyError as exc:
        log.warning(
            "database not reachable at init",
            extra={"fields": {"error": summarise_db_error(exc, engine)}},
        )


def _init() -> Runtime:
    global init_count
    settings = load_settings()  # a ConfigError here fails the init with its message
    # The Lambda runtime pre-installs a plain-text root handler; ours writes the JSON lines,
    # so keeping both would log every record twice. Mangum's own request line duplicates ours.
    logging.getLogger().handlers.clear()
    logging.getLogger("mangum.http").setLevel(logging.WARNING)
    engine = create_db_engine(settings)
    app = create_app(settings, engine=engine)
    if settings.migrate_on_init:
        log.info("migrating at init", extra={"fields": upgrade(engine).as_dict()})
    _open_connection(engine)
    init_count += 1
    return Runtime(settings, engine, app, Mangum(app, lifespan="off"))


def upgrade(engine: Engine) -> MigrationResult:
    from shipways_app import migrate  # Alembic: loaded only by a container that migrates

    return migrate.upgrade(engine)


runtime = _init()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    if "shipways" in event:
        return run_command(event["shipways"])
    return runtime.asgi(dict(event), context)


def run_command(command: object) -> dict[str, Any]:
    if command != "migrate":
        raise ValueError(f"unknown shipways command {command!r}: use one of {', '.join(COMMANDS)}")
    result = upgrade(runtime.engine)
    log.info("migrate command", extra={"fields": result.as_dict()})
    return {"ok": True, "command": "migrate", **result.as_dict()}
