"""The app image's recipe: build context (.dockerignore), context hashing, Dockerfile rules."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from infra.paths import APP_DIR
from infra.targets.k8s import image

pytestmark = pytest.mark.unit

DOCKERFILE = (APP_DIR / "Dockerfile").read_text()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A copy of the app's Dockerfile and .dockerignore among files that must stay out."""
    root = tmp_path / "app"
    root.mkdir()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(APP_DIR / name, root / name)
    files = {
        "requirements.txt": "fastapi==1\n",
        "pyproject.toml": "[project]\n",
        "shipways_app/__init__.py": "",
        "shipways_app/migrations/env.py": "",
        "shipways_app/__pycache__/main.cpython-311.pyc": "",
        "shipways_app/tests/test_x.py": "",
        "shipways_app/.env": "SECRET=1",
        "wheels/fastapi-1-py3-none-any.whl": "",
        "tests/test_app.py": "",
        ".git/config": "",
        ".venv/bin/python": "",
        "venv/bin/python": "",
        ".env": "DATABASE_URL=postgresql://u:p@h/d",
        ".env.production": "x",
        "server.key": "",
        "tls.pem": "",
        "id_ed25519": "",
        "local.db": "",
        "notes.md": "",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_dockerignore_keeps_tests_vcs_venvs_and_secrets_out(app_dir: Path) -> None:
    assert image.context_files(app_dir) == [
        ".dockerignore",
        "Dockerfile",
        "requirements.txt",
        "shipways_app/__init__.py",
        "shipways_app/migrations/env.py",
        "wheels/fastapi-1-py3-none-any.whl",
    ]


def test_real_app_context_is_only_what_the_dockerfile_copies() -> None:
    files = image.context_files()
    top = {".dockerignore", "Dockerfile", "requirements.txt"}
    assert top <= set(files)
    assert all(f in top or f.startswith("shipways_app/") for f in files)
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)


def _tar(app_dir: Path, **kwargs: object) -> tuple[str, dict[str, tarfile.TarInfo]]:
    buffer = io.BytesIO()
    digest = image.write_context(buffer, app_dir=app_dir, **kwargs)  # type: ignore[arg-type]
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        return digest, {m.name: m for m in tar.getmembers()}


def test_context_is_reproducible_and_normalised(app_dir: Path) -> None:
    first, members = _tar(app_dir)
    (app_dir / "shipways_app" / "__init__.py").touch()  # a new mtime, same content
    again, _ = _tar(app_dir)
    assert first == again
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members.values())


def test_a_code_change_changes_the_context_hash(app_dir: Path) -> None:
    before, _ = _tar(app_dir)
    after, members = _tar(app_dir, overrides={"shipways_app/__init__.py": b"# changed\n"})
    assert before != after
    assert members["shipways_app/__init__.py"].size == len(b"# changed\n")
    assert (app_dir / "shipways_app" / "__init__.py").read_text() == ""  # checkout untouched


def test_offline_wheels_are_added_under_wheels(app_dir: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "house"
    wheels.mkdir()
    (wheels / "uvicorn-1-py3-none-any.whl").write_bytes(b"zip")
    (wheels / "README").write_text("not a wheel")
    _, members = _tar(app_dir, wheels=wheels)
    assert "wheels/uvicorn-1-py3-none-any.whl" in members
    assert "wheels/README" not in members


def test_source_digest_ignores_what_dockerignore_excludes(app_dir: Path) -> None:
    before = image.source_digest(app_dir)
    (app_dir / "tests" / "test_app.py").write_text("changed")
    (app_dir / "notes.md").write_text("changed")
    assert image.source_digest(app_dir) == before
    (app_dir / "shipways_app" / "__init__.py").write_text("changed")
    assert image.source_digest(app_dir) != before


# -- the Dockerfile's rules -------------------------------------------------------------------


def _stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = ""
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines():
        words = line.split()
        if words and words[0] == "FROM":
            current = words[-1]
            stages[current] = []
        elif current and words and not words[0].startswith("#"):
            stages[current].append(line.strip())
    return stages


def test_two_stages_on_a_configurable_base() -> None:
    assert "ARG BASE_IMAGE=python:3.12-slim" in DOCKERFILE
    assert re.findall(r"^FROM (\S+) AS (\S+)$", DOCKERFILE, re.M) == [
        ("${BASE_IMAGE}", "builder"),
        ("${BASE_IMAGE}", "runtime"),
    ]


def test_runtime_stage_has_no_build_tools_and_no_wheels() -> None:
    runtime = " ".join(_stages()["runtime"])
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip (install|wheel)", runtime)
    copies = [line for line in _stages()["runtime"] if line.startswith("COPY")]
    assert copies == [
        "COPY --from=builder /opt/venv /opt/venv",
        "COPY --from=builder /app /app",
    ]
    assert "uninstall --yes pip setuptools" in " ".join(_stages()["builder"])


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    builder = _stages()["builder"]
    requirements = next(i for i, line in enumerate(builder) if "requirements.txt" in line)
    code = next(i for i, line in enumerate(builder) if line.startswith("COPY shipways_app/"))
    assert requirements < code
    assert "--require-hashes" in builder[requirements + 1]
    assert "${PIP_INDEX_ARGS}" in builder[requirements + 1]


def test_runs_as_a_fixed_non_root_uid_with_an_exec_form_entry() -> None:
    runtime = _stages()["runtime"]
    assert "USER 10001:10001" in runtime
    [cmd] = [line for line in runtime if line.startswith("CMD")]
    assert json.loads(cmd.removeprefix("CMD ")) == [
        "gunicorn",
        "--config",
        "python:shipways_app.gunicorn_conf",
        "shipways_app.main:app",
    ]
    assert "WEB_CONCURRENCY=" in " ".join(runtime)


def test_health_check_and_oci_labels() -> None:
    runtime = " ".join(_stages()["runtime"])
    assert re.search(r"HEALTHCHECK .*CMD \[.*/healthz", runtime)
    for label in ("version", "revision", "source"):
        assert f"org.opencontainers.image.{label}=" in runtime
    # Labels change every commit: they come last, so they never bust the cache above.
    assert DOCKERFILE.rstrip().splitlines()[-1].startswith("ENV SHIPWAYS_GIT_SHA")


def test_offline_pip_args_point_at_the_copied_wheels() -> None:
    assert "COPY requirements.txt wheel[s] /build/" in DOCKERFILE
    assert image.OFFLINE_PIP_ARGS == "--no-index --find-links=/build"


def test_new_layers_counts_from_the_first_difference() -> None:
    assert image.new_layers(["a", "b", "c"], ["a", "b", "d"]) == 1
    assert image.new_layers(["a", "b", "c"], ["a", "x", "c"]) == 2
    assert image.new_layers(["a", "b"], ["a", "b", "c"]) == 1
    assert image.new_layers(["a"], ["a"]) == 0
