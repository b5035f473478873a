"""The Lambda zip builder, on small synthetic wheels: contents, reproducibility, limits."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from infra.paths import APP_DIR, APP_REQUIREMENTS
from infra.targets.serverless import artifact
from infra.targets.serverless.artifact import (
    LOCAL_SYSTEM,
    MANIFEST,
    SERVER_ONLY,
    ZIP_EPOCH,
    ArtifactError,
    ZipTarget,
    check_limits,
    load_zip,
    write_zip,
)

pytestmark = pytest.mark.unit

TARGET = ZipTarget.for_lambda("python3.12", "x86_64")


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    *,
    executable: tuple[str, ...] = (),
    stamp: tuple[int, int, int, int, int, int] = (2024, 5, 1, 12, 0, 0),
    reverse: bool = False,
) -> Path:
    """A wheel as pip downloads it: package files plus a dist-info with METADATA and RECORD."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    members = {
        **files,
        f"{dist}/METADATA": f"Name: {name}\nVersion: {version}\n".encode(),
        f"{dist}/RECORD": b"whatever,sha256=x,1\n",
        f"{dist}/licenses/LICENSE": b"MIT\n",
    }
    path = directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(members, reverse=reverse):
            info = zipfile.ZipInfo(member, date_time=stamp)
            info.external_attr = (0o100755 if member in executable else 0o100644) << 16
            archive.writestr(info, members[member])
    return path


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    return wheel_set(tmp_path / "wheels")


def wheel_set(directory: Path, **kwargs: object) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        make_wheel(
            directory,
            "shipways-app",
            "1.0.0",
            {
                "shipways_app/__init__.py": b"",
                "shipways_app/lambda_handler.py": b"def handler(e, c): return {}\n",
                "shipways_app/__pycache__/lambda_handler.cpython-312.pyc": b"\x00cache",
                "shipways_app/py.typed": b"",
            },
            **kwargs,  # type: ignore[arg-type]
        ),
        make_wheel(
            directory,
            "fastlib",
            "2.0",
            {
                "fastlib/__init__.py": b"x = 1\n",
                "fastlib/_speedups.cpython-312-x86_64-linux-gnu.so": b"\x7fELF" + b"\0" * 4096,
                "fastlib/_speedups.c": b"int main;",
                "fastlib/__init__.pyi": b"x: int\n",
                "fastlib/tests/test_fast.py": b"def test(): pass\n",
                "fastlib/bin/helper": b"#!/bin/sh\n",
                "fastlib-2.0.data/purelib/fastlib_extra.py": b"y = 2\n",
                "fastlib-2.0.data/scripts/fastlib-cli": b"#!python\n",
            },
            executable=("fastlib/bin/helper",),
            **kwargs,  # type: ignore[arg-type]
        ),
        make_wheel(
            directory,
            "uvicorn",
            "0.30",
            {"uvicorn/__init__.py": b"server\n"},
            **kwargs,  # type: ignore[arg-type]
        ),
    ]


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_zip_holds_what_lambda_imports_and_nothing_else(wheels: list[Path], tmp_path: Path) -> None:
    package = write_zip(wheels, tmp_path / "function.zip", TARGET)
    assert names(package.path) == sorted(names(package.path))
    assert set(names(package.path)) == {
        MANIFEST,
        "fastlib-2.0.dist-info/METADATA",
        "fastlib-2.0.dist-info/licenses/LICENSE",
        "fastlib/__init__.py",
        "fastlib/_speedups.cpython-312-x86_64-linux-gnu.so",
        "fastlib/bin/helper",
        "fastlib_extra.py",
        "shipways_app-1.0.0.dist-info/METADATA",
        "shipways_app-1.0.0.dist-info/licenses/LICENSE",
        "shipways_app/__init__.py",
        "shipways_app/lambda_handler.py",
        "shipways_app/py.typed",
    }
    assert package.excluded == ("uvicorn",)
    assert [p.name for p in package.packages] == ["fastlib", "shipways-app"]
    assert package.files == len(names(package.path))


