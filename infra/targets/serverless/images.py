"""The local Lambda's two images: the runtime (like Lambda's managed runtime) and the function.

- `shipways/lambda:runtime-<hash>`: the Debian base, Lambda's sandbox user, AWS's runtime
  client `awslambdaric` in /var/runtime (its wheels pinned in uv.lock, fetched on the host:
  containers here cannot reach PyPI) and the harness (`runtime_api.py`, one execution
  environment; `gateway.py`, the API Gateway stage in front of several). Rebuilt only when
  one of those changes.
- `shipways/lambda:task-<zip sha>-<hash>`: the runtime plus the function's zip, unpacked into
  /var/task by Python's own `zipfile` inside the build, root-owned and read-only to the
  function. One per zip, so a rollback is switching back to an earlier image.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import docker

from infra.artifacts.wheelhouse import dependency_wheels
from infra.paths import ROOT, state_dir
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.images import ensure_base_image, ensure_context_image
from infra.targets.serverless.artifact import LambdaZip, ZipTarget, write_zip
from infra.targets.serverless.bytecode import find_compiler

REPOSITORY = "shipways/lambda"
RUNTIME_CLIENT = "awslambdaric"
SANDBOX_UID = 993  # Lambda runs functions as sbx_user1051, uid 993
HERE = Path(__file__).resolve().parent
DOCKERFILES = HERE / "docker"


def runtime_client_requirements(lock_file: Path = ROOT / "uv.lock") -> str:
    """`awslambdaric` and its dependencies as a hash-pinned requirements file, from uv.lock."""
    packages = {p["name"]: p for p in tomllib.loads(lock_file.read_text())["package"]}
    if RUNTIME_CLIENT not in packages:
        raise SandboxError(f"{RUNTIME_CLIENT} is not in {lock_file}; run `uv lock`")
    wanted, lines = [RUNTIME_CLIENT], []
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages[name]
        artifacts = [
            *package.get("wheels", []),
            *([package["sdist"]] if "sdist" in package else []),
        ]
        hashes = " ".join(f"--hash={a['hash']}" for a in artifacts)
        lines.append(f"{name}=={package['version']} {hashes}")
        wanted += [d["name"] for d in package.get("dependencies", [])]
    return "\n".join(sorted(lines)) + "\n"


def ensure_runtime_image(
    client: docker.DockerClient, target: ZipTarget, progress: Progress | None = None
) -> str:
    """The runtime image for `target` (the local system's Python and the engine's CPU)."""
    base = ensure_base_image(client, progress)
    context = state_dir("serverless", "images", "runtime")
    _clear(context)
    requirements = context.parent / "runtime-requirements.txt"
    requirements.write_text(runtime_client_requirements())
    wheels = dependency_wheels(target.platform(), progress, requirements=requirements)
    # With bytecode, as AWS's managed runtime ships its runtime client: /var/runtime is read-only.
    compiler = find_compiler(target.runtime.python_version)
    runtime_zip = context / "runtime.zip"
    write_zip(sorted(wheels.glob("*.whl")), runtime_zip, target, exclude={}, compiler=compiler)
    for harness in ("runtime_api.py", "gateway.py"):
        shutil.copy2(HERE / harness, context / harness)
    shutil.copy2(DOCKERFILES / "runtime.Dockerfile", context / "Dockerfile")
    return ensure_context_image(
        client,
        context,
        flavor="runtime",
        repository=REPOSITORY,
        buildargs={
            "BASE_IMAGE": base,
            "PYTHON_VERSION": target.runtime.python_version,
            "SANDBOX_UID": str(SANDBOX_UID),
        },
        progress=progress,
    )


def ensure_task_image(
    client: docker.DockerClient, runtime_image: str, package: LambdaZip, progress: Progress | None
) -> str:
    """The function image: `runtime_image` plus `package` unpacked read-only in /var/task."""
    context = state_dir("serverless", "images", f"task-{package.sha256[:16]}")
    _clear(context)
    shutil.copy2(package.path, context / "function.zip")
    shutil.copy2(DOCKERFILES / "task.Dockerfile", context / "Dockerfile")
    try:
        # One flavor per zip: a new release must not prune the images older releases (kept
        # for rollback, see ServerlessSandbox) run from.
        return ensure_context_image(
            client,
            context,
            flavor=f"task-{package.sha256[:12]}",
            repository=REPOSITORY,
            buildargs={"RUNTIME_IMAGE": runtime_image, "SANDBOX_UID": str(SANDBOX_UID)},
            progress=progress,
        )
    finally:
        shutil.rmtree(context, ignore_errors=True)


def _clear(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
