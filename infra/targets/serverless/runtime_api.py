#!/usr/bin/env python3
"""A local Lambda service and API Gateway in one small process: a test double, not AWS.

It runs inside the function's container, next to AWS's own runtime client (`awslambdaric`),
which it starts as its child and which polls it exactly as it polls Lambda. Three faces:

- the Runtime API (`/2018-06-01/runtime/...`) on AWS_LAMBDA_RUNTIME_API, loopback only;
- the HTTP API side: every request, on every path including `/`, becomes an API Gateway
  HTTP API payload 2.0 event (route `$default`), and the function's result becomes the HTTP
  response by API Gateway's rules;
- the Invoke API (`POST /2015-03-31/functions/NAME/invocations`) for direct invocations,
  such as the `{"shipways": "migrate"}` release step.

Like one Lambda execution environment it runs one invocation at a time; further requests
wait in a bounded queue (429 when it is full). Scaling out is `gateway.py`'s: in front of
several of these (one container each) it sends each request to an idle one. It enforces
the function timeout (the runtime is killed and the next request is a cold start, as after
Lambda's reset) and prints START/END/REPORT lines like CloudWatch's,
with the init duration on a cold start and the runtime process's peak memory.

Not modelled: IAM, stage throttling, custom domains, API Gateway's 30 s integration limit,
response streaming, extensions, SnapStart. Standard library only, because it
runs on the container's Python, beside the function's code and not mixed with it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

RUNTIME_PREFIX = "/2018-06-01/runtime"
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation limit, request and response
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase of an on-demand instance
ACCOUNT_ID = "000000000000"
_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)",
    re.IGNORECASE,
)
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})

Log = Callable[[str], None]


def trace_id(now: float | None = None) -> str:
    """An X-Ray trace header (`Root=1-<epoch hex>-<96 random bits>`), as Lambda sends it."""
    epoch = int(now if now is not None else time.time())
    return f"Root=1-{epoch:08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


# --- API Gateway HTTP API: requests to events, results to responses -------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query exactly as sent
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own error responses, e.g. 500 `{"message":"Internal Server Error"}`."""
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("content-type", "application/json")], body)


def http_api_event(request: HttpRequest, *, api_id: str, request_id: str) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends for `request` on the `$default` route.

    Header names are lower-cased and repeated headers joined with commas; cookies move to
    `cookies`; a body that is not text is base64-encoded.
    """
    path, _, query = request.target.partition("?")
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    host = headers.get("host", "localhost")
    domain, _, port = host.partition(":")
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = (
        f"{forwarded}, {request.source_ip}" if forwarded else (request.source_ip)
    )
    headers["x-forwarded-proto"] = "http"  # the local stand-in has no TLS; API Gateway: https
    headers["x-forwarded-port"] = port or "80"
    headers["x-amzn-trace-id"] = trace_id().split(";")[0]
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": request.method,
                "path": unquote(path or "/"),
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if request.body:
        text = _as_text(request.body, headers.get("content-type"))
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    return event


def _as_text(body: bytes, content_type: str | None) -> str | None:
    if content_type and not _TEXT_TYPES.match(content_type):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def http_api_response(payload: bytes) -> HttpResponse:
    """How API Gateway (payload 2.0) turns a function's result into an HTTP response.

    A JSON object with `statusCode` is a response (headers, cookies, body, base64 flag);
    any other valid JSON is returned as is with status 200 and `application/json`.
    """
    try:
        result = json.loads(payload)
    except ValueError:
        return gateway_error(500, "Internal Server Error")
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(200, [("content-type", "application/json")], payload)
    status = result["statusCode"]
    body = result.get("body") or ""
    raw_headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    valid = (
        isinstance(status, int)
        and not isinstance(status, bool)
        and 100 <= status <= 599
        and isinstance(body, str)
        and isinstance(raw_headers, dict)
        and isinstance(cookies, list)
    )
    if not valid:
        return gateway_error(500, "Internal Server Error")
    headers = [(str(k).lower(), str(v)) for k, v in raw_headers.items()]
    headers += [("set-cookie", str(cookie)) for cookie in cookies]
    try:
        data = (
            base64.b64decode(body, validate=True)
            if result.get("isBase64Encoded")
            else (body.encode())
        )
    except ValueError:
        return gateway_error(500, "Internal Server Error")
    return HttpResponse(status, headers, data)


# --- The Lambda service: one execution environment ------------------------------------------


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    region: str
    memory_mb: int
    timeout_s: float
    runtime_api: str  # host:port the runtime client polls
    command: tuple[str, ...]
    task_root: str = "/var/task"
    version: str = "$LATEST"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    @classmethod
    def from_environ(
        cls, env: Mapping[str, str], *, timeout_s: float, command: Sequence[str]
    ) -> FunctionConfig:
        """Read the function's settings from the Lambda environment variables it runs with."""
        missing = [
            key
            for key in (
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_REGION",
                "AWS_LAMBDA_RUNTIME_API",
            )
            if not env.get(key)
        ]
        if missing:
            raise SystemExit(f"runtime_api: set {', '.join(missing)} (Lambda always does)")
        return cls(
            name=env["AWS_LAMBDA_FUNCTION_NAME"],
            region=env["AWS_REGION"],
            memory_mb=int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
            timeout_s=timeout_s,
            runtime_api=env["AWS_LAMBDA_RUNTIME_API"],
            command=tuple(command),
            task_root=env.get("LAMBDA_TASK_ROOT", "/var/task"),
            version=env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        )