def test_entries_have_fixed_times_and_modes(wheels: list[Path], tmp_path: Path) -> None:
    package = write_zip(wheels, tmp_path / "function.zip", TARGET)
    with zipfile.ZipFile(package.path) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    assert {i.date_time for i in infos.values()} == {ZIP_EPOCH}
    assert infos["fastlib/bin/helper"].external_attr >> 16 == 0o100755
    assert infos["fastlib/__init__.py"].external_attr >> 16 == 0o100644


def test_same_inputs_give_a_byte_identical_zip(tmp_path: Path) -> None:
    first = write_zip(wheel_set(tmp_path / "a"), tmp_path / "one.zip", TARGET)
    # The same files, packed later and in another order: wheel metadata differs, content not.
    second = write_zip(
        wheel_set(tmp_path / "b", stamp=(2025, 1, 2, 3, 4, 6), reverse=True),
        tmp_path / "two.zip",
        TARGET,
    )
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.source_code_hash == second.source_code_hash


def test_manifest_says_what_the_zip_is_for(wheels: list[Path], tmp_path: Path) -> None:
    package = write_zip(wheels, tmp_path / "function.zip", TARGET)
    with zipfile.ZipFile(package.path) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    assert manifest == {
        "architecture": "x86_64",
        "bytecode": None,  # no compiler given: see test_bytecode
        "excluded": ["uvicorn"],
        "handler": "shipways_app.lambda_handler.handler",
        "packages": {"fastlib": "2.0", "shipways-app": "1.0.0"},
        "python": "3.12",
        "runtime": "python3.12",
        "system": "Amazon Linux 2023",
    }


def test_two_wheels_writing_one_path_differently_is_an_error(tmp_path: Path) -> None:
    one = make_wheel(tmp_path, "one", "1", {"shared/__init__.py": b"a"})
    two = make_wheel(tmp_path, "two", "1", {"shared/__init__.py": b"b"})
    with pytest.raises(ArtifactError, match=r"both install shared/__init__.py"):
        write_zip([one, two], tmp_path / "function.zip", TARGET)


def test_over_the_limits_names_the_largest_packages(wheels: list[Path], tmp_path: Path) -> None:
    package = write_zip(wheels, tmp_path / "function.zip", TARGET)
    check_limits(package)  # a few KiB: far below Lambda's limits
    with pytest.raises(ArtifactError) as caught:
        check_limits(package, zipped_limit=100, unzipped_limit=200)
    message = str(caught.value)
    assert "zipped, over Lambda's" in message and "unzipped, over Lambda's" in message
    assert re.search(r"Largest packages: fastlib [0-9.]+ MiB, shipways-app", message)
    assert "SERVER_ONLY" in message


@pytest.mark.parametrize(
    ("target", "arch", "newest"),
    [
        (ZipTarget.for_lambda("python3.12", "x86_64"), "x86_64", "manylinux_2_34_x86_64"),
        (ZipTarget.for_lambda("python3.12", "arm64"), "aarch64", "manylinux_2_34_aarch64"),
        # Amazon Linux 2 has glibc 2.26: a manylinux_2_28 wheel would fail at import.
        (ZipTarget.for_lambda("python3.11", "x86_64"), "x86_64", "manylinux_2_26_x86_64"),
        (ZipTarget(LOCAL_SYSTEM, "x86_64"), "x86_64", "manylinux_2_36_x86_64"),
    ],
)
def test_wheel_tags_stop_at_the_systems_glibc(target: ZipTarget, arch: str, newest: str) -> None:
    platform = target.platform()
    assert platform.python_version == target.runtime.python_version
    assert platform.platforms[0] == f"manylinux2014_{arch}"
    assert platform.platforms[1] == f"manylinux_2_17_{arch}"
    assert platform.platforms[-1] == newest
    assert all(tag.endswith(arch) for tag in platform.platforms)


