"""Plan several stacks offline, each in its own process, for comparisons.

The Pulumi runtime keeps process-wide state (the root resource, pending RPC tasks): after one
stack's program fails under the mocks, the next plan in the same process can fail for that
reason alone. A comparison must show every stack that plans and the real error of the one
that does not. So plans run in a fresh interpreter (`python -m infra.cost.stacks STACK...`)
that prints each plan as a JSON line and stops after a failure; a new one resumes after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from infra.config import MODELS, TargetName
from infra.harness import Declared, OfflinePlan, plan_stack
from infra.paths import ROOT

PLAN_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Planned:
    """A target's stack planned offline; `plan` is None when it could not be, and `reason`
    says why (no program yet, or the error it raised)."""

    target: str
    plan: OfflinePlan | None
    reason: str | None = None


def _to_json(plan: OfflinePlan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "target": plan.target.value,
        "config": plan.config.model_dump(mode="json", by_alias=True),
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "inputs": r.inputs,
                "outputs": r.outputs,
                "provider": r.provider,
            }
            for r in plan.resources
        ],
        "exports": plan.exports,
    }


def _from_json(data: dict[str, Any]) -> OfflinePlan:
    target = TargetName(data["target"])
    return OfflinePlan(
        stack=data["stack"],
        target=target,
        config=MODELS[target].model_validate(data["config"]),
        resources=[Declared(**r) for r in data["resources"]],
        exports=data["exports"],
    )


def _children(targets: list[TargetName]) -> dict[str, Planned]:
    """Plan `targets` in as few fresh interpreters as possible: one plans them in turn and
    stops after a failure (which may leave the runtime unusable); the next one resumes."""
    found: dict[str, Planned] = {}
    remaining = list(targets)
    while remaining:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "infra.cost.stacks", *(t.value for t in remaining)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=PLAN_TIMEOUT_S,
                check=False,
            )
            lines = done.stdout.splitlines()
        except subprocess.TimeoutExpired:
            lines, done = [], None
        for line in lines:
            try:
                answer = json.loads(line)
            except json.JSONDecodeError:
                continue  # a program's own print
            wanted = {t.value for t in remaining}
            if not isinstance(answer, dict) or answer.get("stack") not in wanted:
                continue
            name = answer["stack"]
            if "error" in answer:
                found[name] = Planned(name, None, f"planning failed: {answer['error']}")
            else:
                found[name] = Planned(name, _from_json(answer["plan"]))
        if remaining[0].value not in found:  # the child died before answering for it
            why = "planning timed out" if done is None else _last_line(done.stderr)
            found[remaining[0].value] = Planned(remaining[0].value, None, why)
        remaining = [t for t in remaining if t.value not in found]
    return found


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"planning failed: {lines[-1] if lines else 'no output'}"


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
    result = _plan_all(chosen)
    if all(p.plan is not None or (p.reason or "").startswith("no stack") for p in result.values()):
        _CACHE[chosen] = (fingerprint, result)  # failures may be passing: plan them again
    return dict(result)


def _plan_all(chosen: tuple[TargetName, ...]) -> dict[str, Planned]:
    found: dict[str, Planned] = {}
    landed = []
    for target in chosen:
        module = ROOT / "infra" / "targets" / target.value / "component.py"
        if module.exists():
            landed.append(target)
        else:
            reason = f"no stack program yet ({module.relative_to(ROOT)})"
            found[target.value] = Planned(target.value, None, reason)
    found |= _children(landed)
    return {t.value: found[t.value] for t in chosen}


def main(stacks: list[str]) -> None:
    """Child process: plan each stack in turn, one JSON line each; stop after a failure."""
    for stack in stacks:
        try:
            answer: dict[str, Any] = {"stack": stack, "plan": _to_json(plan_stack(stack))}
        except Exception as exc:  # reported to the parent, which shows it beside the target
            lines = str(exc).strip().splitlines()
            error = f"{type(exc).__name__}: {' '.join(line.strip() for line in lines)}"
            answer = {"stack": stack, "error": error}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()
        if "error" in answer:
            return


if __name__ == "__main__":
    main(sys.argv[1:])
