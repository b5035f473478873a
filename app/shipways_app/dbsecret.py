"""Passwords for a database the platform manages, fetched when a connection opens.

On AWS the stacks create PostgreSQL on RDS with `manage_master_user_password`: RDS keeps the
password in Secrets Manager and rotates it. The deploy hands the app where the database is
(DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER) and how to authenticate
(DATABASE_AUTH), never the password:

- `secret`: read the RDS-managed secret (DATABASE_SECRET_ARN, JSON with `password`);
- `iam`: sign an IAM authentication token locally (RDS Proxy accepts it; no network call).

Both happen in SQLAlchemy's `do_connect` hook, i.e. once per new connection (once per
instance on Lambda, a few per worker elsewhere), so a rotated password is used by the next
connection without a restart, and the password never sits in the environment, the URL, a
log line or /version. Either way TLS is required: the token and the password cross the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL

Auth = Literal["secret", "iam"]


@dataclass(frozen=True)
class ManagedDatabase:
    """Where the database is and how to get its password (never the password itself)."""

    host: str
    port: int
    name: str
    user: str
    auth: Auth
    secret_arn: str | None = None

    def url(self) -> URL:
        """The URL without a password: `password()` supplies it at connect time."""
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
        cparams.setdefault("sslmode", "require")
