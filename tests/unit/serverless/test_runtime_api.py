"""The local Lambda harness: API Gateway's conversions and the Lambda service's behaviour.

Conversions are checked against AWS's published payload 2.0 example. The service is driven
through its real HTTP servers on 127.0.0.1, with a tiny stand-in runtime (a script speaking
the Runtime API with urllib) whose behaviour each event chooses: answer, fail, sleep past
the timeout, or die. One test runs AWS's own `awslambdaric` against the harness.
"""

from __future__ import annotations

import base64
import json
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.sandbox.containers import free_port
from infra.targets.serverless.runtime_api import (
    FunctionConfig,
    HttpRequest,
    LambdaService,
    _Server,
    http_api_event,
    http_api_response,
    serve,
)

pytestmark = pytest.mark.unit

EVENTS_DIR = Path(__file__).parent / "events"

FAKE_RUNTIME = textwrap.dedent(
    """
    import json, os, sys, time, urllib.request

    base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(path, data, headers=None):
        request = urllib.request.Request(base + path, json.dumps(data).encode(), headers or {})
        http.open(request).read()

    if sys.argv[1] == "init-error":
        post("/init/error", {"errorMessage": "cannot import", "errorType": "ImportError"})
        sys.exit(1)
    while True:
        with http.open(base + "/invocation/next") as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            event = json.loads(response.read())
        request_id = headers["lambda-runtime-aws-request-id"]
        if isinstance(event, dict) and event.get("version") == "2.0":  # through the HTTP API
            event = dict(event, **json.loads(event.get("body") or "{}"))
        action = event.get("action") if isinstance(event, dict) else None
        if action == "sleep":
            time.sleep(event["seconds"])
        if action == "exit":
            os._exit(3)
        if action == "fail":
            post(f"/invocation/{request_id}/error",
                 {"errorMessage": "boom", "errorType": "RuntimeError"},
                 {"Lambda-Runtime-Function-Error-Type": "RuntimeError"})
            continue
        result = event.get("respond") if isinstance(event, dict) else None
        post(f"/invocation/{request_id}/response",
             result if result is not None else {"event": event, "headers": headers})
    """
)


