"""Migrations (explicit, idempotent), readiness and database failure handling on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from shipways_app.db import create_db_engine, describe_storage
from shipways_app.migrate import head_revision, upgrade
from shipways_app.models import Base, Product
from shipways_app.settings import Target, load_settings
from sqlalchemy import func, select, text

pytestmark = pytest.mark.unit

MakeClient = Callable[..., TestClient]
MIGRATE = [sys.executable, "-m", "shipways_app", "migrate"]


def test_upgrade_is_idempotent_and_seeds_once(app_env: pytest.MonkeyPatch) -> None:
    engine = create_db_engine(load_settings())
    first, second = upgrade(engine), upgrade(engine)
    assert (first.before, first.after, first.changed) == (None, head_revision(), True)
    assert (second.before, second.after, second.changed) == (
        head_revision(),
        head_revision(),
        False,
    )
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Product)) == 3
    engine.dispose()


def test_models_match_the_migrations(client: TestClient) -> None:
    """Autogenerate finds nothing to do: the ORM and the migration describe one schema."""
    with client.app.state.db.engine.connect() as conn:  # type: ignore[attr-defined]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_migrate_cli_creates_the_database_and_is_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "dir" / "app.db"
    env = {"PATH": "/usr/bin:/bin", "SHIPWAYS_SQLITE_PATH": str(database)}
    runs = [
        subprocess.run(MIGRATE, env=env, capture_output=True, text=True, timeout=60) for _ in "12"
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    results = [json.loads(r.stdout.strip().splitlines()[-1]) for r in runs]
    assert results[0] == {"ok": True, "before": None, "after": "0001", "changed": True}
    assert results[1] == {"ok": True, "before": "0001", "after": "0001", "changed": False}
    assert database.is_file()


def test_migrate_cli_unreachable_database_fails_clearly() -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://app:Sup3rSecret@127.0.0.1:9/db"}
    run = subprocess.run(MIGRATE, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.startswith("shipways-app: migration failed: OperationalError")
    assert "Sup3rSecret" not in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_migrate_cli_usage() -> None:
    run = subprocess.run(MIGRATE[:-1], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "migrate" in run.stderr


GENERIC_NOT_READY = {"status": "unavailable", "checks": {"database": "unavailable"}}


def test_unmigrated_database_is_not_ready(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(migrate=False)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == GENERIC_NOT_READY
    products = client.get("/products")
    assert products.status_code == 503
    assert products.json() == {"detail": "Database unavailable"}
    assert client.get("/healthz").status_code == 200, "liveness ignores the database"
    log = capsys.readouterr().out
    assert "schema not migrated: run `python -m shipways_app migrate`" in log, "the operator's hint"


def test_schema_behind_the_app_is_not_ready(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with client.app.state.db.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    assert client.get("/readyz").json() == GENERIC_NOT_READY
    detail = "schema at revision 0000, app expects 0001: run `python -m shipways_app migrate`"
    assert any(r.__dict__["fields"] == {"database": detail} for r in caplog.records)


def test_unreachable_database_fails_fast_without_leaking_the_password(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(migrate=False, DATABASE_URL="postgres://app:Sup3rSecret@127.0.0.1:9/db")
    started = time.monotonic()
    ready = client.get("/readyz")
    products = client.get("/products")
    assert time.monotonic() - started < 10
    assert ready.status_code == 503 and products.status_code == 503
    # Regression: the driver's message (host, address, role) went to anonymous clients.
    assert ready.json() == GENERIC_NOT_READY
    assert products.json() == {"detail": "Database unavailable"}
    assert "127.0.0.1" not in ready.text + products.text
    log = capsys.readouterr().out
    assert "OperationalError: connection failed" in log, "the detail goes to the log"
    assert "Sup3rSecret" not in ready.text + products.text + log
    assert client.get("/version").json()["storage"]["engine"] == "postgresql"


def test_storage_notes(app_env: pytest.MonkeyPatch) -> None:
    sqlite = create_db_engine(load_settings())
    app_env.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:9/db")
    postgres = create_db_engine(load_settings())
    assert describe_storage(postgres, Target.SERVERLESS).persistent is True
    assert describe_storage(sqlite, Target.VPS).persistent is True
    lambda_sqlite = describe_storage(sqlite, Target.SERVERLESS)
    assert lambda_sqlite.persistent is False and "DATABASE_URL" in lambda_sqlite.note
    pod_sqlite = describe_storage(sqlite, Target.K8S)
    assert pod_sqlite.persistent is False and "per-pod" in pod_sqlite.note
    assert describe_storage(sqlite, Target.PAAS).persistent is True
