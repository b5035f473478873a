"""The serverless stand-in under traffic: Lambda instances sharing one PostgreSQL behind one
API Gateway address.

Every test runs a bounded request loop through the gateway (127.0.0.1) while it operates: a
redeploy with a code change, three kinds of broken release, a rollback, and the database
stopped and started. "0 failed" means every request answered 200. The figures (failed
requests, time to switch) are recorded with `infra.results`, as k8s's are.

Tests run in file order against one sandbox: the data test first, the rollback last.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest
import yaml
from rich.console import Console

from infra import results
from infra.config import STACKS_DIR, read_stack
from infra.sandbox.errors import SandboxError
from infra.targets import Endpoint
from infra.targets.serverless.sandbox import LOCAL_MAX_CONCURRENCY, ServerlessSandbox
from infra.testing.database_restart import restart_database
from infra.testing.load import RequestLoop
from infra.testing.releases import bearer, broken_releases, code_change

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

QUIET = Console(quiet=True)
READS = 24
OVERLAP = 3  # requests in flight at once: Lambda scales out to serve them
BROKEN_RELEASES = broken_releases("shipways_app/app.py")


def _logs(name: str) -> str:
    return bytes(docker.from_env().containers.get(name).logs()).decode(errors="replace")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stacks")
    committed = yaml.safe_load((STACKS_DIR / "Pulumi.serverless.yaml").read_text())
    (directory / "Pulumi.serverless.yaml").write_text(yaml.safe_dump(committed))
    return directory


@pytest.fixture(scope="module")
def box() -> Iterator[ServerlessSandbox]:
    sandbox = ServerlessSandbox(f"shipways-test-lambdazd-{uuid.uuid4().hex[:6]}")
    try:
        yield sandbox
    finally:
        sandbox.down(QUIET)


@pytest.fixture(scope="module")
def first(box: ServerlessSandbox, stacks: Path) -> Endpoint:
    return box.up(QUIET, stack=read_stack("serverless", stacks))


def _release(box: ServerlessSandbox, changes: dict[str, bytes]) -> ServerlessSandbox:
    """The same instance, deploying the zip with `changes` (a new release)."""
    return ServerlessSandbox(box.instance, app_changes=changes)


def test_overlapping_reads_scale_out_and_every_instance_sees_the_data(
    box: ServerlessSandbox, first: Endpoint, stacks: Path
) -> None:
    instances = first.extra["instances"]
    # The committed stack's reservedConcurrency, clipped to what this machine can hold.
    reserved = read_stack("serverless", stacks).config.reserved_concurrency  # type: ignore[attr-defined]
    assert len(instances) == first.extra["concurrency"] == min(reserved, LOCAL_MAX_CONCURRENCY)
    with httpx.Client(base_url=first.url, timeout=30, trust_env=False) as http:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        created = http.post(
            "/products", headers=bearer(box.token()), json={"name": name, "price": 3.5}
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
    with ThreadPoolExecutor(OVERLAP) as pool:

        def read(_: int) -> tuple[int, str]:
            with httpx.Client(base_url=first.url, timeout=30, trust_env=False) as http:
                answer = http.get(location)
                return answer.status_code, answer.json().get("name", "")

        reads = list(pool.map(read, range(READS)))
        versions = list(pool.map(lambda _: httpx.get(f"{first.url}/version").json(), range(6)))
    assert reads == [(200, name)] * READS
    assert {v["storage"]["engine"] for v in versions} == {"postgresql"}
    assert {v["instance"] for v in versions} <= set(instances)  # /version names the instance
    # Which instance served each read: its own request log (one JSON line per request).
    served = {i: _logs(i).count(f'"{location}"') for i in instances}
    assert sum(served.values()) == READS, served
    used = [i for i, count in served.items() if count]
    assert len(used) >= 2, served
    for instance in used:  # each scaled-out instance ran its own init, reported once
        assert _logs(instance).count("Init Duration:") == 1, instance


def test_database_stopped_and_started_readyz_follows_healthz_stays(
    box: ServerlessSandbox, first: Endpoint
) -> None:
    restart = restart_database(box.instance, first.url, box.token(), timeout=30)
    assert restart.liveness.failed == 0, restart.liveness.errors[:5]
    assert restart.liveness.total > 10
    assert restart.kept_status == 200  # nothing lost
    assert box.endpoint() == first  # no redeploy happened
    results.record(
        "serverless",
        "database_restart_ready_seconds",
        round(restart.recovered_seconds, 2),
        "s",
        "e2e",
    )


def test_a_code_change_switches_with_no_failed_request(
    box: ServerlessSandbox, stacks: Path, first: Endpoint
) -> None:
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        second = _release(box, code_change()).up(QUIET, stack=read_stack("serverless", stacks))
    switch_s = time.monotonic() - started
    assert load.failed == 0, load.errors[:5]
    assert second.url == first.url  # the address never changes
    assert second.extra["version"] != first.extra["version"]
    assert second.extra["release"] != first.extra["release"]
    assert set(second.extra["instances"]).isdisjoint(first.extra["instances"])
    assert set(second.extra["instances"]) & set(load.instances)  # traffic reached the new one
    assert set(first.extra["instances"]) & set(load.instances)  # ... after the old one
    migrations = sum(_logs(i).count("migrate command") for i in second.extra["instances"])
    assert migrations == 1  # the release step ran once, on one instance
    results.record("serverless", "redeploy_failed_requests", load.failed, "count", "e2e")
    results.record("serverless", "redeploy_requests", load.total, "count", "e2e")
    results.record("serverless", "redeploy_switch_seconds", round(switch_s, 1), "s", "e2e")


@pytest.mark.parametrize("kind", list(BROKEN_RELEASES))
def test_a_broken_release_is_refused_and_the_previous_version_keeps_serving(
    box: ServerlessSandbox, stacks: Path, kind: str
) -> None:
    before = box.endpoint()
    assert before is not None
    release = _release(box, BROKEN_RELEASES[kind])
    with RequestLoop(before.url) as load, pytest.raises(SandboxError, match="refused") as refused:
        release.up(QUIET, stack=read_stack("serverless", stacks))
    assert f"version {before.extra['version']} keeps serving" in str(refused.value)
    assert load.failed == 0, load.errors[:5]
    assert box.endpoint() == before
    assert set(load.instances) <= set(before.extra["instances"])  # no broken one answered
    assert httpx.get(f"{before.url}/readyz", timeout=10).status_code == 200
    results.record("serverless", f"broken_{kind}_failed_requests", load.failed, "count", "e2e")


def test_rollback_through_the_same_address_with_no_failed_request(
    box: ServerlessSandbox, first: Endpoint
) -> None:
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        restored = box.rollback(QUIET, release=None)
    switch_s = time.monotonic() - started
    assert restored == first.extra["release"]
    assert load.failed == 0, load.errors[:5]
    now = box.endpoint()
    assert now is not None and now.url == first.url
    assert now.extra["version"] == first.extra["version"]  # the alias moved back
    assert set(first.extra["instances"]) & set(load.instances)
    results.record("serverless", "rollback_failed_requests", load.failed, "count", "e2e")
    results.record("serverless", "rollback_switch_seconds", round(switch_s, 1), "s", "e2e")


def _with_env(stacks: Path, directory: Path, env: dict[str, str]) -> Path:
    """The module's stack file with `shipways:env` set, as a user would edit it."""
    data = yaml.safe_load((stacks / "Pulumi.serverless.yaml").read_text())
    data["config"]["shipways:env"] = env
    (directory / "Pulumi.serverless.yaml").write_text(yaml.safe_dump(data))
    return directory


def test_an_env_change_publishes_a_new_version_with_no_failed_request(
    box: ServerlessSandbox, stacks: Path, first: Endpoint, tmp_path: Path
) -> None:
    before = box.endpoint()
    assert before is not None
    stamp = uuid.uuid4().hex[:12]
    changed = _with_env(stacks, tmp_path, {"SHIPWAYS_DEPLOYED_AT": stamp})
    with RequestLoop(before.url) as load:
        after = box.up(QUIET, stack=read_stack("serverless", changed))
    assert load.failed == 0, load.errors[:5]
    assert after.url == before.url
    assert after.extra["version"] != before.extra["version"]  # the alias switch ran
    assert after.extra["release"] != before.extra["release"]
    assert after.extra["zip_sha256"] == before.extra["zip_sha256"]  # the same code
    client = docker.from_env()
    for instance in after.extra["instances"]:
        environment = client.containers.get(instance).attrs["Config"]["Env"]
        assert f"SHIPWAYS_DEPLOYED_AT={stamp}" in environment
    results.record("serverless", "env_change_failed_requests", load.failed, "count", "e2e")
