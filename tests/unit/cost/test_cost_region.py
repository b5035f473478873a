"""The price region is shown with every estimate, and a stack deployed elsewhere is warned
about instead of silently priced at another region's figures."""

from pathlib import Path

import pytest

from infra.config import ServerlessConfig, TargetName
from infra.cost.model import estimate
from infra.cost.prices import load_prices
from infra.cost.region import region_warning, stack_region
from infra.cost.usage import load_usage
from infra.harness import Declared, OfflinePlan

pytestmark = pytest.mark.unit


def test_the_stack_region_is_read_from_its_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.serverless-eu.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  shipways:memoryMb: 512\n"
    )
    (tmp_path / "Pulumi.k8s.yaml").write_text("config:\n  shipways:replicas: 2\n")
    assert stack_region("serverless-eu", tmp_path) == "eu-west-1"
    assert stack_region("k8s", tmp_path) is None  # no AWS provider configured
    assert stack_region("missing", tmp_path) is None
    assert stack_region("serverless") == "us-east-1"  # the repository's own stack file


def test_a_stack_in_another_region_is_warned_about() -> None:
    fn = Declared("aws:lambda/function:Function", "fn", {"memorySize": 512}, {})
    plan = OfflinePlan("serverless-eu", TargetName.SERVERLESS, ServerlessConfig(), [fn])
    est = estimate(plan, load_usage(), load_prices(), deployed_region="eu-west-1")
    assert est.price_region == "us-east-1" and est.stack_region == "eu-west-1"
    assert len(est.warnings) == 1 and "deploys to eu-west-1" in est.warnings[0]
    assert "re-price" in est.warnings[0]
    assert est.assumptions["price region"] == "us-east-1 (the stack's aws:region is eu-west-1)"
    assert est.to_json()["warnings"] == est.warnings
    same = estimate(plan, load_usage(), load_prices(), deployed_region="us-east-1")
    assert not same.warnings and same.assumptions["price region"] == "us-east-1"
    assert region_warning("k8s", None, "us-east-1") is None
