"""Alembic environment: runs on the connection (and transaction) shipways_app.migrate opened.

Run from the alembic CLI (to write a new revision), it connects using the app's settings.
"""

from __future__ import annotations

from alembic import context
from shipways_app.models import Base
from sqlalchemy import Connection


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
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
