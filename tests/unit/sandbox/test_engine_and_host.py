"""Engine discovery errors, host detection and the cross-process lock."""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path

import pytest

from infra.sandbox import engine
from infra.sandbox.containers import free_port
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import SandboxError
from infra.sandbox.host import file_lock, is_debian_like

pytestmark = pytest.mark.unit


def test_unreachable_custom_docker_host_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    host = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(SandboxError) as err:
        ensure_engine()
    message = str(err.value)
    assert f"Docker engine not reachable at {host}" in message
    assert "systemctl start docker" in message
    assert "unset DOCKER_HOST" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', True),
        ("ID=ubuntu\nID_LIKE=debian\n", True),
        ("ID=linuxmint\nID_LIKE='ubuntu debian'\n".replace("'", '"'), True),
        ('ID="fedora"\n', False),
        ("ID=arch\n", False),
    ],
)
def test_debian_like_detection(tmp_path: Path, content: str, expected: bool) -> None:
    release = tmp_path / "os-release"
    release.write_text(content)
    assert is_debian_like(release) is expected


def test_missing_os_release_is_not_debian(tmp_path: Path) -> None:
    assert is_debian_like(tmp_path / "absent") is False


def test_file_lock_excludes_other_holders() -> None:
    path = Path(tempfile.gettempdir()) / "shipways-unit-test.lock"
    with file_lock("unit-test"), path.open("a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with path.open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again after the block


def test_no_self_start_without_root_on_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop user (not root, or not Debian) gets instructions, never an apt-get/sudo."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine, "_connect", lambda: None)
    monkeypatch.setattr(engine, "can_self_install", lambda: False)
    monkeypatch.setattr(engine, "apt_install", _forbidden)
    monkeypatch.setattr(engine, "_launch_dockerd", _forbidden)
    with pytest.raises(SandboxError, match=r"unix:///var/run/docker\.sock; start Docker Desktop"):
        engine.ensure_engine()


def _forbidden(*_: object) -> None:
    raise AssertionError("must not install or launch anything")
