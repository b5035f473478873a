"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs a task per request).

`RequestContextMiddleware` is outermost inside the app: it stamps every response - including
404s, 413s, validation errors and crashes - with the security headers and X-Request-ID, and
writes the one JSON log line per request. `BodyLimitMiddleware` enforces the body size on
Content-Length and on chunked bodies alike.

Both run on every request, so the per-request work is kept small: the header tuples and the
names they replace are built once at import, the request headers are scanned once, and the
access line skips the logging call's caller lookup (the JSON line does not show it).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipways_app.settings import TRUST_ANY_PROXY

access_log = logging.getLogger("shipways_app.access")
error_log = logging.getLogger("shipways_app.error")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# Defaults a route may override (the docs page relaxes its CSP for its own scripts).
_DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", API_CSP.encode()),
    (b"cache-control", b"no-store"),
)
_HSTS_HEADER = (b"strict-transport-security", HSTS.encode())
# Names this middleware sets itself: a route's own value for them is dropped.
_OWN_NAMES = frozenset({name for name, _ in _SECURITY_HEADERS} | {b"x-request-id"})
_OWN_NAMES_HTTPS = _OWN_NAMES | {_HSTS_HEADER[0]}


class ProxyTrust:
    """Which peers may tell us the original scheme via X-Forwarded-Proto."""

    def __init__(self, entries: Iterable[str]) -> None:
        entries = list(entries)
        self.any = TRUST_ANY_PROXY in entries
        self.networks = [
            ipaddress.ip_network(e, strict=False) for e in entries if e != TRUST_ANY_PROXY
        ]

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return False
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.trust = ProxyTrust(trusted_proxies)

    def _is_https(self, scope: Scope, forwarded_proto: bytes | None) -> bool:
        if scope.get("scheme") == "https":  # TLS here, or uvicorn already trusted the proxy
            return True
        client = scope.get("client")
        if forwarded_proto is None or not self.trust.trusts(client[0] if client else None):
            return False
        return forwarded_proto.split(b",")[0].strip().lower() == b"https"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = forwarded_proto = None
        for key, value in scope["headers"]:  # one pass for both headers we read
            if key == b"x-request-id":
                incoming = bytes(value)
            elif key == b"x-forwarded-proto":
                forwarded_proto = bytes(value)
        request_id = (
            incoming.decode() if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        )
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [*_SECURITY_HEADERS, (b"x-request-id", request_id.encode())]
        own_names = _OWN_NAMES
        if self._is_https(scope, forwarded_proto):
            extra.append(_HSTS_HEADER)
            own_names = _OWN_NAMES_HTTPS
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in own_names]
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in _DEFAULT_HEADERS if h[0] not in present)
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Handled here rather than by Starlette's ServerErrorMiddleware (outside us) so the
            # 500 still carries the security headers and is logged as JSON with the request id.
            error_log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not response_started:
                await _send_json(send_with_headers, 500, {"detail": "Internal Server Error"})
            status = 500
        finally:
            level = logging.ERROR if status >= 500 else logging.INFO
            if access_log.isEnabledFor(level):
                client = scope.get("client")
                fields = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": request_id,
                    "client": client[0] if client else None,
                }
                # makeRecord + handle is Logger.log minus its walk up the stack for the caller.
                access_log.handle(
                    access_log.makeRecord(
                        access_log.name, level, "", 0, "request", (), None, extra={"fields": fields}
                    )
                )


class BodyLimitMiddleware:
    """Reject request bodies over `max_bytes` with 413 before the app reads them.

    A declared Content-Length is checked up front; then the body (chunked or not) is read up
    to the limit and replayed to the app, so no client can make the app buffer more.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await _send_json(
            send, 413, {"detail": f"Request body too large: the limit is {self.max_bytes} bytes"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(send, 400, {"detail": "Invalid Content-Length header"})
                return
            if int(declared) > self.max_bytes:
                await self._reject(send)
                return
        # Whatever was declared, count what actually arrives (chunked bodies declare nothing).

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
