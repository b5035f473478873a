"""Product reads and writes in SQLAlchemy Core, on the drivers the app already ships.

Why reads run inline, synchronously, inside `async def` endpoints:

- No threadpool hop. A plain `def` endpoint (or dependency) makes Starlette hand the call to a
  worker thread and back (`anyio.to_thread`): two context switches, a thread-safe wake-up of the
  event loop and GIL hand-offs per request. For a query that takes tens of microseconds on a
  local SQLite file or one loopback round trip to PostgreSQL, that hop cost more than the query.
- Core, not the ORM. Rows come back as tuples and go straight into the JSON body: no identity
  map, no instance state, no session, no per-object attribute instrumentation, no second
  validation pass through the response model. (The ORM model stays, mapped onto the same Core
  table, for the migrations and tooling; `sqlalchemy.orm` is never imported to serve.)
- Fewer round trips to PostgreSQL: reads run in autocommit (no BEGIN, no ROLLBACK) and the
  pool does not ping on checkout (`db.read` retries once on a connection found dead instead).
- Pooling stays simple: one worker runs one inline query at a time, so it holds at most one
  pooled connection for reads; the engine's QueuePool keeps it open between requests.

Why not an async driver (aiosqlite, asyncpg, psycopg's async mode under SQLAlchemy's asyncio
extension): each needs greenlet bridging or a new runtime dependency (a new wheel for every
Lambda platform), and adds its own per-query overhead; aiosqlite runs every SQLite call in a
thread anyway, bringing back the hop this module removes. What an async driver would buy is
overlap: one worker could wait on several PostgreSQL round trips at once. Inline, a page costs
one round trip (the total rides along with the rows) and the worker waits for it;
benchmarks/app.py measures that against a minimal app doing the same list and count inline.

What it costs: while a read runs, the worker's event loop is blocked. A slow query, a lock
wait, or connecting to a database that is down (bounded by `db.CONNECT_TIMEOUT_S`) stalls every
request on that worker, /healthz included, for as long. That suits this app's reads (primary
key lookups and a 100-row page over a small table); a heavy query belongs in a `def` endpoint
or behind an async driver. Writes are not inline: `create` runs in the threadpool (its endpoint
is a plain `def`) because a write may wait on SQLite's lock for up to its busy timeout.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from shipways_app.db import read
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


def list_page(engine: Engine, limit: int, offset: int) -> dict[str, Any]:
    """One page of products (by id) and the total count, as the JSON body."""

    def work(conn: Connection) -> dict[str, Any]:
        rows = conn.execute(_PAGE, {"limit": limit, "offset": offset}).all()
        # An empty page (past the end) has no row to carry the total: ask for it alone.
        total = rows[0].total if rows else conn.execute(_COUNT).scalar_one()
        return {"products": [_as_json(row) for row in rows], "total": total}

    return read(engine, work)


def get(engine: Engine, product_id: int) -> dict[str, Any] | None:
    row = read(engine, lambda conn: conn.execute(_BY_ID, {"id": product_id}).first())
    return None if row is None else _as_json(row)


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
