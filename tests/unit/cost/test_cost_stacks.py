"""Each stack's real plan (its Pulumi program under mocks) and its estimate.

Every stack must plan, and its resources must be priced as below.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.config import TargetName
from infra.cost.database import database_cost
from infra.cost.model import ASSUMPTION, Estimate, Status, estimate
from infra.cost.prices import load_prices
from infra.cost.stacks import Planned, plan_targets
from infra.cost.usage import load_usage
from infra.harness import plan_stack

pytestmark = pytest.mark.stack

T3_SMALL_MONTH = 730 * 0.0208
EIP_MONTH = 730 * 0.005
RDS_MONTH = 730 * 0.016 + 20 * 0.115  # the default profile's db.t4g.micro + 20 GB gp3
ENDPOINT_MONTH = 730 * 0.01  # an interface VPC endpoint in one zone
SECRET_MONTH = 0.40  # the secret RDS creates for the master password (not a declared resource)
RDS = "aws:rds/instance:Instance"


@pytest.fixture(scope="module")
def planned() -> dict[str, Planned]:
    return plan_targets()


def _estimate(planned: dict[str, Planned], target: str) -> Estimate:
    outcome = planned[target]
    if outcome.plan is None:
        pytest.fail(f"{target} does not plan: {outcome.reason}")
    return estimate(outcome.plan, load_usage(), load_prices())


def _line(est: Estimate, type_: str) -> dict[str, float]:
    found = [line for line in est.lines if line.type == type_]
    assert len(found) == 1, f"expected one {type_}"
    return {c.what: c.monthly for c in found[0].charges}


@pytest.mark.parametrize("target", [t.value for t in TargetName])
def test_every_declared_resource_is_in_the_estimate(
    planned: dict[str, Planned], target: str
) -> None:
    est = _estimate(planned, target)
    plan = planned[target].plan
    assert plan is not None
    declared = [(r.type, r.name) for r in plan.resources]
    priced = [(line.type, line.name) for line in est.lines if line.type != ASSUMPTION]
    assert priced == declared
    for line in est.lines:
        assert line.status is not Status.NO_CHARGE or line.no_charge_reason


def test_vps_server_volume_and_address(planned: dict[str, Planned]) -> None:
    est = _estimate(planned, "vps")
    server = _line(est, "aws:ec2/instance:Instance")
    assert server == {
        "t3.small on-demand": pytest.approx(T3_SMALL_MONTH),
        "1 x 20 GB gp3": pytest.approx(20 * 0.08),
    }
    assert _line(est, "aws:ec2/eip:Eip") == {"public IPv4 address": pytest.approx(EIP_MONTH)}
    assert est.fixed == pytest.approx(T3_SMALL_MONTH + 1.6 + EIP_MONTH)
    assert est.complete
    database = next(line for line in est.lines if line.name == "database")
    assert database.status is Status.NO_CHARGE and "PostgreSQL" in database.detail
    assert est.price_region == "us-east-1" and est.stack_region == "us-east-1"
    assert not est.warnings


def test_paas_environment_bills_its_instance_and_address(planned: dict[str, Planned]) -> None:
    est = _estimate(planned, "paas")
    env = _line(est, "aws:elasticbeanstalk/environment:Environment")
    assert env["t3.small on-demand"] == pytest.approx(T3_SMALL_MONTH)
    assert env["Elastic IP (public IPv4)"] == pytest.approx(EIP_MONTH)
    growing = {line.name for line in est.lines if any(c.per_request for c in line.charges)}
    assert growing == {"CloudWatch Logs", "data transfer out"}  # StreamLogs is on
    # The stack declares its database: priced from the declaration, not the profile.
    (database,) = [line for line in est.lines if line.type == RDS]
    assert database.monthly == pytest.approx(RDS_MONTH + SECRET_MONTH)
    assert "declared in the stack" in database.detail
    assert not [line for line in est.lines if line.name == "database"]
    assert est.complete  # the bundle in S3 is priced from the uploaded file


def test_k8s_cost_is_the_stated_cluster(planned: dict[str, Planned]) -> None:
    est = _estimate(planned, "k8s")
    cluster = next(line for line in est.lines if line.name == "cluster")
    assert cluster.type == ASSUMPTION
    assert cluster.monthly == pytest.approx(73 + 2 * T3_SMALL_MONTH + 2 * 20 * 0.08)
    others = [line for line in est.lines if line.type.startswith("kubernetes:")]
    assert others and all(line.monthly == 0 for line in others)
    names = {line.name for line in est.lines if line.type == ASSUMPTION}
    assert {"node networking", "ingress load balancer", "database"} <= names
    assert est.complete


def test_serverless_costs_only_its_database_and_token_secret_idle(
    planned: dict[str, Planned],
) -> None:
    """Idle, only the database, the endpoint its function reads secrets through and the write
    token's secret bill."""
    est = _estimate(planned, "serverless")
    secret = _line(est, "aws:secretsmanager/secret:Secret")  # the write token
    assert secret["secret"] == pytest.approx(0.40)
    assert est.fixed == pytest.approx(
        RDS_MONTH + SECRET_MONTH + ENDPOINT_MONTH + sum(secret.values())
    )
    assert _line(est, "aws:ec2/vpcEndpoint:VpcEndpoint") == {
        "1 zone(s) x 730 h": pytest.approx(ENDPOINT_MONTH)
    }
    fn = _line(est, "aws:lambda/function:Function")
    memory_gb = float(planned["serverless"].plan.config.memory_mb) / 1024  # type: ignore[union-attr]
    assert fn["compute (GB-seconds)"] == pytest.approx(1e6 * 0.1 * memory_gb * 0.0000166667)
    assert _line(est, "aws:apigatewayv2/api:Api") == {"HTTP API requests": pytest.approx(1.0)}


