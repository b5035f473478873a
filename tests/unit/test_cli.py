"""The CLI: every command explains itself, and misuse gets a clear message, not a traceback."""

import pytest
from typer.testing import CliRunner

from infra.cli import app

pytestmark = pytest.mark.unit
runner = CliRunner()


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback)


def test_there_are_the_operational_commands() -> None:
    assert {"up", "down", "verify", "status", "logs", "rollback", "plan", "demo", "serve"} <= set(
        _commands()
    )


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_verify_needs_exactly_one_of_target_or_url() -> None:
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2
    assert "give a TARGET or --url URL" in result.output


def test_unknown_target_is_refused_with_the_choices() -> None:
    result = runner.invoke(app, ["up", "heroku"])
    assert result.exit_code == 2
    assert "vps" in result.output and "serverless" in result.output


def test_plan_of_an_unknown_stack_names_the_known_ones() -> None:
    result = runner.invoke(app, ["plan", "vps-nope"])
    assert result.exit_code == 2  # a usage mistake, as `up` answers one
    assert "known stacks: k8s, paas, serverless, vps" in result.output
    assert "Traceback" not in result.output
    misspelt = runner.invoke(app, ["plan", "nope"])
    assert misspelt.exit_code == 2
    assert "unknown target 'nope'; give one of vps, paas, k8s, serverless" in misspelt.output


@pytest.mark.parametrize("command", ["status", "down", "logs", "rollback", "up"])
def test_sandbox_failures_are_one_clear_line(command: str, monkeypatch) -> None:
    from infra.sandbox.errors import SandboxError
    from infra.targets import Slice

    class Broken:
        def __getattr__(self, name: str):
            def fail(*args, **kwargs):
                raise SandboxError("Docker engine not reachable; start it and retry")

            return fail

    monkeypatch.setattr(Slice, "sandbox", lambda self, instance=None: Broken())
    result = runner.invoke(app, [command, "vps"])
    assert result.exit_code == 1
    assert "error: Docker engine not reachable; start it and retry" in result.output
    assert "Traceback" not in result.output