@dataclass
class Invocation:
    payload: bytes
    client_context: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_id: str = field(default_factory=trace_id)
    deadline_ms: int = 0
    delivered_at: float = 0.0
    delivered: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    completed: bool = False  # the runtime posted a result or an error
    result: bytes = b""
    error_type: str | None = None  # set when the function (or its runtime) failed


@dataclass(frozen=True)
class Outcome:
    """What the caller of Invoke gets: the result, or why there is none."""

    status: str  # success | error | timeout | throttled | too_large
    payload: bytes
    error_type: str | None = None


class _Environment:
    """One started runtime process and what the service knows about it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.spawned_at = time.monotonic()
        self.handoff: queue.Queue[Invocation] = queue.Queue(maxsize=1)
        self.init_ms: float | None = None
        self.init_reported = False
        self.init_error: bytes | None = None
        self.exited = threading.Event()

    def peak_memory_mb(self) -> int:
        """Peak resident memory of the runtime process (VmHWM), in MB."""
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return 0


class LambdaService:
    """Runs invocations on one runtime process, one at a time, as one Lambda instance does."""

    def __init__(self, config: FunctionConfig, *, max_queue: int = 64, log: Log = print) -> None:
        self.config = config
        self._log = log
        self._slot = threading.Lock()
        self._admission = threading.BoundedSemaphore(max_queue + 1)  # running + waiting
        self._env: _Environment | None = None
        self._current: Invocation | None = None
        self._lock = threading.Lock()

    # Called by the Runtime API handlers (the runtime client's requests).

    def next_invocation(self) -> Invocation | None:
        """Block until there is an event for the calling runtime; None if it was replaced."""
        env = self._env
        if env is None:
            return None
        if env.init_ms is None:
            env.init_ms = (time.monotonic() - env.spawned_at) * 1000
        while self._env is env and not env.exited.is_set():
            try:
                invocation = env.handoff.get(timeout=0.5)
            except queue.Empty:
                continue
            invocation.deadline_ms = int((time.time() + self.config.timeout_s) * 1000)
            invocation.delivered_at = time.monotonic()
            self._log(f"START RequestId: {invocation.request_id} Version: {self.config.version}")
            invocation.delivered.set()
            return invocation
        return None

    def complete(self, request_id: str, payload: bytes, error_type: str | None) -> bool:
        """Record the runtime's result (or error) for `request_id`; False if not in flight."""
        with self._lock:
            invocation = self._current
            if (
                invocation is None
                or invocation.request_id != request_id
                or invocation.done.is_set()
            ):
                return False
            if error_type is None and len(payload) > MAX_PAYLOAD_BYTES:
                payload, error_type = _error_payload(
                    "Function.ResponseSizeTooLarge",
                    f"Response payload size exceeded maximum allowed payload size "
                    f"({MAX_PAYLOAD_BYTES} bytes).",
                )
            invocation.result, invocation.error_type = payload, error_type
            invocation.completed = True
            invocation.done.set()
            return True

    def init_failed(self, payload: bytes) -> None:
        if self._env is not None:
            self._env.init_error = payload

    # Called for every HTTP API request and Invoke API call.

    def invoke(self, payload: bytes, *, client_context: str | None = None) -> Outcome:
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Outcome("too_large", b"", "RequestTooLargeException")
        if not self._admission.acquire(blocking=False):
            return Outcome("throttled", b"", "TooManyRequestsException")
        try:
            with self._slot:
                return self._run(Invocation(payload, client_context))
        finally:
            self._admission.release()

    def start(self) -> None:
        """Start a fresh runtime process (an init phase); the previous one must be gone."""
        env = dict(os.environ)
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[{self.config.version}]{secrets.token_hex(16)}"
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = stream
        process = subprocess.Popen(self.config.command, cwd=self.config.task_root, env=env)
        self._env = _Environment(process)
        threading.Thread(target=self._watch, args=(self._env,), daemon=True).start()

    def stop(self) -> None:
        env, self._env = self._env, None
        if env is not None and env.process.poll() is None:
            env.process.kill()
            env.process.wait()

    def _watch(self, env: _Environment) -> None:
        env.process.wait()
        env.exited.set()
        invocation = self._current
        # A crash wakes the caller waiting on this runtime (`_run` sees the exit and reports
        # it). A runtime `stop` killed is no longer `_env`, and `_current` may already be the
        # next runtime's invocation: leave that one alone.
        if self._env is env and invocation is not None:
            invocation.delivered.set()
            invocation.done.set()

    def _run(self, invocation: Invocation) -> Outcome:
        if self._env is None or self._env.exited.is_set():
            self.stop()
            self.start()
        env = self._env
        assert env is not None
        self._current = invocation
        env.handoff.put(invocation)
        init_left = INIT_TIMEOUT_S - (time.monotonic() - env.spawned_at)
        if not invocation.delivered.wait(max(init_left, 0.0) + self.config.timeout_s):
            self.stop()
            return self._fail("Runtime.InitTimeout", "the init phase did not finish in time")
        if not invocation.delivered_at:  # the runtime exited during init; retry init next time
            self.stop()
            if env.init_error is not None:
                return self._fail("Runtime.InitError", "", payload=env.init_error)
            return self._fail("Runtime.ExitError", _exit_reason(env))
        remaining = invocation.delivered_at + self.config.timeout_s - time.monotonic()
        if not invocation.done.wait(max(remaining, 0.0)):
            self.stop()
            self._log(
                f"{datetime.now(UTC).isoformat()} {invocation.request_id} "
                f"Task timed out after {self.config.timeout_s:.2f} seconds"
            )
            return self._finish(invocation, env, "timeout", b"", "Sandbox.Timedout")
        if env.exited.is_set():
            self.stop()  # a crash or out-of-memory kill: the next request is a cold start
        if not invocation.completed:
            payload, error = _error_payload("Runtime.ExitError", _exit_reason(env))
            return self._finish(invocation, env, "error", payload, error)
        status = "success" if invocation.error_type is None else "error"
        return self._finish(invocation, env, status, invocation.result, invocation.error_type)

    def _fail(self, error_type: str, message: str, *, payload: bytes | None = None) -> Outcome:
        """An invocation that never reached the function: its init failed."""
        self._current = None
        self._log(f"INIT_REPORT Status: error\tError Type: {error_type}")
        return Outcome("error", payload or _error_payload(error_type, message)[0], error_type)

    def _finish(
        self,
        invocation: Invocation,
        env: _Environment,
        status: str,
        payload: bytes,
        error_type: str | None,
    ) -> Outcome:
        self._current = None
        duration = (time.monotonic() - invocation.delivered_at) * 1000
        fields = [
            f"REPORT RequestId: {invocation.request_id}",
            f"Duration: {duration:.2f} ms",
            f"Billed Duration: {max(1, int(duration + 0.999))} ms",
            f"Memory Size: {self.config.memory_mb} MB",
            f"Max Memory Used: {env.peak_memory_mb()} MB",
        ]
        if not env.init_reported and env.init_ms is not None:
            fields.append(f"Init Duration: {env.init_ms:.2f} ms")
            env.init_reported = True
        if status != "success":
            fields.append(f"Status: {status}")
            if error_type:
                fields.append(f"Error Type: {error_type}")
        self._log(f"END RequestId: {invocation.request_id}")
        self._log("\t".join(fields))
        return Outcome(status, payload, error_type)


