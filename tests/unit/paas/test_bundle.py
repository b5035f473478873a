"""The source bundle: exactly the allowlist, nothing secret, byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from infra.paths import APP_DIR, APP_REQUIREMENTS
from infra.targets.paas import bundle as bundles

pytestmark = pytest.mark.unit


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the real app/ to break in each test."""
    copy = tmp_path / "app"
    shutil.copytree(APP_DIR, copy, ignore=shutil.ignore_patterns("*.db", "build", "*.egg-info"))
    return copy


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> bundles.Bundle:
    return bundles.build(tmp_path_factory.mktemp("bundle"))


def test_bundle_holds_the_app_its_requirements_procfile_and_hooks(built: bundles.Bundle) -> None:
    names = set(built.files)
    assert {"Procfile", ".python-version", "app.json", "requirements.txt"} <= names
    assert "shipways_app/main.py" in names and "shipways_app/gunicorn_conf.py" in names
    assert any(n.startswith("shipways_app/migrations/versions/") for n in names)
    assert ".platform/hooks/predeploy/01_release.sh" in names
    assert ".platform/hooks/prebuild/01_release_out_of_procfile.sh" in names
    # The edge: Beanstalk's nginx loads these (http block, then server block).
    assert ".platform/nginx/conf.d/shipways_rate_limit.conf" in names
    assert ".platform/nginx/conf.d/elasticbeanstalk/shipways_rate_limit.conf" in names
    roots = {n.split("/")[0] for n in names}
    assert roots == {
        "Procfile",
        ".python-version",
        "app.json",
        "requirements.txt",
        "shipways_app",
        ".platform",
    }
    with zipfile.ZipFile(built.path) as archive:
        assert sorted(archive.namelist()) == list(built.files)


def test_nothing_forbidden_or_left_over_is_inside(built: bundles.Bundle) -> None:
    for name in built.files:
        assert bundles.forbidden_entry(name) is None, name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    assert not [n for n in built.files if n in {"pyproject.toml", "Dockerfile"}]


def test_requirements_are_the_pinned_hashed_lock(built: bundles.Bundle) -> None:
    with zipfile.ZipFile(built.path) as archive:
        shipped = archive.read("requirements.txt")
    assert shipped == APP_REQUIREMENTS.read_bytes()
    requirements = [line for line in shipped.decode().splitlines() if line and line[0].isalpha()]
    assert requirements, "no requirement lines"
    for line in requirements:
        _, sep, rest = line.partition("==")
        assert sep and rest.split()[0][0].isdigit(), f"not pinned: {line}"
    assert shipped.decode().count("--hash=sha256:") >= len(requirements)


def test_same_inputs_give_the_same_bytes(source: Path, tmp_path: Path) -> None:
    first = bundles.build(tmp_path / "first", source)
    for path in (source / "Procfile", source / "shipways_app" / "main.py"):
        os.utime(path, (1, 1))  # other mtimes, as another checkout would leave
    again = bundles.build(tmp_path / "again", source)
    assert again.path.read_bytes() == first.path.read_bytes()
    assert again.sha256 == first.sha256 == hashlib.sha256(again.path.read_bytes()).hexdigest()
    assert again.path.name == f"shipways-{first.sha256[:12]}.zip"
    assert again.size_bytes == again.path.stat().st_size


def test_a_changed_file_changes_the_bundle(source: Path, tmp_path: Path) -> None:
    before = bundles.build(tmp_path / "a", source)
    (source / "shipways_app" / "extra.py").write_text("VALUE = 1\n")
    after = bundles.build(tmp_path / "b", source)
    assert after.sha256 != before.sha256
    assert "shipways_app/extra.py" in after.files


def test_entries_have_fixed_times_and_normalised_modes(built: bundles.Bundle) -> None:
    with zipfile.ZipFile(built.path) as archive:
        for info in archive.infolist():
            assert info.date_time == bundles.ZIP_EPOCH
            mode = (info.external_attr >> 16) & 0o777
            hook = info.filename.startswith(".platform/hooks/")
            assert mode == (0o755 if hook else 0o644), info.filename


def test_unpack_keeps_hooks_executable(built: bundles.Bundle, tmp_path: Path) -> None:
    bundles.unpack(built.path, tmp_path)
    hook = tmp_path / ".platform/hooks/predeploy/01_release.sh"
    assert os.access(hook, os.X_OK)
    assert not os.access(tmp_path / "Procfile", os.X_OK)


def test_unpack_refuses_entries_escaping_the_root(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../outside.txt", "x")
    with pytest.raises(bundles.BundleError, match="escapes the bundle root"):
        bundles.unpack(evil, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()


@pytest.mark.parametrize(
    "planted",
    [
        "shipways_app/.env",
        "shipways_app/tests/test_x.py",
        "shipways_app/deploy.pem",
        "shipways_app/id_ed25519",
        "shipways_app/.git/config",
        "shipways_app/.venv/pyvenv.cfg",
        "shipways_app/local.db",
        ".platform/secrets.key",
    ],
)
def test_secrets_tests_and_vcs_data_stop_the_build(
    source: Path, tmp_path: Path, planted: str
) -> None:
    path = source / planted
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("do not ship\n")
    with pytest.raises(bundles.BundleError, match="refusing to bundle") as caught:
        bundles.build(tmp_path / "out", source)
    assert planted.split("/")[1] in str(caught.value)


def test_bytecode_is_left_out_quietly(source: Path, tmp_path: Path) -> None:
    cache = source / "shipways_app" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "main.cpython-311.pyc").write_bytes(b"\0")
    built = bundles.build(tmp_path / "out", source)
    assert not [n for n in built.files if "__pycache__" in n]


def test_files_outside_the_allowlist_never_ship(source: Path, tmp_path: Path) -> None:
    (source / "notes.txt").write_text("scratch\n")
    (source / ".env").write_text("DATABASE_URL=postgresql://leak\n")
    built = bundles.build(tmp_path / "out", source)
    assert "notes.txt" not in built.files and ".env" not in built.files


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda s: (s / "Procfile").unlink(), "missing Procfile"),
        (lambda s: (s / "Procfile").write_text("worker: x\n"), "missing web, release"),
        (lambda s: (s / ".python-version").write_text("python3\n"), "not a version like 3.11"),
        (lambda s: (s / "app.json").write_text("{"), "app.json: not valid JSON"),
        (
            lambda s: (s / ".platform/hooks/predeploy/01_release.sh").write_bytes(
                b"#!/bin/bash\r\necho hi\r\n"
            ),
            "Windows line endings",
        ),
        (
            lambda s: (s / ".platform/hooks/predeploy/02_x.sh").write_text("echo no shebang\n"),
            "must start with a #! line",
        ),
    ],
)
def test_broken_sources_are_named_before_any_upload(
    source: Path, tmp_path: Path, breakage: object, message: str
) -> None:
    breakage(source)  # type: ignore[operator]
    with pytest.raises(bundles.BundleError, match=message):
        bundles.build(tmp_path / "out", source)
    assert not list(tmp_path.rglob("*.zip*"))
