"""The local PaaS's pieces that need no network: process groups, release bookkeeping, refusals."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from infra.config import PaasConfig
from infra.paths import APP_DIR
from infra.sandbox.errors import SandboxError
from infra.sandbox.releases import NoSuchRelease
from infra.targets import NotSupported
from infra.targets.paas import bundle as bundles
from infra.targets.paas import processes
from infra.targets.paas.sandbox import PaasSandbox, _fingerprint

pytestmark = pytest.mark.unit


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_process_group_is_started_found_and_stopped_whole(tmp_path: Path) -> None:
    pid, started = processes.spawn(
        ["/bin/sh", "-c", "sleep 60 & sleep 60"], cwd=tmp_path, env={}, log=tmp_path / "log"
    )
    assert processes.alive(pid, started)
    assert os.getpgid(pid) == pid, "the process must lead its own group"
    assert processes.stop(pid, started, timeout=10)
    assert not processes.alive(pid, started)
    assert _group_gone(pid), "a child of the group outlived stop()"
    assert processes.stop(pid, started) is False


def test_a_recycled_pid_is_not_mistaken_for_ours() -> None:
    started = processes.start_time(os.getpid())
    assert started is not None
    assert processes.alive(os.getpid(), started)
    assert not processes.alive(os.getpid(), started + 1)
    assert processes.stop(os.getpid(), started + 1) is False  # never signals a stranger


def test_stop_escalates_when_sigterm_is_ignored(tmp_path: Path) -> None:
    pid, started = processes.spawn(
        ["/bin/sh", "-c", "trap '' TERM; sleep 60"], cwd=tmp_path, env={}, log=tmp_path / "log"
    )
    time.sleep(0.3)  # let the shell install its trap
    begun = time.monotonic()
    assert processes.stop(pid, started, timeout=1.0)
    assert time.monotonic() - begun < 8
    assert _group_gone(pid)


def test_spawned_processes_create_private_files(tmp_path: Path) -> None:
    pid, started = processes.spawn(
        ["/bin/sh", "-c", "echo x > made.txt"], cwd=tmp_path, env={}, log=tmp_path / "log"
    )
    for _ in range(50):
        if (tmp_path / "made.txt").exists() and not processes.alive(pid, started):
            break
        time.sleep(0.1)
    processes.stop(pid, started)
    assert ((tmp_path / "made.txt").stat().st_mode & 0o777) == 0o600


def test_fingerprint_ignores_the_commit_but_not_settings() -> None:
    env = {"SHIPWAYS_GIT_SHA": "abc", "WEB_CONCURRENCY": "2"}
    same = _fingerprint("f" * 64, env)
    assert _fingerprint("f" * 64, {**env, "SHIPWAYS_GIT_SHA": "def"}) == same
    assert _fingerprint("f" * 64, {**env, "WEB_CONCURRENCY": "3"}) != same
    assert _fingerprint("e" * 64, env) != same


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PaasSandbox:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(tmp_path / "results.json"))
    return PaasSandbox("shipways-test-paas-unit")


def test_nothing_running_is_reported_plainly(isolated: PaasSandbox) -> None:
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    assert isolated.endpoint() is None
    assert isolated.status(console)["state"] == "stopped"
    assert isolated.down(console) is False
    with pytest.raises(NoSuchRelease, match="no earlier release"):
        isolated.rollback(console, release=None)
    with pytest.raises(NotSupported, match="shipways up paas"):
        isolated.logs(console, follow=False, lines=10)


def test_a_python_the_machine_lacks_is_named(isolated: PaasSandbox, tmp_path: Path) -> None:
    source = tmp_path / "app"
    shutil.copytree(APP_DIR, source, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    (source / ".python-version").write_text("3.99\n")
    built = bundles.build(tmp_path / "bundles", source)
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    with pytest.raises(SandboxError, match=r"asks for Python 3\.99 .* no python3\.99"):
        isolated.deploy(built, PaasConfig(), console)
    assert isolated.endpoint() is None
    assert isolated.load().releases == []
    assert sys.version_info >= (3, 11)


def test_the_write_token_is_handed_over_by_path_one_per_deployment(
    isolated: PaasSandbox,
) -> None:
    assert isolated.token() is None, "no deployment, no token"
    env = isolated._runtime_env(PaasConfig())
    token_file = Path(env["WRITE_TOKEN_FILE"])
    token = isolated.token()
    assert token and token_file.read_text().strip() == token
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token not in "".join(env.values()), "the processes get the path, never the value"
    again = isolated._runtime_env(PaasConfig())
    assert isolated.token() == token and _fingerprint("f" * 64, again) == _fingerprint(
        "f" * 64, env
    ), "a redeploy keeps the token (and so the clients' access)"