def test_unknown_runtime_is_refused() -> None:
    with pytest.raises(ArtifactError, match=r"runtime 'python3\.9': use one of python3\.12"):
        ZipTarget.for_lambda("python3.9", "x86_64")


def test_prebuilt_zip_must_match_the_stack(wheels: list[Path], tmp_path: Path) -> None:
    package = write_zip(wheels, tmp_path / "function.zip", TARGET)
    loaded = load_zip(package.path, TARGET)
    assert (loaded.sha256, loaded.zipped_bytes, loaded.files) == (
        package.sha256,
        package.zipped_bytes,
        package.files,
    )
    assert loaded.unzipped_bytes == package.unzipped_bytes
    with pytest.raises(ArtifactError, match=r"built for python3\.12/x86_64 but the stack deploys"):
        load_zip(package.path, ZipTarget.for_lambda("python3.12", "arm64"))
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="not a Lambda zip built by shipways"):
        load_zip(tmp_path / "junk.zip", TARGET)


def _required_by() -> dict[str, set[str]]:
    """`app/requirements.txt`'s "# via" annotations: who pulls each package in."""
    via: dict[str, set[str]] = {}
    current = ""
    for line in APP_REQUIREMENTS.read_text().splitlines():
        if match := re.match(r"^([a-z0-9][a-z0-9._-]*)==", line):
            current = match.group(1)
            via[current] = set()
        elif (match := re.match(r"^\s+#\s+(?:via\s+)?([a-z0-9][a-z0-9._-]*)\s*$", line)) and (
            match.group(1) != "via"  # the "# via" heading of a multi-line list
        ):
            via[current].add(match.group(1))
    return via


def test_server_only_packages_are_needed_by_nothing_lambda_runs() -> None:
    via = _required_by()
    assert set(SERVER_ONLY) <= set(via), "SERVER_ONLY names a package the app does not lock"
    for name in SERVER_ONLY:
        others = via[name] - set(SERVER_ONLY) - {"shipways-app"}
        assert not others, f"{name} is also required by {others}: it cannot be dropped"


def test_the_app_imports_no_server_only_package() -> None:
    modules = {"uvicorn", "gunicorn", "uvicorn_worker", "uvloop", "httptools", "h11"}
    modules |= {"websockets", "watchfiles", "click", "yaml", "dotenv"}
    for source in (APP_DIR / "shipways_app").rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported = {node.module.split(".")[0]}
            else:
                continue
            assert not imported & modules, f"{source} imports {imported & modules}"


def test_cached_zip_builds_once_per_set_of_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []

    def fake_build(
        dest: Path, target: ZipTarget, progress: object = None, handler: str | None = None
    ) -> object:
        built.append(dest)
        wheels = wheel_set(tmp_path / f"wheels-{len(built)}")
        return write_zip(wheels, dest, target, handler=handler)

    monkeypatch.setattr(artifact, "build_zip", fake_build)
    cache = tmp_path / "cache"
    cache.mkdir()
    first = artifact.cached_zip(cache, TARGET)
    again = artifact.cached_zip(cache, TARGET)
    assert len(built) == 1  # the second call read the zip back, no build
    assert again.sha256 == first.sha256 and again.path == first.path
    arm = artifact.cached_zip(cache, ZipTarget.for_lambda("python3.12", "arm64"))
    assert len(built) == 2 and arm.path != first.path
    assert artifact.inputs_digest(TARGET) in first.path.name
    assert artifact.inputs_digest(TARGET) != artifact.inputs_digest(arm.target)
    # Another app's handler is another zip: its manifest names the handler Lambda calls.
    other = artifact.cached_zip(cache, TARGET, handler="flask_app.lambda_handler.handler")
    assert len(built) == 3 and other.path not in (first.path, arm.path)
    with zipfile.ZipFile(other.path) as archive:
        manifest = json.loads(archive.read(artifact.MANIFEST))
    assert manifest["handler"] == "flask_app.lambda_handler.handler"
