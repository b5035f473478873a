"""Plan several stacks offline, each in its own process, for comparisons.

The Pulumi runtime keeps process-wide state (the root resource, pending RPC tasks): after one
stack's program fails under the mocks, the next plan in the same process can fail for that
reason alone. A comparison must show every stack that plans and the real error of the one
that does not, so each plan runs in a fresh interpreter (`python -m infra.cost.stacks STACK`)
that prints the plan as JSON; the processes run side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
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


def _plan_in_child(target: TargetName) -> Planned:
    module = ROOT / "infra" / "targets" / target.value / "component.py"
    if not module.exists():
        return Planned(target.value, None, f"no stack program yet ({module.relative_to(ROOT)})")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cost.stacks", target.value],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PLAN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Planned(target.value, None, f"planning took over {PLAN_TIMEOUT_S:.0f} s")
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return Planned(target.value, None, f"planning failed: {tail[0]}")
    if "error" in answer:
        return Planned(target.value, None, f"planning failed: {answer['error']}")
    return Planned(target.value, _from_json(answer))


def plan_targets(targets: tuple[TargetName, ...] | None = None) -> dict[str, Planned]:
    """Every target's stack planned from its stack file, in parallel; any subset may have
    landed. Results keep the order of `targets`."""
    from infra.targets import ORDER

    chosen = targets or ORDER
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        found = list(pool.map(_plan_in_child, chosen))
    return {p.target: p for p in found}


def main(stack: str) -> None:
    """Child process: plan one stack and print it (or the error) as one JSON line."""
    try:
        answer = _to_json(plan_stack(stack))
    except Exception as exc:  # reported to the parent, which shows it beside the target
        first = str(exc).strip().splitlines()
        answer = {"error": f"{type(exc).__name__}: {' '.join(line.strip() for line in first)}"}
    sys.stdout.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
