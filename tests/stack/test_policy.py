"""The policy pack over every stack: committed stacks comply, deliberately bad ones are caught,
the pulumi-policy wrappers report what the offline evaluator reports, and bad config is
refused before any resource is declared."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pytest
import yaml
from pulumi_policy import ResourceValidationArgs, StackValidationArgs, StackValidationPolicy
from pulumi_policy.policy import PolicyResource
from pulumi_policy.secret import Secret, secrets_preserving_proxy

import infra.stack
from infra.config import ConfigError
from infra.harness import Declared, OfflinePlan
from infra.paths import ROOT
from infra.proof.badconfig import CASES, ConfigCase, attempt
from infra.proof.policies import BAD_CASES, BadCase, bad_resources, check_stack
from policy.pack import policies
from policy.rules import RULES, SECRET_SIG, evaluate

pytestmark = [
    pytest.mark.stack,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pulumi_aws, on import
]

STACKS = ("vps", "paas", "k8s", "serverless")
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


# -- the pulumi-policy wrappers run the same rules -------------------------------------------


def _engine_props(inputs: dict[str, Any]) -> Any:
    """Inputs as pulumi-policy hands them to a policy: secrets as `Secret`, behind its proxies."""

    def wrap(value: Any) -> Any:
        if isinstance(value, dict) and SECRET_SIG in value:
            return Secret(wrap(value["value"]))
        if isinstance(value, dict):
            return {k: wrap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [wrap(v) for v in value]
        return value

    return secrets_preserving_proxy(wrap(inputs))


def _through_pack(resources: list[Declared]) -> list[tuple[str, str]]:
    """(policy, message) for every violation the pulumi-policy policies report."""
    found: list[tuple[str, str]] = []
    urns = {r.name: f"urn:pulumi:test::shipways::{r.type}::{r.name}" for r in resources}
    for policy in policies():
        name = policy.name.removesuffix("-stack")

        def report(message: str, urn: str | None, name: str = name) -> None:
            found.append((name, message))

        if isinstance(policy, StackValidationPolicy):
            items = [
                PolicyResource(
                    r.type,
                    _engine_props(r.inputs),
                    urns[r.name],
                    r.name,
                    cast(Any, None),
                    None,
                    None,
                    [],
                    {},
                )
                for r in resources
            ]
            policy.validate(StackValidationArgs(items), report)
            continue
        for r in resources:
            args = ResourceValidationArgs(
                r.type, _engine_props(r.inputs), urns[r.name], r.name, cast(Any, None), None
            )
            policy.validate(args, report)  # type: ignore[attr-defined]
    return sorted(found)


@pytest.mark.parametrize("case", BAD_CASES, ids=_case_id)
def test_pack_reports_what_the_offline_evaluator_reports(case: BadCase) -> None:
    resources = bad_resources(case, committed(case.stack))
    through_pack = _through_pack(resources)
    assert through_pack == sorted((v.policy, v.message) for v in evaluate(resources))
    assert case.expect in {policy for policy, _ in through_pack}


@pytest.mark.parametrize("stack", STACKS)
def test_pack_passes_the_committed_stacks(stack: str) -> None:
    assert _through_pack(committed(stack).resources) == []


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
