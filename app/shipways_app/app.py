"""Application factory: wires settings, database, routes, middleware and error handlers."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from shipways_app import APP_NAME, __version__
from shipways_app.api import router
from shipways_app.auth import WriteTokenMiddleware, load_write_token
from shipways_app.db import Database, create_db_engine, describe_storage, summarise_db_error
from shipways_app.logs import configure_logging
from shipways_app.middleware import BodyLimitMiddleware, RequestContextMiddleware
from shipways_app.reads import reader_for
from shipways_app.settings import Settings, load_settings

log = logging.getLogger("shipways_app")

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
_SWAGGER_CDN = "https://cdn.jsdelivr.net"
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def head_revision() -> str:
    """The migrations' head revision (imports Alembic, hence not at module import)."""
    from shipways_app import migrate

    return migrate.head_revision()


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app. Raises settings.ConfigError when the environment is invalid."""
    settings = settings or load_settings()
    configure_logging(settings.log_level.number)
    write_token = load_write_token(settings)  # before the engine: a bad token source fails fast
    if write_token is None:
        log.warning(
            "writes disabled: no write token configured",
            extra={"fields": {"hint": "set WRITE_TOKEN_FILE to the path of the token's file"}},
        )
    engine = engine if engine is not None else create_db_engine(settings)
    db = Database(engine, head_revision, reader_for(engine, settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Servers load the migration scripts now, so the first readiness probe answers fast;
        # Lambda runs without lifespan and loads them only if /readyz is ever asked.
        await run_in_threadpool(head_revision)
        yield
        await db.close()

    app = FastAPI(
        title=APP_NAME,
        version=__version__,
        description="The sample API that shipways deploys to a VPS, a PaaS, Kubernetes and Lambda.",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # served below with its own, narrower CSP
        redoc_url=None,
        lifespan=lifespan,
        # The contract's routes sit directly on the app rather than through include_router:
        # an included router adds a second route-matching pass to every request.
        routes=list(router.routes),
    )
    app.state.settings = settings
    app.state.db = db
    app.state.storage = describe_storage(engine, settings.target)
    _add_docs(app)
    _add_bearer_scheme(app)
    _add_db_error_handler(app)
    _add_method_not_allowed_handler(app)
    # Added last = outermost: the request context also wraps the 413s of the body limit and
    # the 401s of the token check, which refuses anonymous writes before any body is read.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(WriteTokenMiddleware, token=write_token)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=settings.trusted_proxies)
    return app


def _add_docs(app: FastAPI) -> None:
    page = get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{APP_NAME} - docs")
    html = bytes(page.body).decode()
    # Allow exactly the page's own inline bootstrap script (by hash) and the Swagger UI assets.
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    csp = (
        f"default-src 'none'; script-src {_SWAGGER_CDN} {hashes}; "
        f"style-src {_SWAGGER_CDN} 'unsafe-inline'; "
        f"img-src 'self' data: {_SWAGGER_CDN} https://fastapi.tiangolo.com; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def _add_bearer_scheme(app: FastAPI) -> None:
    """Name the `bearerAuth` scheme the write routes declare, so clients see how to send it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["bearerAuth"] = {"type": "http", "scheme": "bearer"}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_db_error_handler(app: FastAPI) -> None:
    db: Database = app.state.db

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A missing table and a dead server both land here; the readiness check tells which.
        # The reason names hosts, addresses and roles: it goes to the log, never to the client.
        problem = await run_in_threadpool(db.check)  # blocking I/O
        log.warning(
            "database error",
            extra={
                "fields": {
                    "request_id": getattr(request.state, "request_id", None),
                    "error": summarise_db_error(exc, db.engine),
                    "readiness": problem or "ok",
                }
            },
        )
        return JSONResponse({"detail": "Database unavailable"}, status_code=503)

    for exc_type in (OperationalError, ProgrammingError, PoolTimeoutError):
        app.add_exception_handler(exc_type, database_unavailable)


def _add_method_not_allowed_handler(app: FastAPI) -> None:
    """405s list every method of the path (Starlette names only the first route's, so
    `DELETE /products` would claim `Allow: GET` although POST works too)."""

    def allowed_methods(scope: Scope) -> list[str]:
        # Ask the routes themselves (public `matches`), however FastAPI nests them.
        return [
            method
            for method in _HTTP_METHODS
            if any(
                route.matches({**scope, "method": method})[0] is Match.FULL
                for route in app.router.routes
            )
        ]

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # registered for these only
            raise exc
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        allow = ", ".join(allowed_methods(request.scope))
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allow})

    app.add_exception_handler(StarletteHTTPException, method_not_allowed)
