"""The stack's Lambda zips, built for real from the locked wheels (PyPI once, then cached).

The local sandbox runs the zip built for its own Python; these tests cover the zips the
stack deploys: reproducible, within Lambda's limits, for the right CPU, refused with a
clear reason where no wheel exists, and, when a Python 3.12 is on this machine, actually
serving the app under Python 3.12 from the unpacked zip alone.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from infra.targets.serverless.artifact import (
    SERVER_ONLY,
    UNZIPPED_LIMIT,
    ZIPPED_LIMIT,
    ArtifactError,
    LambdaZip,
    ZipTarget,
    build_zip,
)
from infra.targets.serverless.bytecode import find_compiler

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EVENT = Path(__file__).parents[1] / "unit" / "serverless" / "events" / "http-api-v2.json"


@pytest.fixture(scope="module")
def x86(tmp_path_factory: pytest.TempPathFactory) -> LambdaZip:
    directory = tmp_path_factory.mktemp("zips")
    return build_zip(directory / "x86.zip", ZipTarget.for_lambda("python3.12", "x86_64"))


def _so_files(package: LambdaZip) -> list[str]:
    with zipfile.ZipFile(package.path) as archive:
        return [n for n in archive.namelist() if n.endswith(".so")]


def test_same_inputs_same_bytes(x86: LambdaZip, tmp_path: Path) -> None:
    again = build_zip(tmp_path / "again.zip", ZipTarget.for_lambda("python3.12", "x86_64"))
    assert again.sha256 == x86.sha256
    assert again.path.read_bytes() == x86.path.read_bytes()


def test_within_lambdas_limits_and_without_server_packages(x86: LambdaZip) -> None:
    assert x86.zipped_bytes < ZIPPED_LIMIT / 2
    assert x86.unzipped_bytes < UNZIPPED_LIMIT / 2
    assert set(x86.excluded) == set(SERVER_ONLY)
    kept = {p.name for p in x86.packages}
    assert {"shipways-app", "mangum", "fastapi", "sqlalchemy", "psycopg-binary"} <= kept
    assert not kept & set(SERVER_ONLY)
    assert all("cpython-312-x86_64" in name for name in _so_files(x86) if "cpython" in name)


def test_arm64_zip_carries_arm64_binaries(tmp_path: Path) -> None:
    arm = build_zip(tmp_path / "arm.zip", ZipTarget.for_lambda("python3.12", "arm64"))
    extensions = [n for n in _so_files(arm) if "cpython" in n]
    assert extensions
    assert all("cpython-312-aarch64" in name for name in extensions)


def test_a_runtime_without_wheels_is_refused_naming_the_package(tmp_path: Path) -> None:
    # python3.11 runs on Amazon Linux 2 (glibc 2.26); psycopg-binary's arm64 wheels need 2.28.
    with pytest.raises(ArtifactError, match=r"psycopg-binary") as caught:
        build_zip(tmp_path / "no.zip", ZipTarget.for_lambda("python3.11", "arm64"))
    assert "Amazon Linux 2, Python 3.11, arm64" in str(caught.value)


def test_stack_zip_serves_under_python_312(x86: LambdaZip, tmp_path: Path) -> None:
    compiler = find_compiler("3.12")
    if compiler is None:
        pytest.skip("no Python 3.12 on this machine: the python3.12 zip is checked on AWS only")
    python = str(compiler.python)
    # Found here, so the zip carries bytecode for it (test_bytecode: what runs is that).
    assert x86.bytecode == f"cpython-312 (Python {compiler.version}), unchecked-hash"
    task = tmp_path / "task"
    with zipfile.ZipFile(x86.path) as archive:
        archive.extractall(task)
    event = json.loads(EVENT.read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/version"
    event["requestContext"]["http"]["method"] = "GET"
    event["body"] = None
    script = (
        "import json, sys\n"
        "from shipways_app.lambda_handler import handler\n"
        "result = handler(json.loads(sys.stdin.read()), None)\n"
        "print(json.dumps(result))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(task),  # the zip alone: -I drops user site-packages and the venv
        "SHIPWAYS_TARGET": "serverless",
        "SHIPWAYS_SQLITE_PATH": str(tmp_path / "shipways.db"),
        "SHIPWAYS_MIGRATE_ON_INIT": "1",
    }
    done = subprocess.run(
        [python, "-I", "-c", f"import sys; sys.path.insert(0, {str(task)!r})\n{script}"],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["python"].startswith("3.12.")
    assert body["target"] == "serverless"
