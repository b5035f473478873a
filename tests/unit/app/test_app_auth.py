"""Writes need the deployment's bearer token; reads stay public; the token comes only from a
file, systemd's credentials directory, Secrets Manager or SSM - never an env var's value."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shipways_app.auth import load_write_token
from shipways_app.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit

MakeClient = Callable[..., TestClient]
PRODUCT = {"name": "Token lamp", "price": 9.5}
REALM = 'Bearer realm="shipways"'


def test_anonymous_write_is_401_with_a_bearer_challenge(make_client: MakeClient) -> None:
    anonymous = make_client(authorized=False)
    response = anonymous.post("/products", json=PRODUCT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response.headers["x-frame-options"] == "DENY", "401s carry the security headers"
    assert anonymous.get("/products").json()["total"] == 3, "nothing was written"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token-0123456789", "Bearer unit-test-write-token-012345678", "Bearer  x"],
)
def test_wrong_token_is_401_invalid_token(make_client: MakeClient, authorization: str) -> None:
    anonymous = make_client(authorized=False)
    response = anonymous.post("/products", json=PRODUCT, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'{REALM}, error="invalid_token"'
    assert response.json() == {"detail": "invalid token"}


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token"])
def test_other_schemes_count_as_missing(make_client: MakeClient, authorization: str) -> None:
    anonymous = make_client(authorized=False)
    response = anonymous.post("/products", json=PRODUCT, headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["www-authenticate"] == REALM


def test_right_token_writes(make_client: MakeClient, write_token: str) -> None:
    anonymous = make_client(authorized=False)
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {write_token}"}
        name = f"{PRODUCT['name']} {scheme}"
        response = anonymous.post("/products", json={**PRODUCT, "name": name}, headers=headers)
        assert response.status_code == 201, response.text


def test_anonymous_writes_are_refused_before_the_body_is_read(make_client: MakeClient) -> None:
    """Oversized, non-JSON and unroutable writes all get the same 401: nothing is parsed."""
    anonymous = make_client(authorized=False)
    big = anonymous.post(
        "/products", content=b"x" * (70 * 1024), headers={"Content-Type": "application/json"}
    )
    text = anonymous.post("/products", content=b"{}", headers={"Content-Type": "text/plain"})
    elsewhere = anonymous.delete("/products/1")
    assert [r.status_code for r in (big, text, elsewhere)] == [401, 401, 401]


def test_reads_need_no_token(make_client: MakeClient) -> None:
    anonymous = make_client(authorized=False)
    for path in ("/healthz", "/readyz", "/hello", "/products", "/products/1", "/version"):
        assert anonymous.get(path).status_code == 200, path
    assert anonymous.head("/healthz").status_code in {200, 405}
    assert anonymous.options("/products").status_code != 401


def test_no_token_configured_disables_writes(
    make_client: MakeClient, app_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The safe default: an app without its secret serves reads and refuses every write."""
    app_env.delenv("WRITE_TOKEN_FILE")
    client = make_client()  # sends a token, but there is none to match
    response = client.post("/products", json=PRODUCT)
    assert response.status_code == 503
    assert response.json() == {"detail": "writes disabled: no write token configured"}
    assert client.get("/products").status_code == 200
    assert "writes disabled: no write token configured" in capsys.readouterr().out


def test_openapi_documents_the_bearer_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    post = schema["paths"]["/products"]["post"]
    assert post["security"] == [{"bearerAuth": []}] and "401" in post["responses"]
    assert "security" not in schema["paths"]["/products"]["get"]


# --- where the token comes from -------------------------------------------------------------


def test_token_from_the_systemd_credentials_directory(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "write-token").write_text("systemd-credential-token-0123\n")
    app_env.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_write_token(load_settings()) == "systemd-credential-token-0123"


def test_no_source_means_no_token(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    (tmp_path / "credentials").mkdir()
    app_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))  # none in it
    assert load_write_token(load_settings()) is None


