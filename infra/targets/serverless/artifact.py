"""The Lambda deployment package: the app and its runtime dependencies in one reproducible zip.

Built from the same wheelhouse every target installs from (`infra.artifacts.wheelhouse`):
manylinux wheels only, downloaded for the function's Python and CPU, never `pip install`ed
for a foreign platform. Each wheel is unpacked into the zip root, which is what Lambda puts
on `sys.path` (`/var/task`).

What goes in is what the function imports, nothing else:
- packages only a long-running server needs (`SERVER_ONLY`) are left out: on Lambda the
  API Gateway event reaches the app through Mangum, never through uvicorn or gunicorn;
- tests, `__pycache__`, type stubs, C sources and wheel bookkeeping (`RECORD`, scripts,
  headers) are build leftovers.
A smaller package unzips faster on a cold start and stays far below Lambda's limits. What it
adds is bytecode for every module, compiled by the runtime's own Python version (`bytecode`):
/var/task is read-only, so without it each cold start would compile every import from source.

Same inputs give a byte-identical zip (sorted entries, fixed timestamps and modes, a fixed
compression level), so `source_code_hash` changes exactly when the code or a dependency
does, and an unchanged `pulumi up` uploads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from infra.appspec import default
from infra.artifacts.wheelhouse import Platform, Progress, build
from infra.config import ServerlessConfig, load_stack, narrow
from infra.paths import APP_DIR, APP_REQUIREMENTS, ROOT, state_dir
from infra.sandbox.digest import files_under, tree_digest
from infra.sandbox.host import file_lock
from infra.targets.registry import BuiltArtifact
from infra.targets.serverless.bytecode import (
    INVALIDATION,
    BytecodeError,
    Compiler,
    find_compiler,
    stale_bytecode,
)

MANIFEST = "shipways-artifact.json"
FIRST_PARTY = ("shipways_app*", MANIFEST)  # our files in the zip; the rest are dependencies
ZIPPED_LIMIT = 50 * 1024 * 1024  # direct upload (what Pulumi does), per Lambda quotas
UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code plus layers, unzipped
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
# zlib's default level: measured on this app's zip, level 9 took twice as long to write (a
# code change's rebuild: 14.4 s against 6.7 s) for a zip 0.75% smaller (19.15 against 19.30 MB).
COMPRESS_LEVEL = 6

Architecture = Literal["x86_64", "arm64"]

# Distributions the app depends on only to run as a long-lived HTTP server. Each is required
# solely by the app's server extras or by another entry here (tests/unit/serverless checks
# this against app/requirements.txt), so dropping them cannot break an import on Lambda.
SERVER_ONLY: Mapping[str, str] = {
    "gunicorn": "process manager (VPS, PaaS, containers); Lambda runs one process per instance",
    "uvicorn": "ASGI server; on Lambda, Mangum turns each event into an ASGI call",
    "uvicorn-worker": "gunicorn worker class that runs uvicorn",
    "uvloop": "uvicorn's faster event loop (uvicorn[standard])",
    "httptools": "uvicorn's HTTP parser (uvicorn[standard]); API Gateway parses HTTP",
    "h11": "uvicorn's pure-Python HTTP parser",
    "websockets": "uvicorn's WebSocket support (uvicorn[standard]); unused by an HTTP API",
    "watchfiles": "uvicorn --reload (uvicorn[standard]), a development feature",
    "click": "uvicorn's command line",
    "pyyaml": "uvicorn's --log-config YAML support (uvicorn[standard])",
    "python-dotenv": "uvicorn's --env-file (uvicorn[standard]); the app reads its environment",
}

_LEFTOVER_DIRS = frozenset({"__pycache__", "tests", "test"})
_LEFTOVER_SUFFIXES = frozenset({".pyc", ".pyo", ".pyi", ".c", ".h", ".cpp", ".pyx", ".pxd"})
_DROPPED_METADATA = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER", "REQUESTED"})


class ArtifactError(RuntimeError):
    """The zip could not be built, or must not be deployed; the message says what to change."""


@dataclass(frozen=True)
class LambdaRuntime:
    """A managed Lambda Python runtime: its interpreter and the C library its OS ships."""

    name: str
    python_version: str
    system: str
    glibc: tuple[int, int]


RUNTIMES: Mapping[str, LambdaRuntime] = {
    "python3.12": LambdaRuntime("python3.12", "3.12", "Amazon Linux 2023", (2, 34)),
    "python3.11": LambdaRuntime("python3.11", "3.11", "Amazon Linux 2", (2, 26)),
}
LOCAL_SYSTEM = LambdaRuntime("debian12", "3.11", "Debian 12 (local sandbox)", (2, 36))


@dataclass(frozen=True)
class ZipTarget:
    """What a zip is built for: one interpreter, CPU architecture and C library version."""

    runtime: LambdaRuntime
    architecture: Architecture

    @classmethod
    def for_lambda(cls, runtime: str, architecture: Architecture) -> ZipTarget:
        if runtime not in RUNTIMES:
            raise ArtifactError(f"runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        return cls(RUNTIMES[runtime], architecture)

    @property
    def label(self) -> str:
        return f"{self.runtime.system}, Python {self.runtime.python_version}, {self.architecture}"

    def platform(self) -> Platform:
        """Wheel tags this system can load: manylinux up to its glibc, nothing newer.

        pip does not widen a `--platform` tag to older manylinux versions by itself, so every
        compatible tag is listed. The ceiling matters: Amazon Linux 2 (python3.11) has glibc
        2.26, and a manylinux_2_28 wheel would install fine and then fail at import.
        """
        base = Platform.linux(self.runtime.python_version, self.architecture)
        machine = base.platforms[0].split("_", 1)[1]
        major, minor = self.runtime.glibc
        tags = [f"manylinux2014_{machine}"]
        tags += [f"manylinux_{major}_{m}_{machine}" for m in range(17, minor + 1)]
        return Platform(base.python_version, tuple(tags))


@dataclass(frozen=True)
class PackageSize:
    name: str
    version: str
    files: int
    unzipped_bytes: int


@dataclass(frozen=True)
class LambdaZip:
    """A built deployment package and what is in it."""

    path: Path
    target: ZipTarget
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    packages: tuple[PackageSize, ...]  # largest first
    excluded: tuple[str, ...]
    bytecode: str | None = None  # e.g. "cpython-312 (Python 3.12.1), unchecked-hash"

    @property
    def source_code_hash(self) -> str:
        """The zip's SHA-256 in Lambda's own `CodeSha256` form (base64)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    def largest(self, count: int = 5) -> str:
        return ", ".join(f"{p.name} {_mb(p.unzipped_bytes)}" for p in self.packages[:count])

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "built_for": self.target.label,
            "sha256": self.sha256,
            "zipped_mib": round(self.zipped_bytes / 2**20, 2),
            "unzipped_mib": round(self.unzipped_bytes / 2**20, 2),
            "files": self.files,
            "largest_packages": self.largest(),
            "excluded_server_only": list(self.excluded),
            "bytecode": self.bytecode or "none: sources only",
        }


