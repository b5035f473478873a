"""The zero-downtime request loop: loopback only, bounded, and it sees releases switch."""

from __future__ import annotations

import pytest

from infra.testing.load import RequestLoop
from infra.testing.versions import VersionServer, refused_url

pytestmark = pytest.mark.unit


def test_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="only targets loopback"):
        RequestLoop("http://192.0.2.1:8000")


def test_records_each_release_once_in_order_and_every_instance() -> None:
    door = VersionServer("aaa", instances=("web-1", "web-2"))
    with door, RequestLoop(door.url, rate=50.0) as loop:
        door.release = "bbb"
    assert loop.releases == ["aaa", "bbb"]
    assert set(loop.instances) == {"web-1", "web-2"}
    assert loop.failed == 0 and loop.total == sum(loop.instances.values()) == door.served


def test_the_request_budget_bounds_the_loop() -> None:
    with VersionServer() as door, RequestLoop(door.url, rate=200.0, max_requests=5) as loop:
        pass
    assert loop.total == 5


def test_a_refused_connection_counts_as_a_failure() -> None:
    with RequestLoop(refused_url(), rate=20.0, max_requests=3) as loop:
        pass
    assert loop.failed == 3 and loop.errors and loop.statuses["ConnectError"] == 3


def test_every_request_opens_a_new_connection() -> None:
    """No keep-alive: a stand-in front door reloading its proxy closes idle connections."""
    with VersionServer() as door, RequestLoop(door.url, rate=100.0, max_requests=20) as loop:
        pass
    assert loop.total == door.served == len(door.connections) == 20
