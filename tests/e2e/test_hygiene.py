"""Every real artifact scanned clean, and the scanner shown to fail on a copy with a plant.

Artifacts are built by the targets' own builders (named in the registry, run by
`infra.proof.artifacts`): the VPS wheelhouse, the PaaS bundle, the k8s app image and the
Lambda zip.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.config import TargetName
from infra.proof import hygiene
from infra.proof.artifacts import build_and_scan
from infra.sandbox import build_image, ensure_engine
from infra.targets.serverless.artifact import FIRST_PARTY as LAMBDA_FIRST_PARTY

pytestmark = pytest.mark.e2e


def _key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.mark.parametrize("target", list(TargetName), ids=str)
def test_artifact_is_clean(work: Path, target: TargetName) -> None:
    report = build_and_scan(target, work / target)
    assert report.files > 20, f"{report.artifact}: only {report.files} files scanned"
    assert [str(f) for f in report.findings] == []


def _add_to_zip(source: Path, dest: Path, files: dict[str, bytes]) -> Path:
    shutil.copy2(source, dest)
    with zipfile.ZipFile(dest, "a") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return dest


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.rglob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {directory}, found {found}"
    return found[0]


def test_planted_env_in_the_app_wheel_fails_the_wheelhouse(work: Path) -> None:
    house = work / "vps" / "wheelhouse"
    if not house.exists():
        build_and_scan(TargetName.VPS, work / "vps")
    copy = work / "vps-planted"
    shutil.copytree(house, copy)
    app_wheel = _one(copy, "shipways_app-*.whl")
    _add_to_zip(app_wheel, app_wheel.with_suffix(".tmp"), {"shipways_app/.env": b"DB=x\n"})
    app_wheel.with_suffix(".tmp").replace(app_wheel)
    found = hygiene.scan_dir(copy).findings
    assert [(f.path.split("!/")[1], f.kind) for f in found] == [("shipways_app/.env", "env-file")]


def test_planted_key_fails_the_paas_bundle(work: Path) -> None:
    if not (work / "paas").exists():
        build_and_scan(TargetName.PAAS, work / "paas")
    bundle = _one(work / "paas", "*.zip")
    planted = _add_to_zip(bundle, work / "paas-planted.zip", {"deploy.pem": _key()})
    assert [(f.path, f.kind) for f in hygiene.scan_zip(planted).findings] == [
        ("deploy.pem", "private-key")
    ]


def test_planted_git_data_fails_the_lambda_zip(work: Path) -> None:
    report = build_and_scan(TargetName.SERVERLESS, work / "serverless")  # cached: fast
    planted = _add_to_zip(
        Path(report.source),
        work / "function-planted.zip",
        {".git/config": b"[core]\n", "shipways_app/test_handler.py": b"x = 1\n"},
    )
    report = hygiene.scan_zip(planted, ours=LAMBDA_FIRST_PARTY)
    assert sorted((f.path, f.kind) for f in report.findings) == [
        (".git/config", "vcs"),
        ("shipways_app/test_handler.py", "tests"),
    ]


@pytest.fixture
def planted_image() -> Iterator[tuple[str, str]]:
    """The app image plus a layer that adds a key and one that deletes it again."""
    from infra.targets.k8s.image import ensure_app_image

    client = ensure_engine()
    base = ensure_app_image(client).tag
    tag = f"shipways/test-hygiene:{uuid.uuid4().hex[:8]}"
    dockerfile = (
        f"FROM {base}\nUSER root\nCOPY id_ed25519 /app/id_ed25519\n"
        "RUN rm /app/id_ed25519\nUSER 10001:10001\n"
    ).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, data in {"Dockerfile": dockerfile, "id_ed25519": _key()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    build_image(client, context, tag)
    try:
        yield base, tag
    finally:
        client.images.remove(tag, force=True)


def test_key_deleted_in_a_later_layer_still_fails_the_image(
    planted_image: tuple[str, str],
) -> None:
    _, tag = planted_image
    client = docker.from_env()
    found = hygiene.scan_image(client.images.get(tag)).findings
    kinds = sorted({(f.path.split(":/", 1)[1], f.kind) for f in found})
    assert kinds == [("app/id_ed25519", "private-key")]
    # the merged filesystem no longer has it: a scan of a running container would miss it
    output = client.containers.run(tag, ["ls", "/app"], remove=True, network_disabled=True)
    assert b"id_ed25519" not in output
