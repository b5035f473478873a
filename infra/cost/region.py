"""Which AWS region a stack deploys to, against the region the price file's figures are for.

Prices differ between regions (us-east-1 is among the cheapest), so an estimate priced at
us-east-1 for a stack deployed to eu-west-1 understates it. The stack's region is its stack
file's `aws:region` (`stacks/Pulumi.<stack>.yaml`); every estimate shows both and warns when
they differ, instead of silently applying the wrong region's figures.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.paths import STACKS_DIR


def stack_region(stack: str, stacks_dir: Path = STACKS_DIR) -> str | None:
    """`aws:region` from the stack's file, or None (no file, no AWS provider configured)."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    config = data.get("config") if isinstance(data, dict) else None
    region = config.get("aws:region") if isinstance(config, dict) else None
    return str(region) if region else None


def region_warning(stack: str, deployed: str | None, priced: str) -> str | None:
    """The warning to show when the stack deploys to another region than the prices are for."""
    if deployed is None or deployed == priced:
        return None
    return (
        f"stack {stack!r} deploys to {deployed} (aws:region) but the prices are {priced}'s: "
        f"costs in {deployed} differ; re-price infra/prices.yaml for {deployed} before relying "
        "on these figures"
    )
