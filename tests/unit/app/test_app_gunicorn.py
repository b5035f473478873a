"""gunicorn_conf: its values, and real gunicorn runs under systemd's notify and socket protocols."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import shipways_app.gunicorn_conf
from shipways_app.migrate import upgrade

from infra.sandbox.containers import free_port
from infra.sandbox.health import wait_for_http

pytestmark = pytest.mark.unit

CONF = Path(shipways_app.gunicorn_conf.__file__)
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:shipways_app.gunicorn_conf"]
START_TIMEOUT = 30


def _conf(app_env: pytest.MonkeyPatch, **variables: str) -> dict[str, Any]:
    for name in ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY"):
        app_env.delenv(name, raising=False)
    for name, value in variables.items():
        app_env.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_defaults(app_env: pytest.MonkeyPatch) -> None:
    conf = _conf(app_env)
    assert conf["wsgi_app"] == "shipways_app.main:app"
    assert conf["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert conf["bind"] == ["127.0.0.1:8000"] and conf["workers"] == 2
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    assert (conf["graceful_timeout"], conf["timeout"], conf["keepalive"]) == (30, 30, 5)
    assert conf["accesslog"] is None
    assert conf["control_socket_disable"] is True


def test_port_and_bind_and_concurrency(app_env: pytest.MonkeyPatch) -> None:
    assert _conf(app_env, PORT="5000")["bind"] == ["0.0.0.0:5000"]
    both = _conf(app_env, PORT="5000", GUNICORN_BIND="unix:/run/shipways/app.sock")
    assert both["bind"] == ["unix:/run/shipways/app.sock"]
    assert _conf(app_env, WEB_CONCURRENCY="5")["workers"] == 5
    proxies = _conf(app_env, SHIPWAYS_TRUSTED_PROXIES="10.0.0.0/8,127.0.0.1")
    assert proxies["forwarded_allow_ips"] == "10.0.0.0/8,127.0.0.1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WEB_CONCURRENCY", "many"), ("WEB_CONCURRENCY", "0"), ("PORT", "99999")],
)
def test_bad_server_variables(
    app_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _conf(app_env, **{variable: value})
    assert stopped.value.code == 2
    assert f"{variable}={value!r} is not valid: use a whole number" in capsys.readouterr().err


@contextmanager
def _gunicorn(env: dict[str, str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        GUNICORN, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=35)
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def server_env(app_env: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    from shipways_app.db import create_db_engine
    from shipways_app.settings import load_settings

    engine = create_db_engine(load_settings())
    upgrade(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if k not in {"LISTEN_FDS", "LISTEN_PID"}}
    return {**env, "WEB_CONCURRENCY": "1"}


def test_type_notify_and_proxy_headers(server_env: dict[str, str], tmp_path: Path) -> None:
    """systemd Type=notify: gunicorn sends READY=1; forwarded_allow_ips reaches the worker."""
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(START_TIMEOUT)
        port = free_port()
        env = {
            **server_env,
            "NOTIFY_SOCKET": str(notify_path),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
        }
        with _gunicorn(env) as process:
            assert notify.recv(4096).decode().startswith("READY=1")
            url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{url}/healthz", timeout=START_TIMEOUT)
            proxied = httpx.get(f"{url}/hello", headers={"X-Forwarded-Proto": "https"}, timeout=10)
            assert proxied.headers["strict-transport-security"] == "max-age=31536000"
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        output = process.stdout.read() if process.stdout else ""
    assert process.returncode == 0, output
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(records) == len(output.splitlines()), "every log line is JSON"
    access = [r for r in records if r["logger"] == "shipways_app.access"]
    assert {r["path"] for r in access} >= {"/hello", "/readyz"}
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["msg"] for r in records)
    assert not any("Control socket" in r["msg"] for r in records)


def test_socket_activation(server_env: dict[str, str]) -> None:
    """systemd socket activation: gunicorn serves on the inherited fd 3, ignoring its bind."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    # systemd hands the socket over as fd 3 with LISTEN_PID = the service's own pid.
    command = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", *GUNICORN]
    env = {**server_env, "GUNICORN_BIND": "127.0.0.1:9"}  # must be ignored
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=(3, fd),
        preexec_fn=lambda: os.dup2(fd, 3),
    )
    try:
        listener.close()  # only gunicorn holds it now
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=START_TIMEOUT)
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10).json() == {
            "message": "Hello, World!"
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=35)
    output = process.stdout.read() if process.stdout else ""
    assert f"Listening at: http://127.0.0.1:{port} " in output, output
    assert "127.0.0.1:9 " not in output


def test_sigterm_is_graceful(server_env: dict[str, str]) -> None:
    port = free_port()
    with _gunicorn({**server_env, "GUNICORN_BIND": f"127.0.0.1:{port}"}) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=START_TIMEOUT)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=35)
    assert process.returncode == 0 and time.monotonic() - started < 30
