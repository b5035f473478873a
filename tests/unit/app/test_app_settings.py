"""Settings: defaults, normalisation, and start-up refusing bad values with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from shipways_app.app import create_app
from shipways_app.settings import ConfigError, LogLevel, Target, from_environment, load_settings

pytestmark = pytest.mark.unit

TARGET_MESSAGE = "SHIPWAYS_TARGET='vpss' is not valid: use one of vps, paas, k8s, serverless, local"


def test_defaults(app_env: pytest.MonkeyPatch) -> None:
    app_env.delenv("SHIPWAYS_SQLITE_PATH")
    settings = load_settings()
    assert settings.database_url is None
    assert settings.sqlite_path == Path("shipways.db")
    assert settings.target is Target.LOCAL and settings.git_sha == "unknown"
    assert settings.trusted_proxies == ("127.0.0.1",)
    assert settings.log_level is LogLevel.INFO and settings.migrate_on_init is False
    assert settings.sqlalchemy_url().render_as_string() == "sqlite+pysqlite:///shipways.db"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+psycopg://u:p@db:5432/app"),
        (
            "postgresql://u:p@db/app?sslmode=require",
            "postgresql+psycopg://u:p@db/app?sslmode=require",
        ),
        ("postgresql+psycopg://u:p@db/app", "postgresql+psycopg://u:p@db/app"),
        ("sqlite:////tmp/x.db", "sqlite+pysqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_normalised(app_env: pytest.MonkeyPatch, raw: str, normalised: str) -> None:
    app_env.setenv("DATABASE_URL", raw)
    url = load_settings().sqlalchemy_url()
    assert url.render_as_string(hide_password=False) == normalised


def test_empty_database_url_means_sqlite(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("DATABASE_URL", "  ")
    assert load_settings().sqlalchemy_url().get_backend_name() == "sqlite"


def test_database_url_is_secret(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("DATABASE_URL", "postgresql://u:TopSecret@db/app")
    settings = load_settings()
    assert "TopSecret" not in repr(settings) and "TopSecret" not in str(settings)


def test_case_and_whitespace_are_forgiven(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("SHIPWAYS_TARGET", " K8s ")
    app_env.setenv("SHIPWAYS_LOG_LEVEL", "debug")
    app_env.setenv("SHIPWAYS_TRUSTED_PROXIES", " 10.0.0.0/8 , 127.0.0.1,,")
    app_env.setenv("SHIPWAYS_MIGRATE_ON_INIT", "TRUE")
    settings = load_settings()
    assert settings.target is Target.K8S and settings.log_level is LogLevel.DEBUG
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.migrate_on_init is True


def test_variable_names_match_in_any_case(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("shipways_target", "vps")
    app_env.setenv("Shipways_Log_Level", "debug")
    app_env.setenv("SHIPWAYS_GIT_SHA", "upper")
    app_env.setenv("shipways_git_sha", "lower")  # both spellings: the upper-case one wins
    settings = load_settings()
    assert settings.target is Target.VPS and settings.log_level is LogLevel.DEBUG
    assert settings.git_sha == "upper"
    assert from_environment({"shipways_git_sha": "a", "UNRELATED": "x"}) == {
        "SHIPWAYS_GIT_SHA": "a"
    }


def test_a_secret_file_replaces_a_blank_variable(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql://u:p@db/app\n")
    app_env.setenv("DATABASE_URL", "")  # platforms export it empty
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    url = load_settings().sqlalchemy_url()
    assert url.render_as_string(hide_password=False) == "postgresql+psycopg://u:p@db/app"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHIPWAYS_TARGET", "vpss", TARGET_MESSAGE),
        (
            "SHIPWAYS_LOG_LEVEL",
            "loud",
            "SHIPWAYS_LOG_LEVEL='LOUD' is not valid: use one of DEBUG, INFO, WARNING, ERROR",
        ),
        (
            "SHIPWAYS_MIGRATE_ON_INIT",
            "perhaps",
            "SHIPWAYS_MIGRATE_ON_INIT='perhaps' is not valid: use true or false",
        ),
        (
            "SHIPWAYS_TRUSTED_PROXIES",
            "127.0.0.1,nginx",
            "SHIPWAYS_TRUSTED_PROXIES='127.0.0.1,nginx' is not valid ('nginx' does not appear "
            "to be an IPv4 or IPv6 network): use a comma-separated list",
        ),
        (
            "SHIPWAYS_GIT_SHA",
            "abc def",
            "SHIPWAYS_GIT_SHA='abc def' is not valid: use the commit id",
        ),
        ("SHIPWAYS_SQLITE_PATH", " ", "SHIPWAYS_SQLITE_PATH=' ' is not valid (empty path)"),
        (
            "DATABASE_URL",
            "mysql://root:pw@db/app",
            "DATABASE_URL (value hidden) is not valid (unsupported database 'mysql'): use "
            "postgresql://",
        ),
        (
            "DATABASE_URL",
            "postgresql+psycopg2://u:pw@db/app",
            "driver 'psycopg2' is not installed: use postgresql:// (psycopg 3)",
        ),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(
    app_env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    app_env.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "pw@" not in str(caught.value), "database URLs are never echoed"


def test_every_bad_variable_is_reported_at_once(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("SHIPWAYS_TARGET", "vpss")
    app_env.setenv("SHIPWAYS_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SHIPWAYS_TARGET" in str(caught.value) and "SHIPWAYS_LOG_LEVEL" in str(caught.value)


def test_create_app_refuses_bad_settings(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("SHIPWAYS_TARGET", "vpss")
    with pytest.raises(ConfigError, match="use one of vps, paas, k8s, serverless, local"):
        create_app()


def _bad_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPWAYS_")}
    env.pop("DATABASE_URL", None)
    return {**env, "SHIPWAYS_TARGET": "vpss"}


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import shipways_app.main"],
        [sys.executable, "-m", "uvicorn", "shipways_app.main:app", "--port", "1"],
        [sys.executable, "-m", "gunicorn", "-c", "python:shipways_app.gunicorn_conf"],
        [sys.executable, "-m", "shipways_app", "migrate"],
    ],
    ids=["import", "uvicorn", "gunicorn", "migrate"],
)
def test_processes_stop_with_the_message_and_no_traceback(command: list[str]) -> None:
    run = subprocess.run(command, env=_bad_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert f"shipways-app: configuration error: {TARGET_MESSAGE}" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_database_url_is_read_from_the_file_database_url_file_names(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "DATABASE_URL"
    secret.write_text("postgres://u:file-pw@db:5432/app\n")
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql+psycopg://u:file-pw@db:5432/app"


def test_database_url_file_errors_name_the_variable_never_the_value(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_env.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"DATABASE_URL_FILE=.*missing.* cannot be read"):
        load_settings()
    secret = tmp_path / "DATABASE_URL"
    secret.write_text("mysql://u:file-pw@db/app")
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    with pytest.raises(ConfigError, match=r"DATABASE_URL \(value hidden\)") as bad:
        load_settings()
    assert "file-pw" not in str(bad.value)
    app_env.setenv("DATABASE_URL", "postgresql://u:p@db/app")
    with pytest.raises(ConfigError, match="DATABASE_URL and DATABASE_URL_FILE are both set"):
        load_settings()


class _SecretsManager:
    """What boto3's Secrets Manager client answers, for one secret."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.asked: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.asked.append(SecretId)
        if SecretId not in self.secrets:
            raise LookupError("ResourceNotFoundException")
        return {"ARN": SecretId, "SecretString": self.secrets[SecretId]}


ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipways-demo/database-url-AbCdEf"


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> _SecretsManager:
    client = _SecretsManager({ARN: "postgres://u:aws-pw@db:5432/app"})
    fake = types.ModuleType("boto3")
    fake.client = lambda service: client if service == "secretsmanager" else None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "boto3", fake)
    return client


