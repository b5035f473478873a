"""The local Lambda for real: the zip under awslambdaric in a Lambda-shaped container.

One sandbox (`shipways-test-serverless`, its own free 127.0.0.1 ports) is created fresh for
the module, checked, and removed at the end. Only loopback traffic; every loop is bounded.
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


def _logs() -> str:
    return bytes(ensure_engine().containers.get(INSTANCE).logs()).decode(errors="replace")


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
    reports = [line for line in _logs().splitlines() if line.startswith("REPORT RequestId:")]
    assert len(reports) >= 6
    assert sum("Init Duration:" in line for line in reports) == 1
    assert "Init Duration:" in reports[0]
    assert all("Memory Size: 512 MB" in line for line in reports)


def test_migrate_release_step_through_the_invoke_api(endpoint: Endpoint) -> None:
    done = _invoke(endpoint, {"shipways": "migrate"})
    assert done.status_code == 200
    assert "x-amz-function-error" not in done.headers
    assert done.json()["ok"] is True
    assert done.json()["changed"] is False  # SQLite in /tmp: migrated at init already
    wrong = _invoke(endpoint, {"shipways": "drop-everything"})
    assert wrong.headers["x-amz-function-error"] == "Unhandled"
    assert wrong.json()["errorType"] == "ValueError"


def test_up_again_changes_nothing(box: ServerlessSandbox, endpoint: Endpoint) -> None:
    first = box.up(
        console, stack=read_stack("serverless")
    )  # catches up with any commit since the fixture
    container = ensure_engine().containers.get(INSTANCE).id
    again = box.up(console, stack=read_stack("serverless"))
    assert again.url == first.url == endpoint.url  # the ports stay: a stable URL
    assert again.extra["release"] == first.extra["release"]  # a reproducible zip
    assert ensure_engine().containers.get(INSTANCE).id == container  # nothing restarted
    assert box.status(console)["current_release"] == again.extra["release"]


def test_the_token_is_a_read_only_file_outside_the_zip(
    box: ServerlessSandbox, endpoint: Endpoint
) -> None:
    """The local stand-in for Secrets Manager: a read-only mount, never an env var's value."""
    token = box.token()
    assert token and len(token) >= 43
    container = ensure_engine().containers.get(INSTANCE)
    environment = container.attrs["Config"]["Env"]
    assert "WRITE_TOKEN_FILE=/run/secrets/write-token" in environment
    assert not any(token in variable for variable in environment)
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/run/secrets/write-token"]["RW"] is False
    anonymous = httpx.post(f"{endpoint.url}/products", json={"name": "x", "price": 1},
                           timeout=30, trust_env=False)  # fmt: skip
    assert anonymous.status_code == 401


def test_tmp_state_is_per_instance_and_lost_with_it(
    box: ServerlessSandbox, endpoint: Endpoint
) -> None:
    """What /version warns about: a new instance (here: a restarted container) starts empty."""
    writer = {"Authorization": f"Bearer {box.token()}"}
    with httpx.Client(base_url=endpoint.url, trust_env=False, timeout=30, headers=writer) as client:
        created = client.post("/products", json={"name": "ephemeral lamp", "price": 3.5})
        assert created.status_code == 201
        product = created.json()["id"]
        assert client.get(f"/products/{product}").status_code == 200
        assert client.get("/version").json()["storage"]["persistent"] is False
    ensure_engine().containers.get(INSTANCE).restart(timeout=10)
    wait_for_http(f"{endpoint.url}/healthz", timeout=60)  # a cold start on a fresh /tmp
    with httpx.Client(base_url=endpoint.url, trust_env=False, timeout=30) as client:
        assert client.get(f"/products/{product}").status_code == 404
        assert client.get("/products/1").status_code == 200  # the seed, migrated at init
