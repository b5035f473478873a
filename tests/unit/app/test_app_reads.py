"""Which reader serves the product reads, per database and target (see shipways_app.reads)."""

from __future__ import annotations

import pytest
from shipways_app.db import create_db_engine
from shipways_app.pgreads import AsyncPostgresReader
from shipways_app.reads import InlineReader, reader_for
from shipways_app.settings import load_settings

pytestmark = pytest.mark.unit

POSTGRES = "postgresql://app:pw@127.0.0.1:9/db"  # never connected to: engines connect lazily


def test_sqlite_reads_inline_on_the_apps_engine(app_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    engine = create_db_engine(settings)
    reader = reader_for(engine, settings)
    assert isinstance(reader, InlineReader) and reader.engine is engine


@pytest.mark.parametrize("target", ["local", "vps", "paas", "k8s"])
def test_postgres_servers_read_on_an_async_connection(
    app_env: pytest.MonkeyPatch, target: str
) -> None:
    app_env.setenv("DATABASE_URL", POSTGRES)
    app_env.setenv("SHIPWAYS_TARGET", target)
    settings = load_settings()
    assert isinstance(reader_for(create_db_engine(settings), settings), AsyncPostgresReader)


def test_lambda_reads_on_its_one_pooled_connection(app_env: pytest.MonkeyPatch) -> None:
    """An instance keeps one connection (what reservedConcurrency and max_connections are
    sized on): reads share the writes' pool, in autocommit, rather than opening their own."""
    app_env.setenv("DATABASE_URL", POSTGRES)
    app_env.setenv("SHIPWAYS_TARGET", "serverless")
    settings = load_settings()
    engine = create_db_engine(settings)
    reader = reader_for(engine, settings)
    assert isinstance(reader, InlineReader)
    assert reader.engine.pool is engine.pool
    assert reader.engine.get_execution_options()["isolation_level"] == "AUTOCOMMIT"
