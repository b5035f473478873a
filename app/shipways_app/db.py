"""Engine construction and the database checks behind /readyz.

One engine per process (per gunicorn worker, per Lambda container). Timeouts are short on
purpose: a probe or a request should fail fast with 503 rather than hang on a dead database.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, SAWarning, SQLAlchemyError

from shipways_app.dbsecret import supply_password
from shipways_app.settings import MIGRATE_HINT, Settings, Target

T = TypeVar("T")
CONNECT_TIMEOUT_S = 3
POOL_TIMEOUT_S = 5
READY_STATEMENT_TIMEOUT_MS = 2000
VERSION_TABLE = "alembic_version"  # Alembic's default bookkeeping table

# SQLite has no decimal type, so SQLAlchemy warns that Numeric goes through float. Prices are
# bounded to 1,000,000.00 (9 significant digits, far inside a double's 15) and SQLAlchemy
# rounds results back to the column's scale of 2, so the round trip is exact.
warnings.filterwarnings(
    "ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal", category=SAWarning
)


def create_db_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url()
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": POOL_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping costs a round trip per checkout, and is kept for writes and probes: without
    # it a write on a connection the server had dropped (restart, failover, idle timeout)
    # answered 503 in the VPS fault tests, and a write cannot simply be retried. Reads have
    # their own pool without it (`read_engine`).
    return _postgres_engine(url, settings, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _postgres_engine(url: URL, settings: Settings, **pool: Any) -> Engine:
    engine = create_engine(
        url,
        pool_timeout=POOL_TIMEOUT_S,
        pool_recycle=1800,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "shipways-app"},
        **pool,
    )
    managed = settings.managed_database()
    if managed is not None and managed.password_at_connect:
        supply_password(engine, managed)  # a fresh password (secret or IAM token) per connection
    return engine


def read(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run an idempotent read on a pooled connection, retried once if it was found dead."""
    try:
        with engine.connect() as conn:
            return work(conn)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as conn:
        return work(conn)


def read_engine(engine: Engine, settings: Settings) -> Engine:
    """The engine for reads: on PostgreSQL, a pool of its own, in autocommit, with no pre-ping.

    A page then costs one round trip instead of four: psycopg's BEGIN, the ping on checkout
    and SQLAlchemy's ROLLBACK on return are gone. Reads lose nothing in autocommit, since under
    READ COMMITTED every statement takes its own snapshot anyway, and an idempotent read can
    simply be retried when its connection turns out to be dead (`read` does, once; SQLAlchemy
    then also discards every other connection of that pool opened before the failure).
    The writes' pool keeps its pre-ping. Reads run inline, one at a time per worker, so the
    pool holds one connection in practice; its overflow only guards against ever blocking the
    event loop on an empty pool. SQLite (pysqlite) never opens a transaction for a SELECT and
    has no server to lose, so there the one engine serves both; and a Lambda instance keeps
    its one connection.
    """
    if engine.dialect.name != "postgresql":
        return engine
    if settings.target is Target.SERVERLESS:
        # One request at a time per instance, and one connection each (what reservedConcurrency
        # and the database's max_connections are sized on): the same pool, in autocommit.
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return _postgres_engine(
        engine.url,
        settings,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,  # in autocommit no transaction is left to roll back
        pool_size=1,
        max_overflow=4,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while a gunicorn worker writes; busy_timeout waits for locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={POOL_TIMEOUT_S * 1000}")
    cursor.close()


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite database file, or None for PostgreSQL and in-memory SQLite."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(engine.url.database)


@dataclass(frozen=True)
class StorageInfo:
    engine: str
    persistent: bool
    note: str


DURABLE_HINT = " Set DATABASE_URL to a PostgreSQL database for durable, shared data."
EPHEMERAL_SQLITE = {
    Target.SERVERLESS: "SQLite in the function's /tmp: data is per-instance and lost when the "
    "instance is recycled.",
    Target.K8S: "SQLite in the pod's memory-backed /tmp (emptyDir): data is per-pod and lost "
    "when the pod is replaced.",
}


def describe_storage(engine: Engine, target: Target) -> StorageInfo:
    """What /version says about where data lives: the trade-off each target makes."""
    if engine.dialect.name == "postgresql":
        return StorageInfo(
            "postgresql", True, "PostgreSQL: shared by every instance, survives restarts."
        )
    ephemeral = EPHEMERAL_SQLITE.get(target)
    if ephemeral is not None:
        return StorageInfo("sqlite", False, ephemeral + DURABLE_HINT)
    return StorageInfo(
        "sqlite",
        True,
        "SQLite file on this instance's disk: survives restarts but is not shared between "
        "instances. Set DATABASE_URL to a PostgreSQL database to scale out.",
    )


class Database:
    """The engine plus what the app needs to know about its schema.

    The schema revision the app expects comes from the migration scripts, which means loading
    Alembic: `head_revision` is asked for only when a readiness check needs it (servers ask at
    start-up, in the app's lifespan), so a Lambda cold start does not pay for it.
    """

    def __init__(
        self, engine: Engine, head_revision: Callable[[], str], reader: Engine | None = None
    ) -> None:
        self.engine = engine
        self.reader = reader or engine  # `read_engine`: reads' own pool where it pays
        self.head_revision = head_revision

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown)."""
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    def check(self) -> str | None:
        """Connect, SELECT 1, compare the schema with the migrations: None when all is well,
        else a one-line reason fit for a probe response (never containing credentials)."""
        try:
            current = read(self.engine, _probe)
        except SQLAlchemyError as exc:
            return summarise_db_error(exc, self.engine)
        if current is None:
            return f"schema not migrated: {MIGRATE_HINT}"
        expected = self.head_revision()
        if current != expected:
            return f"schema at revision {current}, app expects {expected}: {MIGRATE_HINT}"
        return None


def _probe(conn: Connection) -> str | None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL statement_timeout = {READY_STATEMENT_TIMEOUT_MS}"))
    conn.execute(text("SELECT 1"))
    return schema_revision(conn)


def schema_revision(conn: Connection) -> str | None:
    """The revision recorded by Alembic, or None when the database was never migrated."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.scalar(text("SELECT version_num FROM alembic_version"))


def summarise_db_error(exc: BaseException, engine: Engine) -> str:
    """First line of the driver's message, with the password scrubbed just in case."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [""]
    message = f"{type(cause).__name__}: {lines[0]}"[:300]
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return message
