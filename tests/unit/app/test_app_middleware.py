"""Headers, request ids, HSTS trust, body limits, error handling and the JSON request log."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shipways_app.middleware import API_CSP, MAX_BODY_BYTES, BodyLimitMiddleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import Message

pytestmark = pytest.mark.unit

MakeClient = Callable[..., TestClient]
SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": API_CSP,
    "cache-control": "no-store",
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _boom() -> None:
    raise RuntimeError("kaboom")


@pytest.fixture
def crashing_client(client: TestClient) -> TestClient:
    client.app.get("/boom")(_boom)  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/hello", {}, 200),
        ("GET", "/nowhere", {}, 404),
        ("GET", "/products/77", {}, 404),
        ("DELETE", "/hello", {}, 405),
        ("GET", "/products/abc", {}, 422),
        ("POST", "/products", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
        ("POST", "/products", {"content": b"x" * (MAX_BODY_BYTES + 1)}, 413),
        ("GET", "/boom", {}, 500),
    ],
)
def test_security_headers_on_every_response(
    crashing_client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = crashing_client.request(method, path, **kwargs)
    assert response.status_code == status
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, name
    assert HEX32.match(response.headers["x-request-id"])
    assert "strict-transport-security" not in response.headers


def test_crash_is_a_json_500_and_logged_with_traceback(
    capsys: pytest.CaptureFixture[str], make_client: MakeClient
) -> None:
    client = make_client()
    client.app.get("/boom")(_boom)  # type: ignore[attr-defined]
    response = client.get("/boom", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "kaboom" not in response.text
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    error = next(line for line in lines if line["logger"] == "shipways_app.error")
    assert error["request_id"] == "crash-1" and "RuntimeError: kaboom" in error["exc"]
    access = next(line for line in lines if line["logger"] == "shipways_app.access")
    assert access["status"] == 500 and access["level"] == "error"


def test_one_json_log_line_per_request(
    capsys: pytest.CaptureFixture[str], make_client: MakeClient
) -> None:
    client = make_client(client=("192.0.2.10", 4321))
    capsys.readouterr()
    client.get("/products/2?secret=hunter2", headers={"X-Request-ID": "abc.DEF_1-2"})
    client.get("/nowhere")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line["logger"] == "shipways_app.access"]
    assert len(access) == 2
    first = access[0]
    assert set(first) == {
        "ts", "level", "logger", "msg", "method", "path", "status", "duration_ms", "request_id",
        "client",
    }  # fmt: skip
    assert (first["method"], first["path"], first["status"]) == ("GET", "/products/2", 200)
    assert first["request_id"] == "abc.DEF_1-2" and first["client"] == "192.0.2.10"
    assert isinstance(first["duration_ms"], float) and first["level"] == "info"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", first["ts"])
    assert access[1]["status"] == 404
    app_lines = [line for line in lines if line["logger"].startswith("shipways_app")]
    assert "hunter2" not in json.dumps(app_lines), "query strings are not logged"


@pytest.mark.parametrize("incoming", ["a" * 128, "A.b_c-9", "0"])
def test_valid_request_id_is_echoed(client: TestClient, incoming: str) -> None:
    assert (
        client.get("/hello", headers={"X-Request-ID": incoming}).headers["x-request-id"] == incoming
    )


@pytest.mark.parametrize(
    "incoming", ["a" * 129, "", "with space", "ünïcode".encode(), "a/b", "x\ty"]
)
def test_invalid_request_id_is_replaced(client: TestClient, incoming: str | bytes) -> None:
    returned = client.get("/hello", headers={"X-Request-ID": incoming}).headers["x-request-id"]
    assert returned != incoming and HEX32.match(returned)


def test_generated_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_proto", "hsts"),
    [
        (None, "127.0.0.1", "https", True),  # default trust: 127.0.0.1 (the local nginx)
        (None, "127.0.0.1", "http", False),
        (None, "127.0.0.1", None, False),
        (None, "203.0.113.7", "https", False),  # anyone can send the header: not trusted
        ("10.0.0.0/8", "10.20.30.40", "https", True),
        ("10.0.0.0/8", "127.0.0.1", "https", False),
        ("10.0.0.0/8,127.0.0.1", "127.0.0.1", "https, http", True),  # first hop counts
        ("*", "198.51.100.1", "HTTPS", True),
        (None, "testclient", "https", False),  # not an IP address: never trusted
    ],
)
def test_hsts_only_for_https_via_trusted_proxy(
    make_client: MakeClient, trusted: str | None, peer: str, forwarded_proto: str | None, hsts: bool
) -> None:
    variables = {"SHIPWAYS_TRUSTED_PROXIES": trusted} if trusted else {}
    client = make_client(client=(peer, 1234), **variables)
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    response = client.get("/healthz", headers=headers)
    assert ("strict-transport-security" in response.headers) is hsts
    if hsts:
        assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_hsts_when_the_scheme_is_already_https(make_client: MakeClient) -> None:
    client = make_client()
    client.base_url = client.base_url.copy_with(scheme="https")
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_middleware_is_pure_asgi(client: TestClient) -> None:
    for middleware in client.app.user_middleware:  # type: ignore[attr-defined]
        assert not issubclass(middleware.cls, BaseHTTPMiddleware)


# --- the body limit, at the ASGI level (exact control over chunks and headers) -------------


def _run_limit(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[Message], list[bytes], int]:
    """Drive BodyLimitMiddleware: (messages sent, bodies the app received, receive() calls)."""
    received_by_app: list[bytes] = []
    sent: list[Message] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received_by_app.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/products", "headers": headers}
    asyncio.run(BodyLimitMiddleware(app, max_bytes=100)(scope, receive, send))
    return sent, received_by_app, reads


def test_chunked_body_over_the_limit_is_413_without_reaching_the_app() -> None:
    sent, app_saw, _ = _run_limit([(b"transfer-encoding", b"chunked")], [b"x" * 60, b"y" * 60])
    assert sent[0]["status"] == 413 and app_saw == []
    assert b"limit is 100 bytes" in sent[1]["body"]


def test_chunked_body_within_the_limit_is_replayed_whole() -> None:
    sent, app_saw, _ = _run_limit([(b"transfer-encoding", b"chunked")], [b"a" * 50, b"b" * 50])
    assert sent[0]["status"] == 200 and app_saw == [b"a" * 50 + b"b" * 50]


def test_declared_length_over_the_limit_is_413_before_reading() -> None:
    sent, app_saw, reads = _run_limit([(b"content-length", b"101")], [b"x" * 101])
    assert sent[0]["status"] == 413 and app_saw == [] and reads == 0


def test_body_longer_than_declared_is_still_counted() -> None:
    sent, _, _ = _run_limit([(b"content-length", b"10")], [b"x" * 60, b"x" * 60])
    assert sent[0]["status"] == 413


def test_invalid_content_length_is_400() -> None:
    sent, app_saw, reads = _run_limit([(b"content-length", b"ten")], [b"x"])
    assert sent[0]["status"] == 400 and app_saw == [] and reads == 0


def test_loading_the_migration_scripts_logs_nothing() -> None:
    """Readiness loads Alembic's scripts at start-up; its plugin announcements are not logged.
    A fresh interpreter, since Alembic announces its plugins once per process."""
    script = (
        "import logging; from shipways_app.logs import configure_logging; "
        "configure_logging(logging.INFO); "
        "from shipways_app import migrate; migrate.head_revision()"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "setup plugin" not in run.stdout + run.stderr
