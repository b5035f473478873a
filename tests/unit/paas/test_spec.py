"""One app environment for the Beanstalk stack and the local PaaS: same settings, same
precedence; each platform adds only what it supplies itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import PaasConfig
from infra.targets.paas import spec
from infra.targets.paas.sandbox import PASSTHROUGH, PaasSandbox

pytestmark = pytest.mark.unit


def test_platform_settings_win_over_the_stacks_env() -> None:
    config = PaasConfig(webConcurrency=3, env={"SHIPWAYS_LOG_LEVEL": "DEBUG"})
    assert spec.app_environment(config, sqlite_path=None) == {
        "SHIPWAYS_LOG_LEVEL": "DEBUG",
        "SHIPWAYS_TARGET": "paas",
        "WEB_CONCURRENCY": "3",
        "WEB_BIND_HOST": "127.0.0.1",
    }
    with_sqlite = spec.app_environment(config, sqlite_path="/data/app.db")
    assert with_sqlite["SHIPWAYS_SQLITE_PATH"] == "/data/app.db"


def test_the_sandbox_runs_releases_with_the_stacks_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    box = PaasSandbox("shipways-unit-paas-spec")
    config = PaasConfig(webConcurrency=3, env={"SHIPWAYS_LOG_LEVEL": "DEBUG"})
    env = box._runtime_env(config)
    shared = spec.app_environment(config, sqlite_path=str(box.shared_dir / "shipways.db"))
    assert env.items() >= shared.items()
    extra = {"SHIPWAYS_GIT_SHA", "PYTHONUNBUFFERED", "WRITE_TOKEN_FILE", *PASSTHROUGH}
    assert set(env) - set(shared) <= extra
    assert env["SHIPWAYS_GIT_SHA"]
