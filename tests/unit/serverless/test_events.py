"""AWS's published example events, straight into the app's Lambda handler (no HTTP, no harness).

The handler must serve every event shape a Lambda web function meets: API Gateway HTTP API
payload 2.0 (what the stack wires up), payload 1.0 / REST API proxy events, and function URL
events. Each published example is sent as is, then re-routed to real endpoints of the app.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from infra.targets.serverless.runtime_api import http_api_response

pytestmark = pytest.mark.unit

EVENTS_DIR = Path(__file__).parent / "events"
EXAMPLES = ("http-api-v2", "http-api-v1", "rest-api", "function-url")
WRITE_TOKEN = "events-test-write-token-0123456789"
CONTEXT = SimpleNamespace(
    aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    function_name="shipways-test",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:shipways-test",
    get_remaining_time_in_millis=lambda: 10_000,
)


def example(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return event


@pytest.fixture(scope="module")
def lambda_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A fresh import of `shipways_app.lambda_handler`, configured as the stack configures it."""
    name = "shipways_app.lambda_handler"
    database = tmp_path_factory.mktemp("lambda-tmp") / "shipways.db"
    previous = sys.modules.pop(name, None)
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("SHIPWAYS_") or k == "DATABASE_URL"]:
            patch.delenv(key)
        token_file = database.parent / "write-token"
        token_file.write_text(WRITE_TOKEN)
        patch.setenv("WRITE_TOKEN_FILE", str(token_file))
        patch.setenv("SHIPWAYS_TARGET", "serverless")
        patch.setenv("SHIPWAYS_SQLITE_PATH", str(database))
        patch.setenv("SHIPWAYS_MIGRATE_ON_INIT", "1")
        module = importlib.import_module(name)
        yield module
    sys.modules.pop(name, None)
    if previous is not None:
        sys.modules[name] = previous


def invoke(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, CONTEXT)
    return result


def with_token(event: dict[str, Any]) -> dict[str, Any]:
    """The event with the deployment's bearer token, in every header map the shape has."""
    event = copy.deepcopy(event)
    event["headers"]["authorization"] = f"Bearer {WRITE_TOKEN}"
    if "multiValueHeaders" in event:
        event["multiValueHeaders"]["authorization"] = [f"Bearer {WRITE_TOKEN}"]
    return event


def routed(
    event: dict[str, Any],
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    encode: bool = False,
) -> dict[str, Any]:
    """The published example, re-addressed to `method path?query` with an optional JSON body."""
    event = copy.deepcopy(event)
    query = query or {}
    if event.get("version") == "2.0":
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        event["queryStringParameters"] = query or None
    else:
        event["path"] = event["requestContext"]["path"] = path
        event["httpMethod"] = event["requestContext"]["httpMethod"] = method
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if body is not None:
        event = with_token(event)
        event["headers"]["content-type"] = "application/json"
        if "multiValueHeaders" in event:
            event["multiValueHeaders"]["content-type"] = ["application/json"]
        event["body"] = base64.b64encode(body).decode() if encode else body.decode()
        event["isBase64Encoded"] = encode
    else:
        event["body"] = None
        event["isBase64Encoded"] = False
    return event


def body_of(result: dict[str, Any]) -> Any:
    raw = result["body"]
    return json.loads(base64.b64decode(raw) if result.get("isBase64Encoded") else raw)


@pytest.mark.parametrize("name", EXAMPLES)
def test_published_example_as_is_gets_the_apps_json_404(
    lambda_module: ModuleType, name: str
) -> None:
    event = with_token(example(name))  # some examples are POSTs: writes need the token
    result = invoke(lambda_module, event)
    # /my/path (and REST's "/") are not routes of the app: its own 404, not a handler crash.
    assert result["statusCode"] == 404
    assert body_of(result) == {"detail": "Not Found"}
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", EXAMPLES)
def test_version_through_every_event_shape(lambda_module: ModuleType, name: str) -> None:
    result = invoke(lambda_module, routed(example(name), "GET", "/version"))
    assert result["statusCode"] == 200
    info = body_of(result)
    assert info["target"] == "serverless"
    assert info["storage"] == {
        "engine": "sqlite",
        "persistent": False,
        "note": info["storage"]["note"],
    }
    assert "lost" in info["storage"]["note"]


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("encode", [False, True], ids=["text-body", "base64-body"])
def test_create_then_read_a_product(lambda_module: ModuleType, name: str, encode: bool) -> None:
    event = example(name)
    product = {"name": f"lamp-{name}-{encode}", "price": 12.5}
    created = invoke(
        lambda_module,
        routed(event, "POST", "/products", body=json.dumps(product).encode(), encode=encode),
    )
    assert created["statusCode"] == 201, created
    new = body_of(created)
    assert new["name"] == product["name"]
    fetched = invoke(lambda_module, routed(event, "GET", f"/products/{new['id']}"))
    assert fetched["statusCode"] == 200
    assert body_of(fetched) == new


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_write_without_the_token_is_refused(lambda_module: ModuleType, name: str) -> None:
    event = routed(example(name), "POST", "/products", body=b'{"name": "x", "price": 1}')
    for headers in (event["headers"], event.get("multiValueHeaders") or {}):
        headers.pop("authorization", None)
    result = invoke(lambda_module, event)
    assert result["statusCode"] == 401
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert headers["www-authenticate"] == 'Bearer realm="shipways"'


@pytest.mark.parametrize("name", EXAMPLES)
def test_query_string_reaches_the_app(lambda_module: ModuleType, name: str) -> None:
    event = routed(example(name), "GET", "/products", query={"limit": "1", "offset": "1"})
    page = body_of(invoke(lambda_module, event))
    assert len(page["products"]) == 1
    assert page["products"][0]["id"] == 2  # the second of the three seeded products


def test_v2_result_becomes_the_http_response_api_gateway_sends(lambda_module: ModuleType) -> None:
    result = invoke(lambda_module, routed(example("http-api-v2"), "GET", "/healthz"))
    response = http_api_response(json.dumps(result).encode())
    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok"}
    assert ("content-type", "application/json") in response.headers


def test_migrate_event_is_the_release_step(lambda_module: ModuleType) -> None:
    result = invoke(lambda_module, {"shipways": "migrate"})
    assert result["ok"] is True
    assert result["command"] == "migrate"
    assert result["changed"] is False  # SHIPWAYS_MIGRATE_ON_INIT already migrated at init
    with pytest.raises(ValueError, match="unknown shipways command 'drop'"):
        invoke(lambda_module, {"shipways": "drop"})


def test_init_ran_once_for_all_these_invocations(lambda_module: ModuleType) -> None:
    for _ in range(3):
        invoke(lambda_module, routed(example("http-api-v2"), "GET", "/healthz"))
    assert lambda_module.init_count == 1
