"""The same app on a real PostgreSQL server: migrations, exact prices, constraints, locking."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from shipways_app.migrate import upgrade
from shipways_app.settings import normalise_database_url
from sqlalchemy import create_engine, text

from infra.testing.postgres import create_database

pytestmark = [pytest.mark.unit, pytest.mark.postgres]

MakeClient = Callable[..., TestClient]
_counter = itertools.count()


@pytest.fixture
def fresh_db(postgres_url: str) -> str:
    """An empty database per test (the server is shared by the session)."""
    return create_database(postgres_url, f"app_unit_{next(_counter)}")


def test_postgres_app_end_to_end(make_client: MakeClient, fresh_db: str) -> None:
    client = make_client(DATABASE_URL=fresh_db)
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok"}}
    assert client.get("/products").json()["total"] == 3
    created = client.post("/products", json={"name": "Keyboard", "price": 1_000_000})
    assert created.status_code == 201 and created.json()["id"] == 4, "sequence starts after seed"
    assert client.post("/products", json={"name": "Keyboard", "price": 1}).status_code == 409
    # PostgreSQL cannot store NUL in text: validation stops it before it becomes a 500.
    assert client.post("/products", json={"name": "a\x00b", "price": 1}).status_code == 422
    assert client.get("/products/4").json()["price"] == 1000000
    assert client.get(f"/products/{2**31 - 1}").status_code == 404
    assert client.get("/products", params={"offset": 2**31 - 1}).json() == {
        "products": [],
        "total": 4,
    }
    storage = client.get("/version").json()["storage"]
    assert storage["engine"] == "postgresql" and storage["persistent"] is True


def test_postgres_prices_are_numeric_10_2(fresh_db: str) -> None:
    engine = create_engine(normalise_database_url(fresh_db))
    upgrade(engine)
    with engine.connect() as conn:
        column_type = conn.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'products'::regclass AND attname = 'price'"
            )
        )
        assert column_type == "numeric(10,2)"
        assert conn.scalar(text("SELECT price FROM products WHERE id = 1")) == Decimal("999.99")
    engine.dispose()


def test_concurrent_migrations_serialise(fresh_db: str) -> None:
    """Two release jobs at once: the advisory lock makes one wait; both end at head."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": fresh_db}
    command = [sys.executable, "-m", "shipways_app", "migrate"]
    jobs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in "12"]
    outputs = [job.communicate(timeout=60)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0]
    changed = sorted(json.loads(out.strip().splitlines()[-1])["changed"] for out in outputs)
    assert changed == [False, True]
    engine = create_engine(normalise_database_url(fresh_db))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM products")) == 3
    engine.dispose()


def test_postgres_wrong_password_is_a_generic_503_and_a_clear_log(
    make_client: MakeClient, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = fresh_db.replace("postgres:", "postgres:x", 1).replace("@", "WRONGpw@", 1)
    client = make_client(migrate=False, DATABASE_URL=wrong)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
    log = capsys.readouterr().out
    assert "password authentication failed" in log and "password" not in ready.text
    assert "WRONGpw" not in ready.text + log


def _drop_app_connections(database_url: str) -> int:
    """Terminate every server process serving the app (what a restart or failover does)."""
    admin = create_engine(normalise_database_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed: int = conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'shipways-app' AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    return killed


def test_reads_survive_connections_the_server_dropped(
    make_client: MakeClient, fresh_db: str
) -> None:
    """Reads have no pre-ping: a pooled connection killed server-side (restart, failover)
    costs no failed request, because reads retry once on a fresh connection."""
    client = make_client(DATABASE_URL=fresh_db)
    assert client.get("/products").status_code == 200  # leaves a connection in the pool
    assert _drop_app_connections(fresh_db) >= 1
    assert client.get("/products").json()["total"] == 3
    assert client.get("/products/1").json()["name"] == "Laptop"
    assert client.get("/readyz").status_code == 200


def test_a_write_after_the_server_dropped_its_connections_succeeds(
    make_client: MakeClient, fresh_db: str
) -> None:
    """A write cannot be retried blindly, so the writes' pool pings on checkout: a connection
    the server dropped is replaced before the INSERT, never answered with a 503."""
    client = make_client(DATABASE_URL=fresh_db)
    assert client.post("/products", json={"name": "Pen", "price": 1}).status_code == 201
    assert client.get("/products").status_code == 200  # both pools now hold a connection
    assert _drop_app_connections(fresh_db) >= 2
    created = client.post("/products", json={"name": "Pencil", "price": 2})
    assert created.status_code == 201, created.text
    assert client.get("/products").json()["total"] == 5


def _app_connection_states(database_url: str) -> list[str]:
    """The state of each connection the app holds to this database."""
    admin = create_engine(normalise_database_url(database_url))
    with admin.connect() as conn:
        states = conn.scalars(
            text(
                "SELECT state FROM pg_stat_activity WHERE application_name = 'shipways-app' "
                "AND datname = current_database()"
            )
        ).all()
    admin.dispose()
    return list(states)


def test_reads_share_one_connection_in_autocommit(make_client: MakeClient, fresh_db: str) -> None:
    """A server's reads run on one async connection, in autocommit: however many reads it
    serves, it opens that one connection, and leaves no transaction open between requests."""
    client = make_client(DATABASE_URL=fresh_db)
    before = len(_app_connection_states(fresh_db))  # the writes' pool (it ran the migration)
    for product_id in (1, 2, 3, 99):
        assert client.get("/products", params={"limit": 2}).json()["total"] == 3
        assert client.get(f"/products/{product_id}").status_code in (200, 404)
    states = _app_connection_states(fresh_db)
    assert len(states) == before + 1
    assert set(states) == {"idle"}, "not 'idle in transaction'"


def test_reads_of_an_unmigrated_database_are_a_generic_503(
    make_client: MakeClient, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(migrate=False, DATABASE_URL=fresh_db)
    for path in ("/products", "/products/1"):
        answer = client.get(path)
        assert answer.status_code == 503 and answer.json() == {"detail": "Database unavailable"}
    log = capsys.readouterr().out
    assert 'UndefinedTable: relation \\"products\\" does not exist' in log, "the detail is logged"
    assert "schema not migrated" in log
