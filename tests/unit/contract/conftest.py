"""Real uvicorn servers on free 127.0.0.1 ports, for running the contract over HTTP(S)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.sandbox.containers import free_port

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 30.0
# It begins with "-", as one token_urlsafe draws in 64 does: it must still reach the contract.
WRITE_TOKEN = "-contract-suite-write-token-0123456789"


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPWAYS_", "WRITE_TOKEN"))}
    env.pop("DATABASE_URL", None)
    env.pop("CREDENTIALS_DIRECTORY", None)
    return {**env, **overrides}


def _wait_until_up(
    url: str, verify: bool | ssl.SSLContext, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(verify=verify, timeout=2.0) as client:
        for _ in range(int(START_TIMEOUT / 0.2)):
            if process.poll() is not None or time.monotonic() > deadline:
                break
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not come up on {url}:\n{log.read_text()[-3000:]}")


@contextmanager
def uvicorn_server(
    tmp: Path,
    *,
    env: dict[str, str],
    app: str = "shipways_app.main:app",
    factory: bool = False,
    tls: Tls | None = None,
    hostname: str | None = None,
) -> Iterator[str]:
    """Migrate (the explicit release step), then serve; yields the base URL. With `hostname`
    the server runs in its own UTS namespace under that name, as a container would, so its
    `/version` names it apart from other instances on this host."""
    migrate = subprocess.run(
        [sys.executable, "-m", "shipways_app", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    if hostname is not None:
        command = [*_own_hostname(hostname), *command]
    command += ["--app-dir", str(HERE), "--factory"] if factory else []
    if tls is not None:
        command += ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]
    log = tmp / f"uvicorn-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        verify = ssl.create_default_context(cafile=str(tls.cert)) if tls else True
        _wait_until_up(url, verify, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _own_hostname(name: str) -> list[str]:
    """Command prefix: run in a new UTS namespace named `name` (a user namespace if not root)."""
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *userns, "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name]


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


@pytest.fixture(scope="module")
def serve(module_tmp: Path) -> Callable[..., AbstractContextManager[str]]:
    """`with serve(app=..., factory=..., tls=..., hostname=..., **ENV) as url:` - a migrated,
    running app, on its own SQLite file unless ENV names a database, whose write token is
    WRITE_TOKEN (in a file, as deployed)."""
    token_file = module_tmp / "write-token"
    token_file.write_text(WRITE_TOKEN)

    def start(
        *,
        app: str = "shipways_app.main:app",
        factory: bool = False,
        tls: Tls | None = None,
        hostname: str | None = None,
        **env: str,
    ) -> AbstractContextManager[str]:
        env.setdefault("SHIPWAYS_SQLITE_PATH", str(module_tmp / f"app-{free_port()}.db"))
        env.setdefault("WRITE_TOKEN_FILE", str(token_file))
        return uvicorn_server(
            module_tmp,
            env=clean_env(**env),
            app=app,
            factory=factory,
            tls=tls,
            hostname=hostname,
        )

    return start


@pytest.fixture(scope="session")
def write_token() -> str:
    return WRITE_TOKEN


@pytest.fixture(scope="module")
def self_signed(module_tmp: Path) -> Tls:
    """A certificate for 127.0.0.1, valid for a day: stands in for a private CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Tls(module_tmp / "cert.pem", module_tmp / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
