"""The local Lambda for real: the zip under awslambdaric in Lambda-shaped containers.

One sandbox (`shipways-test-serverless`, its own free 127.0.0.1 ports) is created fresh for
the module, checked, and removed at the end. Only loopback traffic; every loop is bounded.
Scaling out and releases under traffic: test_serverless_zero_downtime.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from rich.console import Console

from infra.config import read_stack
from infra.sandbox.engine import ensure_engine
from infra.sandbox.health import wait_for_http
from infra.targets import Endpoint
from infra.targets.serverless.sandbox import ServerlessSandbox
from infra.verify import run_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

INSTANCE = "shipways-test-serverless"
console = Console(stderr=True)


@pytest.fixture(scope="module")
def box() -> ServerlessSandbox:
    return ServerlessSandbox(INSTANCE)


@pytest.fixture(scope="module")
def endpoint(box: ServerlessSandbox) -> Iterator[Endpoint]:
    box.down(console)  # a leftover from an interrupted run
    yield box.up(console, stack=read_stack("serverless"))
    assert box.down(console)
    assert box.endpoint() is None


def _logs(endpoint: Endpoint) -> str:
    """The logs of the instance that ran the release steps (warm requests go to it first)."""
    instance = endpoint.extra["instances"][0]
    return bytes(ensure_engine().containers.get(instance).logs()).decode(errors="replace")


def _containers() -> dict[str, str]:
    found = ensure_engine().containers.list(
        filters={"label": f"shipways.serverless.instance={INSTANCE}"}
    )
    return {c.name: c.id for c in found}


def _invoke(endpoint: Endpoint, payload: object) -> httpx.Response:
    url = f"{endpoint.extra['invoke_url']}/2015-03-31/functions/{endpoint.extra['function']}"
    return httpx.post(f"{url}/invocations", json=payload, trust_env=False, timeout=30)


def test_endpoint_is_loopback_and_says_what_the_zip_was_built_for(endpoint: Endpoint) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint.url)
    assert str(endpoint.extra["invoke_url"]).startswith("http://127.0.0.1:")
    assert endpoint.extra["built_for"] == "Debian 12 (local sandbox), Python 3.11, x86_64" or (
        str(endpoint.extra["built_for"]).endswith("arm64")
    )
    assert endpoint.extra["function"] == "shipways-demo"
    assert endpoint.extra["memory_mb"] == 512


def test_contract_and_environment_checks_pass(box: ServerlessSandbox, endpoint: Endpoint) -> None:
    checks = box.checks(endpoint)
    report = run_checks(
        endpoint.url,
        expect_target="serverless",
        extra_modules=checks.modules,
        extra_args=checks.pytest_args,
        env=checks.env,
        write_token=box.token(),
    )
    failed = [f"{r.name}: {r.message}" for r in report.results if r.outcome in ("failed", "error")]
    assert report.ok, failed
    environment_checks = [r for r in report.results if "test_lambda_environment" in r.nodeid]
    assert len(environment_checks) >= 10
    assert all(r.outcome == "passed" for r in environment_checks)


def test_init_runs_once_per_instance(endpoint: Endpoint) -> None:
    with httpx.Client(base_url=endpoint.url, trust_env=False, timeout=30) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
    reports = [
        line for line in _logs(endpoint).splitlines() if line.startswith("REPORT RequestId:")
    ]
    assert len(reports) >= 6
    assert sum("Init Duration:" in line for line in reports) == 1
    assert "Init Duration:" in reports[0]
    assert all("Memory Size: 512 MB" in line for line in reports)


def test_migrate_release_step_through_the_invoke_api(endpoint: Endpoint) -> None:
    done = _invoke(endpoint, {"shipways": "migrate"})
    assert done.status_code == 200
    assert "x-amz-function-error" not in done.headers
    assert done.json()["ok"] is True
    assert done.json()["changed"] is False  # the release step migrated before the switch
    wrong = _invoke(endpoint, {"shipways": "drop-everything"})
    assert wrong.headers["x-amz-function-error"] == "Unhandled"
    assert wrong.json()["errorType"] == "ValueError"


def test_up_again_changes_nothing(box: ServerlessSandbox, endpoint: Endpoint) -> None:
    first = box.up(
        console, stack=read_stack("serverless")
    )  # catches up with any commit since the fixture
    containers = _containers()
    again = box.up(console, stack=read_stack("serverless"))
    assert again.url == first.url == endpoint.url  # the ports stay: a stable URL
    assert again.extra["release"] == first.extra["release"]  # a reproducible zip
    assert again.extra["version"] == first.extra["version"]  # nothing published
    assert _containers() == containers  # nothing restarted
    assert box.status(console)["current_release"] == again.extra["release"]


def test_the_token_is_a_read_only_file_in_every_instance(
    box: ServerlessSandbox, endpoint: Endpoint
) -> None:
    """The local stand-in for Secrets Manager: a read-only mount in each instance container,
    outside the zip, never an env var's value."""
    token = box.token()
    assert token and len(token) >= 43
    names = endpoint.extra["instances"]
    assert len(names) >= 2
    for name in names:
        container = ensure_engine().containers.get(name)
        environment = container.attrs["Config"]["Env"]
        assert "WRITE_TOKEN_FILE=/run/secrets/write-token" in environment, name
        assert not any(token in variable for variable in environment), name
        mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
        assert mounts["/run/secrets/write-token"]["RW"] is False, name
    anonymous = httpx.post(f"{endpoint.url}/products", json={"name": "x", "price": 1},
                           timeout=30, trust_env=False)  # fmt: skip
    assert anonymous.status_code == 401


def test_a_recycled_instance_inits_again_and_keeps_the_data(
    box: ServerlessSandbox, endpoint: Endpoint
) -> None:
    """Lambda recycles instances; with PostgreSQL, a new one (here: the instance container
    restarted) runs its init again and finds what the old one wrote."""
    writer = {"Authorization": f"Bearer {box.token()}"}
    with httpx.Client(base_url=endpoint.url, trust_env=False, timeout=30, headers=writer) as client:
        created = client.post("/products", json={"name": "durable lamp", "price": 3.5})
        assert created.status_code == 201
        product = created.json()["id"]
        assert client.get("/version").json()["storage"]["persistent"] is True
    instance = ensure_engine().containers.get(endpoint.extra["instances"][0])
    inits = _logs(endpoint).count("Init Duration:")
    instance.restart(timeout=10)
    wait_for_http(f"{endpoint.url}/healthz", timeout=60)  # a cold start
    with httpx.Client(base_url=endpoint.url, trust_env=False, timeout=30) as client:
        assert client.get(f"/products/{product}").json()["name"] == "durable lamp"
    assert _logs(endpoint).count("Init Duration:") == inits + 1
