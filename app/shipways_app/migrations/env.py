"""Alembic environment: runs on the connection (and transaction) shipways_app.migrate opened.

Run from the alembic CLI (to write a new revision), it connects using the app's settings.
It compares against the Core tables' metadata (the ORM model maps that same metadata), so
migrating - which a Lambda instance on SQLite in /tmp does at init - never loads the ORM.
"""

from __future__ import annotations

from alembic import context
from shipways_app.tables import metadata
from sqlalchemy import Connection


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():  # joins the caller's transaction when there is one
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
