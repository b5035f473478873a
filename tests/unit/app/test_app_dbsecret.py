"""A managed database's password: fetched (or signed) per new connection, never configured.

The Secrets Manager answer comes from botocore's own Stubber on a real client, and the IAM
token is signed by boto3 itself with fake credentials: what runs here is what runs on AWS,
only the network round trip is replaced.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from shipways_app.db import create_db_engine
from shipways_app.dbsecret import ManagedDatabase
from shipways_app.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-abc-AbCdEf"
HOST = "shipways-demo.c0abc.eu-west-1.rds.amazonaws.com"


class Refused(Exception):
    """Stops a connection attempt once the parameters are known: no server is needed."""


def _managed_env(app_env: pytest.MonkeyPatch, auth: str = "secret") -> None:
    app_env.setenv("DATABASE_HOST", HOST)
    app_env.setenv("DATABASE_NAME", "shipways")
    app_env.setenv("DATABASE_USER", "shipways")
    app_env.setenv("DATABASE_AUTH", auth)
    if auth == "secret":
        app_env.setenv("DATABASE_SECRET_ARN", SECRET_ARN)


def _stubbed_secrets(passwords: list[str]) -> tuple[Any, Stubber]:
    client = boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    stubber = Stubber(client)
    for password in passwords:
        stubber.add_response(
            "get_secret_value",
            {"SecretString": json.dumps({"username": "shipways", "password": password})},
            {"SecretId": SECRET_ARN},
        )
    stubber.activate()
    return client, stubber


def test_settings_build_a_url_without_any_password(app_env: pytest.MonkeyPatch) -> None:
    _managed_env(app_env)
    settings = load_settings()
    url = settings.sqlalchemy_url()
    assert url.render_as_string(hide_password=False) == (
        f"postgresql+psycopg://shipways@{HOST}:5432/shipways"
    )
    managed = settings.managed_database()
    assert managed is not None and managed.secret_arn == SECRET_ARN


def test_each_new_connection_reads_the_current_secret(app_env: pytest.MonkeyPatch) -> None:
    """Two connections, two reads: a password rotated in between is picked up, no restart."""
    _managed_env(app_env)
    client, stubber = _stubbed_secrets(["first-password", "rotated-password"])
    calls: list[tuple[str, dict[str, Any]]] = []

    def make(service: str, **kwargs: Any) -> Any:
        calls.append((service, kwargs))
        return client

    managed = load_settings().managed_database()
    assert managed is not None
    assert managed.password(make) == "first-password"
    assert managed.password(make) == "rotated-password"
    stubber.assert_no_pending_responses()
    assert calls == [("secretsmanager", {"region_name": "eu-west-1"})] * 2


def test_the_engine_supplies_the_password_over_tls(
    app_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    _managed_env(app_env)
    client, _ = _stubbed_secrets(["from-secrets-manager"])
    monkeypatch.setattr("shipways_app.dbsecret._boto3_client", lambda *_a, **_k: client)
    engine = create_db_engine(load_settings())
    seen: dict[str, Any] = {}

    from sqlalchemy import event

    @event.listens_for(engine, "do_connect")
    def _capture(_d: Any, _r: Any, _a: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise Refused

    with pytest.raises(Refused):
        engine.connect()
    assert seen["password"] == "from-secrets-manager"
    assert seen["sslmode"] == "require"
    assert seen["host"] == HOST and seen["user"] == "shipways"
    assert "from-secrets-manager" not in engine.url.render_as_string(hide_password=False)


def test_iam_auth_signs_a_token_locally(
    app_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 signs the token with the role's credentials; no call leaves the process."""
    _managed_env(app_env, auth="iam")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fake-session")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # Lambda sets it
    managed = load_settings().managed_database()
    assert isinstance(managed, ManagedDatabase) and managed.auth == "iam"
    token = managed.password()
    parts = urlsplit(f"https://{token}")
    query = parse_qs(parts.query)
    assert (parts.hostname, parts.port) == (HOST, 5432)
    assert query["Action"] == ["connect"] and query["DBUser"] == ["shipways"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/eu-west-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Signature"] and query["X-Amz-Expires"] == ["900"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_AUTH": "secret"}, "DATABASE_SECRET_ARN is required with DATABASE_AUTH=secret"),
        (
            {"DATABASE_URL": "postgresql://u:hunter2@db/app", "DATABASE_AUTH": "iam"},
            "DATABASE_URL and DATABASE_HOST are both set: keep one",
        ),
        ({"DATABASE_AUTH": "password"}, "DATABASE_AUTH='password' is not valid"),
    ],
)
def test_inconsistent_settings_are_refused_without_values(
    app_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    app_env.setenv("DATABASE_HOST", HOST)
    for key, value in env.items():
        app_env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_database_url_from_a_mounted_file(app_env: pytest.MonkeyPatch, tmp_path: Any) -> None:
    secret = tmp_path / "DATABASE_URL"
    secret.write_text("postgres://u:p@db:5432/app\n")
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    url = load_settings().sqlalchemy_url()
    assert url.render_as_string(hide_password=False) == "postgresql+psycopg://u:p@db:5432/app"


def test_database_url_file_problems_are_named(app_env: pytest.MonkeyPatch, tmp_path: Any) -> None:
    app_env.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"DATABASE_URL_FILE=.*cannot be read"):
        load_settings()
    app_env.setenv("DATABASE_URL", "postgresql://u:p@db/app")
    with pytest.raises(ConfigError, match="DATABASE_URL and DATABASE_URL_FILE are both set"):
        load_settings()


