"""What this project ships to a VPS: the sample app, from the wheelhouse every target shares.

The Fabric package deploys any app directory with wheels from any builder. The toolkit gives
it the sample app's wheelhouse (`infra.artifacts.wheelhouse`: cached, the same wheels the
other targets install and the artifact checks scan), the entry point and release command of
the app spec, and labels the release with the app's revision, which is what `/version`
reports on every target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import shipways_fabric
from fabric import Connection

from infra.appspec import AppSpec, default
from infra.artifacts import wheelhouse
from infra.artifacts.revision import app_revision
from infra.paths import APP_DIR, APP_REQUIREMENTS


def sample_app_wheels(
    app_dir: Path,
    platform: shipways_fabric.ServerPlatform,
    dest: Path,
    progress: Callable[[str], None] | None,
) -> str:
    """A `WheelBuilder` for the sample app (or a changed copy of it, `infra.artifacts.source`):
    the shared wheelhouse, for the server's Python."""
    if not _sample_app(app_dir):
        raise shipways_fabric.WheelError(
            f"{app_dir} is not the sample app ({APP_DIR}) nor a copy of it with its requirements"
        )
    server = wheelhouse.Platform(platform.python_version, platform.tags)
    try:
        built = wheelhouse.build(dest, server, progress, app_dir=app_dir)
    except wheelhouse.WheelhouseError as exc:
        raise shipways_fabric.WheelError(str(exc)) from exc
    return built.app_wheel.name


def _sample_app(app_dir: Path) -> bool:
    """The shared wheelhouse's dependency wheels are the sample app's locked requirements, so
    it builds only the sample app, or a copy of it with the same requirements."""
    if app_dir.resolve() == APP_DIR.resolve():
        return True
    requirements = app_dir / APP_REQUIREMENTS.name
    return (app_dir / "shipways_app").is_dir() and (
        requirements.is_file() and requirements.read_bytes() == APP_REQUIREMENTS.read_bytes()
    )


def deploy(
    conns: Sequence[Connection],
    settings: shipways_fabric.Settings | dict[str, Any],
    *,
    app: AppSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> shipways_fabric.DeployResult:
    """Deploy `app` (default: the sample app) to each server in turn (see
    `shipways_fabric.deploy`)."""
    app = app or default()
    return shipways_fabric.deploy(
        conns,
        settings,
        app.directory,
        app.entry,
        release=app_revision(app.directory),
        release_command=app.release,
        wheels=sample_app_wheels,
        progress=progress,
    )
