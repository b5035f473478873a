"""The policy pack as `pulumi preview --policy-pack policy/` starts it.

`pulumi-analyzer-policy-python` runs `python -m pulumi.policy <engine> .` in the pack's
directory, with the interpreter of PulumiPolicy.yaml's `virtualenv` and the CLI's environment:
no repository root on the import path, no test process around it. The pack must start that
way and judge a stack as the offline evaluator does (tests/stack/test_policy.py compares
them case by case over the same process).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import empty_pb2

from infra.paths import ROOT
from infra.proof.policies import BAD_CASES, bad_resources, check_stack
from infra.testing.analyzer import diagnostics
from infra.testing.plugins import policy_pack
from policy.pack import PACK_NAME, policies

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pulumi_aws, on import
]


@pytest.fixture(scope="module")
def pack() -> Iterator[Any]:
    with policy_pack() as stub:
        yield stub


def test_pack_entry_needs_no_import_path_edit() -> None:
    assert "sys.path" not in (ROOT / "policy" / "__main__.py").read_text()


def test_pack_starts_in_its_directory_and_serves_every_policy(pack: Any) -> None:
    info = pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [p.name for p in policies()]


def test_pack_passes_the_vps_stack_and_catches_ssh_from_anywhere(pack: Any) -> None:
    committed, _ = check_stack("vps")
    assert diagnostics(pack, committed.resources) == []
    case = next(c for c in BAD_CASES if c.overrides.get("sshAllowedCidr") == "0.0.0.0/0")
    found = diagnostics(pack, bad_resources(case, committed))
    assert [policy for policy, _ in found] == ["no-ssh-from-anywhere"]
