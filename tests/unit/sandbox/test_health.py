"""The one wait-until-healthy loop: bounded, early give-up, and the probes built on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.sandbox.containers import free_port
from infra.sandbox.errors import SandboxError
from infra.sandbox.health import (
    NotYet,
    container_stopped,
    wait_for_docker_health,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.unit


def test_wait_until_returns_what_the_probe_returns_once_ready() -> None:
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NotYet(f"attempt {len(calls)}")
        return "ready"

    seen: list[str] = []
    assert wait_until(probe, timeout=5, interval=0.01, failure="x", progress=seen.append) == "ready"
    assert len(calls) == 3
    assert seen == ["attempt 1", "attempt 2"]  # each new reason once


def test_wait_until_reports_a_repeated_reason_once() -> None:
    seen: list[str] = []

    def never() -> None:
        raise NotYet("starting")

    with pytest.raises(SandboxError, match=r"^thing not up within 0s \(last: starting\)$"):
        wait_until(never, timeout=0.2, interval=0.02, failure="thing not up", progress=seen.append)
    assert seen == ["starting"]


def test_wait_until_is_bounded_in_attempts_as_well_as_time() -> None:
    calls: list[int] = []

    def never() -> None:
        calls.append(1)
        raise NotYet("no")

    begun = time.monotonic()
    with pytest.raises(SandboxError):
        wait_until(never, timeout=0.5, interval=0.1, failure="x")
    assert len(calls) <= 6
    assert time.monotonic() - begun < 2


def test_wait_until_lets_other_errors_through_at_once() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise SandboxError("systemd is degraded")

    with pytest.raises(SandboxError, match="degraded"):
        wait_until(broken, timeout=30, interval=0.01, failure="x")
    assert calls == [1]


def test_wait_until_gives_up_before_probing_a_dead_process() -> None:
    probed: list[int] = []

    def probe() -> None:
        probed.append(1)
        raise NotYet("no answer")

    with pytest.raises(SandboxError, match=r"^web not healthy: the web process exited$"):
        wait_until(
            probe,
            timeout=30,
            interval=0.01,
            failure="web not healthy",
            give_up=lambda: "the web process exited",
        )
    assert probed == []


def test_wait_for_http_refuses_non_loopback_urls() -> None:
    with pytest.raises(SandboxError, match=r"only polls 127\.0\.0\.1"):
        wait_for_http("http://example.com/health", timeout=1)


def test_wait_for_http_is_bounded_in_time() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(SandboxError, match=r"did not answer 200 within 1s \(last: ConnectError"):
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=1, interval=0.2)


def test_wait_for_http_stops_at_once_when_told_to_give_up() -> None:
    port = free_port()  # nothing listens there
    asked: list[int] = []

    def server_gone() -> str | None:
        asked.append(1)
        return "the web process exited" if len(asked) > 2 else None

    with pytest.raises(SandboxError, match="the web process exited"):
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=30, interval=0.05, give_up=server_gone)
    assert len(asked) == 3


class _Flaky(BaseHTTPRequestHandler):
    """503 for the first two requests, then 200: a server still starting up."""

    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        self.send_response(200 if type(self).served > 2 else 503)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Flaky.served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    finally:
        server.shutdown()
        server.server_close()


def test_wait_for_http_waits_through_wrong_answers(flaky_server: str) -> None:
    response = wait_for_http(flaky_server, timeout=10, interval=0.05)
    assert response.status_code == 200 and response.text == "ok"
    assert _Flaky.served == 3


def test_wait_for_http_names_the_last_wrong_answer(flaky_server: str) -> None:
    with pytest.raises(SandboxError, match=r"did not answer 204 within 0s \(last: HTTP 200: ok\)"):
        wait_for_http(flaky_server, timeout=0.3, expect_status=204, interval=0.05)


class _FakeContainer:
    """The parts of a Docker SDK container the health probes read, scripted."""

    name = "pod-1"

    def __init__(self, script: list[tuple[str, str]]) -> None:
        self.script = script  # (status, health) per reload; the last one repeats
        self.reloads = 0
        self.status = "created"
        self.attrs: dict[str, Any] = {}

    def reload(self) -> None:
        status, health = self.script[min(self.reloads, len(self.script) - 1)]
        self.reloads += 1
        self.status = status
        self.attrs = {"State": {"Status": status, "Health": {"Status": health}}}


def test_docker_health_returns_the_state_once_healthy() -> None:
    pod = _FakeContainer([("running", "starting"), ("running", "starting"), ("running", "healthy")])
    seen: list[str] = []
    state = wait_for_docker_health(pod, timeout=5, interval=0.01, progress=seen.append)  # type: ignore[arg-type]
    assert state["Health"]["Status"] == "healthy"
    assert seen == ["pod-1: starting"]


def test_docker_health_gives_up_when_the_container_stops() -> None:
    pod = _FakeContainer([("running", "starting"), ("exited", "unhealthy")])
    stopped = r"container pod-1 not healthy: container pod-1 is exited"
    with pytest.raises(SandboxError, match=stopped):
        wait_for_docker_health(pod, timeout=30, interval=0.01)  # type: ignore[arg-type]
    assert pod.reloads == 2


def test_container_stopped_is_silent_while_running() -> None:
    assert container_stopped(_FakeContainer([("running", "healthy")]))() is None  # type: ignore[arg-type]
