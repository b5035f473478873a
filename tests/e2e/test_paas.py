"""The local PaaS for real: the bundle installed offline, released, served, redeployed, rolled back.

One instance for the module (`shipways-test-paas`, its own state directory and free ports, so
a running demo is never touched); the tests run in order and build on each other, like a
platform's release history. Only 127.0.0.1 is contacted, every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest
from rich.console import Console

from infra import results
from infra.config import PaasConfig, narrow, read_stack
from infra.paths import APP_DIR
from infra.sandbox.errors import SandboxError
from infra.targets import Endpoint
from infra.targets.paas import bundle as bundles
from infra.targets.paas import processes
from infra.targets.paas.environment import INSTANCE_LABEL
from infra.targets.paas.sandbox import PaasSandbox
from infra.verify import run_checks

pytestmark = pytest.mark.e2e

INSTANCE = "shipways-test-paas"
CONSOLE = Console(stderr=True, width=120)


@pytest.fixture(scope="module")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("results") / "results.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPWAYS_RESULTS", str(path))
        yield path


@pytest.fixture(scope="module")
def box(results_file: Path) -> Iterator[PaasSandbox]:
    sandbox = PaasSandbox(INSTANCE)
    sandbox.down(CONSOLE)  # a leftover from an interrupted run
    yield sandbox
    sandbox.down(CONSOLE)


@pytest.fixture(scope="module")
def first(box: PaasSandbox) -> Endpoint:
    return box.up(CONSOLE, stack=read_stack("paas"))


@pytest.fixture(scope="module")
def config() -> PaasConfig:
    return narrow(read_stack("paas").config, PaasConfig)


@pytest.fixture
def variant(tmp_path: Path) -> Callable[[Callable[[Path], None]], bundles.Bundle]:
    """A bundle of a copy of app/ changed by `edit`."""

    def build(edit: Callable[[Path], None]) -> bundles.Bundle:
        source = tmp_path / "app"
        shutil.copytree(APP_DIR, source, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
        edit(source)
        return bundles.build(tmp_path / "bundles", source)

    return build


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, trust_env=False)


def _runs_from(proc: Path, root: Path) -> bool:
    try:
        return Path(os.readlink(proc / "cwd")).is_relative_to(root)
    except OSError:
        return False


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _procfile_line(source: Path, name: str, command: str) -> None:
    procfile = source / "Procfile"
    lines = procfile.read_text().splitlines()
    procfile.write_text(
        "\n".join(f"{name}: {command}" if line.startswith(f"{name}:") else line for line in lines)
        + "\n"
    )


def test_up_serves_the_contract_and_the_host_checks(box: PaasSandbox, first: Endpoint) -> None:
    assert first.url.startswith("http://127.0.0.1:")
    assert len(first.extra["instance_ids"]) == 1  # the committed stack is SingleInstance
    assert box.endpoint() == first
    checks = box.checks(first)
    report = run_checks(
        first.url,
        expect_target="paas",
        extra_modules=checks.modules,
        extra_args=checks.pytest_args,
        env=checks.env,
        write_token=box.token(),
    )
    host_checks = [r for r in report.results if "test_paas_local" in r.nodeid]
    assert len(host_checks) >= 6
    assert report.ok, [(r.nodeid, r.message) for r in report.results if r.outcome != "passed"]


def test_the_token_is_a_0600_file_handed_over_by_path(box: PaasSandbox, first: Endpoint) -> None:
    """One token per deployment, as a secret file beside the database URL's: never in any
    instance's process environment."""
    token = box.token()
    assert token and len(token) >= 43
    token_file = box.secrets_dir / "write-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    webs = box.load().instances
    assert [w.instance_id for w in webs] == first.extra["instance_ids"]
    for web in webs:  # every instance's processes get the file's path, never the value
        environ = (Path("/proc") / str(web.pid) / "environ").read_bytes()
        assert f"WRITE_TOKEN_FILE={token_file}".encode() in environ, web.instance_id
        assert token.encode() not in environ, web.instance_id
    anonymous = httpx.post(f"{first.url}/products", json={"name": "x", "price": 1},
                           timeout=10, trust_env=False)  # fmt: skip
    assert anonymous.status_code == 401