def test_a_managed_database_without_boto3_is_refused_at_start(
    app_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 is not one of the app's pinned dependencies (Lambda's runtime provides it):
    where it is missing the app stops at start, saying so, not at its first connection."""
    _managed_env(app_env)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="boto3, which is not installed"):
        load_settings()


# --- Credentials delivered by the platform (Elastic Beanstalk environment secrets) ----------

# The RDS-managed secret's JSON as Beanstalk puts it in the variable: the whole SecretString.
DELIVERED = json.dumps({"username": "shipways", "password": "hun:ter2/@%?", "engine": "postgres"})


def _delivered_env(app_env: pytest.MonkeyPatch, credentials: str = DELIVERED) -> None:
    app_env.setenv("DATABASE_HOST", HOST)
    app_env.setenv("DATABASE_PORT", "5432")
    app_env.setenv("DATABASE_NAME", "shipways")
    app_env.setenv("DATABASE_CREDENTIALS", credentials)


def test_delivered_credentials_compose_the_url_with_tls(app_env: pytest.MonkeyPatch) -> None:
    _delivered_env(app_env)
    url = load_settings().sqlalchemy_url()
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        HOST,
        5432,
        "shipways",
    )
    # The password survives every character URLs treat specially, and is hidden when shown.
    assert (url.username, url.password) == ("shipways", "hun:ter2/@%?")
    assert url.query == {"sslmode": "require"}
    assert "hun:ter2" not in str(url) and "hun:ter2" not in repr(load_settings())


def test_delivered_credentials_reach_the_driver_without_boto3(
    app_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beanstalk instances have no boto3: the app neither needs it nor calls AWS."""
    _delivered_env(app_env)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a)
    )

    def no_aws(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("no AWS call with delivered credentials")

    monkeypatch.setattr("shipways_app.dbsecret._boto3_client", no_aws)
    engine = create_db_engine(load_settings())
    seen: dict[str, Any] = {}

    from sqlalchemy import event

    @event.listens_for(engine, "do_connect")
    def _capture(_d: Any, _r: Any, _a: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise Refused

    with pytest.raises(Refused):
        engine.connect()
    assert (seen["host"], seen["port"], seen["dbname"]) == (HOST, 5432, "shipways")
    assert (seen["user"], seen["password"]) == ("shipways", "hun:ter2/@%?")
    assert seen["sslmode"] == "require"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DATABASE_HOST": None},
            "DATABASE_CREDENTIALS is set without DATABASE_HOST: set DATABASE_HOST, DATABASE_PORT "
            "and DATABASE_NAME with it, or unset it",
        ),
        (
            {"DATABASE_AUTH": "secret", "DATABASE_SECRET_ARN": SECRET_ARN},
            "DATABASE_CREDENTIALS is set with DATABASE_AUTH, DATABASE_SECRET_ARN: the user and "
            "password come from the credentials; unset the others",
        ),
        ({"DATABASE_USER": "admin"}, "DATABASE_CREDENTIALS is set with DATABASE_USER"),
        (
            {"DATABASE_CREDENTIALS": "hunter2"},
            "DATABASE_CREDENTIALS (value hidden) is not valid (not JSON)",
        ),
        (
            {"DATABASE_CREDENTIALS": '{"username": "shipways", "pass": "hunter2"}'},
            "DATABASE_CREDENTIALS (value hidden) is not valid (no password in the secret's JSON)",
        ),
        (
            {"DATABASE_CREDENTIALS": '["hunter2"]'},
            "DATABASE_CREDENTIALS (value hidden) is not valid (not a JSON object)",
        ),
        (
            {"DATABASE_CREDENTIALS": None},
            "DATABASE_HOST needs its password's source: DATABASE_CREDENTIALS",
        ),
    ],
)
def test_credentials_that_cannot_work_are_refused_in_one_line(
    app_env: pytest.MonkeyPatch, env: dict[str, str | None], message: str
) -> None:
    _delivered_env(app_env, json.dumps({"username": "shipways", "password": "hunter2"}))
    for key, value in env.items():
        if value is None:
            app_env.delenv(key)
        else:
            app_env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    said = str(caught.value)
    assert message in said
    assert "hunter2" not in said and "\n" not in said
