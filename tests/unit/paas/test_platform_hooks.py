"""The Elastic Beanstalk hooks, run for real with bash in a staging-directory stand-in.

Beanstalk runs `.platform/hooks/prebuild/*` and then `predeploy/*` as root, in the staging
directory, and aborts the deployment on a non-zero exit. Its `get-config` tool (which hands
environment properties and secrets to hooks) is replaced by a script printing the same JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.paths import APP_DIR

pytestmark = pytest.mark.unit

PREBUILD = ".platform/hooks/prebuild/01_release_out_of_procfile.sh"
PREDEPLOY = ".platform/hooks/predeploy/01_release.sh"


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    stage = tmp_path / "staging"
    shutil.copytree(APP_DIR / ".platform", stage / ".platform")
    shutil.copy(APP_DIR / "Procfile", stage / "Procfile")
    return stage


def _hook(stage: Path, hook: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(stage / hook)],
        cwd=stage,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _fake_get_config(directory: Path, environment: dict[str, str]) -> Path:
    script = directory / "get-config"
    payload = json.dumps(environment)
    script.write_text(
        f"#!/bin/sh\n[ \"$1\" = environment ] || exit 3\ncat <<'EOF'\n{payload}\nEOF\n"
    )
    script.chmod(0o755)
    return script


def test_prebuild_moves_the_release_line_out_of_the_procfile(staging: Path) -> None:
    result = _hook(staging, PREBUILD)
    assert result.returncode == 0, result.stderr
    procfile = (staging / "Procfile").read_text()
    assert procfile.startswith("web: gunicorn") and "release:" not in procfile
    saved = (staging / ".platform/release-command").read_text().strip()
    assert saved == "python -m shipways_app migrate"


def test_prebuild_fails_the_deploy_without_a_release_line(staging: Path) -> None:
    (staging / "Procfile").write_text("web: gunicorn -b :$PORT app\n")
    result = _hook(staging, PREBUILD)
    assert result.returncode == 1
    assert "no release: line" in result.stderr


def test_predeploy_exports_platform_properties_exactly(staging: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.json"
    tricky = 'it\'s $(touch pwned) `id` "quoted"'
    get_config = _fake_get_config(
        tmp_path,
        {
            "SHIPWAYS_TARGET": "paas",
            "TRICKY": tricky,
            "SHIPWAYS_SQLITE_PATH": str(tmp_path / "data" / "x.db"),
        },
    )
    (staging / ".platform/release-command").write_text(
        f'"$PYTHON" -c "import json, os; print(json.dumps(dict(os.environ)))" > {probe}\n'
    )
    result = _hook(staging, PREDEPLOY, EB_GET_CONFIG=str(get_config), PYTHON=sys.executable)
    assert result.returncode == 0, result.stderr
    seen = json.loads(probe.read_text())
    assert seen["SHIPWAYS_TARGET"] == "paas"
    assert seen["TRICKY"] == tricky
    assert not (staging / "pwned").exists()
    data = tmp_path / "data"
    assert data.is_dir() and (data.stat().st_mode & 0o777) == 0o700


def test_predeploy_failure_aborts_the_deploy(staging: Path) -> None:
    (staging / ".platform/release-command").write_text("exit 7\n")
    result = _hook(staging, PREDEPLOY)
    assert result.returncode == 7


def test_hooks_run_the_real_release_step(staging: Path, tmp_path: Path) -> None:
    """prebuild then predeploy on the real app: the database comes out migrated."""
    shutil.copytree(APP_DIR / "shipways_app", staging / "shipways_app")
    database = tmp_path / "var" / "data" / "shipways.db"
    get_config = _fake_get_config(tmp_path, {"SHIPWAYS_SQLITE_PATH": str(database)})
    assert _hook(staging, PREBUILD).returncode == 0
    result = _hook(staging, PREDEPLOY, EB_GET_CONFIG=str(get_config))
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout
    assert database.is_file()
    assert os.access(database, os.W_OK)