def _exit_reason(env: _Environment) -> str:
    code = env.process.returncode or 0
    how = f"signal {-code}" if code < 0 else f"exit status {code}"
    return f"Runtime exited with error: {how}"


def _error_payload(error_type: str, message: str) -> tuple[bytes, str]:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode(), error_type


# --- HTTP plumbing --------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client and load tests expect
    server_version = "runtime_api"  # no Python version in a Server header
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's algorithm and
        # the peer's delayed ACK add ~40 ms to every response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        # The peer may go away mid-answer: a killed runtime, a client that gave up.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request lines: START/END/REPORT are the log."""

    def read_body(self, limit: int = MAX_PAYLOAD_BYTES) -> bytes | None:
        """The request body (Content-Length or chunked); None when over `limit` bytes."""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks, size = [], 0
            while True:
                length = int(self.rfile.readline().split(b";")[0], 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                size += length
                if size > limit:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        if length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def send(self, response: HttpResponse, *, head_only: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(response.body)

    def send_json(self, status: int, data: object, headers: Sequence[tuple[str, str]] = ()) -> None:
        body = json.dumps(data).encode()
        self.send(HttpResponse(status, [("content-type", "application/json"), *headers], body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, handler: type[_Handler], service: LambdaService) -> None:
        host, _, port = address.rpartition(":")
        self.service = service
        super().__init__((host, int(port)), handler)


class RuntimeApiHandler(_Handler):
    """The endpoints of Lambda's Runtime API that awslambdaric uses."""

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            self.send_json(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        invocation = self.server.service.next_invocation()
        if invocation is None:
            self.close_connection = True  # this runtime was replaced; let it fail
            self.send_json(410, {"errorMessage": "runtime replaced", "errorType": "Gone"})
            return
        config = self.server.service.config
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", config.arn),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),  # awslambdaric crashes without it
        ]
        if invocation.client_context:
            headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
        self.send(
            HttpResponse(200, [("content-type", "application/json"), *headers], invocation.payload)
        )

    def do_POST(self) -> None:
        body = self.read_body(limit=MAX_PAYLOAD_BYTES * 2) or b""
        service = self.server.service
        if self.path == f"{RUNTIME_PREFIX}/init/error":
            service.init_failed(body)
            self.send_json(202, {"status": "OK"})
            return
        match = re.fullmatch(rf"{RUNTIME_PREFIX}/invocation/([^/]+)/(response|error)", self.path)
        if match is None:
            self.send_json(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        request_id, kind = match.groups()
        error_type = None
        if kind == "error":
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled"
        if service.complete(request_id, body, error_type):
            self.send_json(202, {"status": "OK"})
        else:
            self.send_json(
                400,
                {
                    "errorMessage": f"unknown or finished request {request_id}",
                    "errorType": "InvalidRequestID",
                },
            )


class GatewayHandler(_Handler):
    """API Gateway's side: any method, any path, through the `$default` route."""

    def _serve(self) -> None:
        service = self.server.service
        request_id = base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=")[:16]
        body = self.read_body()
        if body is None:
            response = gateway_error(413, "Request Entity Too Large")
        else:
            request = HttpRequest(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            event = http_api_event(request, api_id=_api_id(service.config), request_id=request_id)
            outcome = service.invoke(json.dumps(event).encode())
            response = _gateway_response(outcome)
        response.headers.append(("apigw-requestid", request_id))
        response.headers.append(("date", formatdate(usegmt=True)))
        self.send(response, head_only=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


def _gateway_response(outcome: Outcome) -> HttpResponse:
    if outcome.status == "success":
        return http_api_response(outcome.payload)
    if outcome.status == "throttled":
        return gateway_error(429, "Too Many Requests")
    if outcome.status == "too_large":
        return gateway_error(413, "Request Entity Too Large")
    return gateway_error(500, "Internal Server Error")


def _api_id(config: FunctionConfig) -> str:
    return api_id_for(config.arn)


def api_id_for(arn: str) -> str:
    """A stable 10-character API id for the function `arn`, as API Gateway's look."""
    return uuid.uuid5(uuid.NAMESPACE_URL, arn).hex[:10]


class InvokeHandler(_Handler):
    """Lambda's Invoke API (synchronous, RequestResponse), as `aws lambda invoke` calls it."""

    def do_POST(self) -> None:
        service = self.server.service
        match = INVOKE_PATH.match(self.path.split("?")[0])
        if match is None or unquote(match.group(1)) not in (
            service.config.name,
            service.config.arn,
        ):
            self.send_json(404, {"Type": "User", "message": f"Function not found: {self.path}"})
            return
        body = self.read_body()
        if body is None:
            self.send_json(
                413,
                {
                    "Type": "User",
                    "message": "Request must be smaller than "
                    f"{MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
                },
            )
            return
        context = self.headers.get("X-Amz-Client-Context")
        outcome = service.invoke(body or b"{}", client_context=context)
        if outcome.status == "throttled":
            self.send_json(429, {"Type": "User", "message": "Rate Exceeded."})
            return
        if outcome.status == "too_large":
            self.send_json(413, {"Type": "User", "message": "Request too large"})
            return
        headers = [("X-Amz-Executed-Version", service.config.version)]
        if outcome.status != "success":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        payload = (
            outcome.payload
            or _error_payload(
                outcome.error_type or "Unhandled",
                f"Task timed out after {service.config.timeout_s:.2f} seconds",
            )[0]
        )
        self.send(HttpResponse(200, [("content-type", "application/json"), *headers], payload))


# --- Entry point ----------------------------------------------------------------------------


def serve(service: LambdaService, *, http: str | None, invoke: str | None) -> list[_Server]:
    """Start the servers in background threads; returns them (for shutdown).

    Without `http` the instance has no HTTP API side of its own: a gateway in front of
    several instances (`gateway.py`) invokes it through its Invoke API.
    """
    servers = [_Server(service.config.runtime_api, RuntimeApiHandler, service)]
    if http:
        servers.append(_Server(http, GatewayHandler, service))
    if invoke:
        servers.append(_Server(invoke, InvokeHandler, service))
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    return servers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--http", default="0.0.0.0:8080", help="HTTP API side, HOST:PORT ('' for none)"
    )
    parser.add_argument("--invoke", default="0.0.0.0:9000", help="Invoke API, HOST:PORT")
    parser.add_argument("--timeout", type=float, required=True, help="function timeout, s")
    parser.add_argument("--max-queue", type=int, default=64, help="requests allowed to wait")
    parser.add_argument("command", nargs="+", help="the runtime: python3 -m awslambdaric ...")
    args = parser.parse_args(argv)
    config = FunctionConfig.from_environ(os.environ, timeout_s=args.timeout, command=args.command)

    def log(line: str) -> None:
        print(line, flush=True)

    service = LambdaService(config, max_queue=args.max_queue, log=log)
    serve(service, http=args.http, invoke=args.invoke)
    log(
        f"runtime_api: {config.name} ({config.memory_mb} MB, {config.timeout_s:g} s) "
        f"HTTP API on {args.http or 'none'}, Invoke API on {args.invoke}, Runtime API on "
        f"{config.runtime_api}"
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # `docker stop`, Ctrl-C
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
