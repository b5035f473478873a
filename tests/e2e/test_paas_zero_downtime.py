"""The PaaS stand-in under traffic: instances sharing one PostgreSQL behind one front door.

A LoadBalanced environment of 2 instances (the committed stack, switched to LoadBalanced with
plain HTTP and minInstances 2). Every test runs a bounded request loop through the front door
(127.0.0.1) while it operates: a redeploy with a code change under each deployment policy,
three kinds of broken release, a rollback, and the database stopped and started. "0 failed"
means every request answered 200. The figures (failed requests, time to switch) are
recorded with `infra.results`, as for k8s.

Tests run in file order against one sandbox: the data test first, the rollback last.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from rich.console import Console

from infra import results
from infra.config import STACKS_DIR, PaasConfig, narrow, read_stack
from infra.paths import APP_DIR
from infra.sandbox.errors import SandboxError
from infra.targets import Endpoint
from infra.targets.paas import bundle as bundles
from infra.targets.paas.sandbox import PaasSandbox
from infra.testing.database_restart import restart_database
from infra.testing.load import RequestLoop
from infra.testing.releases import bearer, broken_releases, code_change

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

QUIET = Console(quiet=True)
READS = 24
INSTANCES = 2
BROKEN_RELEASES = broken_releases("shipways_app/main.py")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> PaasConfig:
    directory = tmp_path_factory.mktemp("stacks")
    stack = yaml.safe_load((STACKS_DIR / "Pulumi.paas.yaml").read_text())
    stack["config"] |= {
        "shipways:environmentType": "LoadBalanced",
        "shipways:allowHttp": True,
        "shipways:minInstances": INSTANCES,
        "shipways:deploymentPolicy": "RollingWithAdditionalBatch",
    }
    (directory / "Pulumi.paas.yaml").write_text(yaml.safe_dump(stack))
    return narrow(read_stack("paas", directory).config, PaasConfig)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def box() -> Iterator[PaasSandbox]:
    sandbox = PaasSandbox(f"shipways-test-paaszd-{uuid.uuid4().hex[:6]}", health_timeout=20)
    try:
        yield sandbox
    finally:
        sandbox.down(QUIET)


def _bundle(scratch: Path, overrides: dict[str, bytes]) -> bundles.Bundle:
    """A bundle of app/ with `overrides` (app-relative path -> content): a new release."""
    source = scratch / uuid.uuid4().hex[:8] / "app"
    shutil.copytree(APP_DIR, source, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    for path, content in overrides.items():
        (source / path).write_bytes(content)
    return bundles.build(scratch / "built", source)


@pytest.fixture(scope="module")
def first(box: PaasSandbox, config: PaasConfig, scratch: Path) -> Endpoint:
    return box.deploy(_bundle(scratch, {}), config, QUIET)


def test_every_read_through_the_front_door_sees_the_data_of_any_instance(
    box: PaasSandbox, first: Endpoint
) -> None:
    instances = first.extra["instance_ids"]
    assert len(instances) == INSTANCES
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
    assert {v["instance"] for v in versions} == set(instances)  # /version names the instance
    # Which instance served each read: its own request log (one JSON line per request).
    release = box.release_dir(first.extra["release"])
    served = {i: (release / f"web-{i}.log").read_text().count(f'"{location}"') for i in instances}
    assert sum(served.values()) == READS and min(served.values()) > 0, served


def test_database_stopped_and_started_readyz_follows_healthz_stays(
    box: PaasSandbox, first: Endpoint
) -> None:
    restart = restart_database(box.instance, first.url, box.token(), timeout=10)
    assert restart.liveness.failed == 0, restart.liveness.errors[:5]
    assert restart.liveness.total > 10
    assert restart.kept_status == 200  # nothing lost
    assert box.endpoint() == first  # no redeploy happened
    results.record(
        "paas", "database_restart_ready_seconds", round(restart.recovered_seconds, 2), "s", "e2e"
    )


@pytest.mark.parametrize("policy", ["RollingWithAdditionalBatch", "Immutable"])
def test_a_code_change_deploys_with_no_failed_request(
    box: PaasSandbox, config: PaasConfig, scratch: Path, first: Endpoint, policy: str
) -> None:
    before = box.endpoint()
    assert before is not None
    built = _bundle(scratch, code_change())
    declared = config.model_copy(update={"deployment_policy": policy})
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        after = box.deploy(built, declared, QUIET)
    switch_s = time.monotonic() - started
    assert load.failed == 0, load.errors[:5]
    assert after.url == first.url  # the address never changes
    assert after.extra["release"] != before.extra["release"]
    assert len(after.extra["instance_ids"]) == INSTANCES
    assert set(after.extra["instance_ids"]).isdisjoint(before.extra["instance_ids"])
    assert set(after.extra["instance_ids"]) <= set(load.instances)  # traffic reached the new ones
    assert set(before.extra["instance_ids"]) & set(load.instances)  # ... after the old ones
    assert box.status(QUIET)["deployment_policy"] == policy
    prefix = "redeploy" if policy == "RollingWithAdditionalBatch" else "immutable_redeploy"
    results.record("paas", f"{prefix}_failed_requests", load.failed, "count", "e2e")
    results.record("paas", f"{prefix}_requests", load.total, "count", "e2e")
    results.record("paas", f"{prefix}_switch_seconds", round(switch_s, 1), "s", "e2e")


@pytest.mark.parametrize("kind", list(BROKEN_RELEASES))
def test_a_broken_release_is_refused_and_the_previous_release_keeps_serving(
    box: PaasSandbox, config: PaasConfig, scratch: Path, kind: str
) -> None:
    before = box.endpoint()
    assert before is not None
    built = _bundle(scratch, BROKEN_RELEASES[kind])
    with RequestLoop(before.url) as load, pytest.raises(SandboxError, match="refused") as refused:
        box.deploy(built, config, QUIET)
    assert "previous release keeps serving" in str(refused.value)
    assert load.failed == 0, load.errors[:5]
    assert box.endpoint() == before
    assert set(load.instances) == set(before.extra["instance_ids"])  # no broken one answered
    assert httpx.get(f"{before.url}/readyz", timeout=5, trust_env=False).status_code == 200
    results.record("paas", f"broken_{kind}_failed_requests", load.failed, "count", "e2e")


def test_rollback_through_the_same_front_door_with_no_failed_request(
    box: PaasSandbox, first: Endpoint
) -> None:
    state = box.load()
    previous = state.previous()
    assert previous is not None
    started = time.monotonic()
    with RequestLoop(first.url) as load:
        restored = box.rollback(QUIET, release=None)
    switch_s = time.monotonic() - started
    assert restored == previous.id
    assert load.failed == 0, load.errors[:5]
    now = box.endpoint()
    assert now is not None and now.url == first.url
    assert now.extra["release"] == previous.id and len(now.extra["instance_ids"]) == INSTANCES
    results.record("paas", "rollback_failed_requests", load.failed, "count", "e2e")
    results.record("paas", "rollback_switch_seconds", round(switch_s, 1), "s", "e2e")
