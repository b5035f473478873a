"""The managed PostgreSQL both AWS stacks create, checked property by property under mocks:
private, encrypted, backed up, fenced to the app, protected outside throwaway environments,
its password never in config or the app's environment, and reached without a NAT gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from infra.database import mocks
from infra.harness import Declared, OfflinePlan, plan_stack

pytestmark = [
    pytest.mark.stack,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pulumi_aws, on import
]

INSTANCE = "aws:rds/instance:Instance"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
PROXY = "aws:rds/proxy:Proxy"
FUNCTION = "aws:lambda/function:Function"
ENVIRONMENT = "aws:elasticbeanstalk/environment:Environment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
DATABASE_URL = "postgresql://app:s3cret@db.example.internal:5432/app"
# The security group each stack puts its app in: the one the database admits.
APP_GROUP = {"paas": "app", "serverless": "function"}
STACKS = tuple(APP_GROUP)
_PLANS: dict[str, OfflinePlan] = {}


def committed(stack: str) -> OfflinePlan:
    if stack not in _PLANS:
        _PLANS[stack] = plan_stack(stack)
    return _PLANS[stack]


def _named(plan: OfflinePlan, type_: str, name: str) -> Declared:
    (found,) = [r for r in plan.of_type(type_) if r.name == name]
    return found


def _statements(resource: Declared) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(resource.inputs["policy"])["Statement"]
    return statements


@pytest.mark.parametrize("stack", STACKS)
def test_the_database_is_private_encrypted_and_backed_up(stack: str) -> None:
    db = committed(stack).one(INSTANCE).inputs
    assert db["engine"] == "postgres" and db["engineVersion"] == "16"
    assert db["instanceClass"] == "db.t4g.micro"  # the smallest current Graviton class
    assert (db["allocatedStorage"], db["storageType"]) == (20, "gp3")
    assert db["storageEncrypted"] is True
    assert db["publiclyAccessible"] is False
    assert db["backupRetentionPeriod"] == 7
    assert db["multiAz"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_the_password_is_made_and_kept_by_rds_never_configured(stack: str) -> None:
    plan = committed(stack)
    db = plan.one(INSTANCE).inputs
    assert db["manageMasterUserPassword"] is True
    assert "password" not in db
    secret = plan.one(INSTANCE).outputs["masterUserSecrets"][0]["secretArn"]
    everything = json.dumps([r.inputs for r in plan.resources], default=str)
    assert "DATABASE_URL" not in everything  # no URL (with a password) anywhere
    assert secret in everything  # only where to read it


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_app_may_connect(stack: str) -> None:
    plan = committed(stack)
    db = plan.one(INSTANCE).inputs
    db_group = _named(plan, GROUP, "shipways-db")
    assert db["vpcSecurityGroupIds"] == [f"{db_group.name}-id"]
    assert "ingress" not in db_group.inputs and "egress" not in db_group.inputs
    rules = [
        r.inputs for r in plan.of_type(INGRESS) if r.inputs["securityGroupId"].endswith("db-id")
    ]
    assert rules == [
        {
            "securityGroupId": "shipways-db-id",
            "referencedSecurityGroupId": f"{APP_GROUP[stack]}-id",
            "ipProtocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "description": "PostgreSQL from the app",
            "tags": {"project": "shipways", "environment": "demo"},
        }
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_subnets_default_to_the_default_vpc_or_come_from_config(stack: str) -> None:
    plan = committed(stack)
    assert plan.one(SUBNET_GROUP).inputs["subnetIds"] == list(mocks.DEFAULT_SUBNETS)
    assert _named(plan, GROUP, "shipways-db").inputs["vpcId"] == mocks.DEFAULT_VPC
    given = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    chosen = plan_stack(stack, overrides={"databaseSubnetIds": given})
    assert chosen.one(SUBNET_GROUP).inputs["subnetIds"] == given
    assert _named(chosen, GROUP, "shipways-db").inputs["vpcId"] == "vpc-0given0000000001"


def test_size_and_backups_come_from_config() -> None:
    plan = plan_stack(
        "paas",
        overrides={
            "databaseInstanceClass": "db.t4g.small",
            "databaseStorageGb": 50,
            "databaseBackupDays": 14,
        },
    )
    db = plan.one(INSTANCE).inputs
    assert (db["instanceClass"], db["allocatedStorage"], db["backupRetentionPeriod"]) == (
        "db.t4g.small",
        50,
        14,
    )


@pytest.mark.parametrize(
    ("environment", "protect_stateful", "kept"),
    [("demo", None, False), ("prod", None, True), ("prod", False, False), ("demo", True, True)],
)
def test_protection_and_final_snapshot_follow_protect_stateful(
    environment: str, protect_stateful: bool | None, kept: bool
) -> None:
    overrides: dict[str, Any] = {"environment": environment}
    if protect_stateful is not None:
        overrides["protectStateful"] = protect_stateful
    db = plan_stack("paas", overrides=overrides).one(INSTANCE)
    assert db.inputs["deletionProtection"] is kept
    assert db.inputs["skipFinalSnapshot"] is not kept
    assert db.inputs["deleteAutomatedBackups"] is not kept
    assert db.inputs.get("finalSnapshotIdentifier") == (
        f"shipways-{environment}-final" if kept else None
    )
    assert db.options is not None
    assert (db.options.protect, db.options.retain_on_delete) == (kept, kept)


def test_beanstalk_instances_run_in_the_database_vpc_in_the_app_group() -> None:
    plan = committed("paas")
    settings = {
        (s["namespace"], s["name"]): s["value"] for s in plan.one(ENVIRONMENT).inputs["settings"]
    }
    assert settings[("aws:ec2:vpc", "VPCId")] == mocks.DEFAULT_VPC
    assert settings[("aws:ec2:vpc", "Subnets")] == ",".join(mocks.DEFAULT_SUBNETS)
    assert settings[("aws:autoscaling:launchconfiguration", "SecurityGroups")] == "app-id"
    balanced = plan_stack("paas", overrides={"environmentType": "LoadBalanced", "allowHttp": True})
    settings = {
        (s["namespace"], s["name"]): s["value"]
        for s in balanced.one(ENVIRONMENT).inputs["settings"]
    }
    assert settings[("aws:ec2:vpc", "ELBSubnets")] == ",".join(mocks.DEFAULT_SUBNETS)


def test_the_function_reads_the_secret_through_an_endpoint_without_a_nat() -> None:
    plan = committed("serverless")
    two = sorted(mocks.DEFAULT_SUBNETS)[:2]
    assert plan.one(FUNCTION).inputs["vpcConfig"] == {
        "subnetIds": two,
        "securityGroupIds": ["function-id"],
    }
    endpoint = plan.one(ENDPOINT).inputs
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.secretsmanager"
    assert endpoint["vpcEndpointType"] == "Interface" and endpoint["privateDnsEnabled"] is True
    assert endpoint["subnetIds"] == two[:1]  # billed per zone; the database is single-AZ too
    assert endpoint["securityGroupIds"] == ["secrets-endpoint-id"]
    (into_endpoint,) = [r.inputs for r in plan.of_type(INGRESS) if r.name == "secrets-endpoint-in"]
    assert into_endpoint["referencedSecurityGroupId"] == "function-id"
    assert (into_endpoint["fromPort"], into_endpoint["toPort"]) == (443, 443)
    out = {
        (r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"]) for r in plan.of_type(EGRESS)
    }
    assert out == {("shipways-db-id", 5432), ("secrets-endpoint-id", 443)}
    assert not [r for r in plan.resources if "natGateway" in r.type or "internetGateway" in r.type]
    secret = plan.one(INSTANCE).outputs["masterUserSecrets"][0]["secretArn"]
    statements = _statements(_named(plan, ROLE_POLICY, "reach-database"))
    assert statements[1] == {
        "Sid": "ReadTheDatabaseSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": secret,
    }
    assert all(":*" not in a and a != "*" for s in statements for a in s["Action"])


def test_rds_proxy_takes_iam_tokens_and_keeps_the_endpoint_for_the_write_token() -> None:
    """The proxy needs no secret from the function, but the write token does: without the
    endpoint (and no NAT) the function could not read it at init."""
    plan = plan_stack("serverless", overrides={"rdsProxy": True})
    endpoint = plan.one(ENDPOINT).inputs
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.secretsmanager"
    variables = plan.one(FUNCTION).inputs["environment"]["variables"]
    assert "WRITE_TOKEN_SECRET_ARN" in variables
    secret = plan.one(INSTANCE).outputs["masterUserSecrets"][0]["secretArn"]
    proxy = plan.one(PROXY).inputs
    assert proxy["engineFamily"] == "POSTGRESQL" and proxy["requireTls"] is True
    (auth,) = proxy["auths"]
    assert (auth["authScheme"], auth["iamAuth"], auth["secretArn"]) == (
        "SECRETS",
        "REQUIRED",
        secret,
    )
    env = plan.one(FUNCTION).inputs["environment"]["variables"]
    assert env["DATABASE_AUTH"] == "iam"
    assert env["DATABASE_HOST"] == plan.one(PROXY).outputs["endpoint"]
    assert "DATABASE_SECRET_ARN" not in env
    connect = _statements(_named(plan, ROLE_POLICY, "reach-database"))[1]
    assert connect["Action"] == ["rds-db:connect"]
    assert connect["Resource"] == (
        f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{mocks.PROXY_ID}/shipways"
    )
    into_db = [r.inputs for r in plan.of_type(INGRESS) if r.name.startswith("shipways-db-in")]
    assert [r["referencedSecurityGroupId"] for r in into_db] == ["shipways-proxy-id"]
    into_proxy = [r.inputs for r in plan.of_type(INGRESS) if r.name.startswith("shipways-proxy")]
    assert [r["referencedSecurityGroupId"] for r in into_proxy] == ["function-id"]


@pytest.mark.parametrize("stack", STACKS)
def test_external_uses_the_url_and_creates_no_database(stack: str) -> None:
    plan = plan_stack(
        stack, overrides={"database": "external"}, secrets={"databaseUrl": DATABASE_URL}
    )
    assert not plan.of_type(INSTANCE) and not plan.of_type(SUBNET_GROUP)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(
    ("overrides", "secrets", "message"),
    [
        ({"database": "external"}, {}, "databaseUrl: required with database: external"),
        ({}, {"databaseUrl": DATABASE_URL}, "databaseUrl: set, but shipways:database is 'managed'"),
        ({"databaseBackupDays": 0}, {}, "databaseBackupDays: Input should be greater than"),
        ({"databaseSubnetIds": ["subnet-0123456789abcdef0"]}, {}, "at least two availability"),
        ({"databaseInstanceClass": "t4g.micro"}, {}, "databaseInstanceClass: String should match"),
    ],
)
def test_a_database_mismatch_is_refused_naming_the_key(
    stack: str, overrides: dict[str, Any], secrets: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        plan_stack(stack, overrides=overrides, secrets=secrets)


def test_rds_proxy_needs_the_managed_database() -> None:
    with pytest.raises(ConfigError, match="rdsProxy: only with database: managed"):
        plan_stack(
            "serverless",
            overrides={"rdsProxy": True, "database": "external"},
            secrets={"databaseUrl": DATABASE_URL},
        )
