"""Runtime configuration, read once from the environment.

Every deploy target configures the app the same way (environment variables), so a typo
must stop start-up with a message that names the variable and the allowed values instead
of surfacing later as a confusing runtime error. `load_settings` turns pydantic's
validation errors into one `ConfigError` with exactly those messages.

`Settings` is a plain pydantic model fed by `from_environment` (each field's variable, its
name matched without regard to case). pydantic-settings did the same, but importing it and
its sources (dotenv, CLI, cloud providers, ...) added to every Lambda cold start for features
the app does not use: 0.02 s with bytecode, about 0.1 s without, measured on a 2-CPU machine.
"""

from __future__ import annotations

import enum
import importlib.util
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from shipways_app.dbsecret import Credentials, ManagedDatabase


class Target(enum.StrEnum):
    """Where the app runs; reported by /version and used to explain storage trade-offs."""

    VPS = "vps"
    PAAS = "paas"
    K8S = "k8s"
    SERVERLESS = "serverless"
    LOCAL = "local"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"

    @property
    def number(self) -> int:
        return logging.getLevelNamesMapping()[self.value]


class ConfigError(ValueError):
    """The environment holds a value the app cannot run with; the message says how to fix it."""


TRUST_ANY_PROXY = "*"
MIGRATE_HINT = "run `python -m shipways_app migrate`"

_ARN_HINT = "use the ARN of the RDS-managed secret (arn:aws:secretsmanager:...)"
_HINTS: dict[str, str] = {
    "DATABASE_URL": (
        "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME (postgres:// is accepted too) "
        "or sqlite:///PATH, or leave it unset to use SQLite at SHIPWAYS_SQLITE_PATH"
    ),
    "SHIPWAYS_SQLITE_PATH": "use a file path such as ./shipways.db or /tmp/shipways.db",
    "SHIPWAYS_TARGET": "use one of " + ", ".join(t.value for t in Target),
    "SHIPWAYS_GIT_SHA": "use the commit id (1-64 characters from A-Z a-z 0-9 . _ -)",
    "SHIPWAYS_TRUSTED_PROXIES": (
        "use a comma-separated list of IP addresses or CIDR networks "
        "(e.g. 127.0.0.1,10.0.0.0/8), or * to trust every peer"
    ),
    "SHIPWAYS_LOG_LEVEL": "use one of " + ", ".join(level.value for level in LogLevel),
    "SHIPWAYS_MIGRATE_ON_INIT": "use true or false",
    "DATABASE_HOST": "use the database's host name (the stack sets it)",
    "DATABASE_PORT": "use a port number (5432)",
    "DATABASE_AUTH": "use secret (read DATABASE_SECRET_ARN with boto3) or iam (sign an IAM token)",
    "DATABASE_CREDENTIALS": (
        'use the RDS-managed secret\'s JSON ({"username": ..., "password": ...}), as an '
        "Elastic Beanstalk environment secret delivers it"
    ),
    "DATABASE_SECRET_ARN": _ARN_HINT,
}
# Values of these variables are never echoed back: they may carry credentials.
_SECRET_VARS = frozenset({"DATABASE_URL", "DATABASE_CREDENTIALS"})
# Where a managed database's password may come from, named in the errors that need one.
_WAYS_TO_CREDENTIALS = (
    "DATABASE_CREDENTIALS (the RDS secret's JSON, e.g. a Beanstalk environment secret), "
    "DATABASE_SECRET_ARN with DATABASE_AUTH=secret (read with boto3, e.g. on Lambda), "
    "or DATABASE_AUTH=iam"
)
_URL_VAR_FROM_AWS = "DATABASE_URL"  # the variable read from AWS Secrets Manager


