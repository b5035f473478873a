"""infra.testing.postgres: the throwaway server behind the `postgres_url` fixture."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from infra.testing.postgres import PostgresUnavailable, create_database, find_bin_dir

pytestmark = pytest.mark.unit


def test_missing_binaries_fail_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SHIPWAYS_PG_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(PostgresUnavailable, match=r"apt-get install -y postgresql"):
        find_bin_dir(debian_root=tmp_path)


def test_newest_debian_version_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SHIPWAYS_PG_BIN", raising=False)
    for version in ("9", "15", "13"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl"):
            (bin_dir / tool).touch()
    assert find_bin_dir(debian_root=tmp_path) == tmp_path / "15" / "bin"


@pytest.mark.postgres
def test_server_is_private_and_real(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://postgres:") and "@127.0.0.1:" in postgres_url
    url = create_database(postgres_url, "helper_check")
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
    wrong = url.replace("postgres:", "postgres:nope", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()
    with pytest.raises(ValueError, match="database name"):
        create_database(postgres_url, "Robert'); DROP TABLE")
