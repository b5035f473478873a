"""The local PaaS run seen from its host (testinfra, `--hosts=local://`).

`shipways verify paas` runs these beside the HTTP contract. They check what the contract
cannot see, on the first instance: the web process runs from its release workspace on the
release's own virtualenv, listens on its port inside its own instance (network namespace)
and not on this machine's, runs uvicorn workers, got a clean platform-style environment,
and reads its database URL from a private file, never from its environment. The state file
`shipways up paas` wrote (path in SHIPWAYS_PAAS_STATE) says what to expect.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.targets.paas.fleet import enter
from infra.targets.paas.sandbox import STATE_ENV, Release, State, Web


@dataclass(frozen=True)
class Served:
    root: Path
    web: Web
    release: Release

    @property
    def workdir(self) -> Path:
        return self.root / "releases" / self.release.id


@pytest.fixture(scope="module")
def served() -> Served:
    path = os.environ.get(STATE_ENV)
    if not path:
        pytest.fail(f"{STATE_ENV} is not set: run these checks through `shipways verify paas`")
    state = State.model_validate_json(Path(path).read_text())
    assert state.instances, "no instance recorded: run `shipways up paas`"
    web = state.instances[0]
    release = state.find(web.release)
    assert release is not None, f"release {web.release} is not in the state file"
    return Served(Path(path).parent, web, release)


def _group(host: Any, leader: int) -> list[Any]:
    """Every process descended from the Procfile runner (bounded: a handful exist)."""
    found: list[Any] = []
    queue = [leader]
    while queue and len(found) < 200:
        parent = queue.pop()
        children = host.process.filter(ppid=parent)
        found.extend(children)
        queue.extend(child.pid for child in children)
    return found


def _gunicorn(host: Any, served: Served) -> tuple[Any, list[Any]]:
    group = _group(host, served.web.pid)
    runs_gunicorn = [p for p in group if "bin/gunicorn" in p.args]
    pids = {p.pid for p in runs_gunicorn}
    masters = [p for p in runs_gunicorn if p.ppid not in pids]
    assert len(masters) == 1, f"expected one gunicorn master under honcho, found {masters}"
    workers = [p for p in runs_gunicorn if p.ppid == masters[0].pid]
    return masters[0], workers


def test_web_runs_under_the_procfile_runner_from_its_release(host: Any, served: Served) -> None:
    runner = host.process.get(pid=served.web.pid)
    assert "honcho" in runner.args and runner.args.endswith(" web"), runner.args
    app = served.workdir / "app"
    master, _ = _gunicorn(host, served)
    assert host.file(f"/proc/{served.web.pid}/cwd").linked_to == str(app)
    assert host.file(f"/proc/{master.pid}/cwd").linked_to == str(app)
    interpreter = master.args.split()[0]
    assert interpreter == str(Path(served.release.venv) / "bin" / "python"), (
        f"gunicorn runs on {interpreter}, not on the virtualenv built for this release"
    )


def test_listens_inside_its_instance_only(host: Any, served: Served) -> None:
    port = served.web.port
    pids = {served.web.pid, *(p.pid for p in _group(host, served.web.pid))}
    inside = host.run(" ".join(enter(served.web.pid, "ss", "-Hltnp"))).stdout.splitlines()
    ours = [line.split()[3] for line in inside if pids & _pids_in(line)]
    assert ours and set(ours) == {f"0.0.0.0:{port}"}, f"the web group listens on {ours}"
    on_host = host.run("ss -Hltnp").stdout.splitlines()
    leaked = [line.split()[3] for line in on_host if pids & _pids_in(line)]
    assert leaked == [], f"the web group listens on this machine's own network: {leaked}"


def _pids_in(ss_line: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"pid=(\d+)", ss_line)}


def test_workers_are_uvicorn_workers(host: Any, served: Served) -> None:
    _, workers = _gunicorn(host, served)
    assert len(workers) == int(served.release.env["WEB_CONCURRENCY"])
    for worker in workers:
        maps = host.file(f"/proc/{worker.pid}/maps").content_string
        assert "uvloop" in maps, f"worker {worker.pid} does not run uvicorn's event loop"


def test_environment_is_the_platforms_not_the_toolkits(host: Any, served: Served) -> None:
    master, _ = _gunicorn(host, served)
    raw = host.file(f"/proc/{master.pid}/environ").content
    env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    assert env["PORT"] == str(served.web.port)
    assert env["WEB_BIND_HOST"] == "0.0.0.0"  # noqa: S104 - its own network namespace
    assert env["SHIPWAYS_TARGET"] == "paas"
    assert env["PATH"].split(":")[0] == str(Path(served.release.venv) / "bin")
    leaked = {"VIRTUAL_ENV", "PYTHONPATH", "UV", "DATABASE_URL", "WRITE_TOKEN"} & set(env)
    assert not leaked, f"leaked into the app's environment: {sorted(leaked)}"


def test_database_url_comes_from_a_private_file(host: Any, served: Served) -> None:
    secret = host.file(served.release.env["DATABASE_URL_FILE"])
    assert secret.is_file
    assert secret.mode == 0o600, f"secret mode {oct(secret.mode)}: should be 0600"
    assert host.file(str(Path(secret.path).parent)).mode == 0o700
    assert secret.content_string.startswith("postgresql+psycopg://")
    assert "SHIPWAYS_SQLITE_PATH" not in served.release.env


def test_write_token_is_a_private_file_outside_the_release(host: Any, served: Served) -> None:
    """The stand-in for the platform's secret: handed over by path, readable by its owner."""
    token = host.file(served.release.env["WRITE_TOKEN_FILE"])
    assert token.is_file
    assert token.mode == 0o600, f"write token mode {oct(token.mode)}: should be 0600"
    assert host.file(str(Path(token.path).parent)).mode == 0o700
    assert not Path(token.path).is_relative_to(served.workdir)


def test_workspace_holds_the_bundle_and_nothing_else(host: Any, served: Served) -> None:
    app = served.workdir / "app"
    for name in ("Procfile", "requirements.txt", ".python-version", "app.json", "shipways_app"):
        assert host.file(str(app / name)).exists, f"{name} missing from the release workspace"
    for name in (".git", ".env", "tests", ".venv", "venv"):
        assert not host.file(str(app / name)).exists, f"{name} must not be in the bundle"
