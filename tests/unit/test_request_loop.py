"""The zero-downtime request loop: loopback only, bounded, and it sees releases switch."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.testing.load import RequestLoop

pytestmark = pytest.mark.unit


class _Versions(BaseHTTPRequestHandler):
    """Answers /version as the app does; the serving release is whatever the test sets."""

    release = "aaa"
    instances = ("web-1", "web-2")
    served = 0

    def do_GET(self) -> None:
        cls = type(self)
        cls.served += 1
        body = json.dumps(
            {"git_sha": cls.release, "instance": cls.instances[cls.served % 2]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Versions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="only targets loopback"):
        RequestLoop("http://192.0.2.1:8000")


def test_records_each_release_once_in_order_and_every_instance(url: str) -> None:
    _Versions.release = "aaa"
    with RequestLoop(url, rate=50.0) as loop:
        _Versions.release = "bbb"
    assert loop.releases == ["aaa", "bbb"]
    assert set(loop.instances) == {"web-1", "web-2"}
    assert loop.failed == 0 and loop.total == sum(loop.instances.values())


def test_the_request_budget_bounds_the_loop(url: str) -> None:
    with RequestLoop(url, rate=200.0, max_requests=5) as loop:
        pass
    assert loop.total == 5


def test_a_refused_connection_counts_as_a_failure() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Versions)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    with RequestLoop(f"http://127.0.0.1:{port}", rate=20.0, max_requests=3) as loop:
        pass
    assert loop.failed == 3 and loop.errors and loop.statuses["ConnectError"] == 3
