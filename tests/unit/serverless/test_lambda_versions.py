"""A Lambda version is code and configuration: the local Lambda publishes a new one when
either changed (as PublishVersion does), and runs each version with its own variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from infra.config import ServerlessConfig
from infra.sandbox.narrate import Narrator
from infra.targets.serverless import service, spec
from infra.targets.serverless.sandbox import Release, lambda_environment, release_id
from infra.targets.serverless.switch import Switcher

pytestmark = pytest.mark.unit

ZIP = "a" * 64


def _settings(**env: str) -> dict[str, str]:
    return spec.app_environment(ServerlessConfig(env=env), has_database=True, git_sha="abc")


def test_a_changed_configuration_is_a_new_release_the_same_one_is_not() -> None:
    plain = release_id(ZIP, _settings())
    assert release_id(ZIP, _settings()) == plain
    assert release_id(ZIP, _settings(SHIPWAYS_DEPLOYED_AT="20260101T000000")) != plain
    assert release_id("b" * 64, _settings()) != plain


def test_the_stacks_env_is_the_versions_with_the_recipes_settings_kept() -> None:
    settings = _settings(GREETING="hello", SHIPWAYS_LOG_LEVEL="DEBUG")
    assert settings["GREETING"] == "hello" and settings["SHIPWAYS_LOG_LEVEL"] == "DEBUG"
    assert settings["SHIPWAYS_TARGET"] == "serverless" and settings["SHIPWAYS_GIT_SHA"] == "abc"


class _Gateway:
    url = "http://127.0.0.1:1"

    def __init__(self, routes_dir: Path) -> None:
        self.routes_dir = routes_dir

    def apply(self, routes: service.Routes) -> dict[str, Any]:
        routes.write(self.routes_dir)
        return {}


def test_each_version_runs_with_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ServerlessConfig()
    started: dict[str, dict[str, str]] = {}

    def start_instances(_client: Any, names: list[str], run: dict[str, Any], *_: Any) -> list[Any]:
        started.update({name: run["environment"] for name in names})
        return []

    monkeypatch.setattr(service, "start_instances", start_instances)
    monkeypatch.setattr(Switcher, "_ready", lambda self, version: "200")
    monkeypatch.setattr(Switcher, "_retire", lambda self, version: None)
    platform = lambda_environment(config, "eu-west-1")
    switcher = Switcher(
        client=None,  # type: ignore[arg-type]
        gateway=_Gateway(tmp_path),  # type: ignore[arg-type]
        instance="unit",
        network="unit-net",
        function=spec.function_name(config),
        config=config,
        environment=platform,
        secret_files={"DATABASE_URL_FILE": tmp_path / "url"},
        concurrency=1,
        labels={},
        narrator=Narrator(Console(quiet=True), "serverless"),
    )

    def release(version: str, **env: str) -> Release:
        settings = _settings(**env)
        return Release(
            id=release_id(ZIP, settings),
            image="task",
            zip_sha256=ZIP,
            zip_bytes=1,
            unzipped_bytes=1,
            built_for="python3.11-x86_64",
            environment=settings,
            version=version,
        )

    first, second = release("1"), release("2", SHIPWAYS_DEPLOYED_AT="t2")
    switcher.switch(first, None, migrate=False)
    switcher.switch(second, first, migrate=False)
    switcher.switch(first, second, migrate=False)  # a rollback: version 1's own variables
    v1, v2 = (service.instance_name("unit", v, 0) for v in ("1", "2"))
    assert started[v2]["SHIPWAYS_DEPLOYED_AT"] == "t2"
    assert "SHIPWAYS_DEPLOYED_AT" not in started[v1]
    for version, name in (("1", v1), ("2", v2)):
        env = started[name]
        assert env["AWS_LAMBDA_FUNCTION_VERSION"] == version
        assert env["AWS_REGION"] == "eu-west-1" and env["SHIPWAYS_TARGET"] == "serverless"
    assert service.Routes.read(tmp_path).alias == "1"
