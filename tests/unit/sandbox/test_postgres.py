"""The PostgreSQL stand-in's pieces that need no Docker: its password and its URL."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from shipways_app.settings import normalise_database_url

from infra.sandbox import postgres
from infra.sandbox.errors import SandboxError

pytestmark = pytest.mark.unit


def test_the_password_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "postgres-password"
    first = postgres.generated_password(path)
    assert len(first) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert postgres.generated_password(path) == first
    assert postgres.generated_password(tmp_path / "other") != first


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "postgres-password"
    postgres.generated_password(path)
    path.chmod(0o644)
    with pytest.raises(SandboxError, match="chmod 600"):
        postgres.generated_password(path)


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "postgres-password"
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(SandboxError, match="empty"):
        postgres.generated_password(path)


def test_the_password_file_lives_in_a_private_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    path = postgres.password_file("shipways-k8s")
    assert path == tmp_path / "sandbox" / "shipways-k8s" / "postgres-password"
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_the_url_is_the_one_the_app_reads() -> None:
    url = postgres.database_url("shipways-k8s", "shipways_k8s", "s3cret_-pw")
    assert url == "postgresql+psycopg://app:s3cret_-pw@shipways-k8s-postgres:5432/shipways_k8s"
    parsed = normalise_database_url(url)  # what the app does with DATABASE_URL(_FILE)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database) == (
        "shipways-k8s-postgres",
        5432,
        "shipways_k8s",
    )
    assert parsed.password == "s3cret_-pw"


def test_a_running_database_never_shows_its_url() -> None:
    database = postgres.Database(
        container="c", network="n", name="db", url=postgres.database_url("i", "db", "pw123")
    )
    assert "pw123" not in repr(database)


class _Flaky:
    """A container whose exec answers come back empty `empty` times, then right."""

    name = "shipways-x-postgres"

    def __init__(self, empty: int) -> None:
        self.empty, self.calls = empty, 0

    def exec_run(self, cmd: list[str]) -> SimpleNamespace:
        self.calls += 1
        output = b"" if self.calls <= self.empty else b"101\n103\n"
        return SimpleNamespace(exit_code=0, output=output)


def test_an_exec_answer_lost_under_load_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres.time, "sleep", lambda _s: None)
    flaky = _Flaky(empty=2)
    assert postgres._server_ids(flaky) == (101, 103)  # type: ignore[arg-type]
    assert flaky.calls == 3
    with pytest.raises(SandboxError, match="could not read the server account's uid/gid"):
        postgres._server_ids(_Flaky(empty=9))  # type: ignore[arg-type]
