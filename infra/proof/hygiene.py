"""Scan what we ship for things that must never ship: secrets, keys, `.env`, tests, VCS data.

One scanner for every artifact kind, because a leak looks the same in all of them:
- zip files (the Lambda zip, the PaaS bundle) and wheels (zips) in a wheelhouse;
- directories (an unpacked bundle, a wheelhouse);
- Docker images, read from `image.save()`: the tar of layer tars. Every layer is scanned, not
  the merged filesystem, because a file deleted in a later layer still ships in the earlier
  one to everyone who pulls the image.

What counts as a hit (any hit fails):
- secrets in file contents: a private key block (BEGIN ... PRIVATE KEY, body, END), an AWS
  access key id, a high-entropy string assigned to a name containing password/secret/token;
- `.env` files (templates such as `.env.example` are allowed), SSH private key files
  (`id_rsa`, `id_ed25519`, ...), `*.pem`/`*.key` files holding a private key (by content);
- tests: `tests/`/`test/` directories, `test_*.py`, `*_test.py`, `conftest.py`;
- VCS data: `.git`, `.hg`, `.svn`, `.bzr` anywhere in a path.

Scope of an image scan: the paths the app's Dockerfile writes (`/app` and the venv in
`/opt/venv`; `/var/task` for Lambda-style images), in every layer. The base image's own files
(Debian's /usr, /etc, /var/lib/dpkg, including the test data some Debian packages put under
/usr/share) are out of scope: they are the distribution's, identical in every image built on
it, and audited by Debian, not by this project.

Scope of dependencies: secrets, keys, `.env` and VCS data are hits in every file, ours or a
dependency's. The test rule applies to our own code and to what our builders copy, which is
every file of an artifact except inside third-party wheels' packages, where upstream decides
(e.g. greenlet ships its tests inside its wheel; the Lambda zip builder strips them anyway).
"""

from __future__ import annotations

import fnmatch
import io
import math
import re
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

MAX_CONTENT_BYTES = 4 * 1024 * 1024  # larger files are data or binaries; names still checked
IMAGE_SCOPE = ("app/", "opt/venv/", "var/task/")
# Our own files in each kind of artifact (fnmatch patterns; `*` crosses `/`): elsewhere in a
# zip, image or wheel, the files belong to installed dependencies.
IMAGE_FIRST_PARTY = (
    "app/*",
    "opt/venv/lib/python*/site-packages/shipways_app*",
    "var/task/shipways_app*",
)
WHEEL_FIRST_PARTY = ("shipways_app*",)

PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----"
    rb"[\r\n]+[A-Za-z0-9+/=:,\-\s]{40,}?-----END [A-Z ]*PRIVATE KEY( BLOCK)?-----"
)
AWS_ACCESS_KEY = re.compile(rb"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b")
SECRET_ASSIGNMENT = re.compile(
    rb"(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|secret|token)[A-Za-z0-9_]*)[\"']?\s*[:=]\s*"
    rb"[\"']([^\"'\s]{16,})[\"']"
)
MIN_ENTROPY = 3.5  # bits per character: random keys are ~4.5-6, words and paths below ~3.3
PLACEHOLDERS = ("example", "changeme", "placeholder", "xxxx", "your-", "your_", "dummy", "<")
ENV_TEMPLATES = (".example", ".sample", ".template", ".dist")
KEY_FILES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
VCS_DIRS = {".git", ".hg", ".svn", ".bzr"}
TEST_DIRS = {"tests", "test"}


@dataclass(frozen=True)
class Finding:
    artifact: str
    path: str
    kind: str  # secret, private-key, env-file, tests, vcs
    detail: str

    def __str__(self) -> str:
        return f"{self.artifact}: {self.path}: {self.kind}: {self.detail}"


@dataclass
class ScanReport:
    artifact: str
    source: str = ""  # the file, directory or image scanned
    files: int = 0
    bytes_read: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.files > 0 and not self.findings


@dataclass(frozen=True)
class Entry:
    """One file of an artifact; `read` gives its contents (while the entry is current)."""

    path: str
    size: int
    read: Callable[[], bytes]
    third_party: bool = False


# -- what a file may not be or contain --------------------------------------------------------


def entropy(text: bytes) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(value: bytes) -> bool:
    """A generated secret: letters and digits mixed, high entropy; not a URL, an identifier
    (`REVISION_SCRIPT_FILENAME`) or a placeholder."""
    lowered = value.lower()
    if b"://" in value or any(p.encode() in lowered for p in PLACEHOLDERS):
        return False
    if not (re.search(rb"[A-Za-z]", value) and re.search(rb"[0-9]", value)):
        return False
    return entropy(value) >= MIN_ENTROPY


def check_path(path: str, *, third_party: bool = False) -> list[tuple[str, str]]:
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    hits: list[tuple[str, str]] = []
    vcs = VCS_DIRS.intersection(parts)
    if vcs:
        hits.append(("vcs", f"version-control data ({', '.join(sorted(vcs))})"))
    if (name == ".env" or name.startswith(".env.")) and not name.endswith(ENV_TEMPLATES):
        hits.append(("env-file", "an environment file (holds configuration and secrets)"))
    if name in KEY_FILES:
        hits.append(("private-key", "an SSH private key file"))
    if not third_party and (
        TEST_DIRS.intersection(parts[:-1])
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or name == "conftest.py"
    ):
        hits.append(("tests", "test code does not belong in a runtime artifact"))
    return hits


