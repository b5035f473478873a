"""The PaaS edge: the `.platform/nginx` rate limit, loaded and run by a real nginx.

Beanstalk's nginx (Amazon Linux 2023) includes `conf.d/*.conf` in its http block and
`conf.d/elasticbeanstalk/*.conf` in its server block. The test builds exactly that layout
around the shipped files, checks it with `nginx -t`, then runs it on 127.0.0.1 and sends one
client's requests past the limit: the excess is answered 429 with Retry-After.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.paths import APP_DIR
from infra.sandbox.containers import free_port
from infra.testing.proxy import nginx_binary

pytestmark = pytest.mark.unit

CONF_D = APP_DIR / ".platform" / "nginx" / "conf.d"
HTTP_BLOCK = CONF_D / "shipways_rate_limit.conf"
SERVER_BLOCK = CONF_D / "elasticbeanstalk" / "shipways_rate_limit.conf"
BURST = 100
NGINX = nginx_binary()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (./dev.sh setup)")

# Amazon Linux 2023's /etc/nginx/nginx.conf reduced to its includes; `location /` stands in
# for the platform's 00_application.conf, which proxies to the app and sets no limit of its
# own. The app is a second server here (a `return` would answer before any limit applies).
PLATFORM_CONF = """
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
    include {prefix}/conf.d/*.conf;
    server {{
        listen 127.0.0.1:{port};
        include {prefix}/conf.d/elasticbeanstalk/*.conf;
        location / {{ proxy_pass http://127.0.0.1:{app_port}; }}
    }}
    server {{
        listen 127.0.0.1:{app_port};
        location / {{ return 200 '{{"message":"ok"}}'; }}
    }}
}}
"""


def _platform_layout(prefix: Path, port: int) -> Path:
    shutil.copytree(CONF_D, prefix / "conf.d")
    conf = prefix / "nginx.conf"
    conf.write_text(PLATFORM_CONF.format(prefix=prefix, port=port, app_port=free_port()))
    return conf


def test_the_http_block_file_declares_a_per_client_zone_answering_429() -> None:
    text = HTTP_BLOCK.read_text()
    assert "limit_req_zone $binary_remote_addr zone=shipways_per_client:10m rate=50r/s;" in text
    assert "limit_req_status 429;" in text
    # Behind the ALB only private (VPC) peers are believed about the client's address.
    trusted = [line.split()[1] for line in text.splitlines() if line.startswith("set_real_ip")]
    assert trusted == ["10.0.0.0/8;", "172.16.0.0/12;", "192.168.0.0/16;"]


def test_the_server_block_file_applies_it_with_a_burst_and_a_retry_after() -> None:
    text = SERVER_BLOCK.read_text()
    assert f"limit_req zone=shipways_per_client burst={BURST} nodelay;" in text
    assert "error_page 429 = @shipways_too_many;" in text
    assert "add_header Retry-After 1 always;" in text
    assert "return 429 " in text


@needs_nginx
def test_nginx_accepts_the_files_in_the_platforms_layout(tmp_path: Path) -> None:
    conf = _platform_layout(tmp_path, free_port())
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    conf = _platform_layout(tmp_path, port)
    server = subprocess.Popen(
        [str(NGINX), "-p", str(tmp_path), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx did not start: {server.stderr}") from None
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_nginx
def test_one_client_past_the_burst_gets_429_with_retry_after(edge: str) -> None:
    # Each request claims another client; 127.0.0.1 is not a trusted proxy, so it is ignored.
    with httpx.Client(base_url=edge, timeout=5) as client:
        answers = [
            client.get("/hello", headers={"X-Forwarded-For": f"198.51.100.{n % 250}"})
            for n in range(BURST + 60)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[: BURST // 2] == [200] * (BURST // 2)  # well inside the burst
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 10, statuses
    first = limited[0]
    assert first.headers["Retry-After"] == "1"
    assert first.headers["Content-Type"] == "application/json"
    assert first.json()["detail"].startswith("Too many requests")
    assert first.headers["X-Content-Type-Options"] == "nosniff"