def build_zip(
    dest: Path,
    target: ZipTarget,
    progress: Progress | None = None,
    handler: str | None = None,
    *,
    app_dir: Path = APP_DIR,
) -> LambdaZip:
    """Build the Lambda zip of `app_dir` (the app, or a changed copy of it) for `target` at
    `dest` and check it against Lambda's limits; `handler` is the app spec's (default: the
    sample app's)."""
    with tempfile.TemporaryDirectory(prefix="shipways-lambda-") as tmp:
        if progress:
            progress(f"collecting wheels for {target.label}")
        try:
            wheelhouse = build(Path(tmp) / "wheels", target.platform(), progress, app_dir=app_dir)
        except RuntimeError as exc:
            lines = str(exc).splitlines()
            reason = "\n".join(line for line in lines if line.startswith("ERROR")) or str(exc)
            raise ArtifactError(
                f"no complete set of manylinux wheels for {target.label}:\n{reason}\n"
                "Every dependency needs a wheel for this Python, CPU and glibc; pick another "
                "runtime/architecture or a dependency version that publishes one."
            ) from exc
        compiler = find_compiler(target.runtime.python_version)
        if progress:
            progress(f"writing {dest.name}, {_bytecode_note(target, compiler)}")
        package = write_zip(wheelhouse.wheels, dest, target, handler=handler, compiler=compiler)
    check_limits(package)
    return package