def test_up_again_with_nothing_new_is_a_no_op(box: PaasSandbox, first: Endpoint) -> None:
    again = box.up(CONSOLE, stack=read_stack("paas"))
    assert again == first


def test_up_records_bundle_size_and_time_to_healthy(results_file: Path, first: Endpoint) -> None:
    recorded = results.load(results_file)
    size = recorded.latest("paas", "bundle_bytes")
    seconds = recorded.latest("paas", "bundle_to_healthy_seconds")
    assert size is not None and size.value > 10_000 and size.unit == "B"
    assert seconds is not None and 0 < seconds.value < 300


def test_a_failed_release_step_never_starts_web(
    box: PaasSandbox, first: Endpoint, config: PaasConfig, variant: Callable[..., bundles.Bundle]
) -> None:
    broken = variant(lambda s: _procfile_line(s, "release", "python -c 'raise SystemExit(3)'"))
    with pytest.raises(SandboxError, match=r"release process failed \(exit 3\)"):
        box.deploy(broken, config, CONSOLE)
    assert box.endpoint() == first
    assert _get(f"{first.url}/readyz").status_code == 200
    ports = [release.id for release in box.load().releases]
    assert len(ports) == 1


def test_a_web_that_never_gets_healthy_is_stopped(
    box: PaasSandbox, first: Endpoint, config: PaasConfig, variant: Callable[..., bundles.Bundle]
) -> None:
    # Answers every path with 404: up, listening, never healthy.
    sick = variant(
        lambda s: _procfile_line(s, "web", "python -m http.server --bind 127.0.0.1 $PORT")
    )
    impatient = PaasSandbox(INSTANCE, health_timeout=4)
    with pytest.raises(SandboxError, match=r"never answered 200 .*HTTP 404"):
        impatient.deploy(sick, config, CONSOLE)
    assert box.endpoint() == first
    assert _get(f"{first.url}/readyz").status_code == 200
    leftovers = [
        proc.name
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit() and _runs_from(proc, box.root) and b"http.server" in _cmdline(proc)
    ]
    assert leftovers == []


def test_redeploy_switches_to_the_new_release_and_keeps_the_data(
    box: PaasSandbox, first: Endpoint, config: PaasConfig
) -> None:
    created = httpx.post(
        f"{first.url}/products",
        json={"name": "survives-redeploy", "price": 12.5},
        headers={"Authorization": f"Bearer {box.token()}"},
        timeout=10,
        trust_env=False,
    )
    assert created.status_code == 201, created.text
    old_web = box.load().instances[0]
    changed = config.model_copy(update={"env": {"SHIPWAYS_LOG_LEVEL": "DEBUG"}})
    second = box.deploy(bundles.build(Path(box.root) / "scratch"), changed, CONSOLE)
    assert second.url == first.url and second.extra["release"] != first.extra["release"]
    assert _get(f"{second.url}/readyz").status_code == 200
    assert not processes.alive(old_web.pid, old_web.started)
    assert second.extra["instance_ids"] != first.extra["instance_ids"]  # a new instance serves
    product = _get(f"{second.url}{created.headers['location']}")
    assert product.status_code == 200 and product.json()["name"] == "survives-redeploy"
    assert box.status(CONSOLE)["releases"] == [first.extra["release"], second.extra["release"]]


def test_rollback_serves_the_previous_release_again(box: PaasSandbox, first: Endpoint) -> None:
    now = box.rollback(CONSOLE, release=None)
    assert now == first.extra["release"]
    endpoint = box.endpoint()
    assert endpoint is not None and endpoint.extra["release"] == now
    assert _get(f"{endpoint.url}/readyz").status_code == 200
    assert json.loads(_get(f"{endpoint.url}/version").text)["target"] == "paas"


def test_down_removes_every_process_and_file(box: PaasSandbox) -> None:
    webs = box.load().instances
    assert webs
    assert box.down(CONSOLE) is True
    assert not any(processes.alive(web.pid, web.started) for web in webs)
    assert not box.root.exists()
    assert not (box.root.parent.parent / "sandbox" / INSTANCE).exists()  # the password's dir
    leftovers = docker.from_env().containers.list(
        all=True, filters={"label": f"{INSTANCE_LABEL}={INSTANCE}"}
    )
    assert leftovers == []  # instances, front door, database
    assert box.endpoint() is None
    assert box.down(CONSOLE) is False
