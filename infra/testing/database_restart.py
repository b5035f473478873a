"""The shared database stopped and started under traffic, the same way for every target.

Every target whose instances share the PostgreSQL stand-in must ride out a database restart:
liveness (`/healthz`) keeps answering 200 throughout, readiness (`/readyz`) answers 503 while
the database is down and 200 again once it is back, and a product written before the restart
is still there after it. The zero-downtime suites of k8s, paas and serverless each run this
against their own sandbox and assert on what it observed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import docker
import httpx

from infra.sandbox.health import wait_for_http
from infra.sandbox.postgres import start_server, stop_server
from infra.testing.load import RequestLoop
from infra.testing.releases import bearer

DOWN_TIMEOUT_S = 30.0  # /readyz must say 503 this soon after the server stops
BACK_TIMEOUT_S = 60.0  # and 200 this soon after it starts again


@dataclass(frozen=True)
class DatabaseRestart:
    """What one restart looked like from the front door."""

    liveness: RequestLoop  # the /healthz loop that ran across the restart
    recovered_seconds: float  # from the server's start until /readyz answered 200
    kept_status: int  # GET of the product written before the restart, after it


def restart_database(
    instance: str, url: str, write_token: str, *, timeout: float = 10.0
) -> DatabaseRestart:
    """Write a product, stop and start `instance`'s PostgreSQL stand-in under a /healthz
    loop through `url`, then read the product back. Raises if /readyz never follows."""
    client = docker.from_env()
    with httpx.Client(base_url=url, timeout=timeout, trust_env=False) as http:
        created = http.post(
            "/products",
            headers=bearer(write_token),
            json={"name": f"e2e-{uuid.uuid4().hex[:8]}", "price": 1},
        )
        if created.status_code != 201:
            raise AssertionError(f"seeding a product: {created.status_code} {created.text}")
        with RequestLoop(url, path="/healthz") as liveness:
            stop_server(client, instance)
            wait_for_http(f"{url}/readyz", timeout=DOWN_TIMEOUT_S, expect_status=503)
            down = time.monotonic()
            start_server(client, instance)
            wait_for_http(f"{url}/readyz", timeout=BACK_TIMEOUT_S)
            recovered = time.monotonic() - down
        kept = http.get(created.headers["location"]).status_code
    return DatabaseRestart(liveness, recovered, kept)
