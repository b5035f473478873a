"""A real load balancer for tests: nginx on 127.0.0.1, round robin over local backends.

The same proxy the targets' front doors run (`infra.sandbox.frontdoor`), without Docker:
one nginx process in a temp prefix, in the foreground, stopped with the `with` block. It
spreads requests, not connections, so a client's reads land on every backend in turn.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from infra.sandbox.containers import free_port

START_TIMEOUT_S = 10.0
CONF = """
worker_processes 1;
error_log stderr warn;
pid {prefix}/nginx.pid;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream backends {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        # Bodies and responses stay in memory: a root-started nginx's workers may not
        # write to the temp prefix, and the app refuses bodies over 64 KiB itself.
        client_max_body_size 1m;
        client_body_buffer_size 1m;
        proxy_buffering off;
        location / {{
            proxy_pass http://backends;
            proxy_set_header Host $http_host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """nginx on PATH or in Debian's /usr/sbin (not on a non-root PATH), or None."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@contextmanager
def round_robin(prefix: Path, backends: Sequence[str]) -> Iterator[str]:
    """nginx spreading requests over `backends` (base URLs http://HOST:PORT); yields its URL."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed: `apt-get install nginx` (./dev.sh setup)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {b.removeprefix('http://')};" for b in backends)
    conf = prefix / "nginx.conf"
    conf.write_text(CONF.format(prefix=prefix, port=port, servers=servers))
    log = prefix / "nginx.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf)], stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_until_listening(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not start on {url}:\n{log.read_text()[-2000:]}")
