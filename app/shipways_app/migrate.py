"""Alembic, driven from code: no alembic.ini to ship or to point at the right database.

Migrations run only through an explicit release step (`python -m shipways_app migrate`, the
Lambda `{"shipways": "migrate"}` event, or SHIPWAYS_MIGRATE_ON_INIT for throwaway SQLite),
never implicitly on a request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from shipways_app.db import schema_revision, sqlite_file

SCRIPT_LOCATION = "shipways_app:migrations"
# Arbitrary, fixed key: concurrent `migrate` runs (e.g. two release jobs) queue up on it.
_PG_LOCK_KEY = 0x5A1F_5A1F


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only possible if the package was shipped without its versions/
        raise RuntimeError("shipways_app.migrations has no revisions")
    return head


def upgrade(engine: Engine) -> MigrationResult:
    """Bring the schema to head. Idempotent; concurrent runs on PostgreSQL serialise on a lock.

    One transaction holds the lock, reads the starting revision and runs Alembic, so
    `before` is what this run actually found - not what another, concurrent run left behind.
    """
    db_file = sqlite_file(engine)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = schema_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = schema_revision(connection)
    return MigrationResult(before=before, after=after)
