"""The zip's bytecode: made by the runtime's own Python, loaded unchecked, dropped when stale.

The zips here are built for the Python running the tests (which is then their compiler), so
every check loads the bytecode for real in a fresh interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.targets.serverless.artifact import (
    LOCAL_SYSTEM,
    MANIFEST,
    RUNTIMES,
    ArtifactError,
    LambdaRuntime,
    ZipTarget,
    load_zip,
    write_zip,
    zip_with_changes,
)
from infra.targets.serverless.bytecode import Compiler, find_compiler, stale_bytecode
from tests.unit.serverless.test_artifact import names, wheel_set

pytestmark = pytest.mark.unit

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
TAG = sys.implementation.cache_tag


@pytest.fixture(scope="module")
def compiler() -> Compiler:
    found = find_compiler(HERE)
    assert found is not None, "find_compiler must find the interpreter running the tests"
    return found


@pytest.fixture
def target() -> ZipTarget:
    runtime = next((r for r in RUNTIMES.values() if r.python_version == HERE), None)
    return ZipTarget(runtime or LambdaRuntime(f"python{HERE}", HERE, "test", (2, 36)), "x86_64")


def _run(task: Path, code: str) -> str:
    """`code` in a fresh interpreter that sees only `task` and never writes bytecode."""
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(task)!r}); {code}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_every_module_has_its_unchecked_bytecode(
    compiler: Compiler, target: ZipTarget, tmp_path: Path
) -> None:
    package = write_zip(wheel_set(tmp_path / "w"), tmp_path / "f.zip", target, compiler=compiler)
    with zipfile.ZipFile(package.path) as archive:
        sources = [n for n in archive.namelist() if n.endswith(".py")]
        assert sources
        for source in sources:
            folder, _, stem = source.rpartition("/")
            pyc = archive.read(f"{folder}/__pycache__/{stem[:-3]}.{TAG}.pyc".lstrip("/"))
            # PEP 552 header: magic, flags (hash-based, not checked), the source's hash.
            assert pyc[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(pyc[4:8], "little") == 0b01
            assert pyc[8:16] == importlib.util.source_hash(archive.read(source))
        manifest = json.loads(archive.read(MANIFEST))
    assert manifest["bytecode"] == {
        "cache_tag": TAG,
        "compiled_by": f"Python {compiler.version}",
        "invalidation": "unchecked-hash",
        "modules": len(sources),
    }
    assert package.bytecode == f"{TAG} (Python {compiler.version}), unchecked-hash"
    assert load_zip(package.path, target).bytecode == package.bytecode
    assert package.files == len(names(package.path))


def test_the_shipped_bytecode_is_what_runs(
    compiler: Compiler, target: ZipTarget, tmp_path: Path
) -> None:
    package = write_zip(wheel_set(tmp_path / "w"), tmp_path / "f.zip", target, compiler=compiler)
    task = tmp_path / "task"
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(task)
    # Unchecked: the source is not even read when its pyc is there, whatever its timestamp.
    (task / "fastlib" / "__init__.py").write_text("x = 2\n")
    assert _run(task, "import fastlib; print(fastlib.x)") == "1"
    assert _run(task, "import fastlib_extra; print(fastlib_extra.__cached__)").endswith(
        f"__pycache__/fastlib_extra.{TAG}.pyc"
    )


def test_bytecode_keeps_the_zip_reproducible(
    compiler: Compiler, target: ZipTarget, tmp_path: Path
) -> None:
    first = write_zip(wheel_set(tmp_path / "a"), tmp_path / "1.zip", target, compiler=compiler)
    second = write_zip(
        wheel_set(tmp_path / "b", stamp=(2025, 1, 2, 3, 4, 6), reverse=True),
        tmp_path / "2.zip",
        target,
        compiler=compiler,
    )
    assert first.path.read_bytes() == second.path.read_bytes()


def test_bytecode_of_another_python_is_refused(compiler: Compiler, tmp_path: Path) -> None:
    other = "3.12" if HERE != "3.12" else "3.11"
    foreign = ZipTarget(LambdaRuntime(f"python{other}", other, "test", (2, 36)), "x86_64")
    with pytest.raises(ArtifactError, match=rf"must come from Python {other}, not"):
        write_zip(wheel_set(tmp_path / "w"), tmp_path / "f.zip", foreign, compiler=compiler)


def test_no_compiler_means_sources_only(tmp_path: Path) -> None:
    package = write_zip(
        wheel_set(tmp_path / "w"), tmp_path / "f.zip", ZipTarget(LOCAL_SYSTEM, "x86_64")
    )
    assert not [n for n in names(package.path) if n.endswith(".pyc")]
    assert package.bytecode is None and package.summary()["bytecode"] == "none: sources only"


def test_a_changed_module_loses_its_stale_bytecode(
    compiler: Compiler, target: ZipTarget, tmp_path: Path
) -> None:
    package = write_zip(wheel_set(tmp_path / "w"), tmp_path / "f.zip", target, compiler=compiler)
    changed = zip_with_changes(package, {"fastlib/__init__.py": b"x = 3\n"}, tmp_path / "changed")
    kept = names(changed.path)
    assert f"fastlib/__pycache__/__init__.{TAG}.pyc" not in kept
    assert f"shipways_app/__pycache__/lambda_handler.{TAG}.pyc" in kept
    task = tmp_path / "task"
    with zipfile.ZipFile(changed.path) as archive:
        archive.extractall(task)
    assert _run(task, "import fastlib; print(fastlib.x)") == "3"


def test_stale_bytecode_matches_only_the_changed_module() -> None:
    listing = [
        "pkg/__pycache__/mod.cpython-312.pyc",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/__pycache__/module.cpython-312.pyc",
        "pkg/sub/__pycache__/mod.cpython-312.pyc",
        "pkg/mod.py",
    ]
    assert stale_bytecode(listing, ["pkg/mod.py", "pkg/data.json"]) == {
        "pkg/__pycache__/mod.cpython-312.pyc",
        "pkg/__pycache__/mod.cpython-311.pyc",
    }


def test_find_compiler_checks_what_each_candidate_really_is() -> None:
    found = find_compiler(HERE)
    assert found is not None
    assert found.version.startswith(f"{HERE}.") and found.cache_tag == TAG
    assert find_compiler("3.99") is None  # no such Python: the zip would ship sources only


def test_a_compiler_that_fails_stops_the_build_with_its_reason(
    target: ZipTarget, tmp_path: Path
) -> None:
    broken = Compiler(Path("/bin/false"), f"{HERE}.0", TAG)
    with pytest.raises(ArtifactError, match=rf"Python {HERE}\.0 \(/bin/false\) could not compile"):
        write_zip(wheel_set(tmp_path / "w"), tmp_path / "f.zip", target, compiler=broken)
