"""Which reader serves the product reads: inline on the engine, or PostgreSQL's async one.

- SQLite: inline, on the app's one engine (`InlineReader`). A local file answers in tens of
  microseconds and pysqlite has no async mode worth having (aiosqlite runs every call in a
  thread, the very hop the inline read avoids).
- PostgreSQL behind a server (uvicorn/gunicorn): `pgreads.AsyncPostgresReader`, psycopg's
  async connection, one per worker, so the worker serves other requests during the round trip.
- PostgreSQL on Lambda: inline, on the writes' pool in autocommit. An instance serves one
  request at a time, so there is nothing to overlap, and it keeps its one connection (what
  reservedConcurrency and the database's max_connections are sized on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Executable

from shipways_app.db import Reader, read
from shipways_app.settings import Settings, Target


class InlineReader:
    """Reads run synchronously in the calling coroutine (see `store` for what that costs)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def rows(
        self, statement: Executable, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        return read(self.engine, lambda conn: conn.execute(statement, params).all())

    async def close(self) -> None:
        """Nothing of its own: the engine is the app's (`Database.close` disposes of it)."""


def reader_for(engine: Engine, settings: Settings) -> Reader:
    if engine.dialect.name != "postgresql":
        return InlineReader(engine)
    if settings.target is Target.SERVERLESS:
        # In autocommit a read costs one round trip: no BEGIN, no ROLLBACK on return.
        return InlineReader(engine.execution_options(isolation_level="AUTOCOMMIT"))
    # Imported here: psycopg's async machinery is of no use to SQLite or Lambda.
    from shipways_app.pgreads import AsyncPostgresReader

    return AsyncPostgresReader(engine, settings.managed_database())