def test_every_target_has_its_database_priced_on_equal_terms(
    planned: dict[str, Planned],
) -> None:
    """The same PostgreSQL everywhere: on the VPS host (shown, $0 extra), RDS declared by
    paas and serverless (with its secret, and the function's endpoint to it), and for k8s,
    which brings its own, the same RDS instance, said so."""
    costs = {t.value: database_cost(_estimate(planned, t.value).lines) for t in TargetName}
    assert costs["vps"].monthly_usd == 0
    assert costs["vps"].what == "PostgreSQL on the server itself, $0 extra"
    assert costs["paas"].monthly_usd == pytest.approx(RDS_MONTH + SECRET_MONTH)
    assert "declared in the stack" in costs["paas"].what
    assert costs["k8s"].monthly_usd == pytest.approx(RDS_MONTH)
    assert "bring your own as `databaseUrl`, e.g. RDS by EKS" in costs["k8s"].what
    assert costs["serverless"].monthly_usd == pytest.approx(
        RDS_MONTH + SECRET_MONTH + ENDPOINT_MONTH
    )
    assert "endpoint: secretsmanager" in costs["serverless"].what
    assert all(cost.complete for cost in costs.values())


def test_the_proxy_joins_the_database_line_when_enabled() -> None:
    plan = plan_stack("serverless", overrides={"rdsProxy": True})
    cost = database_cost(estimate(plan, load_usage(), load_prices()).lines)
    # IAM tokens for the proxy; the endpoint stays, for the write token's secret at init.
    assert "RDS Proxy" in cost.what and "endpoint: secretsmanager" in cost.what
    assert not cost.complete  # no price source read for the proxy: said, not guessed
    assert cost.monthly_usd == pytest.approx(RDS_MONTH + SECRET_MONTH + ENDPOINT_MONTH)


def test_compare_shows_a_database_line_per_target() -> None:
    done = CliRunner().invoke(app, ["compare", "--json"])
    assert done.exit_code == 0, done.output
    costs = {c["target"]: c for c in json.loads(done.stdout)["costs"]}
    assert set(costs) == {t.value for t in TargetName}
    assert costs["vps"]["database_usd"] == 0
    assert all(costs[t]["database_usd"] > 10 for t in ("paas", "k8s", "serverless"))
    shown = CliRunner().invoke(app, ["compare"], terminal_width=200)
    lines = [line for line in shown.stdout.splitlines() if line.strip().startswith("database,")]
    assert [line.split(":")[0].strip() for line in lines] == [
        f"database, {t.value}" for t in TargetName
    ]


def test_plan_command_prints_the_estimate() -> None:
    done = CliRunner().invoke(app, ["plan", "vps", "--json", "--requests-per-month", "0"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resources"] and data["estimate"]["fixed_usd"] > 0
    assert data["estimate"]["assumptions"]["requests per month"] == "0"
    assert data["estimate"]["price_region"] == "us-east-1"
    bad = CliRunner().invoke(app, ["plan", "vps", "--usage", "nope"])
    assert bad.exit_code == 2 and "--usage: no usage profile" in bad.output  # a usage mistake
