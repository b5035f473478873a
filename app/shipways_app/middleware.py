"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs a task per request).

`RequestContextMiddleware` is outermost inside the app: it stamps every response - including
404s, 413s, validation errors and crashes - with the security headers and X-Request-ID, and
writes the one JSON log line per request. `BodyLimitMiddleware` enforces the body size on
Content-Length and on chunked bodies alike.

Both run on every request, so the per-request work is kept small: the header tuples and the
names they replace are built once at import, the request headers are scanned once, request
ids come from a batch of random bytes, the body is read only when the app asks for it, and
the access line goes out through `logs.RequestLog`, past most of the logging machinery.
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

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipways_app.logs import RequestLog
from shipways_app.settings import TRUST_ANY_PROXY

access_log = RequestLog("shipways_app.access")
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


class _RandomIds:
    """Request ids: 32 hex digits from os.urandom, read 4 KiB (256 ids) at a time.

    One system call per request cost as much as the rest of the id handling; batching keeps
    the same source. The buffer is dropped in a forked child (gunicorn forks its workers), so
    two processes never hand out the same ids.
    """

    _BATCH = 256

    def __init__(self) -> None:
        self._ids: list[str] = []
        os.register_at_fork(after_in_child=self._ids.clear)

    def __call__(self) -> str:
        if not self._ids:
            pool = os.urandom(16 * self._BATCH).hex()
            self._ids.extend(pool[i : i + 32] for i in range(0, len(pool), 32))
        return self._ids.pop()


_new_request_id = _RandomIds()


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
            incoming.decode() if incoming and _REQUEST_ID.fullmatch(incoming) else _new_request_id()
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
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if not present.isdisjoint(own_names):  # rare: a route set one of ours
                    headers = [h for h in headers if h[0].lower() not in own_names]
                for default in _DEFAULT_HEADERS:
                    if default[0] not in present:
                        headers.append(default)
                headers += extra
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
            client = scope.get("client")
            access_log.write(
                logging.ERROR if status >= 500 else logging.INFO,
                scope["method"],
                scope["path"],
                status,
                round((time.perf_counter() - started) * 1000, 2),
                request_id,
                client[0] if client else None,
            )


class BodyTooLarge(HTTPException):
    """The body exceeded the limit while the app read it: a 413 (FastAPI answers it as JSON)."""


class BodyLimitMiddleware:
    """Reject request bodies over `max_bytes` with 413 before the app sees any of it.

    A declared Content-Length is checked up front. The body itself (chunked or not, whatever
    was declared) is read up to the limit when the app first asks for it, then handed over
    whole; a request the app never reads (a GET) costs nothing more. Over the limit, reading
    raises `BodyTooLarge`: FastAPI's exception handling answers it, and this middleware does
    for an app that does not.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(413, f"Request body too large: the limit is {self.max_bytes} bytes")

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
                await _send_json(send, 413, {"detail": self._too_large().detail})
                return
        read = False

        async def read_whole_body() -> Message:
            nonlocal read
            if read:  # the body was handed over: what follows is a disconnect
                return await receive()
            read = True
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":  # client went away
                    return message
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        try:
            await self.app(scope, read_whole_body, send)
        except BodyTooLarge as exc:  # an app of its own (FastAPI answers it before this)
            await _send_json(send, 413, {"detail": exc.detail})
