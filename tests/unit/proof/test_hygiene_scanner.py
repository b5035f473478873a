"""The artifact scanner, on artifacts made here: clean ones pass, every planted leak is a hit."""

from __future__ import annotations

import io
import secrets
import tarfile
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.proof import hygiene

pytestmark = pytest.mark.unit

CLEAN = {
    "shipways_app/__init__.py": b'__version__ = "1.0.0"\n',
    "shipways_app/settings.py": b'db_url = "sqlite:///x.db"\ntoken_header = "Authorization"\n',
    "shipways_app/docs.py": b'# set SHIPWAYS_TOKEN="your-token-here" before running\n'
    b'TOKEN_URL = "https://login.example.com/oauth2/v2.0/token"\n'
    b'REVISION_SCRIPT_TOKEN = "REVISION_SCRIPT_FILENAME"\n',
    "Procfile": b"web: gunicorn shipways_app.main:app\n",
    ".env.example": b"DATABASE_URL=postgresql://user:password@host/db\n",
}


def private_key_pem() -> bytes:
    """A real key made now: no private key is ever committed, not even a test one."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def aws_key_id() -> str:
    return "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


PLANTS: dict[str, tuple[str, bytes | None]] = {
    # name: (path, content) - None: content made at run time
    "env file": (".env", b"DATABASE_URL=postgresql://app@db/app\n"),
    "ssh key file": ("deploy/id_ed25519", b"not even a key: the name alone is a hit\n"),
    "pem with a private key": ("certs/server.pem", None),
    "key in source": ("shipways_app/keys.py", None),
    "aws access key": ("shipways_app/aws.py", None),
    "high-entropy password": ("shipways_app/db.py", None),
    "git data": (".git/HEAD", b"ref: refs/heads/main\n"),
    "mercurial data": ("shipways_app/.hg/store/data", b"x"),
    "tests directory": ("tests/test_api.py", b"def test_ok():\n    assert True\n"),
    "test module": ("shipways_app/test_models.py", b"x = 1\n"),
    "conftest": ("conftest.py", b"import pytest\n"),
}
KINDS = {
    "env file": "env-file",
    "ssh key file": "private-key",
    "pem with a private key": "private-key",
    "key in source": "private-key",
    "aws access key": "secret",
    "high-entropy password": "secret",
    "git data": "vcs",
    "mercurial data": "vcs",
    "tests directory": "tests",
    "test module": "tests",
    "conftest": "tests",
}


def plant(name: str) -> tuple[str, bytes]:
    path, content = PLANTS[name]
    if content is not None:
        return path, content
    if name == "pem with a private key":
        return path, private_key_pem()
    if name == "key in source":
        return path, b'DEPLOY_KEY = """\n' + private_key_pem() + b'"""\n'
    if name == "aws access key":
        return path, f'ACCESS_KEY_ID = "{aws_key_id()}"\n'.encode()
    return path, f'DB_PASSWORD = "{secrets.token_urlsafe(24)}"\n'.encode()


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_clean_zip_passes(tmp_path: Path) -> None:
    report = hygiene.scan_zip(make_zip(tmp_path / "bundle.zip", CLEAN))
    assert report.files == len(CLEAN)
    assert report.findings == []
    assert report.ok


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_leak_in_a_zip_is_a_hit(tmp_path: Path, name: str) -> None:
    path, content = plant(name)
    report = hygiene.scan_zip(make_zip(tmp_path / "bundle.zip", {**CLEAN, path: content}))
    assert [(f.path, f.kind) for f in report.findings] == [(path, KINDS[name])]
    assert not report.ok


@pytest.mark.parametrize("name", ["env file", "pem with a private key", "git data"])
def test_planted_leak_in_a_directory_is_a_hit(tmp_path: Path, name: str) -> None:
    path, content = plant(name)
    for rel, data in {**CLEAN, path: content}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    report = hygiene.scan_dir(tmp_path)
    assert [(f.path, f.kind) for f in report.findings] == [(path, KINDS[name])]


def test_an_empty_git_directory_is_a_hit(tmp_path: Path) -> None:
    (tmp_path / "app" / ".git").mkdir(parents=True)
    (tmp_path / "app" / "main.py").write_text("x = 1\n")
    assert [f.kind for f in hygiene.scan_dir(tmp_path).findings] == ["vcs"]


def wheel(path: Path, files: dict[str, bytes]) -> Path:
    return make_zip(path, files)


def test_wheelhouse_tests_rule_is_ours_only_secrets_everywhere(tmp_path: Path) -> None:
    wheel(
        tmp_path / "greenlet-3.0-cp311-cp311-linux_x86_64.whl",
        {"greenlet/__init__.py": b"", "greenlet/tests/test_greenlet.py": b"x = 1\n"},
    )
    wheel(tmp_path / "shipways_app-1.0.0-py3-none-any.whl", {"shipways_app/__init__.py": b""})
    assert hygiene.scan_dir(tmp_path).findings == []

    wheel(
        tmp_path / "shipways_app-1.0.0-py3-none-any.whl",
        {"shipways_app/__init__.py": b"", "shipways_app/tests/test_x.py": b"x = 1\n"},
    )
    key_path, key = plant("key in source")
    wheel(tmp_path / "leaky-1.0-py3-none-any.whl", {f"leaky/{key_path}": key})
    found = {(f.path.split("!/")[0], f.kind) for f in hygiene.scan_dir(tmp_path).findings}
    assert found == {
        ("shipways_app-1.0.0-py3-none-any.whl", "tests"),
        ("leaky-1.0-py3-none-any.whl", "private-key"),
    }


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_image_layers_are_scanned_in_scope_including_deleted_files() -> None:
    """A `docker save` stream: the .env deleted by a later layer still ships in the first."""
    first = _tar(
        {
            "app/shipways_app/__init__.py": b"",
            "app/.env": b"SECRET=1\n",
            "usr/share/doc/python3/tests/test_x.py": b"Debian's, out of scope\n",
            "opt/venv/lib/python3.11/site-packages/greenlet/tests/test_g.py": b"upstream's\n",
        }
    )
    second = _tar({"app/.wh..env": b""})  # the whiteout that deletes it in the merged view
    saved = _tar(
        {
            "manifest.json": b"[]",
            "aaaaaaaaaaaa1111/layer.tar": first,
            "bbbbbbbbbbbb2222/layer.tar": second,
        }
    )
    chunks = [saved[i : i + 1000] for i in range(0, len(saved), 1000)]
    stream = io.BufferedReader(hygiene._ChunkReader(chunks))
    report = hygiene.scan_entries("image", hygiene.image_entries(stream))
    assert report.files == 4  # three in scope in layer one, the whiteout in layer two
    assert [(f.path, f.kind) for f in report.findings] == [
        ("layer aaaaaaaaaaaa:/app/.env", "env-file")
    ]


@pytest.mark.parametrize(
    "value",
    [
        b'password = "changeme-changeme-123"',
        b'SECRET_KEY = "REPLACE_WITH_YOUR_SECRET"',
        b'token_url = "https://oauth2.example.org/v2/token9"',
        b'password: str = "aaaaaaaaaaaaaaaaaaaa1"',
        b"-----BEGIN PRIVATE KEY----- is the header a PEM key starts with",
        b"AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_look_alikes_are_not_hits(value: bytes) -> None:
    assert hygiene.check_content(value) == []
