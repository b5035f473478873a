"""The source bundle: one zip, built once, that every PaaS (and `shipways up paas`) deploys.

What goes in is an allowlist, laid out the way Elastic Beanstalk's Python platform and the
Heroku buildpack expect it at the root: the Procfile, `.python-version`, `app.json`, the
pinned `requirements.txt` (with hashes), the platform hooks (`.platform/`, `.ebextensions/`)
and the app package's source (the package of the app spec's entry point, `shipways_app/` for
the sample app, importable from the bundle root, so `pip install -r requirements.txt` then the
Procfile's `web:` command is the whole install). The Procfile is the app's own, like its
Dockerfile: what it runs is the app's to say.
Nothing else: no tests, VCS data, virtualenvs, dotenv files or keys. Byproducts such as
`__pycache__` are left out quietly; anything that looks like a secret stops the build.

The zip is reproducible: entries sorted, timestamps fixed, permissions normalised (hooks
0755, the rest 0644), so the same inputs give the same bytes and the same version label,
and a redeploy of unchanged source is recognisably a no-op.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from infra.appspec import AppSpec, AppSpecError, load
from infra.paths import APP_DIR
from infra.sandbox.errors import Progress
from infra.targets.paas.procfile import ProcfileError, parse
from infra.targets.registry import BuiltArtifact

ROOT_FILES = ("Procfile", ".python-version", "app.json", "requirements.txt")
PLATFORM_DIRS = (".platform", ".ebextensions")
EXECUTABLE_DIRS = (".platform/hooks/", ".platform/confighooks/")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
COMPRESS_LEVEL = 9

# Left out without comment: what running or testing the code leaves behind.
BYPRODUCTS = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store")
# Refused outright: a bundle is uploaded to a bucket and unpacked on servers.
FORBIDDEN = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    ".env.*",
    "*.env",
    "tests",
    "test",
    "conftest.py",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pypirc",
    "*.db",
    "*.sqlite",
    "*.sqlite3",
)
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


class BundleError(ValueError):
    """The bundle cannot be built as asked; the message names the file and the fix."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    size_bytes: int
    files: tuple[str, ...]

    @property
    def label(self) -> str:
        """Short content id: names the S3 object and the Beanstalk application version."""
        return self.sha256[:12]


def forbidden_entry(name: str) -> str | None:
    """The pattern an archive path violates, if any (checked on every path component)."""
    for part in PurePosixPath(name).parts:
        for pattern in FORBIDDEN:
            if fnmatch.fnmatchcase(part, pattern):
                return pattern
    return None


def _is_byproduct(path: PurePosixPath) -> bool:
    return any(fnmatch.fnmatchcase(p, pat) for p in path.parts for pat in BYPRODUCTS)


def app_of(source: Path) -> AppSpec:
    """The spec of the app in `source` (its pyproject.toml's [tool.shipways] table)."""
    try:
        return load(source)
    except AppSpecError as exc:
        raise BundleError(str(exc)) from None


def collect(source: Path = APP_DIR) -> dict[str, Path]:
    """Archive name -> file on disk, for everything the bundle carries."""
    app = app_of(source)
    package = app.source_dir / app.package
    missing = [name for name in ROOT_FILES if not (source / name).is_file()]
    if not package.is_dir():
        missing.append(f"{app.package}/")
    if missing:
        raise BundleError(f"{source}: missing {', '.join(missing)}; the bundle needs them all")
    entries = {name: source / name for name in ROOT_FILES}
    tops = [(package, app.source_dir)] + [(source / d, source) for d in PLATFORM_DIRS]
    for top, root in tops:
        for path in sorted(top.rglob("*")):
            name = PurePosixPath(path.relative_to(root).as_posix())
            if _is_byproduct(name):
                continue
            pattern = forbidden_entry(str(name))
            if pattern is not None:
                raise BundleError(
                    f"refusing to bundle {path}: it matches {pattern!r} (tests, VCS data, "
                    "virtualenvs, dotenv files, keys and databases never ship); move it out "
                    f"of {top}"
                )
            if path.is_file():
                entries[str(name)] = path
    return entries


def check_sources(entries: Mapping[str, Path]) -> None:
    """What each platform would only reject after the upload, rejected before it."""
    try:
        parse(entries["Procfile"].read_text())
    except ProcfileError as exc:
        raise BundleError(str(exc)) from None
    version = entries[".python-version"].read_text().strip()
    if not PYTHON_VERSION.match(version):
        raise BundleError(f".python-version: {version!r} is not a version like 3.11")
    try:
        json.loads(entries["app.json"].read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"app.json: not valid JSON ({exc})") from None
    for name, path in entries.items():
        if name.startswith(EXECUTABLE_DIRS):
            head = path.read_bytes()
            if not head.startswith(b"#!"):
                raise BundleError(f"{name}: a platform hook must start with a #! line")
            if b"\r" in head:
                raise BundleError(f"{name}: Windows line endings; hooks must use LF only")


def write_zip(files: Mapping[str, bytes], dest: Path, executable: Iterable[str] = ()) -> None:
    """A zip whose bytes depend only on the names, contents and modes given."""
    executables = set(executable)
    with zipfile.ZipFile(dest, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the modes below are honoured on unzip
            mode = 0o755 if name in executables else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=COMPRESS_LEVEL)


def build(dest_dir: Path, source: Path = APP_DIR, name: str = "shipways") -> Bundle:
    """Build the bundle from `source` into `dest_dir` as `<name>-<sha12>.zip`."""
    entries = collect(source)
    check_sources(entries)
    contents = {archive_name: path.read_bytes() for archive_name, path in entries.items()}
    executable = [n for n in contents if n.startswith(EXECUTABLE_DIRS)]
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest_dir, suffix=".zip.tmp", delete=False) as handle:
        scratch = Path(handle.name)
    try:
        write_zip(contents, scratch, executable)
        digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
        final = dest_dir / f"{name}-{digest[:12]}.zip"
        scratch.replace(final)
    finally:
        scratch.unlink(missing_ok=True)
    return Bundle(final, digest, final.stat().st_size, tuple(sorted(contents)))


def build_for_scan(work: Path, progress: Progress) -> BuiltArtifact:
    """The source bundle uploaded to Beanstalk, for the proof's hygiene scan."""
    built = build(work / "paas", APP_DIR)
    return BuiltArtifact(f"paas bundle {built.path.name}", "zip", str(built.path))


def unpack(bundle: Path, dest: Path) -> None:
    """Extract like the platforms do, keeping the executable bit that zipfile drops."""
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise BundleError(f"{bundle}: entry {info.filename!r} escapes the bundle root")
            archive.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