class Settings(BaseModel):
    """The app's environment variables (see each field's alias): strings as the environment
    gives them, or values (tests)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    sqlite_path: Path = Field(default=Path("shipways.db"), alias="SHIPWAYS_SQLITE_PATH")
    target: Target = Field(default=Target.LOCAL, alias="SHIPWAYS_TARGET")
    git_sha: str = Field(
        default="unknown", alias="SHIPWAYS_GIT_SHA", pattern=r"^[A-Za-z0-9._-]{1,64}$"
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=("127.0.0.1",), alias="SHIPWAYS_TRUSTED_PROXIES"
    )
    log_level: LogLevel = Field(default=LogLevel.INFO, alias="SHIPWAYS_LOG_LEVEL")
    migrate_on_init: bool = Field(default=False, alias="SHIPWAYS_MIGRATE_ON_INIT")
    # A database whose password the platform keeps (see dbsecret): where it is, not the password.
    database_host: str | None = Field(default=None, alias="DATABASE_HOST", min_length=1)
    database_port: int = Field(default=5432, ge=1, le=65535, alias="DATABASE_PORT")
    database_name: str = Field(default="postgres", alias="DATABASE_NAME", min_length=1)
    database_user: str | None = Field(default=None, alias="DATABASE_USER", min_length=1)
    database_auth: Literal["secret", "iam"] | None = Field(default=None, alias="DATABASE_AUTH")
    database_secret_arn: str | None = Field(
        default=None, alias="DATABASE_SECRET_ARN", pattern=r"^arn:aws[a-z-]*:secretsmanager:"
    )
    database_credentials: Credentials | None = Field(default=None, alias="DATABASE_CREDENTIALS")

    @field_validator("database_credentials", mode="before")
    @classmethod
    def _parse_credentials(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Credentials.from_json(value) if value.strip() else None
        return value

    # Where the write token is (never the token itself): see shipways_app.auth.
    write_token_file: Path | None = Field(default=None, alias="WRITE_TOKEN_FILE")
    write_token_secret_arn: str | None = Field(default=None, alias="WRITE_TOKEN_SECRET_ARN")
    write_token_parameter: str | None = Field(default=None, alias="WRITE_TOKEN_PARAMETER")

    @field_validator(
        "write_token_file", "write_token_secret_arn", "write_token_parameter", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _normalise_database_url(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None  # platforms sometimes export an empty DATABASE_URL: treat as unset
        if not isinstance(raw, str):
            raise ValueError("not a string")
        return SecretStr(normalise_database_url(raw.strip()).render_as_string(hide_password=False))

    @field_validator("sqlite_path", mode="before")
    @classmethod
    def _non_empty_path(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty path")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("target", mode="before")
    @classmethod
    def _lower_target(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        proxies = tuple(item.strip() for item in items if item.strip())
        for item in proxies:
            if item != TRUST_ANY_PROXY:
                ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return proxies

    @model_validator(mode="after")
    def _one_database(self) -> Settings:
        """A managed database needs exactly one way to its password, and one that can work."""
        if self.database_host is None:
            if self.database_credentials is not None:
                raise ValueError(
                    "DATABASE_CREDENTIALS is set without DATABASE_HOST: set DATABASE_HOST, "
                    "DATABASE_PORT and DATABASE_NAME with it, or unset it"
                )
            return self
        if self.database_url is not None:
            raise ValueError("DATABASE_URL and DATABASE_HOST are both set: keep one")
        if self.database_credentials is not None:
            others = [
                name
                for name, value in (
                    ("DATABASE_AUTH", self.database_auth),
                    ("DATABASE_SECRET_ARN", self.database_secret_arn),
                    ("DATABASE_USER", self.database_user),
                )
                if value is not None
            ]
            if others:
                raise ValueError(
                    f"DATABASE_CREDENTIALS is set with {', '.join(others)}: the user and "
                    "password come from the credentials; unset the others"
                )
            return self
        if self.database_auth is None and self.database_secret_arn is None:
            raise ValueError(f"DATABASE_HOST needs its password's source: {_WAYS_TO_CREDENTIALS}")
        if self.database_auth != "iam" and not self.database_secret_arn:
            raise ValueError("DATABASE_SECRET_ARN is required with DATABASE_AUTH=secret")
        if importlib.util.find_spec("boto3") is None:
            raise ValueError(
                "DATABASE_HOST with DATABASE_AUTH=secret or iam reads the password through "
                "boto3, which is not installed: AWS Lambda's Python runtime provides it; "
                "elsewhere hand the credentials over in DATABASE_CREDENTIALS (a Beanstalk "
                "environment secret) or DATABASE_URL"
            )
        return self

    def managed_database(self) -> ManagedDatabase | None:
        """The platform-managed database (DATABASE_HOST and friends), if configured."""
        if self.database_host is None:
            return None
        if self.database_credentials is not None:
            return ManagedDatabase(
                host=self.database_host,
                port=self.database_port,
                name=self.database_name,
                user=self.database_credentials.username,
                auth="credentials",
                credentials=self.database_credentials,
            )
        return ManagedDatabase(
            host=self.database_host,
            port=self.database_port,
            name=self.database_name,
            user=self.database_user or "postgres",
            auth=self.database_auth or "secret",
            secret_arn=self.database_secret_arn,
        )

    def sqlalchemy_url(self) -> URL:
        """The database to use: DATABASE_URL, the managed database (with the delivered
        credentials, or its password supplied at connect time), else the SQLite file at
        SHIPWAYS_SQLITE_PATH."""
        if self.database_url is not None:
            return make_url(self.database_url.get_secret_value())
        managed = self.managed_database()
        if managed is not None:
            return managed.url()
        return URL.create("sqlite+pysqlite", database=str(self.sqlite_path))


def normalise_database_url(raw: str) -> URL:
    """Accept the URL spellings platforms hand out and pin the driver this app ships (psycopg 3).

    Heroku-style `postgres://` and plain `postgresql://` would otherwise make SQLAlchemy look
    for psycopg2, which is not installed.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("not a database URL") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in {"postgres", "postgresql"}:
        if driver not in {"", "psycopg"}:
            raise ValueError(f"driver '{driver}' is not installed: use postgresql:// (psycopg 3)")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in {"", "pysqlite"}:
        return url.set(drivername="sqlite+pysqlite")
    raise ValueError(f"unsupported database '{url.drivername}'")


