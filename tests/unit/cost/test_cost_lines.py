"""Every line the model adds beyond servers and functions, against hand-computed figures:
the database on equal terms, the k8s ingress load balancer and node addresses or NAT,
CloudWatch Logs, Secrets Manager, WAF, RDS Proxy, the PaaS bundle, T3 credit exposure."""

from pathlib import Path
from typing import Any

import pytest
from pulumi.asset import FileAsset

from infra.config import K8sConfig, PaasConfig, ServerlessConfig, StackConfig, TargetName, VpsConfig
from infra.cost.lines import ASSUMPTION, Estimate, ResourceCost, Status
from infra.cost.model import estimate
from infra.cost.prices import load_prices
from infra.cost.usage import Capacity, Cluster, Database, Ingress, UsageProfile
from infra.harness import Declared, OfflinePlan

pytestmark = pytest.mark.unit

PRICES = load_prices()
HOURS = 730
RDS_MONTH = HOURS * 0.016 + 20 * 0.115  # $13.98
VPS = VpsConfig(ssh_public_key="ssh-ed25519 AAAA x", ssh_allowed_cidr="203.0.113.7/32")
K8S = K8sConfig(registry="ghcr.io/example/shipways", kubeContext="prod")


def usage(**overrides: Any) -> UsageProfile:
    base: dict[str, Any] = {
        "name": "test",
        "description": "hand-computed lines",
        "requests_per_month": 10_000_000,
        "avg_duration_ms": 100,
        "avg_response_kb": 4,
        "capacity": Capacity(rps_per_instance=400),
    }
    return UsageProfile(**(base | overrides))


def res(type_: str, name: str, **inputs: Any) -> Declared:
    return Declared(type_, name, inputs, inputs)


def run(target: TargetName, config: StackConfig, *resources: Declared, **u: Any) -> Estimate:
    plan = OfflinePlan(target.value, target, config, list(resources))
    return estimate(plan, usage(**u), PRICES, deployed_region="us-east-1")


def line(est: Estimate, name: str) -> ResourceCost:
    return next(item for item in est.lines if item.name == name)


def charges(item: ResourceCost) -> dict[str, float]:
    return {c.what: c.monthly for c in item.charges}


SERVER = res(
    "aws:ec2/instance:Instance",
    "server",
    instanceType="t3.small",
    rootBlockDevice={"volumeSize": 20, "volumeType": "gp3"},
)


def test_a_single_vps_keeps_postgresql_on_the_server_at_no_extra_cost() -> None:
    db = line(run(TargetName.VPS, VPS, SERVER), "database")
    assert db.type == ASSUMPTION and db.status is Status.NO_CHARGE
    assert "PostgreSQL on the server itself" in db.detail and "$0 extra" in db.note()


@pytest.mark.parametrize(
    ("target", "config"),
    [
        (TargetName.PAAS, PaasConfig()),
        (TargetName.SERVERLESS, ServerlessConfig()),
        (TargetName.K8S, K8S),
    ],
)
def test_other_targets_pay_the_same_managed_database(
    target: TargetName, config: StackConfig
) -> None:
    cluster = Cluster(control_plane="none", nodes=1, node_instance_type="t3.small")
    db = line(run(target, config, cluster=cluster), "database")
    assert charges(db) == pytest.approx(
        {"db.t4g.micro on-demand": HOURS * 0.016, "20 GB gp3 storage": 20 * 0.115}
    )
    assert "usage profile" in db.detail and "single-AZ" in db.detail


def test_a_declared_rds_instance_is_priced_from_the_stack_not_the_profile() -> None:
    rds = res(
        "aws:rds/instance:Instance",
        "db",
        engine="postgres",
        instanceClass="db.t4g.micro",
        allocatedStorage=50,
        storageType="gp3",
        multiAz=True,
    )
    est = run(TargetName.SERVERLESS, ServerlessConfig(), rds, database=Database(backup_gb=80))
    assert not [item for item in est.lines if item.name == "database"]
    db = line(est, "db")
    # Multi-AZ: both instances and both copies of storage; 80 GB backups - 50 free = 30 GB.
    assert charges(db) == pytest.approx(
        {
            "db.t4g.micro x 2 (primary + standby) on-demand": 2 * HOURS * 0.016,
            "100 GB gp3 storage": 100 * 0.115,
            "30 GB backups beyond the free 50 GB": 30 * 0.095,
        }
    )
    assert "declared in the stack" in db.detail


def test_the_k8s_ingress_load_balancer_and_node_addresses() -> None:
    cluster = Cluster(control_plane="eks", nodes=2, node_instance_type="t3.small")
    est = run(TargetName.K8S, K8S, cluster=cluster)
    lb = line(est, "ingress load balancer")
    # 10M requests / 2,628,000 s = 3.805 requests/s; one new connection each = 0.1522 LCU.
    lcu = 10_000_000 / (HOURS * 3600) / 25
    assert charges(lb) == pytest.approx(
        {
            "Application Load Balancer": HOURS * 0.0225,
            "0.152 LCU on average": lcu * HOURS * 0.008,
            "2 public IPv4 (one per AZ)": 2 * HOURS * 0.005,
        }
    )
    assert charges(line(est, "node networking")) == pytest.approx(
        {"2 public IPv4": 2 * HOURS * 0.005}
    )


