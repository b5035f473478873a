"""Options and fixtures of the contract suite: where the API is and how to reach it.

Options (each also read from the environment):
  --base-url URL        SHIPWAYS_BASE_URL       the deployed API, http:// or https://
  --expect-target NAME  SHIPWAYS_EXPECT_TARGET  /version must report this target
  --instances N         SHIPWAYS_EXPECT_INSTANCES  instances behind the URL (default 1): the
                        shared-data check must see at least 2 of them when N > 1
  --write-token TOKEN                           the deployment's write token (`shipways token`);
                                                the write checks fail without it
TLS: SHIPWAYS_CA_BUNDLE=PATH trusts a private CA; SHIPWAYS_INSECURE_TLS=1 skips verification
(self-signed demo certificates only).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from infra.contract import MAX_INSTANCES
from infra.contract.config import TARGETS, TIMEOUT, ContractConfig, tls_verify


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shipways contract")
    group.addoption(
        "--base-url",
        default=os.environ.get("SHIPWAYS_BASE_URL"),
        help="base URL of the API under test (env SHIPWAYS_BASE_URL)",
    )
    group.addoption(
        "--expect-target",
        default=os.environ.get("SHIPWAYS_EXPECT_TARGET") or None,
        help=f"target /version must report: one of {', '.join(TARGETS)} "
        "(env SHIPWAYS_EXPECT_TARGET)",
    )
    group.addoption(
        "--instances",
        default=os.environ.get("SHIPWAYS_EXPECT_INSTANCES") or "1",
        help="how many instances serve the base URL (env SHIPWAYS_EXPECT_INSTANCES, default 1)",
    )
    group.addoption(
        "--write-token",
        default=None,
        help="the deployment's write token, sent as `Authorization: Bearer` by the write checks",
    )


def _load(config: pytest.Config) -> ContractConfig:
    base_url = config.getoption("--base-url")
    if not base_url:
        raise pytest.UsageError(
            "no API to test: pass --base-url http://HOST:PORT or set SHIPWAYS_BASE_URL"
        )
    if not base_url.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"--base-url {base_url!r} is not valid: use http://HOST[:PORT] or https://HOST[:PORT]"
        )
    expect_target = config.getoption("--expect-target")
    if expect_target is not None and expect_target not in TARGETS:
        raise pytest.UsageError(
            f"--expect-target {expect_target!r} is not valid: use one of {', '.join(TARGETS)}"
        )
    instances = _instances(config.getoption("--instances"))
    write_token = config.getoption("--write-token") or None
    return ContractConfig(base_url.rstrip("/"), expect_target, tls_verify(), instances, write_token)


def _instances(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_INSTANCES:
        raise pytest.UsageError(
            f"--instances {value!r} is not valid: give how many instances serve the URL, "
            f"1 to {MAX_INSTANCES}"
        )
    return int(value)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse once, before any test runs, rather than erroring in every contract test."""
    if session.config.option.collectonly:
        return
    if any("contract" in getattr(item, "fixturenames", ()) for item in session.items):
        _load(session.config)


@pytest.fixture(scope="session")
def contract(request: pytest.FixtureRequest) -> ContractConfig:
    return _load(request.config)


@pytest.fixture(scope="session")
def api(contract: ContractConfig) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=contract.base_url,
        timeout=TIMEOUT,
        verify=contract.verify,
        follow_redirects=False,
        headers={"User-Agent": "shipways-contract/1.0"},
    ) as client:
        yield client


@pytest.fixture(scope="session")
def writer(contract: ContractConfig, api: httpx.Client) -> Iterator[httpx.Client]:
    """A client that sends the write token; reads through it behave exactly as through `api`."""
    if not contract.write_token:
        pytest.fail("no write token: pass --write-token TOKEN (see `shipways token TARGET`)")
    with httpx.Client(
        base_url=contract.base_url,
        timeout=TIMEOUT,
        verify=contract.verify,
        follow_redirects=False,
        headers={
            "User-Agent": "shipways-contract/1.0",
            "Authorization": f"Bearer {contract.write_token}",
        },
    ) as client:
        yield client


@pytest.fixture
def unique_name() -> str:
    """Products created by the suite never collide, so it re-runs against a persistent DB."""
    return f"contract-{uuid.uuid4().hex[:16]}"
