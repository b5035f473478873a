"""Plan every target's stack offline, for comparisons that show whatever has landed.

A target without a stack program yet, or whose program fails under the mocks, still gets a
row: `Planned.plan` is None and `reason` says why, so a comparison never hides a stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import TargetName
from infra.harness import OfflinePlan, plan_stack
from infra.paths import ROOT


@dataclass(frozen=True)
class Planned:
    """A target's stack planned offline; `plan` is None when it could not be, and `reason`
    says why (no program yet, or the error it raised)."""

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
    """Every target's stack planned from its stack file; any subset may have landed.
    Results keep the order of `targets`. Planning takes seconds per stack, so a process
    that compares twice (tests, demo then report) reuses plans while no source changed."""
    from infra.targets import ORDER

    chosen = targets or ORDER
    fingerprint = _sources_fingerprint()
    cached = _CACHE.get(chosen)
    if cached is not None and cached[0] == fingerprint:
        return dict(cached[1])
    result = {target.value: _plan_one(target) for target in chosen}
    if all(p.plan is not None or (p.reason or "").startswith("no stack") for p in result.values()):
        _CACHE[chosen] = (fingerprint, result)  # failures may be passing: plan them again
    return dict(result)


def _plan_one(target: TargetName) -> Planned:
    module = ROOT / "infra" / "targets" / target.value / "component.py"
    if not module.exists():
        return Planned(target.value, None, f"no stack program yet ({module.relative_to(ROOT)})")
    try:
        return Planned(target.value, plan_stack(target.value))
    except Exception as exc:  # shown beside the target instead of hiding the other stacks
        lines = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {' '.join(line.strip() for line in lines)}"
        return Planned(target.value, None, f"planning failed: {error}")
