"""Alembic environment: runs on the connection handed over by shipways_app.migrate.

Run from the alembic CLI (to write a new revision), it connects using the app's settings.
"""

from __future__ import annotations

from alembic import context
from shipways_app.models import Base
from sqlalchemy import Connection, text

# Arbitrary, fixed key: concurrent `migrate` runs (e.g. two release jobs) queue up on it.
_PG_MIGRATION_LOCK = 0x5A1F_5A1F


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from shipways_app.db import create_db_engine
    from shipways_app.settings import load_settings

    engine = create_db_engine(load_settings())
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


_main()
