"""The registry of slices: every target is declared whole, and each loads only its own parts.

A stack's program runs in a fresh interpreter and reports what it imported: planning one
target must not load another target's slice or cloud SDK (the registry imports each part
only when it is asked for), so `pulumi up --stack vps` never needs the Kubernetes SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.config import StackConfig
from infra.paths import ROOT
from infra.targets import TargetName, slice_of, slices

pytestmark = pytest.mark.stack

SDKS = {"pulumi_aws", "pulumi_docker", "pulumi_kubernetes"}
OWN_SDKS = {
    TargetName.VPS: {"pulumi_aws"},
    TargetName.PAAS: {"pulumi_aws"},
    TargetName.K8S: {"pulumi_docker", "pulumi_kubernetes"},
    TargetName.SERVERLESS: {"pulumi_aws"},
}
PROBE = """
import json, sys
from infra.harness import plan_stack
plan = plan_stack(sys.argv[1])
print(json.dumps({"resources": len(plan.resources), "modules": sorted(sys.modules)}))
"""


def test_every_target_has_a_whole_slice() -> None:
    assert [s.name for s in slices()] == list(TargetName)
    for part in slices():
        assert issubclass(part.config_model(), StackConfig)
        assert part.config_model().__name__.lower().startswith(part.name.value)
        assert callable(part.deploy()) and callable(part.artifact())
        assert part.mocks().outputs, f"{part.name}: mocks answer no resource type"
        box = part.sandbox("shipways-registry-probe")
        assert box.name is part.name and box.proves
        assert (ROOT / part.package.replace(".", "/") / "checks").is_dir()


@pytest.mark.parametrize("target", list(TargetName), ids=str)
def test_planning_a_stack_imports_only_its_own_slice_and_sdks(target: TargetName) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, target.value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["resources"] > 0
    modules = set(report["modules"])
    assert {m.split(".")[0] for m in modules} & SDKS == OWN_SDKS[target]
    slice_packages = {s.package for s in slices()}
    loaded_slices = {p for p in slice_packages if p in modules}
    assert loaded_slices == {slice_of(target).package}