class Harness:
    """A LambdaService and its servers on free loopback ports, with its log lines kept."""

    def __init__(
        self, command: list[str], *, timeout_s: float = 2.0, max_queue: int = 4, task_root: Path
    ) -> None:
        self.lines: list[str] = []
        self.config = FunctionConfig(
            name="shipways-test",
            region="eu-west-1",
            memory_mb=256,
            timeout_s=timeout_s,
            runtime_api=f"127.0.0.1:{free_port()}",
            command=tuple(command),
            task_root=str(task_root),
        )
        self.service = LambdaService(self.config, max_queue=max_queue, log=self.lines.append)
        http, invoke = free_port(), free_port()
        self.servers: list[_Server] = serve(
            self.service, http=f"127.0.0.1:{http}", invoke=f"127.0.0.1:{invoke}"
        )
        self.url = f"http://127.0.0.1:{http}"
        self.invoke_url = (
            f"http://127.0.0.1:{invoke}/2015-03-31/functions/{self.config.name}/invocations"
        )

    def invoke(self, payload: Any) -> httpx.Response:
        return httpx.post(self.invoke_url, content=json.dumps(payload), timeout=30, trust_env=False)

    def reports(self) -> list[str]:
        return [line for line in self.lines if line.startswith("REPORT")]

    def close(self) -> None:
        self.service.stop()
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def runtime_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The Lambda variables a runtime reads (the harness passes its environment down)."""
    for key in ("AWS_LAMBDA_RUNTIME_API", "http_proxy", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def fake(tmp_path: Path, runtime_env: pytest.MonkeyPatch) -> Iterator[Harness]:
    script = tmp_path / "fake_runtime.py"
    script.write_text(FAKE_RUNTIME)
    harness = Harness([sys.executable, str(script), "serve"], timeout_s=1.0, task_root=tmp_path)
    runtime_env.setenv("AWS_LAMBDA_RUNTIME_API", harness.config.runtime_api)
    yield harness
    harness.close()


# --- API Gateway conversions ---------------------------------------------------------------


def test_event_has_the_shape_of_awss_published_v2_example() -> None:
    published = json.loads((EVENTS_DIR / "http-api-v2.json").read_text())
    request = HttpRequest(
        "POST",
        "/my/path?parameter1=value1&parameter1=value2&parameter2=value",
        [
            ("Host", "id.execute-api.us-east-1.amazonaws.com"),
            ("Header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("Cookie", "cookie1; cookie2"),
            ("User-Agent", "agent"),
            ("Content-Type", "text/plain"),
        ],
        b"Hello from Lambda",
        "192.0.2.1",
    )
    event = http_api_event(request, api_id="id", request_id="id")
    # Fields only an authorizer, mTLS, path parameters or stage variables would add are absent.
    optional = {"pathParameters", "stageVariables"}
    assert set(event) == set(published) - optional
    assert set(event["requestContext"]) == set(published["requestContext"]) - {
        "authentication",
        "authorizer",
    }
    assert set(event["requestContext"]["http"]) == set(published["requestContext"]["http"])
    for key in ("version", "routeKey", "rawPath", "rawQueryString", "cookies", "body"):
        assert event[key] == published[key], key
    assert event["queryStringParameters"] == published["queryStringParameters"]
    assert event["headers"]["header1"] == "value1"
    assert event["headers"]["header2"] == published["headers"]["header2"]
    assert "cookie" not in event["headers"]
    assert event["requestContext"]["http"] == published["requestContext"]["http"]
    assert event["requestContext"]["domainPrefix"] == "id"
    assert event["requestContext"]["stage"] == "$default"
    assert event["isBase64Encoded"] is False


def test_binary_body_is_base64_and_root_path_is_kept() -> None:
    request = HttpRequest("PUT", "/", [("content-type", "image/png")], b"\x89PNG\x00", "10.0.0.1")
    event = http_api_event(request, api_id="a", request_id="r")
    assert event["rawPath"] == "/"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert "queryStringParameters" not in event
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1"


def test_structured_result_becomes_status_headers_cookies_and_body() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "X-One": "1"},
        "cookies": ["a=1; Secure", "b=2"],
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }
    response = http_api_response(json.dumps(result).encode())
    assert response.status == 201
    assert ("content-type", "text/plain") in response.headers
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1; Secure", "b=2"]
    assert response.body == b"\x00\x01"


def test_result_without_status_code_is_a_json_200() -> None:
    payload = json.dumps({"hello": "world"}).encode()
    response = http_api_response(payload)
    assert (response.status, response.body) == (200, payload)
    assert response.headers == [("content-type", "application/json")]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"statusCode": "200"}',
        b'{"statusCode": 700}',
        b'{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}',
    ],
)
def test_malformed_result_is_api_gateways_500(payload: bytes) -> None:
    response = http_api_response(payload)
    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}


# --- The Lambda service --------------------------------------------------------------------


def test_runtime_gets_every_header_lambda_sends(fake: Harness) -> None:
    before_ms = time.time() * 1000
    answer = httpx.post(
        fake.invoke_url,
        content=b'{"x": 1}',
        headers={"X-Amz-Client-Context": "eyJjdXN0b20iOnt9fQ=="},
        timeout=30,
        trust_env=False,
    )
    assert answer.status_code == 200
    assert answer.headers["x-amz-executed-version"] == "$LATEST"
    seen = answer.json()
    assert seen["event"] == {"x": 1}
    headers = seen["headers"]
    assert headers["lambda-runtime-invoked-function-arn"] == (
        "arn:aws:lambda:eu-west-1:000000000000:function:shipways-test"
    )
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert headers["lambda-runtime-client-context"] == "eyJjdXN0b20iOnt9fQ=="
    deadline = int(headers["lambda-runtime-deadline-ms"])
    assert before_ms < deadline <= time.time() * 1000 + fake.config.timeout_s * 1000
    assert len(headers["lambda-runtime-aws-request-id"]) == 36


def test_http_request_round_trip_and_cold_start_only_once(fake: Harness) -> None:
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=30) as client:
        first = client.get("/any/path?a=1&a=2", headers={"cookie": "c=1"})
        second = client.post("/", json={"respond": {"statusCode": 204, "body": ""}})
    assert first.status_code == 200
    event = first.json()["event"]
    assert event["rawPath"] == "/any/path"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["cookies"] == ["c=1"]
    assert event["routeKey"] == "$default"
    assert first.headers["apigw-requestid"]
    assert "python" not in first.headers.get("server", "").lower()
    assert second.status_code == 204
    reports = fake.reports()
    assert len(reports) == 2
    assert "Init Duration:" in reports[0]
    assert "Init Duration:" not in reports[1]
    assert "Memory Size: 256 MB" in reports[0]
    assert any(line.startswith("START RequestId:") for line in fake.lines)


def test_function_error_is_a_500_and_an_unhandled_invoke(fake: Harness) -> None:
    via_api = httpx.post(fake.url, json={"action": "fail"}, trust_env=False, timeout=30)
    assert via_api.status_code == 500
    assert via_api.json() == {"message": "Internal Server Error"}
    direct = fake.invoke({"action": "fail"})
    assert direct.headers["x-amz-function-error"] == "Unhandled"
    assert direct.json() == {"errorMessage": "boom", "errorType": "RuntimeError"}


def test_timeout_kills_the_runtime_and_the_next_request_is_cold(fake: Harness) -> None:
    timed_out = fake.invoke({"action": "sleep", "seconds": 5})
    assert timed_out.headers["x-amz-function-error"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in timed_out.json()["errorMessage"]
    assert any("Task timed out after 1.00 seconds" in line for line in fake.lines)
    assert "Status: timeout" in fake.reports()[-1]
    assert fake.invoke({"respond": {"ok": True}}).json() == {"ok": True}
    assert "Init Duration:" in fake.reports()[-1]  # a fresh runtime: a cold start


def test_runtime_crash_is_reported_and_recovered(fake: Harness) -> None:
    crashed = fake.invoke({"action": "exit"})
    assert crashed.json()["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.json()["errorMessage"]
    assert fake.invoke({"respond": 42}).json() == 42


def test_init_error_fails_the_invocation_with_the_runtimes_error(
    tmp_path: Path, runtime_env: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_runtime.py"
    script.write_text(FAKE_RUNTIME)
    harness = Harness([sys.executable, str(script), "init-error"], task_root=tmp_path)
    runtime_env.setenv("AWS_LAMBDA_RUNTIME_API", harness.config.runtime_api)
    try:
        answer = harness.invoke({})
        assert answer.headers["x-amz-function-error"] == "Unhandled"
        assert answer.json() == {"errorMessage": "cannot import", "errorType": "ImportError"}
        via_api = httpx.get(harness.url, trust_env=False, timeout=30)
        assert via_api.status_code == 500
        assert any(line.startswith("INIT_REPORT") for line in harness.lines)
    finally:
        harness.close()


def test_one_invocation_at_a_time_and_a_bounded_queue(
    tmp_path: Path, runtime_env: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_runtime.py"
    script.write_text(FAKE_RUNTIME)
    harness = Harness([sys.executable, str(script), "serve"], max_queue=0, task_root=tmp_path)
    runtime_env.setenv("AWS_LAMBDA_RUNTIME_API", harness.config.runtime_api)
    try:
        assert harness.invoke({"respond": 1}).json() == 1  # warm it up
        slow = threading.Thread(target=harness.invoke, args=({"action": "sleep", "seconds": 1},))
        slow.start()
        time.sleep(0.3)
        throttled = httpx.get(harness.url, trust_env=False, timeout=30)
        slow.join(timeout=10)
        assert throttled.status_code == 429
        assert throttled.json() == {"message": "Too Many Requests"}
    finally:
        harness.close()


def test_payload_over_6_mb_is_refused(fake: Harness) -> None:
    big = httpx.post(fake.url, content=b"x" * (6 * 1024 * 1024 + 1), trust_env=False, timeout=30)
    assert big.status_code == 413
    assert big.json() == {"message": "Request Entity Too Large"}


def test_invoke_api_knows_only_this_function(fake: Harness) -> None:
    other = fake.invoke_url.replace("shipways-test", "someone-else")
    assert httpx.post(other, content=b"{}", trust_env=False, timeout=30).status_code == 404


def test_awss_runtime_client_runs_against_the_harness(
    tmp_path: Path, runtime_env: pytest.MonkeyPatch
) -> None:
    """awslambdaric itself (it crashes on a missing trace id header, among others)."""
    (tmp_path / "handler_mod.py").write_text(
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'headers': {'content-type': 'application/json'},\n"
        '            \'body\': \'{"fn": "%s", "path": "%s"}\' % (context.function_name,\n'
        "                                                      event['rawPath'])}\n"
    )
    harness = Harness(
        [sys.executable, "-m", "awslambdaric", "handler_mod.handler"], task_root=tmp_path
    )
    runtime_env.setenv("AWS_LAMBDA_RUNTIME_API", harness.config.runtime_api)
    runtime_env.setenv("AWS_LAMBDA_FUNCTION_NAME", "shipways-test")
    runtime_env.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    runtime_env.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    try:
        for path in ("/", "/a/b"):
            response = httpx.get(harness.url + path, trust_env=False, timeout=30)
            assert response.status_code == 200
            assert response.json() == {"fn": "shipways-test", "path": path}
        assert len(harness.reports()) == 2
    finally:
        harness.close()
