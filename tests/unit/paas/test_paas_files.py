"""The portable PaaS files (Procfile, .python-version, app.json), read the way platforms read them.

The Procfile's `web:` line is expanded by a real shell (as Heroku, Dokku, honcho and
Beanstalk do) and the resulting gunicorn command line is fed to gunicorn's own option
parser, so "binds $PORT" and "runs uvicorn workers" are what gunicorn would actually do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from honcho.environ import parse_procfile

from infra.config import PaasConfig, load_stack, narrow
from infra.paths import APP_DIR
from infra.targets.paas.procfile import ProcfileError, parse

pytestmark = pytest.mark.unit

PROCFILE = (APP_DIR / "Procfile").read_text()
APP_JSON = json.loads((APP_DIR / "app.json").read_text())
# A stand-in `gunicorn` that prints the argv the shell hands it, as JSON.
FAKE_GUNICORN = (
    'gunicorn() { "$PYTHON" -c "import json,sys; print(json.dumps(sys.argv[1:]))" "$@"; }\n'
)


def _shell_argv(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", FAKE_GUNICORN + command],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _gunicorn_config(argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """gunicorn's parsed configuration for `argv`, the config module loaded as it would be."""
    from gunicorn.app.wsgiapp import WSGIApplication

    monkeypatch.setenv("SHIPWAYS_SQLITE_PATH", str(tmp_path / "unused.db"))
    monkeypatch.delitem(sys.modules, "shipways_app.gunicorn_conf", raising=False)
    monkeypatch.setattr(sys, "argv", ["gunicorn", *argv])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")


def test_procfile_has_web_first_and_release() -> None:
    processes = parse(PROCFILE)
    assert list(processes) == ["web", "release"]
    assert processes["release"] == "python -m shipways_app migrate"


def test_honcho_reads_the_same_processes() -> None:
    assert parse_procfile(PROCFILE).processes == parse(PROCFILE)


def test_web_binds_every_interface_on_port_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _shell_argv(parse(PROCFILE)["web"], PORT="5000")
    assert result.returncode == 0, result.stderr
    app = _gunicorn_config(json.loads(result.stdout), monkeypatch, tmp_path)
    assert app.cfg.bind == ["0.0.0.0:5000"]
    assert app.cfg.worker_class_str == "uvicorn_worker.UvicornWorker"
    assert app.app_uri == "shipways_app.main:app"


def test_web_bind_host_keeps_it_on_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _shell_argv(parse(PROCFILE)["web"], PORT="6123", WEB_BIND_HOST="127.0.0.1")
    app = _gunicorn_config(json.loads(result.stdout), monkeypatch, tmp_path)
    assert app.cfg.bind == ["127.0.0.1:6123"]


def test_web_refuses_to_start_without_port() -> None:
    result = _shell_argv(parse(PROCFILE)["web"])
    assert result.returncode != 0
    assert result.stdout == ""
    assert "the platform must set PORT" in result.stderr


def test_release_process_runs_the_migrations(tmp_path: Path) -> None:
    database = tmp_path / "release.db"
    result = subprocess.run(
        ["/bin/sh", "-c", parse(PROCFILE)["release"]],
        cwd=APP_DIR,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "SHIPWAYS_SQLITE_PATH": str(database),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["ok"] is True and outcome["after"]
    assert database.is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("release: migrate\nweb: gunicorn -b :$PORT app\n", "must be the first line"),
        ("web: gunicorn -b :$PORT app\n", "missing release"),
        ("web-1: x $PORT\nrelease: y\n", "is not `name: command`"),
        ("web: gunicorn -b :8000 app\nrelease: y\n", "must listen on $PORT"),
        ("web: a $PORT\nweb: b $PORT\nrelease: y\n", "defined twice"),
        ("web:\nrelease: y\n", "line 1"),
    ],
)
def test_procfile_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ProcfileError, match=re.escape(message)):
        parse(text)


def test_python_version_matches_the_stack_platform() -> None:
    version = (APP_DIR / ".python-version").read_text()
    assert version.endswith("\n") and version.strip() == version.rstrip("\n")
    wanted = version.strip().replace(".", r"\.")
    for config in (PaasConfig(), narrow(load_stack("paas"), PaasConfig)):
        assert config.platform_pattern.endswith(f"running Python {wanted}$")


def test_app_json_health_checks_match_the_platforms() -> None:
    checks = {c["type"]: c for c in APP_JSON["healthchecks"]["web"]}
    stack = narrow(load_stack("paas"), PaasConfig)
    assert checks["startup"]["path"] == stack.health_check_path == PaasConfig().health_check_path
    assert checks["liveness"]["path"] == "/healthz"
    for check in checks.values():
        assert check["attempts"] >= 1 and check["timeout"] >= 1


def test_app_json_health_paths_are_real_routes(tmp_path: Path) -> None:
    from shipways_app.app import create_app
    from shipways_app.settings import Settings

    settings = Settings(SHIPWAYS_SQLITE_PATH=str(tmp_path / "routes.db"))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        for check in APP_JSON["healthchecks"]["web"]:
            # /readyz says 503 here (nothing migrated): the route exists, which is the point.
            assert client.get(check["path"]).status_code in {200, 503}, check["path"]


def test_app_json_env_is_documented_and_holds_no_secret() -> None:
    env = APP_JSON["env"]
    assert env["SHIPWAYS_TARGET"]["value"] == "paas"
    assert "value" not in env["DATABASE_URL"] and env["DATABASE_URL"]["required"] is False
    for name, spec in env.items():
        assert spec["description"], name
    assert APP_JSON["formation"]["web"]["quantity"] >= 1
