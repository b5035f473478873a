"""The write token on the command line: `token` prints a local deployment's, `verify` sends
it, `serve` prints the one it generated; the helper keeps it in a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.sandbox import tokens
from infra.targets import Checks, Endpoint, Slice, TargetName

pytestmark = pytest.mark.unit
runner = CliRunner()
TOKEN = "cli-test-token-0123456789abcdef"


class FakeSandbox:
    name = TargetName.PAAS

    def __init__(self, token: str | None, running: bool = True) -> None:
        self._token, self._running = token, running

    def endpoint(self) -> Endpoint | None:
        url = "http://127.0.0.1:9"
        return Endpoint(target=self.name, url=url) if self._running else None

    def token(self) -> str | None:
        return self._token

    def checks(self, endpoint: Endpoint) -> Checks:
        return Checks()


def _use(monkeypatch: pytest.MonkeyPatch, box: FakeSandbox) -> None:
    monkeypatch.setattr(Slice, "sandbox", lambda self, instance=None: box)


def test_token_prints_the_token_alone_on_the_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, FakeSandbox(TOKEN))
    result = runner.invoke(app, ["token", "paas"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == TOKEN


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (FakeSandbox(TOKEN, running=False), "paas is not running; start it with `shipways up"),
        (FakeSandbox(None), "paas has no write token yet; redeploy it"),
    ],
)
def test_token_without_a_deployment_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, box: FakeSandbox, message: str
) -> None:
    _use(monkeypatch, box)
    result = runner.invoke(app, ["token", "paas"])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_verify_sends_the_target_token_unless_one_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import infra.verify

    sent: list[Any] = []

    def fake_run_checks(url: str, **kwargs: Any) -> Any:
        sent.append(kwargs.get("write_token"))
        return infra.verify.VerifyReport(base_url=url, exit_code=0, duration_s=0.0)

    monkeypatch.setattr(infra.verify, "run_checks", fake_run_checks)
    _use(monkeypatch, FakeSandbox(TOKEN))
    runner.invoke(app, ["verify", "paas"])
    runner.invoke(app, ["verify", "paas", "--write-token", "given-token-0123456789"])
    runner.invoke(app, ["verify", "--url", "http://127.0.0.1:9", "--write-token", "url-token"])
    assert sent == [TOKEN, "given-token-0123456789", "url-token"]


def test_serve_refuses_a_short_token() -> None:
    result = runner.invoke(app, ["serve", "--write-token", "short"])
    assert result.exit_code == 2
    assert "--write-token: too short; give at least 16 characters" in result.output


def test_serve_prints_the_token_it_generated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from infra import local_app

    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    started: list[dict[str, str]] = []
    monkeypatch.setattr(local_app, "migrate", lambda env, app=None: None)
    monkeypatch.setattr(local_app.os, "execvpe", lambda exe, cmd, env: started.append(env))
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    printed = result.output.strip().splitlines()[-1]
    token_file = Path(started[0]["WRITE_TOKEN_FILE"])
    assert token_file.read_text().strip() == printed and len(printed) >= 43
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert printed not in str(started[0]), "the app gets the file, never the value"
    again = runner.invoke(app, ["serve", "--write-token", "my-own-token-0123456789"])
    assert again.output.strip().splitlines()[-1] == "my-own-token-0123456789"
    assert token_file.read_text().strip() == "my-own-token-0123456789"


def test_ensure_keeps_one_token_per_deployment(tmp_path: Path) -> None:
    assert tokens.read(tmp_path) is None
    path = tokens.ensure(tmp_path)
    first = tokens.read(tmp_path)
    assert first and len(first) == 43 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tokens.ensure(tmp_path) == path and tokens.read(tmp_path) == first, "kept"
    tokens.ensure(tmp_path, given="replacement-token-0123456789")
    assert tokens.read(tmp_path) == "replacement-token-0123456789"
    assert tokens.generate() != tokens.generate()
