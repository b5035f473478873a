"""The stack key `env`: plain app settings, given to the app as environment variables.

One definition for every target that runs the app as a platform does (Beanstalk environment
properties, a Deployment's ConfigMap, a Lambda function's environment variables). Two kinds
of names are refused, each with a one-line reason:

- names the recipe sets itself (the port, the target's name, the DATABASE_* settings...):
  a value in `env` would silently fight the recipe's. Each target lists its own
  (`reserved_env`), on top of the ones every target sets (`RESERVED_EVERYWHERE`);
- names that look like secrets: every platform stores and shows these values in plain text
  (the Beanstalk and Lambda consoles, a ConfigMap), so a secret goes in as a Pulumi secret
  (`databaseUrl`), never here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, Field, field_validator

# Where the app finds its database: set from the `database` key or the `databaseUrl` secret.
DATABASE_ENV = frozenset(
    {
        "DATABASE_URL",
        "DATABASE_URL_FILE",
        "DATABASE_URL_SECRET_ARN",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        "DATABASE_AUTH",
        "DATABASE_SECRET_ARN",
    }
)
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY")


def reserved(names: Iterable[str], set_by: str) -> dict[str, str]:
    """`names`, each with who sets it instead (said when one is refused)."""
    return dict.fromkeys(names, set_by)


RESERVED_EVERYWHERE = {
    **reserved(DATABASE_ENV, "the recipe, from the `database` key or the `databaseUrl` secret"),
    **reserved(["SHIPWAYS_TARGET"], "the recipe: the target's name, which /version reports"),
    **reserved(["SHIPWAYS_SQLITE_PATH"], "the recipe: where its SQLite fallback lives"),
}


def _plain_name(name: str) -> str:
    if _SECRET_NAME.search(name) and name not in DATABASE_ENV:
        raise ValueError(
            f"{name} looks like a secret, and env values are stored and shown in plain text; "
            "keep secrets out of env (the database URL: `pulumi config set --secret databaseUrl`)"
        )
    return name


EnvName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$"), AfterValidator(_plain_name)]
EnvValue = Annotated[str, Field(max_length=4096)]


class AppSettings(BaseModel):
    """The `env` key, mixed into the config model of each target that takes it."""

    # Names this target's recipe sets itself, with who sets them.
    reserved_env: ClassVar[Mapping[str, str]] = RESERVED_EVERYWHERE

    env: dict[EnvName, EnvValue] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if name in cls.reserved_env:
                raise ValueError(f"{name} is set by {cls.reserved_env[name]}; remove it from env")
        return env
