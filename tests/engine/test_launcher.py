"""Pulumi.yaml, the toolchain and the virtualenv agree: the CLI's launchers find the project's
interpreter for the program's dynamic providers and for the policy pack.

The rule is the launchers' own (see infra/testing/launcher.py); it is held here against the
committed files and the environment `uv sync` made, and shown to refuse the layout that
failed `pulumi preview` (`main: stacks/` with `toolchain: uv`, so `stacks/.venv`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.paths import ROOT
from infra.testing.launcher import (
    LauncherError,
    Runtime,
    engine_env,
    policy_interpreter,
    policy_runtime,
    project_runtime,
    provider_interpreter,
)

pytestmark = [pytest.mark.engine, pytest.mark.unit]

PROJECT = ROOT / "Pulumi.yaml"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"  # where `uv sync` puts the environment
COMMITTED = PROJECT.read_text()
OLD_LAYOUT = """name: shipways
runtime:
  name: python
  options:
    toolchain: uv
main: stacks/
stackConfigDir: stacks
"""


def _interpreter(text: str, **env: str) -> Path:
    runtime = project_runtime(PROJECT, text)
    return provider_interpreter(runtime, engine_env(runtime) | env)


def test_uv_sync_made_the_environment_the_launcher_looks_for() -> None:
    assert (ROOT / ".venv" / "pyvenv.cfg").is_file()
    assert VENV_PYTHON.is_file()


@pytest.mark.parametrize(
    ("text", "refused"),
    [(COMMITTED, None), (OLD_LAYOUT, "stacks/.venv\" doesn't exist")],
    ids=["committed", "old-main-stacks"],
)
def test_provider_launcher_finds_the_project_venv(text: str, refused: str | None) -> None:
    if refused is None:
        assert _interpreter(text) == VENV_PYTHON
    else:
        with pytest.raises(LauncherError, match=refused):
            _interpreter(text)


def test_virtualenv_option_is_relative_to_main_and_wins_over_the_toolchain() -> None:
    assert _interpreter(OLD_LAYOUT, PULUMI_RUNTIME_VIRTUALENV="../.venv") == VENV_PYTHON
    with pytest.raises(LauncherError, match="doesn't exist"):
        _interpreter(COMMITTED, PULUMI_RUNTIME_VIRTUALENV="venv")


def test_the_engine_passes_the_toolchain_to_the_launcher() -> None:
    env = engine_env(project_runtime(PROJECT))
    assert env["PULUMI_RUNTIME_TOOLCHAIN"] == "uv"
    assert "VIRTUAL_ENV" not in env and "PYTHONPATH" not in env


def test_the_program_and_the_stack_files_are_where_pulumi_yaml_says() -> None:
    spec = yaml.safe_load(COMMITTED)
    runtime = project_runtime(PROJECT)
    assert (runtime.directory / "__main__.py").is_file()
    stacks = ROOT / spec["stackConfigDir"]
    assert {"vps", "paas", "k8s", "serverless"} <= {
        p.name.split(".")[1] for p in stacks.glob("Pulumi.*.yaml")
    }
    assert not (stacks / "__main__.py").exists()


def test_policy_pack_launcher_finds_the_project_venv() -> None:
    runtime = policy_runtime(ROOT / "policy")
    assert runtime.directory == (ROOT / "policy").resolve()
    assert policy_interpreter(runtime) == VENV_PYTHON


def test_policy_pack_without_a_virtualenv_is_refused() -> None:
    with pytest.raises(LauncherError, match="virtualenv"):
        policy_interpreter(Runtime(ROOT / "policy", {"toolchain": "uv"}))
