"""The contract's shared-data check, run for real against several instances.

Two app processes, each under its own host name (as two containers would be), behind a real
nginx on 127.0.0.1 spreading requests round robin: the check fails where each instance keeps
its own SQLite file, and the whole contract passes where both share one PostgreSQL. Against a
single instance that claims to be two, the check refuses to prove anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest

from infra.testing.postgres import create_database
from infra.testing.proxy import round_robin
from infra.verify import VerifyReport, run_checks

Serve = Callable[..., AbstractContextManager[str]]
CHECK = "test_created_product_is_found_by_every_read_on_every_instance"


def _failed(report: VerifyReport) -> dict[str, str]:
    return {r.name: r.message for r in report.results if r.outcome in ("failed", "error")}


@contextmanager
def _two_instances_behind_nginx(serve: Serve, prefix: Path, **env: str) -> Iterator[str]:
    """Two migrated app processes named `instance-a` and `instance-b`, behind one nginx."""
    with ExitStack() as stack:
        backends = [stack.enter_context(serve(hostname=f"instance-{name}", **env)) for name in "ab"]
        yield stack.enter_context(round_robin(prefix, backends))


@pytest.mark.e2e
def test_fails_when_each_instance_keeps_its_own_sqlite(
    serve: Serve, module_tmp: Path, write_token: str
) -> None:
    with _two_instances_behind_nginx(serve, module_tmp / "nginx-sqlite") as url:
        report = run_checks(url, instances=2, extra_args=["-k", CHECK], write_token=write_token)
    assert not report.ok
    failed = _failed(report)
    assert list(failed) == [CHECK]
    message = failed[CHECK]
    assert "reads did not find product" in message and "do not share one database" in message
    # The reads reached both instances: half of them missed the product on the other one.
    assert "'instance-a', 'instance-b'" in message


@pytest.mark.e2e
@pytest.mark.postgres
def test_whole_contract_passes_when_instances_share_one_postgresql(
    serve: Serve, module_tmp: Path, postgres_url: str, write_token: str
) -> None:
    database = create_database(postgres_url, "contract_instances")
    with _two_instances_behind_nginx(serve, module_tmp / "nginx-pg", DATABASE_URL=database) as url:
        report = run_checks(url, instances=2, write_token=write_token)
    assert report.ok, _failed(report)
    assert {r.name: r.outcome for r in report.results}[CHECK] == "passed"
    assert report.passed >= 56


@pytest.mark.unit
def test_one_instance_claimed_as_two_proves_nothing(serve: Serve, write_token: str) -> None:
    with serve(hostname="lonely") as url:
        one = run_checks(url, extra_args=["-k", CHECK], write_token=write_token)
        two = run_checks(url, instances=2, extra_args=["-k", CHECK], write_token=write_token)
    assert one.ok and one.passed == 1, _failed(one)
    assert list(_failed(two)) == [CHECK]
    assert (
        "runs 2 instances but every /version read was answered by ['lonely']"
        in (_failed(two)[CHECK])
    )
