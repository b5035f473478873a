"""The Lambda handler with real API Gateway HTTP API (payload v2.0) events."""

from __future__ import annotations

import base64
import importlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from shipways_app.settings import ConfigError

pytestmark = pytest.mark.unit

MODULE = "shipways_app.lambda_handler"


def http_api_event(
    method: str, path: str, *, query: str = "", body: str | None = None, headers: dict | None = None
) -> dict[str, Any]:
    """An event as API Gateway HTTP API sends it (payload format 2.0)."""
    all_headers = {
        "accept": "*/*",
        "content-length": str(len(body or "")),
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-674a1b2c-3d4e5f6a7b8c9d0e1f2a3b4c",
        "x-forwarded-for": "198.51.100.23",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.23",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "LgLpnibOjoEEPHg=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:21:00:00 +0000",
            "timeEpoch": 1795640400000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LambdaContext:
    function_name = "shipways-app"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:shipways-app"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture
def load_handler(app_env: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import the handler module afresh (= a new Lambda container) with the given env."""
    loaded: list[ModuleType] = []

    def load(**variables: str) -> ModuleType:
        for name, value in variables.items():
            app_env.setenv(name, value)
        sys.modules.pop(MODULE, None)
        module = importlib.import_module(MODULE)
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        module.runtime.engine.dispose()
    sys.modules.pop(MODULE, None)


def _body(response: dict[str, Any]) -> Any:
    raw = response["body"]
    return json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw)


def test_init_once_then_reuse_across_invocations(load_handler: Any) -> None:
    handler = load_handler(SHIPWAYS_TARGET="serverless", SHIPWAYS_MIGRATE_ON_INIT="true")
    engine, app = handler.runtime.engine, handler.runtime.app
    first = handler.handler(http_api_event("GET", "/products/1"), LambdaContext())
    second = handler.handler(
        http_api_event("GET", "/products", query="limit=2&offset=1"), LambdaContext()
    )
    assert handler.init_count == 1
    assert handler.runtime.engine is engine and handler.runtime.app is app
    assert first["statusCode"] == 200
    assert _body(first) == {"id": 1, "name": "Laptop", "price": 999.99}
    assert [p["id"] for p in _body(second)["products"]] == [2, 3]


def test_responses_carry_security_headers_and_hsts(load_handler: Any) -> None:
    handler = load_handler(SHIPWAYS_MIGRATE_ON_INIT="true")
    response = handler.handler(
        http_api_event("GET", "/nowhere", headers={"x-request-id": "apigw-1"}), LambdaContext()
    )
    headers = response["headers"]
    assert response["statusCode"] == 404
    assert headers["x-frame-options"] == "DENY" and headers["x-request-id"] == "apigw-1"
    assert headers["strict-transport-security"] == "max-age=31536000"  # API Gateway is https


def test_post_through_api_gateway(load_handler: Any, write_token: str) -> None:
    handler = load_handler(SHIPWAYS_MIGRATE_ON_INIT="true")
    body = json.dumps({"name": "Lambda mug", "price": 12.34})
    headers = {"content-type": "application/json", "authorization": f"Bearer {write_token}"}
    anonymous = http_api_event(
        "POST", "/products", body=body, headers={"content-type": "application/json"}
    )
    assert handler.handler(anonymous, LambdaContext())["statusCode"] == 401
    event = http_api_event("POST", "/products", body=body, headers=headers)
    response = handler.handler(event, LambdaContext())
    assert response["statusCode"] == 201 and response["headers"]["location"] == "/products/4"
    too_big = "x" * (64 * 1024 + 1)
    event = http_api_event("POST", "/products", body=too_big, headers=headers)
    assert handler.handler(event, LambdaContext())["statusCode"] == 413


def test_version_reports_ephemeral_sqlite(load_handler: Any) -> None:
    handler = load_handler(SHIPWAYS_TARGET="serverless")
    version = _body(handler.handler(http_api_event("GET", "/version"), LambdaContext()))
    assert version["target"] == "serverless"
    assert version["storage"]["persistent"] is False


def test_migrate_event_is_the_release_step(load_handler: Any) -> None:
    handler = load_handler(SHIPWAYS_TARGET="serverless")
    assert handler.handler(http_api_event("GET", "/readyz"), LambdaContext())["statusCode"] == 503
    first = handler.handler({"shipways": "migrate"}, LambdaContext())
    assert first == {
        "ok": True,
        "command": "migrate",
        "before": None,
        "after": "0001",
        "changed": True,
    }
    assert handler.handler(http_api_event("GET", "/readyz"), LambdaContext())["statusCode"] == 200
    again = handler.handler({"shipways": "migrate"}, LambdaContext())
    assert again["changed"] is False and again["ok"] is True
    assert handler.init_count == 1


def test_unknown_command_is_refused(load_handler: Any) -> None:
    handler = load_handler()
    with pytest.raises(ValueError, match="unknown shipways command 'drop': use one of migrate"):
        handler.handler({"shipways": "drop"}, LambdaContext())


def test_migrate_event_fails_loudly_when_the_database_is_down(load_handler: Any) -> None:
    handler = load_handler(DATABASE_URL="postgresql://u:pw@127.0.0.1:9/db")
    with pytest.raises(Exception, match="connection failed"):
        handler.handler({"shipways": "migrate"}, LambdaContext())


def test_bad_configuration_fails_the_init(load_handler: Any) -> None:
    with pytest.raises(ConfigError, match="SHIPWAYS_TARGET='cloud' is not valid"):
        load_handler(SHIPWAYS_TARGET="cloud")


def test_runtime_log_handler_is_replaced_by_json(
    load_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime_handler = logging.StreamHandler(sys.stderr)  # what the Lambda runtime pre-installs
    logging.getLogger().addHandler(runtime_handler)
    handler = load_handler(SHIPWAYS_MIGRATE_ON_INIT="true")
    assert runtime_handler not in logging.getLogger().handlers
    capsys.readouterr()
    handler.handler(http_api_event("GET", "/hello"), LambdaContext())
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["logger"] for line in lines] == ["shipways_app.access"]
    assert lines[0]["client"] == "198.51.100.23" and err == ""


# What the init imports beyond serving needs: the migration tooling, the ORM, the PostgreSQL
# driver and dialect, pydantic-settings and its sources, the AWS SDK. Checked in a fresh
# interpreter (this one has imported them all).
HEAVY = (
    "alembic",
    "mako",
    "sqlalchemy.orm",
    "psycopg",
    "sqlalchemy.dialects.postgresql",
    "pydantic_settings",
    "dotenv",
    "boto3",
)
_PROBE = (
    "import json, sys, shipways_app.lambda_handler; "
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
)


def _heavy_modules_at_init(tmp_path: Path, **variables: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "SHIPWAYS_SQLITE_PATH": str(tmp_path / "init.db")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, []),
        (
            {"DATABASE_URL": "postgresql://app:pw@127.0.0.1:1/app"},
            ["psycopg", "sqlalchemy.dialects.postgresql"],  # the driver and its dialect
        ),
        (
            {"SHIPWAYS_MIGRATE_ON_INIT": "true"},  # Alembic and its imports; not the ORM
            ["alembic", "mako", "sqlalchemy.dialects.postgresql"],
        ),
    ],
    ids=["sqlite", "postgresql", "sqlite-migrated-at-init"],
)
def test_init_imports_only_what_serving_needs(
    tmp_path: Path, variables: dict[str, str], expected: list[str]
) -> None:
    assert _heavy_modules_at_init(tmp_path, **variables) == expected
