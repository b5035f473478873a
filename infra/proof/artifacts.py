"""Build every landed target's artifact and scan it: what would ship, as it would ship.

- vps         the wheelhouse the server installs from (the app's wheel and every dependency);
- paas        the source bundle uploaded to Beanstalk;
- k8s         the app image (all layers, scope `/app` and `/opt/venv`);
- serverless  the Lambda zip for the stack's runtime and architecture.

Each builder is the target's own (nothing rebuilt differently for the scan); a target whose
slice has not landed is skipped and reported as such.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.config import ServerlessConfig, TargetName, load_stack
from infra.proof.hygiene import LAMBDA_FIRST_PARTY, ScanReport, scan_dir, scan_image, scan_zip
from infra.sandbox.errors import Progress


@dataclass(frozen=True)
class Artifact:
    target: TargetName
    kind: str
    scan: Callable[[Path, Progress], ScanReport]  # (scratch dir, progress) -> report


def _wheelhouse(work: Path, progress: Progress) -> ScanReport:
    from infra.artifacts import wheelhouse

    built = wheelhouse.build(work / "wheelhouse", progress=progress)
    return scan_dir(built.path, "vps wheelhouse")


def _bundle(work: Path, progress: Progress) -> ScanReport:
    from infra.paths import APP_DIR
    from infra.targets.paas import bundle

    built = bundle.build(work / "paas", APP_DIR)
    return scan_zip(built.path, f"paas bundle {built.path.name}")


def _lambda_zip(work: Path, progress: Progress) -> ScanReport:
    """The zip the stack uploads: the stack's own cached build for its runtime and CPU."""
    from infra.paths import state_dir
    from infra.targets.serverless.artifact import ZipTarget, cached_zip

    config = load_stack("serverless")
    assert isinstance(config, ServerlessConfig)
    target = ZipTarget.for_lambda(config.runtime, config.architecture)
    built = cached_zip(state_dir("serverless", "build"), target, progress)
    return scan_zip(built.path, f"serverless zip ({target.label})", ours=LAMBDA_FIRST_PARTY)


def _image(work: Path, progress: Progress) -> ScanReport:
    from infra.sandbox import ensure_engine
    from infra.targets.k8s.image import ensure_app_image

    client = ensure_engine(progress=progress)
    built = ensure_app_image(client, progress)
    return scan_image(client.images.get(built.tag), name=f"k8s image {built.tag}")


ARTIFACTS = (
    Artifact(TargetName.VPS, "wheelhouse", _wheelhouse),
    Artifact(TargetName.PAAS, "source bundle", _bundle),
    Artifact(TargetName.K8S, "container image", _image),
    Artifact(TargetName.SERVERLESS, "Lambda zip", _lambda_zip),
)


def landed(target: TargetName) -> bool:
    """Has this target's slice landed (its package imports)?"""
    try:
        importlib.import_module(f"infra.targets.{target.value}.component")
    except ModuleNotFoundError:
        return False
    return True
