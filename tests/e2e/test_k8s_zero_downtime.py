"""The k8s stand-in under traffic: replicas sharing one PostgreSQL behind one front door.

Every test runs a bounded request loop through the front door (127.0.0.1) while it
operates: a redeploy with a code change, three kinds of broken release, a rollback, and
the database stopped and started. "0 failed" means every request answered 200. The
figures (failed requests, time to switch) are recorded with `infra.results`.

Tests run in file order against one sandbox: the data test first, the rollback last.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
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
from infra.targets.k8s.sandbox import K8sSandbox
from infra.testing.database_restart import restart_database
from infra.testing.load import RequestLoop
from infra.testing.releases import bearer, broken_releases, code_change

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

QUIET = Console(quiet=True)
READS = 24
BROKEN_RELEASES = broken_releases("shipways_app/main.py")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stacks")
    committed = yaml.safe_load((STACKS_DIR / "Pulumi.k8s.yaml").read_text())
    (directory / "Pulumi.k8s.yaml").write_text(yaml.safe_dump(committed))
    return directory


@pytest.fixture(scope="module")
def box(stacks: Path) -> Iterator[K8sSandbox]:
    sandbox = K8sSandbox(f"shipways-test-k8szd-{uuid.uuid4().hex[:6]}")
    try:
        yield sandbox
    finally:
        sandbox.down(QUIET)


@pytest.fixture(scope="module")
def first(box: K8sSandbox, stacks: Path) -> Endpoint:
    return box.up(QUIET, stack=read_stack("k8s", stacks))


def _release(box: K8sSandbox, overrides: dict[str, bytes]) -> K8sSandbox:
    """The same instance, building the app with `overrides` (a new release)."""
    return K8sSandbox(box.instance, app_overrides=overrides)


def test_every_read_through_the_front_door_sees_the_data_of_any_replica(
    box: K8sSandbox, first: Endpoint
) -> None:
    pods = first.extra["pods"]
    assert len(pods) == 2
    with httpx.Client(base_url=first.url, timeout=10, trust_env=False) as http:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        created = http.post(
            "/products", headers=bearer(box.token()), json={"name": name, "price": 3.5}
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        for _ in range(READS):
            read = http.get(location)
            assert read.status_code == 200 and read.json()["name"] == name
        versions = [http.get("/version").json() for _ in range(4)]
    assert {v["storage"]["engine"] for v in versions} == {"postgresql"}
    assert {v["instance"] for v in versions} == set(pods)  # /version names the replica
    # Which replica served each read: its own request log (one JSON line per request).
    client = docker.from_env()
    served = {
        pod: bytes(client.containers.get(pod).logs()).decode().count(f'"{location}"')
        for pod in pods
    }
    assert sum(served.values()) == READS and min(served.values()) > 0, served


def test_database_stopped_and_started_readyz_follows_healthz_stays(
    box: K8sSandbox, first: Endpoint
) -> None:
    restart = restart_database(box.instance, first.url, box.token(), timeout=10)
    assert restart.liveness.failed == 0, restart.liveness.errors[:5]
    assert restart.liveness.total > 10
    assert restart.kept_status == 200  # nothing lost
    assert box.endpoint() == first  # no redeploy happened
    results.record(
        "k8s", "database_restart_ready_seconds", round(restart.recovered_seconds, 2), "s", "e2e"
    )


def test_a_code_change_rolls_out_with_no_failed_request(
    box: K8sSandbox, stacks: Path, first: Endpoint
) -> None:
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        second = _release(box, code_change()).up(QUIET, stack=read_stack("k8s", stacks))
    switch_s = time.monotonic() - started
    assert load.failed == 0, load.errors[:5]
    assert second.url == first.url  # the address never changes
    assert second.extra["revision"] != first.extra["revision"]
    assert set(second.extra["pods"]).isdisjoint(first.extra["pods"])
    assert set(second.extra["pods"]) <= set(load.instances)  # traffic reached the new pods
    assert set(first.extra["pods"]) & set(load.instances)  # ... after the old ones
    results.record("k8s", "redeploy_failed_requests", load.failed, "count", "e2e")
    results.record("k8s", "redeploy_requests", load.total, "count", "e2e")
    results.record("k8s", "redeploy_switch_seconds", round(switch_s, 1), "s", "e2e")


@pytest.mark.parametrize("kind", list(BROKEN_RELEASES))
def test_a_broken_release_is_refused_and_the_previous_pods_keep_serving(
    box: K8sSandbox, stacks: Path, kind: str
) -> None:
    before = box.endpoint()
    assert before is not None
    release = _release(box, BROKEN_RELEASES[kind])
    with RequestLoop(before.url) as load, pytest.raises(SandboxError, match="refused") as refused:
        release.up(QUIET, stack=read_stack("k8s", stacks))
    assert "previous pods keep serving" in str(refused.value)
    assert load.failed == 0, load.errors[:5]
    assert box.endpoint() == before
    assert set(load.instances) == set(before.extra["pods"])  # no broken pod ever answered
    assert httpx.get(f"{before.url}/readyz", timeout=5).status_code == 200
    results.record("k8s", f"broken_{kind}_failed_requests", load.failed, "count", "e2e")


def test_rollback_through_the_same_front_door_with_no_failed_request(
    box: K8sSandbox, first: Endpoint
) -> None:
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        restored = box.rollback(QUIET, release=None)
    switch_s = time.monotonic() - started
    assert restored == first.extra["revision"]
    assert load.failed == 0, load.errors[:5]
    now = box.endpoint()
    assert now is not None and now.url == first.url
    assert sorted(now.extra["pods"]) == sorted(first.extra["pods"])
    results.record("k8s", "rollback_failed_requests", load.failed, "count", "e2e")
    results.record("k8s", "rollback_switch_seconds", round(switch_s, 1), "s", "e2e")


def _with_env(stacks: Path, directory: Path, env: dict[str, str]) -> Path:
    """The module's stack file with `shipways:env` set, as a user would edit it."""
    data = yaml.safe_load((stacks / "Pulumi.k8s.yaml").read_text())
    data["config"]["shipways:env"] = env
    (directory / "Pulumi.k8s.yaml").write_text(yaml.safe_dump(data))
    return directory


def test_an_env_change_rolls_out_a_new_revision_with_no_failed_request(
    box: K8sSandbox, stacks: Path, first: Endpoint, tmp_path: Path
) -> None:
    before = box.endpoint()
    assert before is not None
    stamp = uuid.uuid4().hex[:12]
    changed = _with_env(stacks, tmp_path, {"SHIPWAYS_DEPLOYED_AT": stamp})
    with RequestLoop(before.url) as load:
        after = box.up(QUIET, stack=read_stack("k8s", changed))
    assert load.failed == 0, load.errors[:5]
    assert after.url == before.url
    assert after.extra["revision"] != before.extra["revision"]
    assert after.extra["image"] == before.extra["image"]  # the same code, new settings
    assert set(after.extra["pods"]).isdisjoint(before.extra["pods"])
    client = docker.from_env()
    for pod in after.extra["pods"]:
        assert f"SHIPWAYS_DEPLOYED_AT={stamp}" in client.containers.get(pod).attrs["Config"]["Env"]
    results.record("k8s", "env_change_failed_requests", load.failed, "count", "e2e")