def test_database_url_is_read_from_secrets_manager_at_start(
    app_env: pytest.MonkeyPatch, secrets_manager: _SecretsManager
) -> None:
    app_env.setenv("DATABASE_URL_SECRET_ARN", ARN)
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql+psycopg://u:aws-pw@db:5432/app"
    assert secrets_manager.asked == [ARN]


def test_an_unreadable_secret_names_the_variable_and_the_fix(
    app_env: pytest.MonkeyPatch, secrets_manager: _SecretsManager
) -> None:
    app_env.setenv("DATABASE_URL_SECRET_ARN", ARN + "-gone")
    with pytest.raises(
        ConfigError,
        match=r"DATABASE_URL_SECRET_ARN=.*-gone: cannot read .*"
        r"secretsmanager:GetSecretValue",
    ):
        load_settings()
    app_env.setenv("DATABASE_URL_SECRET_ARN", ARN)
    app_env.setenv("DATABASE_URL", "postgresql://u:p@db/app")
    with pytest.raises(ConfigError, match="set together with DATABASE_URL"):
        load_settings()


def test_database_url_file_is_read_like_a_mounted_secret(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "DATABASE_URL"
    secret.write_text("postgres://u:TopSecret@db:5432/app\n")
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    settings = load_settings()
    url = settings.sqlalchemy_url().render_as_string(hide_password=False)
    assert url == "postgresql+psycopg://u:TopSecret@db:5432/app"
    assert "TopSecret" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "also_env", "message"),
    [
        (None, False, "DATABASE_URL_FILE='"),
        (None, False, "cannot be read"),
        ("  \n", False, "is empty"),
        ("mysql://u:pw@db/app", False, "unsupported database"),
        ("postgresql://u:pw@db/app", True, "DATABASE_URL and DATABASE_URL_FILE are both set"),
    ],
)
def test_a_bad_database_url_file_is_refused_without_echoing_it(
    app_env: pytest.MonkeyPatch,
    tmp_path: Path,
    content: str | None,
    also_env: bool,
    message: str,
) -> None:
    secret = tmp_path / "DATABASE_URL"
    if content is not None:
        secret.write_text(content)
    app_env.setenv("DATABASE_URL_FILE", str(secret))
    if also_env:
        app_env.setenv("DATABASE_URL", "postgresql://u:pw@other/app")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "DATABASE_URL_FILE" in str(caught.value) or "(value hidden)" in str(caught.value)
    assert message in str(caught.value)
    assert "pw@" not in str(caught.value)
