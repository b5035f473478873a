"""Build every target's artifact and scan it: what would ship, as it would ship.

Each slice names its own builder in the registry (nothing is rebuilt differently for the scan):
- vps         the wheelhouse the server installs from (the app's wheel and every dependency);
- paas        the source bundle uploaded to Beanstalk;
- k8s         the app image (all layers, scope `/app` and `/opt/venv`);
- serverless  the Lambda zip for the stack's runtime and architecture.
"""

from __future__ import annotations

from pathlib import Path

from infra.proof.hygiene import IMAGE_FIRST_PARTY, ScanReport, scan_dir, scan_image, scan_zip
from infra.sandbox.errors import Progress
from infra.targets import BuiltArtifact, TargetName, slice_of


def build_and_scan(
    target: TargetName, work: Path, progress: Progress = lambda _line: None
) -> ScanReport:
    """`target`'s artifact built in the scratch directory `work`, then scanned."""
    return scan(slice_of(target).artifact()(work, progress))


def scan(built: BuiltArtifact) -> ScanReport:
    """Scan a built artifact; `first_party` narrows which files count as our own."""
    if built.form == "directory":
        return scan_dir(Path(built.location), built.label, ours=built.first_party)
    if built.form == "zip":
        return scan_zip(Path(built.location), built.label, ours=built.first_party)
    from infra.sandbox import ensure_engine

    image = ensure_engine().images.get(built.location)
    return scan_image(image, name=built.label, ours=built.first_party or IMAGE_FIRST_PARTY)
