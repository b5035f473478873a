"""The offline harness itself: a failed program leaves nothing behind for the next plan."""

import pytest

from infra.harness import plan_stack
from infra.targets.paas import mocks

pytestmark = pytest.mark.stack


def test_a_failed_program_does_not_break_the_next_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_platform(_: dict) -> dict:
        raise RuntimeError("no matching platform")

    lookups = {token: no_platform for token in mocks.CALLS if "SolutionStack" in token}
    assert lookups, "the paas program is expected to look its platform up"
    with monkeypatch.context() as patch:
        for token, fn in lookups.items():
            patch.setitem(mocks.CALLS, token, fn)
        with pytest.raises(Exception, match="no matching platform"):
            plan_stack("paas")
    first = plan_stack("paas")
    second = plan_stack("vps")
    assert first.exports["url"]
    assert second.exports["url"]
    assert {r.type for r in second.resources}.isdisjoint(
        {"aws:elasticbeanstalk/environment:Environment"}
    )


def test_declared_resources_carry_their_inputs() -> None:
    plan = plan_stack("serverless")
    function = plan.one("aws:lambda/function:Function")
    assert function.inputs["memorySize"] == plan.config.memory_mb
    assert function.short_type == "aws:lambda:Function"


def test_declared_resources_carry_the_options_the_engine_would_honour() -> None:
    """protect, retain_on_delete and dependencies travel in the registration, not the inputs."""
    plan = plan_stack("vps", overrides={"environment": "prod"})
    server = plan.one("aws:ec2/instance:Instance")
    release = plan.one("pulumi-python:dynamic/vps:FabricRelease")
    group = plan.one("aws:ec2/securityGroup:SecurityGroup")
    assert server.options is not None and release.options is not None
    assert (server.options.protect, server.options.retain_on_delete) == (True, True)
    assert group.options is not None and not group.options.protect
    assert {server.name, f"{server.name.removesuffix('-server')}-ip-association"} <= (
        release.options.dependencies
    )
