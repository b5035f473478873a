"""The load generator: loopback only, bounded by a request budget, figures that add up."""

import subprocess
import sys

import pytest

from infra.loadgen import LoadError, measure
from infra.sandbox.containers import free_port
from infra.sandbox.health import wait_for_http

pytestmark = pytest.mark.unit


def test_refuses_anything_but_loopback() -> None:
    with pytest.raises(LoadError, match=r"only target 127\.0\.0\.1"):
        measure("http://192.0.2.1/", duration_s=1, max_requests=1)


def test_budget_bounds_the_run() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=10)
        result = measure(
            f"http://127.0.0.1:{port}/",
            connections=2,
            duration_s=2,
            max_requests=150,
            warmup_requests=0,
        )
    finally:
        server.terminate()
        server.wait()
    # The budget stops the run at 150 responses; a request already in flight on the other
    # connection may still complete, so at most connections - 1 more are counted.
    assert 150 <= result.requests <= 150 + 2 - 1
    assert result.errors == 0
    assert result.rps > 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
