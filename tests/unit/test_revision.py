"""The revision every artifact reports: the app directory's last commit, `-dirty` if edited."""

import subprocess
from pathlib import Path

import pytest

from infra.artifacts.revision import UNKNOWN, app_revision, source_url

pytestmark = pytest.mark.unit


def _git(repo: Path, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True)


def test_outside_git_it_says_unknown(tmp_path: Path) -> None:
    assert app_revision(tmp_path) == UNKNOWN
    assert source_url(tmp_path) is None


def test_a_commit_elsewhere_does_not_change_the_app_revision(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("1")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "app")
    first = app_revision(app)
    assert len(first) == 12
    (tmp_path / "README").write_text("docs")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "docs")
    assert app_revision(app) == first
    (app / "main.py").write_text("2")
    assert app_revision(app) == f"{first}-dirty"
    _git(tmp_path, "remote", "add", "origin", "https://example.com/x.git")
    assert source_url(app) == "https://example.com/x.git"
