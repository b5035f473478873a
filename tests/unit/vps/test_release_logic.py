"""Release naming, the choice of a rollback target and entry points: the decisions, no server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
from shipways_fabric import release as rel
from shipways_fabric.deploy import (
    DeployError,
    DeployResult,
    HostDeploy,
    _check_entry,
    _rollback_target,
)
from shipways_fabric.wheels import ServerPlatform, WheelError, locked_wheels

from infra.paths import APP_DIR, ROOT
from infra.targets.vps.sample_app import sample_app_wheels

pytestmark = pytest.mark.unit

R1, R2, R3 = "20260101T000000Z-aaa", "20260102T000000Z-bbb", "20260103T000000Z-ccc"
SERVER = ServerPlatform("3.11", "x86_64")


def test_release_ids_sort_by_time_and_carry_a_clean_label() -> None:
    first = rel.release_id("Feature/Login!", now=1_700_000_000)
    later = rel.release_id("abc1234", now=1_700_000_060)
    assert first == "20231114T221320Z-feature-login"
    assert sorted([later, first]) == [first, later]
    assert rel.RELEASE_ID.match(first) and rel.RELEASE_ID.match(later)
    assert rel.release_id("!!!", now=0).endswith("-release")
    assert len(rel.release_id("x" * 80, now=0).split("-", 1)[1]) == 24


def test_build_refuses_a_directory_that_is_no_app(tmp_path: Path) -> None:
    with pytest.raises(rel.ReleaseError, match=re.escape("no pyproject.toml")):
        rel.build(tmp_path, SERVER, tmp_path / "out", locked_wheels)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '1'\n")
    with pytest.raises(rel.ReleaseError, match=re.escape("no requirements.txt; lock the app")):
        rel.build(tmp_path, SERVER, tmp_path / "out", locked_wheels)


def test_server_platform_names_the_wheel_tags_and_refuses_unknown_machines() -> None:
    arm = ServerPlatform.of("3.11", "arm64")
    assert arm.tags == ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
    assert arm.abi == "cp311" and ServerPlatform.of("3.11", "amd64") == SERVER
    with pytest.raises(WheelError, match="'riscv64' is neither x86_64 nor arm64"):
        ServerPlatform.of("3.11", "riscv64")


def test_the_toolkit_builder_builds_the_sample_app_only(tmp_path: Path) -> None:
    with pytest.raises(WheelError, match="is not the sample app"):
        sample_app_wheels(tmp_path, SERVER, tmp_path / "out", None)


def test_builders_fail_as_release_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(app_dir: Path, platform: ServerPlatform, dest: Path, progress: object) -> str:
        raise WheelError("pip download failed: no matching distribution")

    with pytest.raises(rel.ReleaseError, match="no matching distribution"):
        rel.build(APP_DIR, SERVER, tmp_path / "out", failing)


def test_manifest_is_sha256sum_format(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    build = rel.Build((rel.Wheel(wheel, "ab" * 32),), wheel.name, "3.11", "fp")
    assert build.manifest == f"{'ab' * 32}  pkg-1.0-py3-none-any.whl\n"


def test_build_size_is_what_the_release_uploads(tmp_path: Path) -> None:
    wheels = [tmp_path / "a-1.0-py3-none-any.whl", tmp_path / "b-1.0-py3-none-any.whl"]
    wheels[0].write_bytes(b"x" * 1000)
    wheels[1].write_bytes(b"y" * 24)
    build = rel.Build(tuple(rel.Wheel(w, "ab" * 32) for w in wheels), wheels[0].name, "3.11", "fp")
    assert build.size_bytes == 1024


@pytest.mark.parametrize(
    ("available", "current", "wanted", "expected"),
    [
        ([R1, R2, R3], R3, None, R2),
        ([R1, R2, R3], R2, None, R1),  # after a rollback, roll back further
        ([R1, R2, R3], R3, R1, R1),
        ([R1, R2, R3], R1, R3, R3),  # forward again, by name
    ],
)
def test_rollback_target(
    available: list[str], current: str, wanted: str | None, expected: str
) -> None:
    assert _rollback_target("h", available, current, wanted) == expected


@pytest.mark.parametrize(
    ("available", "current", "wanted", "message"),
    [
        ([R1], R1, None, "no release before 20260101T000000Z-aaa to roll back to"),
        ([R1, R2], R2, "nope", "no release 'nope'; available: "),
        ([R1, R2], R2, R2, "is already the current release"),
    ],
)
def test_rollback_target_errors(
    available: list[str], current: str, wanted: str | None, message: str
) -> None:
    with pytest.raises(DeployError, match=message):
        _rollback_target("h", available, current, wanted)


@pytest.mark.parametrize("entry", ["shipways_app.main:app", "pkg:create_app.app", "a:b"])
def test_entry_points_accepted(entry: str) -> None:
    _check_entry(entry)


@pytest.mark.parametrize("entry", ["shipways_app.main", "pkg:", ":app", "pkg:app()", "a b:c"])
def test_entry_points_refused(entry: str) -> None:
    with pytest.raises(
        DeployError, match=re.escape("is not an ASGI entry point like package.module:app")
    ):
        _check_entry(entry)


def test_deploy_result_reads_as_its_release() -> None:
    result = DeployResult(R2, [HostDeploy("h", R2, R1, "reload", 12.0, 3.0)])
    assert str(result) == R2 and result.hosts[0].previous == R1


def test_the_package_exports_the_tasks() -> None:
    import shipways_fabric

    for name in ("provision", "deploy", "rollback", "status", "logs", "settings_from", "connect"):
        assert callable(getattr(shipways_fabric, name))
    assert shipways_fabric.DEFAULT_ENTRY == "shipways_app.main:app"
    assert issubclass(shipways_fabric.DeployLocked, Exception)


def test_the_fabric_package_and_fabfile_import_nothing_of_the_toolkit() -> None:
    probe = (
        "import runpy, sys; import shipways_fabric; "
        "runpy.run_path('ansible-free-scripts/fabfile.py'); "
        "print(sorted(m for m in sys.modules if m == 'infra' or m.startswith('infra.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert loaded.strip() == "[]"


def test_connections_refuse_unknown_host_keys(tmp_path: Path) -> None:
    import shipways_fabric

    conn = shipways_fabric.connect("203.0.113.1", "deploy", known_hosts=tmp_path / "absent")
    assert isinstance(conn.client._policy, paramiko.RejectPolicy)
    other = shipways_fabric.as_user(conn, "admin")
    assert other.user == "admin" and isinstance(other.client._policy, paramiko.RejectPolicy)


def test_fab_command_line_lists_the_tasks() -> None:
    listing = subprocess.run(
        ["fab", "-r", "ansible-free-scripts", "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    for task in ("provision", "deploy", "rollback", "status", "logs"):
        assert f"  {task} " in listing


def test_fab_refuses_a_bad_settings_file_before_connecting(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("appName: My App\n")
    command = ["fab", "-r", "ansible-free-scripts", "-H", "deploy@203.0.113.1", "status"]
    failed = subprocess.run(
        [*command, "--settings", str(settings)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert failed.returncode != 0
    assert f"error: {settings}: appName: String should match pattern" in failed.stderr
    assert "Traceback" not in failed.stderr