def build_for_scan(work: Path, progress: Progress) -> BuiltArtifact:
    """The zip the `serverless` stack uploads: its own cached build for the stack's runtime
    and CPU, for the proof's hygiene scan."""
    config = narrow(load_stack("serverless"), ServerlessConfig)
    target = ZipTarget.for_lambda(config.runtime, config.architecture)
    built = cached_zip(
        state_dir("serverless", "build"), target, progress, config.app.lambda_handler
    )
    label = f"serverless zip ({target.label})"
    return BuiltArtifact(label, "zip", str(built.path), FIRST_PARTY)


def _bytecode_note(target: ZipTarget, compiler: Compiler | None) -> str:
    version = target.runtime.python_version
    if compiler is not None:
        return f"with bytecode compiled by Python {compiler.version} ({compiler.python})"
    return (
        f"sources only: no Python {version} found to compile bytecode for {target.runtime.name}, "
        "so every cold start compiles each module; install one (e.g. "
        f"`uv python install {version}`) and rebuild"
    )


def inputs_digest(target: ZipTarget, handler: str | None = None) -> str:
    """What decides a zip's content: the app package's source, the lock, the target, the
    handler, this code (and bytecode.py), and the Python that compiles its bytecode (none, or
    which release)."""
    package = APP_DIR / "shipways_app"
    files = {
        path.relative_to(ROOT).as_posix(): path
        for path in (
            APP_DIR / "pyproject.toml",
            APP_REQUIREMENTS,
            Path(__file__),
            Path(__file__).with_name("bytecode.py"),
        )
    }
    files.update(files_under(package, prefix=f"{package.relative_to(ROOT).as_posix()}/"))
    compiler = find_compiler(target.runtime.python_version)
    extra = [
        repr(target),
        handler or default().lambda_handler,
        compiler.version if compiler else None,
    ]
    return tree_digest(files, extra=extra, length=16)


def cached_zip(
    directory: Path, target: ZipTarget, progress: Progress | None = None, handler: str | None = None
) -> LambdaZip:
    """`build_zip`, once per set of inputs: an unchanged app reuses its zip (no pip, no network).

    `pulumi preview`, `shipways plan` and a repeated `up` then cost milliseconds, not a build.
    """
    stem = f"{target.runtime.name}-{target.architecture}"
    dest = directory / f"{stem}-{inputs_digest(target, handler)}.zip"
    with file_lock(f"lambda-zip-{stem}"):  # `up`, a test and `pulumi up` may build at once
        if dest.exists():
            package = load_zip(dest, target)
            check_limits(package)
            return package
        for stale in directory.glob(f"{stem}-*.zip"):
            stale.unlink()
        return build_zip(dest, target, progress, handler)


