"""The local Lambda keeps the config it was brought up with: a rollback in a later process
switches with that config and region, and reads no stack file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from infra import config as config_module
from infra.config import ServerlessConfig
from infra.targets.serverless import sandbox as serverless_sandbox
from infra.targets.serverless import service
from infra.targets.serverless.sandbox import Release, ServerlessSandbox, State

pytestmark = pytest.mark.unit

QUIET = Console(quiet=True)


class _Images:
    def get(self, image: str) -> str:
        return image  # every kept release's image is still there


class _Client:
    images = _Images()


def _release(release_id: str) -> Release:
    return Release(
        id=release_id,
        image=f"shipways/lambda-task:{release_id}",
        zip_sha256=release_id * 4,
        zip_bytes=1,
        unzipped_bytes=1,
        built_for="python3.11-x86_64",
        version=str(ord(release_id[0]) - ord("a") + 1),
    )


def test_rollback_uses_the_kept_config_and_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    box = ServerlessSandbox("shipways-unit-serverless")
    box.state_file.parent.mkdir(parents=True, exist_ok=True)
    kept = ServerlessConfig(memory_mb=1024, app_name="kept-app")
    state = State(config=kept, region="eu-west-1", current="bbbb")
    state.releases = [_release("aaaa"), _release("bbbb")]
    box.state_file.write_text(state.model_dump_json())

    def no_stack_file(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("rollback read a stack file")

    deployed: list[tuple[ServerlessConfig, str, str, str | None, bool]] = []

    class _Switcher:
        def __init__(self, cfg: ServerlessConfig, region: str) -> None:
            self.cfg, self.region = cfg, region

        def switch(self, rel: Release, previous: Release | None, *, migrate: bool) -> None:
            was = previous.id if previous else None
            deployed.append((self.cfg, self.region, rel.id, was, migrate))

    def switcher(_narrator: Any, _client: Any, cfg: ServerlessConfig, region: str) -> Any:
        return _Switcher(cfg, region)

    monkeypatch.setattr(config_module, "read_stack_file", no_stack_file)
    monkeypatch.setattr(serverless_sandbox, "ensure_engine", lambda **_kw: _Client())
    monkeypatch.setattr(box, "_switcher", switcher)

    assert box.rollback(QUIET, release=None) == "aaaa"
    # The alias moves back to the kept version: no migration (the schema is not rolled back)
    assert deployed == [(kept, "eu-west-1", "aaaa", "bbbb", False)]
    assert ServerlessSandbox("shipways-unit-serverless")._store.load().current == "aaaa"


def test_the_write_token_file_is_for_the_function_user_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stands in for Secrets Manager: a file kept outside /var/task, for uid 993 alone (or,
    without root, inside a directory only the operator can enter)."""
    import os
    import stat

    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    box = ServerlessSandbox("shipways-test-token")
    assert box.token() is None
    path = box._token_file()
    token = box.token()
    assert token and path.read_text().strip() == token
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (993, 0o400)
    else:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert box._token_file() == path and box.token() == token, "one token per deployment"
    # Each instance gets it as it gets the database URL: a read-only file, its path in the env.
    run = service.instance_run(
        image="runtime",
        network="net",
        name="fn-1",
        environment={},
        secret_files={"WRITE_TOKEN_FILE": path},
        memory_mb=512,
        timeout_s=3,
        handler="shipways_app.lambda_handler.handler",
    )
    assert run["command"][-1] == "shipways_app.lambda_handler.handler"
    assert run["environment"]["WRITE_TOKEN_FILE"] == "/run/secrets/write-token"
    assert run["volumes"] == {str(path): {"bind": "/run/secrets/write-token", "mode": "ro"}}
    assert token not in repr(run)
