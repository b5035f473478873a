"""`fab` command line for the VPS tasks (the same functions the Pulumi stack and the sandbox call).

    uv run fab -r ansible-free-scripts -H admin@HOST provision [--settings FILE]
    uv run fab -r ansible-free-scripts -H deploy@HOST deploy [--app-dir app] [--entry m:app]
    uv run fab -r ansible-free-scripts -H deploy@HOST rollback [--release ID]
    uv run fab -r ansible-free-scripts -H deploy@HOST status
    uv run fab -r ansible-free-scripts -H deploy@HOST logs [--follow] [--lines 100]

The tasks come from the installed `shipways-fabric` package (this directory, a member of
the project's uv workspace). Settings come from a YAML file (`--settings`, keys as in
`shipways_fabric.Settings`, e.g. `appName: my-api`), or are the defaults. Host keys are
checked against ~/.ssh/known_hosts, or the file given with --known-hosts: unknown keys are
refused. With several -H hosts Fabric runs a task host by host and stops at the first failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabric import Connection, task

import shipways_fabric as tasks

# The sample app of the repository this file lives in.
SAMPLE_APP = Path(__file__).resolve().parent.parent / "app"

_COMMON = {
    "settings": "YAML file of settings, e.g. `appName: my-api` (default: the defaults)",
    "known-hosts": "known_hosts file with the server's key (default: ~/.ssh/known_hosts)",
}


def _settings(path: str) -> tasks.Settings:
    if not path:
        return tasks.Settings()
    try:
        return tasks.read_settings(Path(path))
    except ValueError as exc:
        sys.exit(f"error: {exc}")


def _pinned(c: Connection, known_hosts: str) -> Connection:
    return tasks.pin_host_keys(c, Path(known_hosts) if known_hosts else None)


@contextmanager
def _failures_as_errors() -> Iterator[None]:
    """A task failure ends `fab` with its message (it says what to do), not a traceback."""
    try:
        yield
    except tasks.FAILURES as exc:
        hint = ""
        if "known_hosts" in str(exc):
            hint = (
                "\nAdd the server's host key to ~/.ssh/known_hosts (check its fingerprint "
                "against your provider's console), or pass --known-hosts FILE."
            )
        sys.exit(f"error: {exc}{hint}")


@task(help=_COMMON)
def provision(c: Connection, settings: str = "", known_hosts: str = "") -> None:
    """Install and harden the server for the app (idempotent; log in as a sudo user)."""
    with _failures_as_errors():
        result = tasks.provision(_pinned(c, known_hosts), _settings(settings), progress=print)
    print(f"{c.host}: provisioned, {len(result.changed)} change(s)")


@task(
    help={
        **_COMMON,
        "app-dir": "directory of the app to deploy (default: the sample app)",
        "entry": "ASGI entry point (default: shipways_app.main:app)",
        "release": "label for the release (default: the app's git commit)",
        "no-release-command": "skip the release command (database migrations)",
    }
)
def deploy(
    c: Connection,
    settings: str = "",
    known_hosts: str = "",
    app_dir: str = str(SAMPLE_APP),
    entry: str = tasks.DEFAULT_ENTRY,
    release: str = "",
    no_release_command: bool = False,
) -> None:
    """Build, upload, health-check and switch to a new release (zero downtime)."""
    with _failures_as_errors():
        result = tasks.deploy(
            [_pinned(c, known_hosts)],
            _settings(settings),
            Path(app_dir),
            entry,
            release=release or None,
            release_command=None if no_release_command else tasks.MIGRATE,
            progress=print,
        )
    print(f"{c.host}: serving {result.release}")


@task(help={**_COMMON, "release": "release to go back to (default: the previous one)"})
def rollback(c: Connection, release: str = "", settings: str = "", known_hosts: str = "") -> None:
    """Serve an earlier release again."""
    with _failures_as_errors():
        result = tasks.rollback(
            _pinned(c, known_hosts), _settings(settings), release or None, progress=print
        )
    print(f"{c.host}: serving {result.release} (was {result.previous})")


@task(help=_COMMON)
def status(c: Connection, settings: str = "", known_hosts: str = "") -> None:
    """Current release, releases kept, service state, last deploys (JSON)."""
    with _failures_as_errors():
        state = tasks.status(_pinned(c, known_hosts), _settings(settings))
    print(json.dumps(state, indent=2))


@task(help={**_COMMON, "follow": "keep printing new lines", "lines": "lines to show"})
def logs(
    c: Connection, follow: bool = False, lines: int = 50, settings: str = "", known_hosts: str = ""
) -> None:
    """The app service's journal."""
    with _failures_as_errors():
        tasks.logs(_pinned(c, known_hosts), _settings(settings), follow=follow, lines=int(lines))