def load_settings() -> Settings:
    """Read settings from the environment, or raise ConfigError naming every bad variable."""
    try:
        # A secret read from a file or from AWS replaces the variable's (blank) value.
        values = {
            **from_environment(os.environ),
            **secrets_from_files(os.environ),
            **secrets_from_aws(os.environ),
        }
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Each field's variable from `environ`, by its name in any case (DATABASE_URL or
    database_url); where two spellings are set, the upper-case one wins."""
    names = {field.alias for field in Settings.model_fields.values() if field.alias}
    found: dict[str, str] = {}
    for key, value in environ.items():
        name = key.upper()
        if name in names and (key == name or name not in found):
            found[name] = value
    return found


def secrets_from_aws(environ: Mapping[str, str]) -> dict[str, Any]:
    """`DATABASE_URL_SECRET_ARN`: DATABASE_URL read from AWS Secrets Manager, once, at start.

    On Lambda a plain environment variable is shown to anyone who may read the function's
    configuration; the secret is readable only by the function's role. boto3 is part of every
    AWS Lambda Python runtime, so the app does not ship it.
    """
    arn = environ.get(f"{_URL_VAR_FROM_AWS}_SECRET_ARN", "").strip()
    if not arn:
        return {}
    name = f"{_URL_VAR_FROM_AWS}_SECRET_ARN"
    if environ.get(_URL_VAR_FROM_AWS, "").strip() or environ.get(f"{_URL_VAR_FROM_AWS}_FILE"):
        raise ConfigError(f"{name} is set together with {_URL_VAR_FROM_AWS}: set only one of them")
    try:
        import boto3
    except ImportError:
        raise ConfigError(f"{name} needs boto3 (present on AWS Lambda): install it") from None
    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
        return {_URL_VAR_FROM_AWS: str(answer["SecretString"])}
    except Exception as exc:  # botocore's errors: no credentials, denied, not found, network
        raise ConfigError(
            f"{name}={arn}: cannot read the secret ({type(exc).__name__}); the function's "
            "role needs secretsmanager:GetSecretValue on it"
        ) from None


def secrets_from_files(environ: Mapping[str, str]) -> dict[str, Any]:
    """Secrets given as files: `DATABASE_URL_FILE=/path` reads DATABASE_URL from that file.

    Kubernetes mounts its Secrets as files, which, unlike environment variables, are not
    inherited by every child process, shown by `kubectl describe` or dumped in crash reports.
    """
    found: dict[str, Any] = {}
    for name in sorted(_SECRET_VARS):
        path = environ.get(f"{name}_FILE", "").strip()
        if not path:
            continue
        if environ.get(name, "").strip():
            raise ConfigError(f"{name} and {name}_FILE are both set: set only one of them")
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"{name}_FILE={path!r} cannot be read ({exc.strerror}): mount the secret "
                f"there, or unset {name}_FILE"
            ) from None
        if not value:  # an empty secret must not fall back to per-instance SQLite silently
            raise ConfigError(
                f"{name}_FILE={path!r} is empty: put the value in the secret, or unset {name}_FILE"
            )
        found[name] = value
    return found


def load_settings_or_exit() -> Settings:
    """For process entry points: print the ConfigError without a traceback and exit 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        exit_with_config_error(exc)


def exit_with_config_error(exc: ConfigError) -> NoReturn:
    print(f"shipways-app: configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _describe(exc: ValidationError) -> str:
    by_field = {name: field.alias or name for name, field in Settings.model_fields.items()}
    problems: list[str] = []
    for error in exc.errors():
        if not error["loc"]:  # a rule across variables: its message names them (no values)
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        var = str(error["loc"][0])
        var = by_field.get(var, var).upper()
        shown = f"{var} (value hidden)" if var in _SECRET_VARS else f"{var}={error.get('input')!r}"
        # Our own validators explain *what* is wrong; for the rest the hint says it all.
        reason = (
            f" ({error['msg'].removeprefix('Value error, ')})"
            if error["type"] == "value_error"
            else ""
        )
        hint = _HINTS.get(var, "check the value")
        problems.append(f"{shown} is not valid{reason}: {hint}")
    return "; ".join(problems)
