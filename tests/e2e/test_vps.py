"""The VPS recipe for real: one local VPS per module, provisioned cold, deployed over SSH.

One systemd container (`shipways-test-vps`, its own free 127.0.0.1 ports) is created fresh,
provisioned and deployed by the same Fabric tasks as a real server; every test below runs
against it in order, and it is removed at the end. Reliability claims are measured with a
bounded request loop through nginx while the operation runs: "0 failed requests" means
every single response in that loop was a 200.
"""

from __future__ import annotations

import posixpath
import shlex
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import shipways_fabric
from fabric import Connection
from rich.console import Console

from infra.config import read_stack
from infra.paths import APP_DIR
from infra.sandbox import ensure_engine
from infra.targets.vps import sample_app
from infra.targets.vps.sandbox import ADMIN, Access, VpsSandbox
from infra.testing.load import RequestLoop
from infra.verify import run_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

INSTANCE = "shipways-test-vps"
BARE = "shipways-test-vps-bare"
KEEP = 3
console = Console(stderr=True)


def _load(url: str) -> RequestLoop:
    """Paced below the default rate limit (50 r/s per client), which a test loop must not trip:
    every non-200 here is a real failure, never a 429 we caused ourselves."""
    return RequestLoop(url, rate=30.0, max_requests=6000, max_seconds=240.0)


@pytest.fixture(scope="module")
def box() -> Iterator[VpsSandbox]:
    sandbox = VpsSandbox(INSTANCE, health_timeout_s=20, releases_to_keep=KEEP)
    sandbox.down(console)  # a leftover from a crashed run: start from a fresh server
    sandbox.up(console, stack=read_stack("vps"))
    yield sandbox
    sandbox.down(console)


@pytest.fixture(scope="module")
def access(box: VpsSandbox) -> Access:
    found = box.access()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def settings(box: VpsSandbox) -> Any:
    return box.settings()


@pytest.fixture(scope="module")
def url(box: VpsSandbox) -> str:
    endpoint = box.endpoint()
    assert endpoint is not None
    return endpoint.url


def _current(access: Access, settings: Any) -> str:
    conn = access.connection("deploy")
    try:
        return str(shipways_fabric.status(conn, settings)["current"])
    finally:
        conn.close()


def _serving(url: str) -> str:
    return str(httpx.get(f"{url}/version", timeout=10, trust_env=False).json()["git_sha"])


def _deploy(access: Access, settings: Any) -> Any:
    """The sample app, as `shipways up vps` and `pulumi up` ship it."""
    conn = access.connection("deploy")
    try:
        return sample_app.deploy([conn], settings, progress=console.print)
    finally:
        conn.close()


def _deploy_app(access: Access, settings: Any, app_dir: Path, entry: str) -> Any:
    """Another app, as `fab deploy --app-dir` ships it (wheels from its requirements.txt)."""
    conn = access.connection("deploy")
    try:
        return shipways_fabric.deploy([conn], settings, app_dir, entry, progress=console.print)
    finally:
        conn.close()


NOT_READY = """
from shipways_app.main import app as _app


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/readyz":
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"status": "unavailable"}'})
        return
    await _app(scope, receive, send)
"""