def write_zip(
    wheels: Iterable[Path],
    dest: Path,
    target: ZipTarget,
    exclude: Mapping[str, str] = SERVER_ONLY,
    handler: str | None = None,
    *,
    compiler: Compiler | None = None,
) -> LambdaZip:
    """Unpack `wheels` (minus `exclude`d distributions and leftovers) into a deterministic zip
    whose manifest names `handler` (the app spec's; default: the sample app's), with the
    bytecode of every module when given a `compiler` of the target's Python."""
    if compiler is not None and not compiler.version.startswith(
        f"{target.runtime.python_version}."
    ):
        raise ArtifactError(
            f"bytecode for {target.runtime.name} must come from Python "
            f"{target.runtime.python_version}, not {compiler.version} ({compiler.python})"
        )
    entries: dict[str, tuple[bytes, bool, str]] = {}
    wheel_names: dict[str, tuple[str, str]] = {}  # wheel file name -> (distribution, version)
    excluded: list[str] = []
    for wheel in sorted(wheels):
        name, version = _wheel_name(wheel)
        if name in exclude:
            excluded.append(name)
            continue
        wheel_names[wheel.name] = (name, version)
        for path, (data, executable) in _wheel_files(wheel).items():
            previous = entries.get(path)
            if previous is not None and previous[0] != data:
                raise ArtifactError(
                    f"{wheel.name} and {previous[2]} both install {path} with different "
                    "contents; they cannot share one /var/task"
                )
            entries[path] = (data, executable, wheel.name)
    bytecode = None
    if compiler is not None:
        sources = {path: entry[0] for path, entry in entries.items() if path.endswith(".py")}
        try:
            pycs = compiler.compile(sources)
        except BytecodeError as exc:
            raise ArtifactError(str(exc)) from exc
        for pyc, data in pycs.items():
            source = _source_of(pyc)
            entries[pyc] = (data, False, entries[source][2])
        bytecode = {
            "cache_tag": compiler.cache_tag,
            "compiled_by": f"Python {compiler.version}",
            "invalidation": INVALIDATION,
            "modules": len(pycs),
        }
    sizes = _package_sizes(entries, wheel_names)
    manifest = {
        "handler": handler or default().lambda_handler,
        "runtime": target.runtime.name,
        "python": target.runtime.python_version,
        "architecture": target.architecture,
        "system": target.runtime.system,
        "packages": dict(sorted(wheel_names.values())),
        "excluded": sorted(excluded),
        "bytecode": bytecode,
    }
    entries[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True).encode(), False, "")

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(entries):
            data, executable, _ = entries[path]
            info = zipfile.ZipInfo(path, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the mode below is honoured when unpacked
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    partial.replace(dest)
    blob = dest.read_bytes()
    return LambdaZip(
        path=dest,
        target=target,
        sha256=hashlib.sha256(blob).hexdigest(),
        zipped_bytes=len(blob),
        unzipped_bytes=sum(len(d) for d, _, _ in entries.values()),
        files=len(entries),
        packages=tuple(sorted(sizes, key=lambda p: (-p.unzipped_bytes, p.name))),
        excluded=tuple(sorted(excluded)),
        bytecode=_bytecode_label(bytecode),
    )


def _source_of(pyc: str) -> str:
    """`pkg/__pycache__/mod.cpython-312.pyc` -> `pkg/mod.py`."""
    path = PurePosixPath(pyc)
    return (path.parent.parent / f"{path.name.split('.', 1)[0]}.py").as_posix()


def _package_sizes(
    entries: Mapping[str, tuple[bytes, bool, str]], wheel_names: Mapping[str, tuple[str, str]]
) -> list[PackageSize]:
    """Files and unzipped bytes per distribution, its bytecode included."""
    files: dict[str, list[int]] = {}
    for data, _, wheel in entries.values():
        files.setdefault(wheel, []).append(len(data))
    return [
        PackageSize(name, version, len(files.get(wheel, [])), sum(files.get(wheel, [])))
        for wheel, (name, version) in wheel_names.items()
    ]


def _bytecode_label(bytecode: Mapping[str, Any] | None) -> str | None:
    if not bytecode:
        return None
    return f"{bytecode['cache_tag']} ({bytecode['compiled_by']}), {bytecode['invalidation']}"


def check_limits(
    package: LambdaZip, zipped_limit: int = ZIPPED_LIMIT, unzipped_limit: int = UNZIPPED_LIMIT
) -> None:
    """Refuse a zip Lambda would reject, naming the packages that make it big."""
    problems = []
    if package.zipped_bytes > zipped_limit:
        problems.append(
            f"{_mb(package.zipped_bytes)} zipped, over Lambda's {_mb(zipped_limit)} limit "
            "for a direct upload"
        )
    if package.unzipped_bytes > unzipped_limit:
        problems.append(
            f"{_mb(package.unzipped_bytes)} unzipped, over Lambda's {_mb(unzipped_limit)} limit"
        )
    if problems:
        raise ArtifactError(
            f"{package.path.name} is {' and '.join(problems)}. Largest packages: "
            f"{package.largest()}. Drop what the function does not import (SERVER_ONLY in "
            "infra/targets/serverless/artifact.py) or ship big dependencies as a container image."
        )


def load_zip(path: Path, expected: ZipTarget, handler: str | None = None) -> LambdaZip:
    """A zip built earlier (e.g. once by CI, then deployed), checked against `expected` (and
    the app spec's `handler`, when given).

    Its manifest says what it was built for; deploying an x86_64 or python3.11 zip to an
    arm64 or python3.12 function would fail only at the first request, so it fails here.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not a Lambda zip built by shipways ({type(exc).__name__}: {exc}); "
            "unset SHIPWAYS_LAMBDA_ZIP to let the stack build one"
        ) from exc
    built = (manifest.get("runtime"), manifest.get("architecture"))
    wanted = (expected.runtime.name, expected.architecture)
    if built != wanted:
        raise ArtifactError(
            f"{path} was built for {built[0]}/{built[1]} but the stack deploys "
            f"{wanted[0]}/{wanted[1]} (runtime, architecture); rebuild it for the stack"
        )
    if handler is not None and manifest.get("handler") != handler:
        raise ArtifactError(
            f"{path} carries the handler {manifest.get('handler')!r} but the app's "
            f"[tool.shipways] lambda-handler is {handler!r}; rebuild it for this app"
        )
    by_top: dict[str, list[int]] = {}
    for info in infos:
        by_top.setdefault(info.filename.split("/")[0], []).append(info.file_size)
    blob = path.read_bytes()
    return LambdaZip(
        path=path,
        target=expected,
        sha256=hashlib.sha256(blob).hexdigest(),
        zipped_bytes=len(blob),
        unzipped_bytes=sum(i.file_size for i in infos),
        files=len(infos),
        packages=tuple(
            sorted(
                (PackageSize(top, "", len(sizes), sum(sizes)) for top, sizes in by_top.items()),
                key=lambda p: (-p.unzipped_bytes, p.name),
            )
        ),
        excluded=tuple(manifest.get("excluded", ())),
        bytecode=_bytecode_label(manifest.get("bytecode")),
    )


def _wheel_name(wheel: Path) -> tuple[str, str]:
    """Normalised distribution name (PEP 503) and version from a wheel's file name."""
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _wheel_files(wheel: Path) -> dict[str, tuple[bytes, bool]]:
    """The files a wheel installs into site-packages (its `/var/task` paths) and exec bits."""
    files: dict[str, tuple[bytes, bool]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = _install_path(PurePosixPath(info.filename))
            if path is None:
                continue
            executable = bool((info.external_attr >> 16) & 0o111)
            files[path.as_posix()] = (archive.read(info), executable)
    return files


def _install_path(path: PurePosixPath) -> PurePosixPath | None:
    """Where a wheel member lands in the zip, or None for what Lambda never loads."""
    parts = path.parts
    if parts[0].endswith(".data"):
        # purelib/platlib go to site-packages; scripts, headers and data do not apply here.
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        path = PurePosixPath(*parts[2:])
        parts = path.parts
    if parts[0].endswith(".dist-info") and path.name in _DROPPED_METADATA:
        return None
    if _LEFTOVER_DIRS.intersection(parts[:-1]) or path.suffix in _LEFTOVER_SUFFIXES:
        return None
    return path


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def zip_with_changes(
    package: LambdaZip, changes: Mapping[str, bytes], directory: Path
) -> LambdaZip:
    """`package` with files replaced or added (zip path -> content), in `directory`, named by
    its own SHA-256: what a developer's edit to `app/` would build, without touching the
    working tree (the zero-downtime tests deploy a code change, or a broken release, so).
    The bytecode of a changed module is dropped: being unchecked, it would run the old code."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / "changed.partial"
    with zipfile.ZipFile(package.path) as source, zipfile.ZipFile(partial, "w") as archive:
        kept = set(source.namelist()) - stale_bytecode(source.namelist(), changes)
        for name in sorted(kept | set(changes)):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the mode below is honoured when unpacked
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = changes[name] if name in changes else source.read(name)
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    dest = directory / f"{hashlib.sha256(partial.read_bytes()).hexdigest()[:16]}.zip"
    partial.replace(dest)
    return load_zip(dest, package.target)
