"""Compiled bytecode for the Lambda zip, made by the Python that will load it.

Lambda unpacks the zip into /var/task, which is read-only: an interpreter that finds no
`__pycache__` there compiles every module it imports from source, at every cold start, and
cannot keep the result. For the app's imports (FastAPI, pydantic, SQLAlchemy, ...) that is
most of the init. So the zip carries the bytecode, made at build time.

Bytecode is specific to one Python minor version (its magic number and the `cpython-312` cache
tag in the file name), so it is made by an interpreter of exactly the zip's runtime version,
found on this machine (`find_compiler`); where there is none, the zip ships sources only and
the builder says so. The pycs are "unchecked-hash" (PEP 552): valid whatever the unpacked
files' timestamps, never compared with their source, and free of build times, so the zip stays
byte-for-byte reproducible (hash seed fixed: frozenset constants keep one order). A zip whose
sources change after the build must drop their pycs (`stale_bytecode`), or the old code runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

INVALIDATION = "unchecked-hash"
_PROBE = (
    "import json, sys; print(json.dumps({'name': sys.implementation.name, "
    "'version': '%d.%d.%d' % sys.version_info[:3], 'cache_tag': sys.implementation.cache_tag}))"
)
# Run by the compiling interpreter: compile every .py under argv[1]; print what it made.
_COMPILE = """
import json, py_compile, sys
from pathlib import Path
root = Path(sys.argv[1])
made, failed = {}, []
for source in sorted(root.rglob("*.py")):
    name = source.relative_to(root).as_posix()
    try:
        pyc = py_compile.compile(
            str(source), dfile=name, doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        failed.append(name)  # e.g. Python 2 leftovers: this interpreter could not import it either
        continue
    made[name] = Path(pyc).relative_to(root).as_posix()
print(json.dumps({"made": made, "failed": failed}))
"""


class BytecodeError(RuntimeError):
    """The target's interpreter failed to compile the zip's sources; the message says why."""


@dataclass(frozen=True)
class Compiler:
    """A CPython of the zip's runtime version, which compiles its sources."""

    python: Path
    version: str  # major.minor.micro
    cache_tag: str  # e.g. cpython-312: the name the loading interpreter looks for

    def compile(self, sources: Mapping[str, bytes]) -> dict[str, bytes]:
        """Bytecode for `sources` (zip path -> source): zip path of each pyc -> its bytes."""
        with tempfile.TemporaryDirectory(prefix="shipways-pyc-") as tmp:
            root = Path(tmp)
            for name, data in sources.items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            done = subprocess.run(
                [str(self.python), "-s", "-c", _COMPILE, str(root)],
                capture_output=True,
                text=True,
                env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise BytecodeError(
                    f"Python {self.version} ({self.python}) could not compile the zip's "
                    f"sources:\n{done.stderr[-2000:]}"
                )
            made: dict[str, str] = json.loads(done.stdout)["made"]
            return {pyc: (root / pyc).read_bytes() for pyc in made.values()}


@cache  # asked by the cache key and by the build: one search per process
def find_compiler(python_version: str) -> Compiler | None:
    """A CPython `python_version` (major.minor) on this machine, or None.

    Looked for as this interpreter, `pythonX.Y` on PATH, what `uv python find` knows, then
    pyenv's versions; each candidate is run to check what it really is (a shim may answer
    for a version it does not have).
    """
    for candidate in _candidates(python_version):
        compiler = _probe(candidate)
        if compiler is not None and compiler.version.rsplit(".", 1)[0] == python_version:
            return compiler
    return None


def _candidates(python_version: str) -> Iterable[Path]:
    yield Path(sys.executable)
    on_path = shutil.which(f"python{python_version}")
    if on_path:
        yield Path(on_path)
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-project", python_version],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            yield Path(found.stdout.strip())
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    yield from sorted(pyenv.glob(f"{python_version}.*/bin/python{python_version}"), reverse=True)


def _probe(python: Path) -> Compiler | None:
    if python == Path(sys.executable) and sys.implementation.name == "cpython":
        version = ".".join(str(part) for part in sys.version_info[:3])
        return Compiler(python, version, str(sys.implementation.cache_tag))
    try:
        done = subprocess.run(
            [str(python), "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
        facts = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if done.returncode != 0 or facts.get("name") != "cpython":
        return None
    return Compiler(python, str(facts["version"]), str(facts["cache_tag"]))


def stale_bytecode(names: Iterable[str], changed: Iterable[str]) -> set[str]:
    """The pycs among `names` compiled from a source in `changed`: unchecked, they would win."""
    stale = set()
    for source in (PurePosixPath(n) for n in changed if n.endswith(".py")):
        cache = source.parent / "__pycache__"
        prefix = f"{source.stem}."
        stale |= {
            name
            for name in names
            if PurePosixPath(name).parent == cache
            and PurePosixPath(name).name.startswith(prefix)
            and name.endswith(".pyc")
        }
    return stale
