"""Deliberately broken variants of the app, served by uvicorn to prove the contract can fail.

`uvicorn --factory broken_app:create` with SHIPWAYS_BROKEN set to one of BREAKAGES.
"""

from __future__ import annotations

import os

from shipways_app.app import create_app
from shipways_app.auth import WriteTokenMiddleware
from shipways_app.middleware import BodyLimitMiddleware
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BREAKAGES = ("no-frame-options", "chunked-unlimited", "anonymous-writes")


class DropHeader:
    """Removes one response header: a proxy or refactor that loses a security header."""

    def __init__(self, app: ASGIApp, header: bytes) -> None:
        self.app = app
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message["headers"] if k.lower() != self.header]
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_without)


class ContentLengthOnlyLimit:
    """The classic mistake: trusting Content-Length, so chunked bodies are never counted."""

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if scope["type"] == "http" and declared and int(declared) > self.max_bytes:
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"detail": "too large"}'})
            return
        await self.app(scope, receive, send)


def create() -> ASGIApp:
    breakage = os.environ["SHIPWAYS_BROKEN"]
    app = create_app()
    if breakage == "no-frame-options":
        return DropHeader(app, b"x-frame-options")
    if breakage == "chunked-unlimited":
        app.user_middleware = [
            Middleware(ContentLengthOnlyLimit) if m.cls is BodyLimitMiddleware else m
            for m in app.user_middleware
        ]
        return app
    if breakage == "anonymous-writes":  # the token check lost in a refactor
        app.user_middleware = [m for m in app.user_middleware if m.cls is not WriteTokenMiddleware]
        return app
    raise ValueError(f"SHIPWAYS_BROKEN={breakage!r}: use one of {', '.join(BREAKAGES)}")