def check_content(data: bytes) -> list[tuple[str, str]]:
    hits: list[tuple[str, str]] = []
    if PRIVATE_KEY_BLOCK.search(data):
        hits.append(("private-key", "contains a PEM/OpenSSH private key block"))
    for match in AWS_ACCESS_KEY.finditer(data):
        if not match.group(1).endswith(b"EXAMPLE"):  # AWS's documented placeholder
            hits.append(("secret", f"AWS access key id {match.group(1)[:8].decode()}..."))
    for match in SECRET_ASSIGNMENT.finditer(data):
        name, value = match.group(1), match.group(2)
        if not _looks_random(value):
            continue
        hits.append(("secret", f"high-entropy value assigned to {name.decode(errors='replace')!r}"))
    return hits


def scan_entries(artifact: str, entries: Iterable[Entry], source: str = "") -> ScanReport:
    report = ScanReport(artifact, source)
    for entry in entries:
        report.files += 1
        hits = check_path(entry.path, third_party=entry.third_party)
        if entry.size <= MAX_CONTENT_BYTES:
            data = entry.read()
            report.bytes_read += len(data)
            hits += check_content(data)
        report.findings += [Finding(artifact, entry.path, kind, why) for kind, why in hits]
    return report


# -- where the files come from ----------------------------------------------------------------

Ours = Sequence[str] | None  # fnmatch patterns of our own files; None: every file is ours


def is_ours(path: str, ours: Ours) -> bool:
    return ours is None or any(fnmatch.fnmatchcase(path, p) for p in ours)


def _nested_ours(name: str, ours: Ours) -> Ours:
    """A wheel inside an artifact: only its `shipways_app` package is ours."""
    return WHEEL_FIRST_PARTY if name.endswith(".whl") else ours


def zip_entries(archive: zipfile.ZipFile, prefix: str = "", ours: Ours = None) -> Iterator[Entry]:
    """Files of a zip; members that are wheels or zips are opened and scanned too."""
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = f"{prefix}{info.filename}"
        if info.filename.endswith((".whl", ".zip")):
            with archive.open(info) as inner, zipfile.ZipFile(io.BytesIO(inner.read())) as nested:
                yield from zip_entries(nested, f"{path}!/", _nested_ours(info.filename, ours))
            continue
        yield Entry(
            path,
            info.file_size,
            lambda info=info: archive.read(info),  # type: ignore[misc]
            third_party=not is_ours(info.filename, ours),
        )


def scan_zip(path: Path, name: str | None = None, ours: Ours = None) -> ScanReport:
    """A zip (by default all ours, like the PaaS bundle) or a wheel (its `shipways_app`)."""
    with zipfile.ZipFile(path) as archive:
        entries = zip_entries(archive, ours=_nested_ours(path.name, ours))
        return scan_entries(name or path.name, entries, str(path))


def dir_entries(root: Path, ours: Ours = None) -> Iterator[Entry]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file():
            # `.git` as a directory holds files and is caught by them; an empty one still counts.
            if path.is_dir() and path.name in VCS_DIRS and not any(path.iterdir()):
                yield Entry(f"{relative}/", 0, bytes)
            continue
        if path.suffix in {".whl", ".zip"}:
            with zipfile.ZipFile(path) as archive:
                yield from zip_entries(archive, f"{relative}!/", _nested_ours(path.name, ours))
            continue
        yield Entry(relative, path.stat().st_size, path.read_bytes, not is_ours(relative, ours))


def scan_dir(root: Path, name: str | None = None, ours: Ours = None) -> ScanReport:
    """A directory tree: a wheelhouse (wheels opened), an unpacked bundle, a build context."""
    return scan_entries(name or root.name, dir_entries(root, ours), str(root))


def tar_entries(
    stream: IO[bytes], scope: Sequence[str] | None = None, prefix: str = "", ours: Ours = None
) -> Iterator[Entry]:
    """Files of a tar read as a stream; `scope` keeps paths under these prefixes."""
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
            path = member.name.removeprefix("./")
            if not member.isfile() or (scope and not path.startswith(tuple(scope))):
                continue
            handle = archive.extractfile(member)
            data: Callable[[], bytes] = handle.read if handle is not None else bytes
            yield Entry(f"{prefix}{path}", member.size, data, not is_ours(path, ours))


def image_entries(
    stream: IO[bytes], scope: Sequence[str] = IMAGE_SCOPE, ours: Ours = IMAGE_FIRST_PARTY
) -> Iterator[Entry]:
    """Files in scope of every layer of a `docker save` stream (legacy or OCI layout)."""
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            layer = member.name.endswith("layer.tar") or member.name.startswith("blobs/")
            handle = outer.extractfile(member) if member.isfile() and layer else None
            if handle is None:
                continue
            try:
                yield from tar_entries(handle, scope, f"{_short(member.name)}:/", ours)
            except tarfile.ReadError:
                continue  # an OCI config or manifest blob, not a layer


def _short(layer: str) -> str:
    digest = layer.removeprefix("blobs/sha256/").removesuffix("/layer.tar")
    return f"layer {digest[:12]}"


class _ChunkReader(io.RawIOBase):
    """A file-like view of `image.save()`'s chunk generator, read once, front to back."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def scan_image(
    image: Any,
    scope: Sequence[str] = IMAGE_SCOPE,
    name: str | None = None,
    ours: Ours = IMAGE_FIRST_PARTY,
) -> ScanReport:
    """A Docker image (docker SDK `Image`): every layer, limited to `scope`."""
    label = name or (image.tags[0] if image.tags else image.short_id)
    stream = io.BufferedReader(_ChunkReader(image.save(chunk_size=2**20)), 2**20)
    return scan_entries(label, image_entries(stream, scope, ours), str(image.id))
