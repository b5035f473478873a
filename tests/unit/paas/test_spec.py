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
    shared = spec.app_environment(config, sqlite_path=None)
    assert env.items() >= shared.items()
    platform = {
        "SHIPWAYS_GIT_SHA",
        "PYTHONUNBUFFERED",
        "DATABASE_URL_FILE",
        "WRITE_TOKEN_FILE",
        *PASSTHROUGH,
    }
    assert set(env) - set(shared) <= platform
    assert env["DATABASE_URL_FILE"] == str(box.secret_file)  # a path, never the URL
    assert env["SHIPWAYS_GIT_SHA"]


def test_instance_count_and_deployment_policy_are_what_beanstalk_is_given() -> None:
    single = PaasConfig()
    assert spec.instance_count(single) == 1
    assert spec.deployment_settings(single) == [
        ("aws:elasticbeanstalk:command", "DeploymentPolicy", "Immutable")
    ]
    rolling = PaasConfig(
        environmentType="LoadBalanced",
        allowHttp=True,
        minInstances=3,
        maxInstances=4,
        deploymentPolicy="RollingWithAdditionalBatch",
    )
    assert spec.instance_count(rolling) == 3
    assert spec.deployment_option(rolling, "DeploymentPolicy") == "RollingWithAdditionalBatch"
    assert spec.deployment_option(rolling, "BatchSize") == "1"
