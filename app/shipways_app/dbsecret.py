"""Passwords for a database the platform manages, fetched when a connection opens.

On AWS the stacks create PostgreSQL on RDS with `manage_master_user_password`: RDS keeps the
password in Secrets Manager and rotates it. The deploy hands the app where the database is
(DATABASE_HOST, DATABASE_PORT, DATABASE_NAME) and one way to the credentials, never a
password in plain configuration:

- `credentials`: the platform fetched the RDS-managed secret itself and hands over its JSON
  (`{"username": ..., "password": ...}`) in DATABASE_CREDENTIALS. Elastic Beanstalk does this
  with an environment secret: its configuration holds only the secret's ARN, the value is
  read by the instance role at instance start. No AWS SDK is needed in the app.
- `secret`: read the RDS-managed secret (DATABASE_SECRET_ARN) with boto3 (AWS Lambda's
  runtime provides it), through the function's VPC endpoint;
- `iam`: sign an IAM authentication token locally (RDS Proxy accepts it; no network call).

The last two happen in SQLAlchemy's `do_connect` hook, i.e. once per new connection (once
per instance on Lambda), so a rotated password is used by the next connection without a
restart, and the password never sits in the environment, the URL, a log line or /version.
Every way requires TLS: the token and the password cross the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL

Auth = Literal["credentials", "secret", "iam"]
TLS = {"sslmode": "require"}


@dataclass(frozen=True)
class Credentials:
    """The RDS-managed secret's JSON as a platform delivers it (username and password)."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def from_json(cls, text: str) -> Credentials:
        """Parse the secret's JSON; the ValueError never quotes the value."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        fields = {key: data.get(key) for key in ("username", "password")}
        missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
        if missing:
            raise ValueError(f"no {' and no '.join(missing)} in the secret's JSON")
        return cls(str(fields["username"]), str(fields["password"]))


@dataclass(frozen=True)
class ManagedDatabase:
    """Where the database is and how to get its password."""

    host: str
    port: int
    name: str
    user: str
    auth: Auth
    secret_arn: str | None = None
    credentials: Credentials | None = None

    @property
    def password_at_connect(self) -> bool:
        """Whether each new connection fetches (or signs) its password."""
        return self.auth != "credentials"

    def url(self) -> URL:
        """With delivered credentials, the whole URL (TLS required); otherwise the URL without
        a password, which `password()` supplies at connect time."""
        if self.credentials is not None:
            return URL.create(
                "postgresql+psycopg",
                username=self.credentials.username,
                password=self.credentials.password,
                host=self.host,
                port=self.port,
                database=self.name,
                query=TLS,
            )
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            host=self.host,
            port=self.port,
            database=self.name,
        )

    def password(self, client: Callable[..., Any] | None = None) -> str:
        """A fresh password: the secret's current value, or a token valid for 15 minutes."""
        make = client or _boto3_client
        if self.credentials is not None:
            return self.credentials.password
        if self.auth == "iam":
            rds = make("rds")
            token: str = rds.generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.user
            )
            return token
        if self.secret_arn is None:  # Settings requires it with DATABASE_AUTH=secret
            raise ValueError("DATABASE_SECRET_ARN is required with DATABASE_AUTH=secret")
        region = self.secret_arn.split(":")[3]
        answer = make("secretsmanager", region_name=region).get_secret_value(
            SecretId=self.secret_arn
        )
        password: str = json.loads(answer["SecretString"])["password"]
        return password


def _boto3_client(service: str, **kwargs: Any) -> Any:
    # Not one of the app's pinned dependencies: AWS Lambda's Python runtime provides it (and
    # Settings refuses a managed database where it is missing). Imported only when a managed
    # database is configured: it takes ~0.2 s.
    import boto3

    return boto3.client(service, **kwargs)


def supply_password(
    engine: Engine, database: ManagedDatabase, client: Callable[..., Any] | None = None
) -> None:
    """Give every new connection of `engine` a fresh password, over TLS."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = database.password(client)
        cparams.update(TLS)
