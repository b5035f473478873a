"""The cost model against hand-computed cases, on resource graphs built by hand."""

from typing import Any

import pytest

from infra.config import K8sConfig, PaasConfig, ServerlessConfig, StackConfig, TargetName, VpsConfig
from infra.cost.model import ASSUMPTION, Estimate, Status, estimate
from infra.cost.prices import load_prices
from infra.cost.usage import Capacity, Cluster, Ingress, UsageProfile
from infra.harness import Declared, OfflinePlan

pytestmark = pytest.mark.unit

PRICES = load_prices()


def usage(**overrides: Any) -> UsageProfile:
    base: dict[str, Any] = {
        "name": "test",
        "description": "hand-computed cases",
        "requests_per_month": 5_000_000,
        "avg_duration_ms": 100,
        "avg_response_kb": 0,
        "log_kb_per_request": 0,
        # A stated capacity, so no measurement file on this machine changes the figures.
        "capacity": Capacity(rps_per_instance=400),
    }
    return UsageProfile(**(base | overrides))


def plan(target: TargetName, config: StackConfig, *resources: Declared) -> OfflinePlan:
    return OfflinePlan(target.value, target, config, list(resources))


def res(type_: str, name: str, **inputs: Any) -> Declared:
    return Declared(type_, name, inputs, inputs)


DATABASE_MONTH = 730 * 0.016 + 20 * 0.115  # db.t4g.micro + 20 GB gp3: $13.98


def declared(est: Estimate) -> float:
    """What the declared resources cost (the assumption lines left out)."""
    return sum(line.monthly for line in est.lines if line.type != ASSUMPTION)


LAMBDA = res("aws:lambda/function:Function", "fn", memorySize=512, architectures=["x86_64"])
SERVERLESS = plan(TargetName.SERVERLESS, ServerlessConfig(), LAMBDA)


def test_lambda_512mb_100ms_5m_requests_without_free_tier() -> None:
    est = estimate(SERVERLESS, usage(), PRICES)
    # 5M x 0.1 s x 0.5 GB = 250,000 GB-s x $0.0000166667 = $4.166675; 5M x $0.20/M = $1.00.
    fn = est.lines[0]
    assert [c.monthly for c in fn.charges] == pytest.approx([1.00, 4.166675])
    assert declared(est) == pytest.approx(5.166675)
    assert est.fixed == pytest.approx(DATABASE_MONTH)  # the database the profile states
    assert est.per_request == pytest.approx(5.166675)


def test_lambda_512mb_100ms_5m_requests_with_free_tier() -> None:
    est = estimate(SERVERLESS, usage(free_tier=True), PRICES)
    # Requests: (5M - 1M free) x $0.20/M = $0.80; 250,000 GB-s is inside the 400,000 free.
    assert declared(est) == pytest.approx(0.80)


def test_lambda_on_arm64_and_memory_from_the_profile() -> None:
    arm = res("aws:lambda/function:Function", "fn", memorySize=512, architectures=["arm64"])
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), arm), usage(), PRICES)
    assert declared(est) == pytest.approx(1.00 + 250_000 * 0.0000133334)
    bigger = estimate(SERVERLESS, usage(memory_mb=1024), PRICES)
    assert declared(bigger) == pytest.approx(1.00 + 500_000 * 0.0000166667)


def test_free_tier_is_shared_by_every_function_of_the_account() -> None:
    two = plan(
        TargetName.SERVERLESS, ServerlessConfig(), LAMBDA, res(LAMBDA.type, "fn2", **LAMBDA.inputs)
    )
    est = estimate(two, usage(requests_per_month=1_000_000, free_tier=True), PRICES)
    # 1M free requests cover the first function; the second pays for all of its 1M.
    assert sum(c.monthly for c in est.lines[1].charges if "requests" in c.what) == pytest.approx(
        0.20
    )
    assert sum(c.monthly for c in est.lines[0].charges if "requests" in c.what) == 0


def test_http_api_per_million_requests() -> None:
    api = res("aws:apigatewayv2/api:Api", "api", protocolType="HTTP")
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), api), usage(), PRICES)
    assert declared(est) == pytest.approx(5.00)
    ws = res("aws:apigatewayv2/api:Api", "ws", protocolType="WEBSOCKET")
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), ws), usage(), PRICES)
    assert est.lines[0].status is Status.NOT_PRICED and not est.complete