def test_token_from_beanstalk_environment_secrets_leaves_the_environment(
    app_env: pytest.MonkeyPatch,
) -> None:
    """Elastic Beanstalk resolves the `environmentsecrets` ARN into WRITE_TOKEN: read once,
    then gone from os.environ, so no process the app starts inherits it."""
    app_env.delenv("WRITE_TOKEN_FILE")
    app_env.setenv("WRITE_TOKEN", "beanstalk-secret-token-0123456789")
    assert load_write_token(load_settings()) == "beanstalk-secret-token-0123456789"
    assert "WRITE_TOKEN" not in os.environ


def test_platform_secret_and_a_token_file_together_are_refused(
    app_env: pytest.MonkeyPatch,
) -> None:
    app_env.setenv("WRITE_TOKEN", "beanstalk-secret-token-0123456789")
    with pytest.raises(ConfigError, match="both set") as info:
        load_write_token(load_settings())
    assert "beanstalk-secret-token" not in str(info.value)


def test_a_short_platform_secret_stops_start_up(app_env: pytest.MonkeyPatch) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    app_env.setenv("WRITE_TOKEN", "short")
    with pytest.raises(ConfigError, match="not a usable write token") as info:
        load_write_token(load_settings())
    assert "short" not in str(info.value).split("(value hidden)")[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot be read"), ("", "not a usable"), ("short", "not a usable"),
     ("two words-0123456789", "not a usable")],
)  # fmt: skip
def test_bad_token_file_stops_start_up(
    app_env: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "bad-token"
    if content is not None:
        path.write_text(content)
    app_env.setenv("WRITE_TOKEN_FILE", str(path))
    with pytest.raises(ConfigError, match=f"WRITE_TOKEN_FILE='{path}'.*{problem}") as info:
        load_write_token(load_settings())
    if content:
        assert content not in str(info.value), "the token's value is never echoed"


class _FakeAws:
    """boto3's client surface the app uses, recording what it was asked."""

    def __init__(self, values: dict[str, str], fail: bool = False) -> None:
        self.values, self.fail, self.asked = values, fail, []

    def client(self, service: str) -> Any:
        fake = self

        class Client:
            def get_secret_value(self, SecretId: str) -> dict[str, str]:
                fake.asked.append((service, SecretId))
                if fake.fail:
                    raise PermissionError("AccessDeniedException")
                return {"SecretString": fake.values[SecretId]}

            def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:
                fake.asked.append((service, Name, WithDecryption))
                return {"Parameter": {"Value": fake.values[Name]}}

        return Client()


def _with_boto3(monkeypatch: pytest.MonkeyPatch, fake: _FakeAws) -> None:
    module = types.ModuleType("boto3")
    module.client = fake.client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "boto3", module)


def test_token_from_secrets_manager_and_ssm(app_env: pytest.MonkeyPatch) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shipways-write-token-AbCdEf"
    fake = _FakeAws(
        {arn: "from-secrets-manager-0123456", "/shipways/write-token": "ssm-0123456789abcdef"}
    )
    _with_boto3(app_env, fake)
    app_env.setenv("WRITE_TOKEN_SECRET_ARN", arn)
    assert load_write_token(load_settings()) == "from-secrets-manager-0123456"
    app_env.delenv("WRITE_TOKEN_SECRET_ARN")
    app_env.setenv("WRITE_TOKEN_PARAMETER", "/shipways/write-token")
    assert load_write_token(load_settings()) == "ssm-0123456789abcdef"
    assert fake.asked == [("secretsmanager", arn), ("ssm", "/shipways/write-token", True)]


def test_unreadable_secret_stops_start_up_clearly(app_env: pytest.MonkeyPatch) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    _with_boto3(app_env, _FakeAws({}, fail=True))
    app_env.setenv("WRITE_TOKEN_SECRET_ARN", "shipways-write-token")
    with pytest.raises(ConfigError, match=r"cannot be read from secretsmanager.*role may read it"):
        load_write_token(load_settings())


def test_without_boto3_the_secret_source_names_the_alternative(
    app_env: pytest.MonkeyPatch,
) -> None:
    app_env.delenv("WRITE_TOKEN_FILE")
    app_env.setitem(sys.modules, "boto3", None)  # import fails, as outside the Lambda runtime
    app_env.setenv("WRITE_TOKEN_PARAMETER", "/shipways/write-token")
    with pytest.raises(ConfigError, match=r"needs boto3.*use WRITE_TOKEN_FILE"):
        load_write_token(load_settings())