@pytest.fixture(scope="module")
def broken_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample app with two broken entry points: `broken` fails on import,
    `not_ready` is the app with /readyz answering 503. One copy, so one wheel build."""
    copy = tmp_path_factory.mktemp("broken") / "app"
    shutil.copytree(
        APP_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    package = copy / "shipways_app"
    (package / "broken.py").write_text('raise RuntimeError("deliberately broken release")\n')
    (package / "not_ready.py").write_text(NOT_READY)
    return copy


def test_up_serves_the_release_through_nginx(access: Access, settings: Any, url: str) -> None:
    version = httpx.get(f"{url}/version", timeout=10, trust_env=False).json()
    assert version["target"] == "vps"
    assert version["storage"]["engine"] == "postgresql"
    assert version["git_sha"] == _current(access, settings)


def test_second_provision_changes_nothing(access: Access, settings: Any) -> None:
    conn = access.connection(ADMIN)
    try:
        again = shipways_fabric.provision(conn, settings)
    finally:
        conn.close()
    assert again.changed == []


def test_verify_http_https_and_testinfra_checks(box: VpsSandbox, url: str) -> None:
    endpoint = box.endpoint()
    assert endpoint is not None
    checks = box.checks(endpoint)
    report = run_checks(
        url,
        expect_target="vps",
        extra_modules=checks.modules,
        extra_args=checks.pytest_args,
        env=checks.env,
        write_token=box.token(),
    )
    auth = [r for r in report.results if "token" in r.nodeid.lower()]
    assert auth and all(r.outcome == "passed" for r in auth), auth
    host_checks = [r for r in report.results if "test_vps_host" in r.nodeid]
    assert report.ok, [r for r in report.results if r.outcome != "passed"] or report.output
    assert len(host_checks) >= 15 and all(r.outcome == "passed" for r in host_checks)
    assert checks.urls == [endpoint.extra["https_url"]]
    secure = run_checks(
        checks.urls[0], expect_target="vps", env=checks.env, write_token=box.token()
    )
    assert secure.ok, [r for r in secure.results if r.outcome != "passed"]


def test_write_token_is_a_root_only_credential_and_nowhere_else(
    box: VpsSandbox, access: Access, settings: Any, url: str
) -> None:
    """Root's 0600 file, handed over by systemd: not in the app's environment, the release,
    the app's configuration, the journal, or the server container's own environment."""
    token = box.token()
    assert token and len(token) >= 43
    lay = settings.layout
    path = lay.write_token_file
    conn = access.connection("admin")
    try:

        def sudo(command: str) -> Any:
            return conn.run(f"sudo -n sh -c {shlex.quote(command)}", hide=True, warn=True,
                            in_stream=False)  # fmt: skip

        assert sudo(f"stat -c '%U:%G:%a' {path}").stdout.strip() == "root:root:600"
        assert sudo(f"stat -c '%U:%a' {posixpath.dirname(path)}").stdout.strip() == "root:700"
        assert sudo(f"cat {path}").stdout.strip() == token
        # The app's own account cannot read the file; systemd hands it a private copy.
        assert sudo(f"sudo -u {lay.app_user} cat {path}").return_code != 0
        pid = sudo(f"systemctl show -p MainPID --value {lay.service}").stdout.strip()
        environ = sudo(f"cat /proc/{pid}/environ").stdout
        assert "CREDENTIALS_DIRECTORY=" in environ
        assert token not in environ and "WRITE_TOKEN" not in environ
        # Anywhere the token could leak to: grep for it, reading it from its own file.
        places = f"{lay.base}/releases {lay.config_dir} /etc/systemd/system /tmp /var/tmp"
        leaked = sudo(f"grep -rlF -f {path} {places}")
        assert leaked.return_code == 1, f"token found in: {leaked.stdout}"
        journal = sudo(f"journalctl --no-pager -q | grep -cF -f {path}")
        assert journal.stdout.strip() == "0", "token in the journal"
    finally:
        conn.close()
    product = {"name": f"vps-token-{time.time_ns()}", "price": 1}
    created = httpx.post(f"{url}/products", json=product, timeout=10, trust_env=False,
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert created.status_code == 201, created.text
    inspected = docker.from_env().containers.get(box.instance).attrs["Config"]["Env"]
    assert not any(token in item for item in inspected or [])


def test_redeploy_under_load_fails_no_request(access: Access, settings: Any, url: str) -> None:
    before = _current(access, settings)
    with _load(url) as load:
        result = _deploy(access, settings)
    assert load.failed == 0, load.errors[:5]
    assert load.total >= 100
    assert result.hosts[0].mode == "reload" and result.hosts[0].previous == before
    assert 0 < result.hosts[0].healthy_seconds < result.hosts[0].seconds  # a time to healthy
    assert result.build_bytes > 1_000_000  # the app's wheel and every dependency's
    assert load.releases[0] == before and load.releases[-1] == result.release
    assert _serving(url) == result.release == _current(access, settings)


def test_release_that_fails_to_import_is_refused(
    access: Access, settings: Any, url: str, broken_app: Path
) -> None:
    before = _current(access, settings)
    with _load(url) as load, pytest.raises(shipways_fabric.DeployError) as failure:
        _deploy_app(access, settings, broken_app, "shipways_app.broken:app")
    message = str(failure.value)
    assert "on the side socket" in message
    assert "deliberately broken release" in message  # the app's own error, from the journal
    assert f"still serves the previous release {before}" in message
    assert load.failed == 0, load.errors[:5]
    assert set(load.releases) == {before}
    assert _current(access, settings) == before


def test_release_whose_readiness_fails_is_refused(
    access: Access, settings: Any, url: str, broken_app: Path
) -> None:
    before = _current(access, settings)
    with _load(url) as load, pytest.raises(shipways_fabric.DeployError) as failure:
        _deploy_app(access, settings, broken_app, "shipways_app.not_ready:app")
    message = str(failure.value)
    assert "failed its health check on the side socket: GET /readyz -> HTTP 503" in message
    assert f"still serves the previous release {before}" in message
    assert load.failed == 0, load.errors[:5]
    assert _current(access, settings) == before


def test_rollback_restores_the_previous_release(
    box: VpsSandbox, access: Access, settings: Any, url: str
) -> None:
    conn = access.connection("deploy")
    try:
        releases = shipways_fabric.status(conn, settings)["releases"]
    finally:
        conn.close()
    latest, previous = releases[-1], releases[-2]
    assert _serving(url) == latest
    with _load(url) as load:
        restored = box.rollback(console, release=None)
    assert restored == previous and _serving(url) == previous
    assert load.failed == 0, load.errors[:5]
    assert box.rollback(console, release=latest) == latest  # and forward again
    assert _serving(url) == latest


def test_up_again_reuses_the_server(box: VpsSandbox, access: Access, url: str) -> None:
    """`up` is idempotent: same container and ports, nothing to provision, a new release."""
    client = ensure_engine()
    container = client.containers.get(INSTANCE).id
    before = _serving(url)
    endpoint = box.up(console, stack=read_stack("vps"))
    assert endpoint.url == url and box.access() == access
    assert client.containers.get(INSTANCE).id == container
    assert _serving(url) != before


def test_concurrent_deploy_is_refused(access: Access, settings: Any) -> None:
    first: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: first.update(result=_deploy(access, settings)))
    worker.start()
    admin = access.connection(ADMIN)
    try:
        lock = settings.layout.lock_file
        deadline = time.monotonic() + 120
        probe = f"sudo -n flock -n {lock} true"
        while admin.run(probe, warn=True, hide=True, in_stream=False).ok:
            assert time.monotonic() < deadline and worker.is_alive(), "first deploy never locked"
            time.sleep(0.2)
        refused = "another deploy or rollback is running"
        with pytest.raises(shipways_fabric.DeployError, match=refused):
            _deploy(access, settings)
        deploy_conn = access.connection("deploy")
        try:
            with pytest.raises(shipways_fabric.DeployLocked, match="another deploy or rollback"):
                shipways_fabric.rollback(deploy_conn, settings)
        finally:
            deploy_conn.close()
    finally:
        admin.close()
        worker.join(timeout=300)
    assert "result" in first, "the first deploy did not finish"
    assert _current(access, settings) == first["result"].release


def test_rate_limit_answers_429(url: str) -> None:
    statuses: Counter[int] = Counter()
    limited: httpx.Response | None = None
    with httpx.Client(timeout=10, trust_env=False) as client:
        for _ in range(400):  # far beyond 50 r/s + a burst of 100, bounded
            response = client.get(f"{url}/hello")
            statuses[response.status_code] += 1
            if response.status_code == 429:
                limited = response
    time.sleep(3)  # let the bucket refill for whoever comes next
    assert statuses[200] >= 100 and statuses[429] > 0, statuses
    assert limited is not None
    assert limited.json()["detail"].startswith("Too many requests")
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def bare_server() -> Iterator[Connection]:
    """A second server, fresh from the "cloud" and never provisioned: no deploy user yet."""
    bare = VpsSandbox(BARE)
    conn = bare.create(console).connection("deploy")
    try:
        yield conn
    finally:
        conn.close()
        bare.down(console)


def test_rolling_deploy_stops_at_the_first_failure(
    access: Access, settings: Any, url: str, bare_server: Connection
) -> None:
    vps = access.connection("deploy")
    before = _current(access, settings)
    bare_name = f"127.0.0.1:{bare_server.port}"
    vps_name = f"127.0.0.1:{access.ssh_port}"
    try:
        with pytest.raises(shipways_fabric.DeployError) as first_fails:
            sample_app.deploy([bare_server, vps], settings)
        message = str(first_fails.value)
        assert f"{bare_name}: cannot log in as deploy" in message, message
        assert f"roll-out stopped at {bare_name}; not touched: {vps_name}" in message
        assert _current(access, settings) == before

        with pytest.raises(shipways_fabric.DeployError) as second_fails:
            sample_app.deploy([vps, bare_server], settings)
        message = str(second_fails.value)
        now = _current(access, settings)
        assert now != before and _serving(url) == now
        assert f"roll-out stopped at {bare_name}; already on {now}: {vps_name}" in message
    finally:
        vps.close()


def test_old_releases_are_pruned_and_deploys_audited(access: Access, settings: Any) -> None:
    conn = access.connection("deploy")
    try:
        state = shipways_fabric.status(conn, settings)
        wheels = conn.run(
            f"find {settings.layout.wheel_cache} -type f -links 1 | wc -l",
            hide=True,
            in_stream=False,
        ).stdout
    finally:
        conn.close()
    assert len(state["releases"]) == KEEP and state["releases"][-1] == state["current"]
    assert int(wheels) == 0, "cached wheels no release uses were kept"
    assert all(s.startswith("active, enabled") for s in state["services"].values())
    records = state["last_deploys"]
    assert {r["event"] for r in records} >= {"deploy"} and records[-1]["result"] == "ok"
    assert all(r["account"] == "deploy" and r["time"] for r in records)


def test_logs_show_the_app_journal(box: VpsSandbox, capfd: pytest.CaptureFixture[str]) -> None:
    box.logs(console, follow=False, lines=20)
    printed = capfd.readouterr().out
    assert '"logger": "shipways_app.access"' in printed or "gunicorn" in printed, printed[-500:]


def test_down_removes_the_server(box: VpsSandbox) -> None:
    assert box.down(console) is True
    assert box.endpoint() is None
