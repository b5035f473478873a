"""The HTTP endpoints of the shipways contract.

Product reads are `async def` and query inline with SQLAlchemy Core (see `store` for why, and
what it costs). /readyz and POST /products are plain `def`: FastAPI runs them in its
threadpool, because they may wait (a connect timeout, SQLite's write lock). Every dependency
is `async def` or none, so no endpoint pays a threadpool hop it does not need. /healthz and
/hello never touch the database, so they stay cheap under load and during a database outage.
"""

from __future__ import annotations

import logging
import platform
import socket
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from shipways_app import APP_NAME, __version__, store
from shipways_app.db import Database, StorageInfo
from shipways_app.schemas import (
    Detail,
    Message,
    ProductIn,
    ProductOut,
    ProductPage,
    Readiness,
    Status,
    Storage,
    VersionInfo,
)
from shipways_app.settings import Settings

MAX_DB_INT = 2**31 - 1  # PostgreSQL `integer`: larger ids/offsets would be a 500, not a 422

router = APIRouter()
log = logging.getLogger("shipways_app")


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (FastAPI alone would try to parse anything)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="Unsupported content type: send the body as application/json",
        )


DbDep = Annotated[Database, Depends(get_db)]


@router.get("/healthz", response_model=Status, tags=["probes"])
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests. Deliberately ignores the database."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Database unreachable or not migrated"}},
    tags=["probes"],
)
def readyz(db: DbDep) -> JSONResponse:
    """Readiness: the database answers and its schema is at the migrations' head.

    Anonymous clients learn only that the database is unavailable: the reason (the driver's
    message, with hosts, addresses and roles) goes to the log for the operator.
    """
    problem = db.check()
    if problem is None:
        return JSONResponse({"status": "ready", "checks": {"database": "ok"}})
    log.warning("not ready", extra={"fields": {"database": problem}})
    return JSONResponse(
        {"status": "unavailable", "checks": {"database": "unavailable"}},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


_HELLO = b'{"message":"Hello, World!"}'  # what JSONResponse would render, encoded once


@router.get("/hello", response_model=Message)
async def hello() -> Response:
    return Response(_HELLO, media_type="application/json")


# The read endpoints return their JSON directly: the rows are already exactly the documented
# shape (`response_model` keeps it in the OpenAPI schema), so FastAPI need not validate them.
@router.get("/products", response_model=ProductPage, tags=["products"])
async def list_products(
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> JSONResponse:
    return JSONResponse(await store.list_page(db.reader, limit, offset))


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    responses={404: {"model": Detail, "description": "No product with this id"}},
    tags=["products"],
)
async def get_product(
    db: DbDep, product_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)]
) -> JSONResponse:
    product = await store.get(db.reader, product_id)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Product {product_id} not found")
    return JSONResponse(product)


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json)],
    responses={
        400: {"model": Detail, "description": "Body is not decodable (e.g. not UTF-8)"},
        401: {"model": Detail, "description": "No or wrong `Authorization: Bearer` token"},
        409: {"model": Detail, "description": "A product with this name exists"},
        413: {"model": Detail, "description": "Body larger than 64 KiB"},
        415: {"model": Detail, "description": "Body is not application/json"},
        503: {"model": Detail, "description": "Writes disabled: no write token configured"},
    },
    openapi_extra={"security": [{"bearerAuth": []}]},
    tags=["products"],
)
def create_product(body: ProductIn, db: DbDep, request: Request, response: Response) -> ProductOut:
    try:
        product_id = store.create(db.engine, body.name, body.price)
    except store.DuplicateName:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"A product named {body.name!r} already exists"
        ) from None
    response.headers["Location"] = request.url_for("get_product", product_id=product_id).path
    return ProductOut(id=product_id, name=body.name, price=body.price)


@router.get("/version", response_model=VersionInfo)
async def version(request: Request) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    storage: StorageInfo = request.app.state.storage
    return {
        "app": APP_NAME,
        "version": __version__,
        "git_sha": settings.git_sha,
        "target": settings.target.value,
        "python": platform.python_version(),
        # Which instance answered (the pod's, container's or host's name): behind a load
        # balancer it shows that reads spread over the instances and still see the same data.
        "instance": socket.gethostname(),
        "storage": Storage(engine=storage.engine, persistent=storage.persistent, note=storage.note),
    }
