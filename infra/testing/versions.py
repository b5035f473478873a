"""A stand-in front door for unit tests of what watches a release switch: a real HTTP server on
127.0.0.1 answering `/version` as the app does (its `git_sha` and the `instance` that answered),
with the serving release set by the test and every answer counted."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class VersionServer:
    """`with VersionServer() as door:` serves at `door.url` until the block ends; `release`
    may change meanwhile, and answers alternate between `instances`."""

    def __init__(self, release: str = "aaa", instances: tuple[str, ...] = ("web-1",)) -> None:
        self.release, self.instances, self.served = release, instances, 0
        self.connections: set[tuple[str, int]] = set()  # the clients' (address, port) seen
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        door = self

        class Answer(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps a connection open if the client wants it

            def do_GET(self) -> None:
                door.served += 1
                door.connections.add(self.client_address[:2])
                instance = door.instances[door.served % len(door.instances)]
                body = json.dumps({"git_sha": door.release, "instance": instance}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # the tests read `served`, not a log

        return Answer

    def __enter__(self) -> VersionServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def refused_url() -> str:
    """A loopback address nobody listens on (a port just released): connections are refused."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.server_close()
    return f"http://127.0.0.1:{server.server_address[1]}"
