"""PostgreSQL reads on psycopg's async connection: one per worker, in autocommit.

Why: a read inline on a sync driver blocks the worker's event loop for the whole round trip,
and on a busy host that is the server process waiting to be scheduled, not microseconds on the
wire. Awaited, the round trip overlaps with the worker's HTTP work for the other requests.
psycopg is the driver the app already ships; its async mode needs no new dependency (asyncpg
would be one more binary wheel per platform, and SQLAlchemy's asyncio extension needs greenlet).

How: SQLAlchemy Core still builds the statements; each is compiled once to the driver's SQL
and then sent straight to psycopg, which skips SQLAlchemy's per-execution work (about half the
client CPU of a read). psycopg prepares a statement on the server after its fifth use on a
connection, so the hot page is planned once. One connection per worker: psycopg runs the
worker's reads on it one after the other (each takes about a tenth of a millisecond), which
bounds the app's connections at one per worker beside the writes' pool. In autocommit a read
costs one round trip (no BEGIN, no ROLLBACK), and under READ COMMITTED each statement takes its
own snapshot anyway. A connection found dead (server restart, failover) is replaced and the
read retried once, as `db.read` does for the inline reads; a failure to connect raises at
once, without retrying.

What it costs: the reads' connection is opened here, not by SQLAlchemy's pool, so the
connection parameters (and a managed database's password, fetched per connection) are applied
here too. Errors are re-raised as SQLAlchemy's (`DBAPIError.instance`), so the app's 503
handler and its log line treat both readers alike. A slow read holds up the worker's other
reads, though no longer its event loop: /healthz and /hello stay answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine, Executable
from sqlalchemy.exc import DBAPIError

from shipways_app.db import CONNECT_ARGS
from shipways_app.dbsecret import TLS, ManagedDatabase


class AsyncPostgresReader:
    def __init__(self, engine: Engine, managed: ManagedDatabase | None) -> None:
        self._engine = engine
        self._managed = managed
        self._sql: dict[Executable, str] = {}
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()

    async def rows(
        self, statement: Executable, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        sql = self._sql.get(statement) or self._compile(statement)
        reused = self._connection is not None
        try:
            return await self._fetch(sql, params)
        except psycopg.Error as exc:
            if not (reused and self._connection is None):  # not a pooled connection found dead
                raise self._as_sqlalchemy(exc, sql, params) from exc
        try:
            return await self._fetch(sql, params)
        except psycopg.Error as exc:
            raise self._as_sqlalchemy(exc, sql, params) from exc

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    def _compile(self, statement: Executable) -> str:
        sql = str(statement.compile(dialect=self._engine.dialect))  # type: ignore[attr-defined]
        self._sql[statement] = sql
        return sql

    async def _fetch(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        connection = await self._connect()
        try:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall()
        except psycopg.Error:
            if connection.broken or connection.closed:
                self._connection = None  # the next read opens a new one
            raise

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None:
            return self._connection
        async with self._connecting:  # a burst of first requests opens one connection
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(
                    **await self._connect_params(), autocommit=True
                )
            return self._connection

    async def _connect_params(self) -> dict[str, Any]:
        _args, url_params = self._engine.dialect.create_connect_args(self._engine.url)
        params = dict(url_params)
        params.pop("context", None)  # SQLAlchemy's adapters for its own sync connections
        params.update(CONNECT_ARGS)
        if self._managed is not None and self._managed.password_at_connect:
            # A secret read or a token signed per connection, as `dbsecret.supply_password`
            # does for the engine's; boto3 blocks, so it runs in a thread.
            params["password"] = await asyncio.to_thread(self._managed.password)
            params.update(TLS)
        return params

    def _as_sqlalchemy(self, exc: psycopg.Error, sql: str, params: Mapping[str, Any]) -> Exception:
        """The SQLAlchemy exception the engine would have raised (OperationalError, ...)."""
        dialect = self._engine.dialect
        return DBAPIError.instance(
            sql, dict(params), exc, psycopg.Error, hide_parameters=True, dialect=dialect
        )
