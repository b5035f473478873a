"""Product reads and writes: SQLAlchemy Core statements, read by the reader that suits the
database (`reads.reader_for`), on the drivers the app already ships.

Why the reads look as they do:

- No threadpool hop. The read endpoints are `async def`: a plain `def` endpoint makes Starlette
  hand the call to a worker thread and back (`anyio.to_thread`), two context switches, a
  thread-safe wake-up of the event loop and GIL hand-offs per request, which cost more than a
  query on a local SQLite file.
- Core, not the ORM. Rows come back as tuples and go straight into the JSON body: no identity
  map, no session, no per-object instrumentation, no second validation pass through the
  response model. (The ORM model stays, mapped onto the same Core table, for the migrations
  and tooling; `sqlalchemy.orm` is never imported to serve.)
- One round trip per page: the total rides along with the rows (a scalar subquery).
- SQLite, and PostgreSQL on Lambda, read inline: synchronously, in the endpoint's coroutine
  (`reads.InlineReader`). SQLite answers from a local file in tens of microseconds, and a Lambda
  instance serves one request at a time on its one connection: neither has anything to overlap.
- PostgreSQL behind a server reads on psycopg's async connection, one per worker, in
  autocommit, with the statements compiled once and handed to psycopg directly
  (`pgreads.AsyncPostgresReader`). Measured by benchmarks/app.py (one uvicorn worker, 2 busy
  shared cores, load average about 5): read inline through SQLAlchemy (the previous design),
  the event loop waited out every round trip, which on a loaded host is mostly the PostgreSQL
  process waiting to be scheduled: /products did 628-1,450 req/s from round to round (median
  651) at 589 us of the worker's CPU per request; awaited, 1,898-1,989 req/s (median 1,931,
  1.9x the minimal app doing the same list and count inline) at 367 us (the CPU saved is
  SQLAlchemy's per-execution work, skipped). The alternatives weighed: psycopg's server-side
  prepared statements alone (it prepares after five executions already; the wait stays),
  asyncpg (a faster protocol, but a new binary dependency per platform, the Lambda zip's
  included, for a gain the round trip and the HTTP work dwarf), SQLAlchemy's asyncio extension
  (needs greenlet, a new binary dependency, and adds its own bridging per query), psycopg_pool
  (a new dependency, where one connection per worker is all a worker needs).

What it costs: two read paths, and on PostgreSQL servers a connection opened outside
SQLAlchemy's pool (`pgreads` applies the same connection parameters and managed password and
raises SQLAlchemy's exceptions, so errors answer the same 503). Inline reads still block their
event loop: a slow SQLite read, or connecting to a Lambda's database that is down (bounded by
`db.CONNECT_TIMEOUT_S`), stalls that worker or instance for as long. The async reads serialise
on the worker's one connection: a slow read holds up the worker's other reads, though no longer
/healthz or /hello. Writes are not inline: `create` runs in the threadpool (its endpoint is a
plain `def`) because a write may wait on SQLite's lock for up to its busy timeout.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from shipways_app.db import Reader
from shipways_app.tables import products

# Built once, with bound parameters: SQLAlchemy compiles each statement once per dialect and
# then only binds values, so no request pays for building or compiling SQL.
_COLUMNS = (products.c.id, products.c.name, products.c.price)
_COUNT = select(func.count()).select_from(products)
# The page carries the total in each row (an uncorrelated scalar subquery, which PostgreSQL and
# SQLite both evaluate once): one round trip instead of two, and page and total agree.
_PAGE = (
    select(*_COLUMNS, _COUNT.scalar_subquery().label("total"))
    .order_by(products.c.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_BY_ID = select(*_COLUMNS).where(products.c.id == bindparam("id"))
_ID_BY_NAME = select(products.c.id).where(products.c.name == bindparam("name"))


class DuplicateName(Exception):
    """A product with this name exists already (the unique constraint said so)."""


def _as_json(row: Any) -> dict[str, Any]:
    # Prices are Decimal with 2 places (at most 1,000,000.00): exact as a JSON number.
    return {"id": row[0], "name": row[1], "price": float(row[2])}


async def list_page(reader: Reader, limit: int, offset: int) -> dict[str, Any]:
    """One page of products (by id) and the total count, as the JSON body."""
    rows = await reader.rows(_PAGE, {"limit": limit, "offset": offset})
    # An empty page (past the end) has no row to carry the total: ask for it alone.
    total = rows[0][3] if rows else (await reader.rows(_COUNT, {}))[0][0]
    return {"products": [_as_json(row) for row in rows], "total": total}


async def get(reader: Reader, product_id: int) -> dict[str, Any] | None:
    rows = await reader.rows(_BY_ID, {"id": product_id})
    return _as_json(rows[0]) if rows else None


def create(engine: Engine, name: str, price: Decimal) -> int:
    """Insert a product and return its id; DuplicateName when the name is taken."""
    try:
        with engine.begin() as conn:
            inserted = conn.execute(insert(products).values(name=name, price=price))
            # Always set for a single-row INSERT with an integer key; no `assert`, which
            # `python -O` would strip.
            new_id: int = inserted.inserted_primary_key[0]  # type: ignore[index]
            return new_id
    except IntegrityError:
        # The unique constraint, not a prior SELECT, decides: no race between two creators.
        with engine.connect() as conn:
            taken = conn.scalar(_ID_BY_NAME, {"name": name})
        if taken is None:
            raise
        raise DuplicateName(name) from None
