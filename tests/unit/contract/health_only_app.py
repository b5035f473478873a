"""Someone else's app: it serves `/healthz` and `/readyz` and nothing of the sample contract.

`uvicorn --factory health_only_app:create`. Plain ASGI with Starlette, no shipways code.
HEALTH_APP_NOT_READY=1 makes `/readyz` answer 503 (its database is down, say);
HEALTH_APP_ALLOWED_HOST=NAME makes every request for another Host a 400, as Django's
ALLOWED_HOSTS does.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("alive")


async def readyz(request: Request) -> PlainTextResponse:
    if os.environ.get("HEALTH_APP_NOT_READY") == "1":
        return PlainTextResponse("database unreachable", status_code=503)
    return PlainTextResponse("ready")


def create() -> Starlette:
    allowed = os.environ.get("HEALTH_APP_ALLOWED_HOST")
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=[allowed])] if allowed else []
    routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
    return Starlette(routes=routes, middleware=middleware)