def test_a_gradual_shift_costs_its_alarm_and_codedeploy_nothing() -> None:
    alarm = res("aws:cloudwatch/metricAlarm:MetricAlarm", "api-5xx", period=60)
    fast = res("aws:cloudwatch/metricAlarm:MetricAlarm", "fast", period=10)
    app = res("aws:codedeploy/application:Application", "codedeploy", computePlatform="Lambda")
    group = res("aws:codedeploy/deploymentGroup:DeploymentGroup", "live-alias")
    resources = (alarm, fast, app, group)
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), *resources), usage(), PRICES)
    lines = {line.name: line for line in est.lines}
    assert lines["api-5xx"].monthly == pytest.approx(0.10)  # one standard alarm-month
    assert lines["fast"].status is Status.NOT_PRICED  # high resolution: no sourced price
    assert lines["codedeploy"].status is Status.NO_CHARGE
    assert lines["live-alias"].status is Status.NO_CHARGE


CLUSTER = Cluster(control_plane="eks", nodes=0, node_instance_type="t3.small")
K8S = K8sConfig(registry="ghcr.io/example/shipways", kubeContext="prod")


def test_eks_control_plane_for_a_month() -> None:
    deployment = res("kubernetes:apps/v1:Deployment", "web")
    est = estimate(plan(TargetName.K8S, K8S, deployment), usage(cluster=CLUSTER), PRICES)
    assert est.lines[0].status is Status.NO_CHARGE
    cluster = next(line for line in est.lines if line.name == "cluster")
    # $73.00 for the control plane; the 2 replicas x 0.5 CPU limit need one 2-vCPU node.
    assert cluster.monthly == pytest.approx(730 * 0.10 + 730 * 0.0208)


def test_k8s_nodes_and_their_volumes_are_the_stated_assumption() -> None:
    nodes = CLUSTER.model_copy(
        update={"nodes": 2, "node_volume_gb": 20, "ingress": Ingress(kind="none")}
    )
    est = estimate(plan(TargetName.K8S, K8S), usage(cluster=nodes), PRICES)
    nodes_and_plane = 73 + 2 * 730 * 0.0208 + 2 * 20 * 0.08
    addresses = 2 * 730 * 0.005
    database = 730 * 0.016 + 20 * 0.115
    assert est.fixed == pytest.approx(nodes_and_plane + addresses + database)
    assert "EKS control plane + at least 2 x t3.small" in est.assumptions["cluster (k8s)"]
    missing = estimate(plan(TargetName.K8S, K8S), usage(), PRICES)
    assert any("cluster:" in u for u in missing.unpriced)


VPS_HOST = VpsConfig(host="198.51.100.10")


@pytest.mark.parametrize("requests", [0, 5_000_000, 100_000_000])
def test_a_six_dollar_vps_at_any_traffic(requests: int) -> None:
    release = res("pulumi-python:dynamic/vps:FabricRelease", "release")
    profile = usage(
        requests_per_month=requests,
        avg_response_kb=4,
        existing_host="digitalocean.droplet.s-1vcpu-1gb",
    )
    est = estimate(plan(TargetName.VPS, VPS_HOST, release), profile, PRICES)
    assert est.monthly == pytest.approx(6.00)
    # The droplet's transfer is its provider's business: named, not silently priced at zero.
    assert any("data transfer out" in u for u in est.unpriced)


def test_an_ec2_server_with_its_volume_and_address() -> None:
    instance = res(
        "aws:ec2/instance:Instance",
        "server",
        instanceType="t3.small",
        rootBlockDevice={"volumeSize": 20, "volumeType": "gp3"},
    )
    eip = res("aws:ec2/eip:Eip", "ip", domain="vpc")
    config = VpsConfig(ssh_public_key="ssh-ed25519 AAAA x", ssh_allowed_cidr="203.0.113.7/32")
    est = estimate(plan(TargetName.VPS, config, instance, eip), usage(), PRICES)
    assert est.fixed == pytest.approx(730 * 0.0208 + 20 * 0.08 + 730 * 0.005)  # $20.434
    unknown = res("aws:ec2/instance:Instance", "big", instanceType="m5.large")
    est = estimate(plan(TargetName.VPS, config, unknown), usage(), PRICES)
    assert any("m5.large" in u for u in est.unpriced)


def test_egress_after_the_free_allowance() -> None:
    api = res("aws:apigatewayv2/api:Api", "api", protocolType="HTTP")
    # 1,048,576 KiB per... 50M requests x 4 KiB = 190.7 GiB; 100 GB free leaves 90.7 GB.
    profile = usage(requests_per_month=50_000_000, avg_response_kb=4, free_tier=True)
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), api), profile, PRICES)
    egress = next(line for line in est.lines if line.name == "data transfer out")
    gb = 50_000_000 * 4 / 1024 / 1024
    assert egress.monthly == pytest.approx((gb - 100) * 0.09)


