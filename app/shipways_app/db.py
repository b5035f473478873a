"""Engine construction and the database checks behind /readyz.

One engine per process (per gunicorn worker, per Lambda container). Timeouts are short on
purpose: a probe or a request should fail fast with 503 rather than hang on a dead database.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Executable, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, SAWarning, SQLAlchemyError

from shipways_app.dbsecret import supply_password
from shipways_app.settings import MIGRATE_HINT, Settings, Target

T = TypeVar("T")
CONNECT_TIMEOUT_S = 3
POOL_TIMEOUT_S = 5
READY_STATEMENT_TIMEOUT_MS = 2000
# What every PostgreSQL connection of the app is opened with (the reads' too: `pgreads`).
CONNECT_ARGS = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "shipways-app"}
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
    # answered 503 in the VPS fault tests, and a write cannot simply be retried. Servers read
    # on a connection of their own (`reads.reader_for`).
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=POOL_TIMEOUT_S,
        pool_recycle=1800,
        connect_args=CONNECT_ARGS,
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


class Reader(Protocol):
    """Where the product reads run (`reads.reader_for` picks one per database and target)."""

    async def rows(
        self, statement: Executable, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Run an idempotent SELECT; its rows as tuples. Database errors are SQLAlchemy's."""
        ...

    async def close(self) -> None:
        """Release what the reader holds (at shutdown)."""
        ...


class Database:
    """The engine plus what the app needs to know about its schema.

    The schema revision the app expects comes from the migration scripts, which means loading
    Alembic: `head_revision` is asked for only when a readiness check needs it (servers ask at
    start-up, in the app's lifespan), so a Lambda cold start does not pay for it.
    """

    def __init__(self, engine: Engine, head_revision: Callable[[], str], reader: Reader) -> None:
        self.engine = engine  # writes and probes
        self.reader = reader  # product reads
        self.head_revision = head_revision

    async def close(self) -> None:
        """Close every connection (at shutdown)."""
        await self.reader.close()
        self.engine.dispose()

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
