"""Plan every target's stack offline, for the comparisons.

A target whose program fails under the mocks still gets a row: `Planned.plan` is None and
`reason` says why, so a comparison never hides a stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import TargetName
from infra.harness import OfflinePlan, plan_stack
from infra.paths import ROOT


@dataclass(frozen=True)
class Planned:
    """A target's stack planned offline; `plan` is None when it could not be, and `reason`
    says why (the error its program raised)."""

    target: str
    plan: OfflinePlan | None
    reason: str | None = None


_CACHE: dict[tuple[TargetName, ...], tuple[tuple[float, int], dict[str, Planned]]] = {}


def _sources_fingerprint() -> tuple[float, int]:
    """Newest change among what a plan reads: the stacks, the config model, the targets."""
    files = [*(ROOT / "infra" / "targets").rglob("*.py"), *(ROOT / "stacks").glob("*.yaml")]
    files += [ROOT / "infra" / "config.py", ROOT / "infra" / "stack.py"]
    stamps = [f.stat().st_mtime for f in files if f.exists()]
    return (max(stamps, default=0.0), len(stamps))


def plan_targets(targets: tuple[TargetName, ...] | None = None) -> dict[str, Planned]:
    """Every target's stack (or those in `targets`) planned from its stack file, in the order
    of `targets` (default: every target). Planning takes seconds per stack, so a process
    that compares twice (tests, demo then report) reuses plans while no source changed."""
    chosen = targets or tuple(TargetName)
    fingerprint = _sources_fingerprint()
    cached = _CACHE.get(chosen)
    if cached is not None and cached[0] == fingerprint:
        return dict(cached[1])
    result = {target.value: _plan_one(target) for target in chosen}
    if all(p.plan is not None for p in result.values()):
        _CACHE[chosen] = (fingerprint, result)  # failures may be passing: plan them again
    return dict(result)


def _plan_one(target: TargetName) -> Planned:
    try:
        return Planned(target.value, plan_stack(target.value))
    except Exception as exc:  # shown beside the target instead of hiding the other stacks
        lines = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {' '.join(line.strip() for line in lines)}"
        return Planned(target.value, None, f"planning failed: {error}")