def test_beanstalk_environment_bills_what_it_creates() -> None:
    single = res(
        "aws:elasticbeanstalk/environment:Environment",
        "env",
        settings=[
            {
                "namespace": "aws:elasticbeanstalk:environment",
                "name": "EnvironmentType",
                "value": "SingleInstance",
            },
            {"namespace": "aws:ec2:instances", "name": "InstanceTypes", "value": "t3.small"},
        ],
    )
    est = estimate(plan(TargetName.PAAS, PaasConfig(), single), usage(), PRICES)
    env = next(line for line in est.lines if line.name == "env")
    assert env.monthly == pytest.approx(730 * 0.0208 + 730 * 0.005)  # instance + its Elastic IP
    balanced = res(
        "aws:elasticbeanstalk/environment:Environment",
        "env",
        settings=[
            {
                "namespace": "aws:elasticbeanstalk:environment",
                "name": "EnvironmentType",
                "value": "LoadBalanced",
            },
            {
                "namespace": "aws:elasticbeanstalk:environment",
                "name": "LoadBalancerType",
                "value": "application",
            },
            {
                "namespace": "aws:autoscaling:launchconfiguration",
                "name": "InstanceType",
                "value": "t3.small",
            },
            {
                "namespace": "aws:autoscaling:launchconfiguration",
                "name": "RootVolumeType",
                "value": "gp3",
            },
            {
                "namespace": "aws:autoscaling:launchconfiguration",
                "name": "RootVolumeSize",
                "value": "10",
            },
            {"namespace": "aws:autoscaling:asg", "name": "MinSize", "value": "2"},
        ],
    )
    est = estimate(plan(TargetName.PAAS, PaasConfig(), balanced), usage(), PRICES)
    env = next(line for line in est.lines if line.name == "env")
    # 5M requests / 2,628,000 s = 1.9026 requests/s = 0.0761 LCU (25 new connections/s each).
    lcu_hours = 5_000_000 / (730 * 3600) / 25 * 730
    expected = {
        "2 x t3.small on-demand": 2 * 730 * 0.0208,
        "2 x 10 GB gp3": 2 * 10 * 0.08,
        "Application Load Balancer": 730 * 0.0225,
        "0.0761 LCU on average": lcu_hours * 0.008,
        "2 public IPv4 (one per AZ)": 2 * 730 * 0.005,
        "2 instance public IPv4 (default VPC subnets)": 2 * 730 * 0.005,
    }
    assert {c.what: c.monthly for c in env.charges} == pytest.approx(expected)
    assert env.status is Status.PRICED


def test_no_resource_is_dropped() -> None:
    resources = [
        res("aws:iam/role:Role", "role"),
        res("aws:ec2/securityGroup:SecurityGroup", "sg"),
        res("aws:cloudwatch/logGroup:LogGroup", "logs"),
        res("aws:sqs/queue:Queue", "queue"),
    ]
    est = estimate(plan(TargetName.SERVERLESS, ServerlessConfig(), *resources), usage(), PRICES)
    statuses = {line.name: line.status for line in est.lines}
    assert statuses == {
        "role": Status.NO_CHARGE,
        "sg": Status.NO_CHARGE,
        "logs": Status.NO_CHARGE,
        "queue": Status.NOT_PRICED,
        "database": Status.PRICED,
        "CloudWatch Logs": Status.PRICED,
        "data transfer out": Status.PRICED,
    }
    assert est.unpriced == ["queue: no price mapping for this resource type"]
    assert "IAM is free" in est.lines[0].note()


def test_a_worked_serverless_month_to_the_cent() -> None:
    """10M requests, 512 MB for 100 ms, 4 KiB out and 1 KiB of logs each, no free tier."""
    logs = res("aws:cloudwatch/logGroup:LogGroup", "logs", retentionInDays=14)
    api = res("aws:apigatewayv2/api:Api", "api", protocolType="HTTP")
    stack = plan(TargetName.SERVERLESS, ServerlessConfig(), LAMBDA, api, logs)
    profile = usage(requests_per_month=10_000_000, avg_response_kb=4, log_kb_per_request=1)
    est = estimate(stack, profile, PRICES, deployed_region="us-east-1")
    by_hand = {
        "fn": 10 * 0.20 + 10_000_000 * 0.1 * 0.5 * 0.0000166667,  # $2.00 + $8.33335
        "api": 10 * 1.00,  # $10.00
        "database": 730 * 0.016 + 20 * 0.115,  # $11.68 + $2.30
        "CloudWatch Logs": 10_000_000 / 1024**2 * 0.50,  # 9.5367 GB: $4.76837
        "data transfer out": 10_000_000 * 4 / 1024**2 * 0.09,  # 38.147 GB: $3.43323
    }
    assert {line.name: line.monthly for line in est.lines if line.monthly} == pytest.approx(by_hand)
    # $10.33335 + $10.00 + $13.98 + $4.76837 + $3.43323 = $42.51495
    assert round(est.monthly, 2) == 42.51
    assert round(est.fixed, 2) == 13.98 and round(est.per_request, 2) == 28.53
