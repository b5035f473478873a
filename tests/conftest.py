"""Shared fixtures. `postgres_url`: a real, throwaway PostgreSQL server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.testing.postgres import PostgresUnavailable, running_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty database on a private server; fails (never skips) if it can't start."""
    try:
        with running_postgres() as server:
            yield server.create_database("shipways_test")
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL for the `postgres` tests: {exc}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _private_results_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Figures measured by tests (often on a loaded machine) never reach `shipways compare`."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SHIPWAYS_RESULTS", str(tmp_path_factory.mktemp("results") / "results.json"))
    yield
    patch.undo()
