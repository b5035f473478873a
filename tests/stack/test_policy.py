"""The policy pack over every stack: committed stacks comply, deliberately bad ones are caught,
the pulumi-policy wrappers report what the offline evaluator reports, and bad config is
refused before any resource is declared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc

import infra.stack
from infra.config import ConfigError, TargetName
from infra.harness import Declared, OfflinePlan
from infra.paths import ROOT
from infra.proof.badconfig import CASES, ConfigCase, attempt
from infra.proof.policies import BAD_CASES, BadCase, bad_resources, check_stack
from infra.testing.analyzer import diagnostics
from infra.testing.plugins import policy_pack
from policy.pack import PACK_NAME, policies
from policy.rules import RULES, evaluate

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine sends a value not known yet

pytestmark = [
    pytest.mark.stack,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pulumi_aws, on import
]

STACKS = tuple(t.value for t in TargetName)  # the committed stack of each target
_PLANS: dict[str, OfflinePlan] = {}


def committed(stack: str) -> OfflinePlan:
    """Each committed stack is planned once per session (serverless builds its zip)."""
    if stack not in _PLANS:
        _PLANS[stack], _ = check_stack(stack)
    return _PLANS[stack]


def _case_id(case: BadCase) -> str:
    return f"{case.stack}: {case.what}"


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_has_no_violation(stack: str) -> None:
    plan = committed(stack)
    assert len(plan.resources) > 5, f"{stack} declared almost nothing: nothing was checked"
    assert [str(v) for v in evaluate(plan.resources)] == []


@pytest.mark.parametrize("case", BAD_CASES, ids=_case_id)
def test_bad_stack_is_caught(case: BadCase) -> None:
    found = evaluate(bad_resources(case, committed(case.stack)))
    assert case.expect in {v.policy for v in found}, [str(v) for v in found]


def test_ssh_from_anywhere_is_named_on_the_ssh_rule() -> None:
    case = next(c for c in BAD_CASES if c.overrides.get("sshAllowedCidr") == "0.0.0.0/0")
    found = evaluate(bad_resources(case))
    assert [(v.policy, v.resource_name) for v in found] == [
        ("no-ssh-from-anywhere", "shipways-demo-in-ssh")
    ]
    assert "0.0.0.0/0" in found[0].message


def test_every_rule_is_proven_by_a_bad_case() -> None:
    assert {r.name for r in RULES} == {c.expect for c in BAD_CASES}


# -- the policy pack, served as the Pulumi CLI runs it, reports the same ----------------------


@pytest.fixture(scope="module")
def pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack as `pulumi preview --policy-pack policy/` starts it: the gRPC analyzer."""
    with policy_pack() as stub:
        yield stub


def test_pack_serves_every_policy(pack: Any) -> None:
    info = pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [p.name for p in policies()]


@pytest.mark.parametrize("case", BAD_CASES, ids=_case_id)
def test_pack_reports_what_the_offline_evaluator_reports(pack: Any, case: BadCase) -> None:
    resources = bad_resources(case, committed(case.stack))
    through_pack = diagnostics(pack, resources)
    assert through_pack == sorted((v.policy, v.message) for v in evaluate(resources))
    assert case.expect in {policy for policy, _ in through_pack}


@pytest.mark.parametrize("stack", STACKS)
def test_pack_passes_the_committed_stacks(pack: Any, stack: str) -> None:
    assert diagnostics(pack, committed(stack).resources) == []


def test_values_unknown_in_a_preview_count_as_not_set(pack: Any) -> None:
    """A computed security group id doesn't stop the SSH rule; a computed CIDR fails closed."""
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    tags = {"project": "shipways", "environment": "demo"}
    ssh = {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "tags": tags}
    known = Declared(rule, "ssh", {**ssh, "cidrIpv4": "0.0.0.0/0", "securityGroupId": UNKNOWN}, {})
    assert [p for p, _ in diagnostics(pack, [known])] == ["no-ssh-from-anywhere"]
    instance = "aws:ec2/instance:Instance"
    server = Declared(instance, "server", {"tags": tags, "metadataOptions": UNKNOWN}, {})
    assert "imdsv2-required" in {p for p, _ in diagnostics(pack, [server])}


def test_pack_policy_names_are_unique_and_the_pack_runs_on_python() -> None:
    names = [p.name for p in policies()]
    assert len(names) == len(set(names)) == len(RULES) + sum(1 for r in RULES if r.stack_check)
    spec = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"


# -- bad configuration: refused before anything is declared ----------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.stack}-{c.key}-{c.what}")
def test_bad_config_is_refused_before_any_resource(case: ConfigCase) -> None:
    result = attempt(case)
    assert result.message is not None, f"{case.stack} accepted: {case.what}"
    assert case.key in result.message
    assert result.declared == 0, f"{result.declared} resources declared before the error"


def test_every_stack_has_bad_config_cases_of_its_own() -> None:
    shared = {"appName", "environment", "webConcurrency", "sshAlowedCidr"}
    assert {c.stack for c in CASES if c.key not in shared} == set(STACKS)


def test_a_program_that_declares_then_fails_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zero-resources check is not vacuous: a declaration before the error fails it."""
    real = infra.stack.validate

    def late(target: Any, values: dict[str, Any]) -> Any:
        pulumi.ComponentResource("shipways:test:Half", "half-declared")
        real(target, values)
        raise ConfigError("shipways:late: refused after declaring")

    monkeypatch.setattr(infra.stack, "validate", late)
    result = attempt(ConfigCase("vps", "late", "declares, then fails"))
    assert result.message is not None
    assert result.declared == 1
    assert not result.ok
