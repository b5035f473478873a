"""The yardstick for benchmarks/app.py: the least FastAPI app that serves the same two pages.

`/hello` returns the same JSON with no middleware at all; `/products` runs the same list and
count as the shipways app, inline with SQLAlchemy Core in an `async def` endpoint, on the same
database (DATABASE_URL, else the SQLite file at SHIPWAYS_SQLITE_PATH), and returns plain
dicts. No headers, no logging, no validation of the response: what the app costs on top of
this is what the benchmark's ratios show.

    uvicorn minimal_app:app --app-dir benchmarks
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from sqlalchemy import create_engine, text

_url = os.environ.get("DATABASE_URL") or f"sqlite:///{os.environ['SHIPWAYS_SQLITE_PATH']}"
engine = create_engine(_url.replace("postgresql://", "postgresql+psycopg://", 1))
LIST = text("SELECT id, name, price FROM products ORDER BY id LIMIT :limit OFFSET :offset")
COUNT = text("SELECT count(*) FROM products")

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/products")
async def products(limit: int = 20, offset: int = 0) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(LIST, {"limit": limit, "offset": offset}).all()
        total = conn.execute(COUNT).scalar_one()
    return {
        "products": [{"id": r.id, "name": r.name, "price": float(r.price)} for r in rows],
        "total": total,
    }