def test_stated_capacity_units_an_nlb_and_a_nat_gateway() -> None:
    cluster = Cluster(
        control_plane="none",
        nodes=1,
        node_instance_type="t3.small",
        node_networking="nat_gateway",
        ingress=Ingress(kind="nlb", capacity_units=2, public_ipv4=3),
    )
    est = run(TargetName.K8S, K8S, cluster=cluster)
    assert charges(line(est, "ingress load balancer")) == pytest.approx(
        {
            "Network Load Balancer": HOURS * 0.0225,
            "2 NLCU on average": 2 * HOURS * 0.006,
            "3 public IPv4 (one per AZ)": 3 * HOURS * 0.005,
        }
    )
    gb = 10_000_000 * 4 / 1024**2
    assert charges(line(est, "node networking")) == pytest.approx(
        {"NAT gateway": HOURS * 0.045, "data processed": gb * 0.045}
    )
    none = run(
        TargetName.K8S, K8S, cluster=cluster.model_copy(update={"ingress": Ingress(kind="none")})
    )
    assert not [item for item in none.lines if item.name == "ingress load balancer"]


def test_cloudwatch_logs_where_the_stack_ships_them() -> None:
    group = res("aws:cloudwatch/logGroup:LogGroup", "logs", retentionInDays=14)
    est = run(TargetName.SERVERLESS, ServerlessConfig(), group, log_kb_per_request=2)
    # 10M x 2 KiB = 19.07 GiB x $0.50.
    assert line(est, "CloudWatch Logs").monthly == pytest.approx(10_000_000 * 2 / 1024**2 * 0.5)
    streaming = res(
        "aws:elasticbeanstalk/environment:Environment",
        "env",
        settings=[
            {
                "namespace": "aws:elasticbeanstalk:cloudwatch:logs",
                "name": "StreamLogs",
                "value": "true",
            },
            {"namespace": "aws:ec2:instances", "name": "InstanceTypes", "value": "t3.small"},
        ],
    )
    assert (
        "StreamLogs"
        in line(run(TargetName.PAAS, PaasConfig(), streaming), "CloudWatch Logs").detail
    )
    assert not [i for i in run(TargetName.VPS, VPS, SERVER).lines if i.name == "CloudWatch Logs"]


def test_secrets_waf_and_rds_proxy_where_the_stack_declares_them() -> None:
    secret = res("aws:secretsmanager/secret:Secret", "db-url")
    acl = res("aws:wafv2/webAcl:WebAcl", "acl", rules=[{"name": "a"}, {"name": "b"}])
    proxy = res("aws:rds/proxy:Proxy", "proxy")
    est = run(TargetName.PAAS, PaasConfig(), secret, acl, proxy, secret_reads_per_month=30_000)
    assert charges(line(est, "db-url")) == pytest.approx(
        {"secret": 0.40, "30,000 API calls": 3 * 0.05}
    )
    assert charges(line(est, "acl")) == pytest.approx(
        {"web ACL": 5.00, "2 rule(s)": 2.00, "requests inspected": 10 * 0.60}
    )
    assert line(est, "proxy").status is Status.NOT_PRICED
    assert "no page read gives the figure" in line(est, "proxy").note()


def test_the_paas_bundle_is_priced_from_the_uploaded_file(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(b"x" * 3 * 1024**2)
    obj = res("aws:s3/bucketObject:BucketObject", "bundle", source=FileAsset(str(bundle)))
    item = line(run(TargetName.PAAS, PaasConfig(), obj), "bundle")
    assert item.status is Status.PRICED
    assert item.monthly == pytest.approx(3 / 1024 * 0.023)
    gone = res("aws:s3/bucketObject:BucketObject", "gone", source=FileAsset(str(tmp_path / "x")))
    assert line(run(TargetName.PAAS, PaasConfig(), gone), "gone").status is Status.NOT_PRICED


def test_t3_unlimited_credit_exposure_is_flagged_not_guessed() -> None:
    server = line(run(TargetName.VPS, VPS, SERVER), "server")
    # 2 vCPU x 730 h x $0.05 = $73.00 at 100% CPU; nothing is billed for it by default.
    assert "unlimited CPU credits (the default)" in server.note() and "$73.00" in server.note()
    assert all("surplus" not in c.what for c in server.charges)
    standard = {**SERVER.inputs, "creditSpecification": {"cpuCredits": "standard"}}
    capped = res(SERVER.type, "capped", **standard)
    assert "unlimited" not in line(run(TargetName.VPS, VPS, capped), "capped").note()
