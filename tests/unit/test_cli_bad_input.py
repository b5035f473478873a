"""Bad input, tried as a new user would, gets one line naming what was wrong and what to do,
exit 2 for a usage mistake and 1 for a failure, and under `--json` an error object on stdout.

Each case fails before any stack is planned, so the table runs in seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra import cli
from infra.cli import app
from infra.config import STACKS_DIR, read_stack

pytestmark = pytest.mark.unit

ABSURD = "99999999999999999999"
KNOWN_TARGETS = "give one of vps, paas, k8s, serverless"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # "{tmp}" is the test's own directory
    code: int
    says: tuple[str, ...]  # the line must contain each, the option's name first
    has_json: bool = True

    def argv(self, tmp: Path) -> list[str]:
        return [a.replace("{tmp}", str(tmp)) for a in self.args]


CASES = {
    "report to a missing directory": Case(
        ("report", "-o", "/nonexistent/x.html"),
        2,
        ("--output", "directory /nonexistent does not exist", "create it"),
    ),
    "report onto a directory": Case(
        ("report", "-o", "{tmp}"), 2, ("--output", "is a directory", "give a file name")
    ),
    "a file that is no profile": Case(
        ("compare", "--usage", "{tmp}/passwd"),
        2,
        ("--usage", "passwd is not a usage profile", "YAML mapping"),
    ),
    "an unknown profile": Case(
        ("compare", "--usage", "nope"), 2, ("--usage", "no usage profile 'nope'", "default")
    ),
    "a malformed profile": Case(
        ("report", "--usage", "{tmp}/broken.yaml"),
        2,
        ("--usage", "broken.yaml is not valid YAML at line 3", "fix the file"),
    ),
    "a profile with a wrong value": Case(
        ("plan", "vps", "--usage", "{tmp}/negative.yaml"),
        2,
        ("--usage", "requests_per_month", "greater than or equal to 0"),
    ),
    "absurd traffic (compare)": Case(
        ("compare", "--requests-per-month", ABSURD),
        2,
        ("--requests-per-month", "out of range", "give 0 to 1,000,000,000,000"),
    ),
    "absurd traffic (plan)": Case(
        ("plan", "vps", "--requests-per-month", ABSURD), 2, ("--requests-per-month", "give 0 to")
    ),
    "absurd traffic (report)": Case(
        ("report", "--requests-per-month", ABSURD), 2, ("--requests-per-month", "give 0 to")
    ),
    "negative traffic": Case(
        ("compare", "--requests-per-month", "-5"), 2, ("--requests-per-month", "out of range")
    ),
    "traffic that is no number": Case(
        ("plan", "vps", "--requests-per-month", "lots"),
        2,
        ("--requests-per-month", "'lots' is not a whole number", "give e.g. 5000000"),
    ),
    "a corrupt results file (compare)": Case(
        ("compare",), 1, ("results.json: not a results file", "delete it")
    ),
    "a corrupt results file (report)": Case(
        ("report", "-o", "{tmp}/r.html"), 1, ("results.json: not a results file",)
    ),
    "a misspelt target (up)": Case(
        ("up", "lambda"), 2, ("TARGET", "unknown target 'lambda'", KNOWN_TARGETS)
    ),
    "a misspelt target (plan), said as up says it": Case(
        ("plan", "lambda"), 2, ("STACK", "unknown target 'lambda'", KNOWN_TARGETS)
    ),
    "a misspelt target with a suffix (plan)": Case(
        ("plan", "lambda-prod"), 2, ("STACK", "unknown target 'lambda'", KNOWN_TARGETS)
    ),
    "a stack of a known target with no file (plan)": Case(
        ("plan", "vps-nope"), 2, ("STACK", "no stack file", "known stacks: k8s")
    ),
    "a misspelt target (status)": Case(("status", "vsp"), 2, ("TARGET", "unknown target 'vsp'")),
    "a misspelt target (down)": Case(
        ("down", "lambda"), 2, ("TARGET", KNOWN_TARGETS), has_json=False
    ),
    "a misspelt target (logs)": Case(("logs", "ec2"), 2, ("TARGET",), has_json=False),
    "a misspelt target (rollback)": Case(
        ("rollback", "heroku"), 2, ("TARGET", "unknown target 'heroku'"), has_json=False
    ),
    "a misspelt target (verify)": Case(("verify", "lambda"), 2, ("TARGET", KNOWN_TARGETS)),
    "verify with nothing to verify": Case(("verify",), 2, ("give a TARGET or --url URL",)),
    "verify a URL that is no URL": Case(
        ("verify", "--url", "localhost:8000"), 2, ("--url", "is no base URL", "http://127.0.0.1")
    ),
    "no lines of logs": Case(
        ("logs", "vps", "-n", "0"), 2, ("--lines", "give 1 or more"), has_json=False
    ),
    "a port that is no port (serve)": Case(
        ("serve", "--port", "70000"), 2, ("--port", "give 1 to 65535"), has_json=False
    ),
    "a database in a missing directory (serve)": Case(
        ("serve", "--database", "/nonexistent/app.db"),
        2,
        ("--database", "/nonexistent does not exist", "create it"),
        has_json=False,
    ),
    "a misspelt target (demo)": Case(("demo", "--only", "lambda"), 2, ("--only", KNOWN_TARGETS)),
    "a misspelt target (proof)": Case(("proof", "--only", "eks"), 2, ("--only", "'eks'")),
    "a stack with no file (up)": Case(
        ("up", "vps", "--stack", "nope"), 2, ("--stack", "no stack file", "known stacks")
    ),
    "a malformed stack file (up)": Case(
        ("up", "vps", "--stack", "broken"),
        1,
        ("Pulumi.broken.yaml is not valid YAML at line 3", "fix the file"),
    ),
    "a snapshot of nothing": Case(
        ("docs", "--snapshot"),
        1,
        ("nothing measured on this machine yet", "run `shipways demo`", "left as it is"),
        has_json=False,
    ),
}


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Profiles a user might get wrong, and a results file: corrupt where the case is about
    it, otherwise empty (this machine measured nothing)."""
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "broken.yaml").write_text("name: broken\nrequests_per_month: [1, 2\n")
    (tmp_path / "negative.yaml").write_text(
        "description: d\nrequests_per_month: -1\navg_duration_ms: 100\navg_response_kb: 4\n"
    )
    results = tmp_path / "results.json"
    corrupt = "corrupt" in request.node.callspec.id
    results.write_text("{not json" if corrupt else '{"measurements": []}')
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(results))
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path / "home"))
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for real in STACKS_DIR.glob("Pulumi.*.yaml"):
        (stacks / real.name).write_text(real.read_text())
    broken = "config:\n  shipways:appName: demo\n   tags: oops: x\n"
    (stacks / "Pulumi.broken.yaml").write_text(broken)
    monkeypatch.setattr(cli, "read_stack", lambda name: read_stack(name, stacks))
    return tmp_path


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_and_the_right_exit(case: Case, tmp: Path) -> None:
    done = CliRunner().invoke(app, case.argv(tmp))
    assert done.exit_code == case.code, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output
    message = _one_error_line(done.stderr)
    for words in case.says:
        assert words in message, message
    assert message.startswith(case.says[0]) or case.code == 1, message


@pytest.mark.parametrize(
    "case",
    [c for c in CASES.values() if c.has_json],
    ids=[k for k, c in CASES.items() if c.has_json],
)
def test_bad_input_under_json_is_an_error_object(case: Case, tmp: Path) -> None:
    done = CliRunner().invoke(app, [*case.argv(tmp), "--json"])
    assert done.exit_code == case.code, done.output
    message = _one_error_line(done.stderr)
    assert json.loads(done.stdout) == {"error": {"message": message, "code": case.code}}
