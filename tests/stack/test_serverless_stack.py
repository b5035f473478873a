"""The `serverless` stack under mocks: its resource graph and every property that matters.

The zip is a real one, made by the stack's own zip writer from a tiny wheel and handed over
as a prebuilt artifact (SHIPWAYS_LAMBDA_ZIP), so these tests need no network.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from infra.config import ConfigError, namespaced, read_stack_file
from infra.harness import Declared, OfflinePlan, plan_stack
from infra.targets.serverless import mocks
from infra.targets.serverless.artifact import LambdaZip, ZipTarget, write_zip
from infra.targets.serverless.component import PREBUILT_ZIP_ENV

pytestmark = [
    pytest.mark.stack,
    # pulumi_aws warns, on import, about deprecated resources this stack does not use.
    pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning"),
]

SECRET_SIG = pulumi.runtime.rpc._special_sig_key  # marks a secret value in mock inputs
SECRET_VALUE = pulumi.runtime.rpc._special_secret_sig
APP = "shipways:serverless:ServerlessApp"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION = "aws:lambda/function:Function"
INVOCATION = "aws:lambda/invocation:Invocation"
ALIAS = "aws:lambda/alias:Alias"
API = "aws:apigatewayv2/api:Api"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
STAGE = "aws:apigatewayv2/stage:Stage"
PERMISSION = "aws:lambda/permission:Permission"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
WRITE_TOKEN = "pulumi-python:dynamic/shipways:WriteToken"
DATABASE_URL = "postgresql://app:s3cret@db.example.com:5432/shipways"
FUNCTION_ARN = f"arn:aws:lambda:{mocks.REGION}:{mocks.ACCOUNT}:function:shipways-demo"


class Registrations:
    """The dependencies each resource was registered with (explicit and through inputs)."""

    def __init__(self) -> None:
        self.depends: dict[str, set[str]] = {}
        self.ignore: dict[str, list[str]] = {}

    def wrap(self, register: Any) -> Any:
        def recording(monitor: Any, request: Any) -> Any:
            self.depends[request.name] = {u.rsplit("::", 1)[-1] for u in request.dependencies}
            self.ignore[request.name] = list(request.ignoreChanges)
            return register(monitor, request)

        return recording


def build_zip_for(directory: Path, runtime: str, architecture: str) -> LambdaZip:
    wheel = directory / "shipways_app-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("shipways_app/lambda_handler.py", "def handler(event, context): ...\n")
        archive.writestr("shipways_app-1.0.0.dist-info/METADATA", "Name: shipways-app\n")
    target = ZipTarget.for_lambda(runtime, architecture)  # type: ignore[arg-type]
    return write_zip([wheel], directory / f"{runtime}-{architecture}.zip", target)


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], LambdaZip]:
    directory = tmp_path_factory.mktemp("zips")
    return {
        (runtime, arch): build_zip_for(directory, runtime, arch)
        for runtime in ("python3.12", "python3.11")
        for arch in ("x86_64", "arm64")
    }


def _plan(
    zips: dict[tuple[str, str], LambdaZip],
    *,
    secrets: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    zip_for: tuple[str, str] | None = None,
    **overrides: Any,
) -> tuple[OfflinePlan, Registrations, LambdaZip]:
    values, _ = namespaced(read_stack_file("serverless"))
    values = {k: v for k, v in values.items() if k not in drop} | overrides
    runtime = str(values.get("runtime", "python3.12"))
    arch = str(values.get("architecture", "x86_64"))
    package = zips[zip_for or (runtime, arch)]
    seen = Registrations()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PREBUILT_ZIP_ENV, str(package.path))
        wrapped = seen.wrap(pulumi_mocks.MockMonitor.RegisterResource)
        patch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", wrapped)
        plan = plan_stack("serverless", overrides=values, secrets=secrets, use_stack_file=False)
    return plan, seen, package


@pytest.fixture(scope="module")
def managed(zips: dict[tuple[str, str], LambdaZip]) -> tuple[OfflinePlan, Registrations, LambdaZip]:
    """The committed stack file as is: the stack creates the database (RDS)."""
    return _plan(zips)


@pytest.fixture(scope="module")
def external(
    zips: dict[tuple[str, str], LambdaZip],
) -> tuple[OfflinePlan, Registrations, LambdaZip]:
    """`database: external`: the `databaseUrl` secret, nothing created for it."""
    return _plan(
        zips, secrets={"databaseUrl": DATABASE_URL}, database="external", reservedConcurrency=25
    )


def _policy(resource: Declared, key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resource.inputs[key])
    return document


def _unsecret(value: Any) -> Any:
    assert isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE, "not a secret"
    return value["value"]


# --- graph -------------------------------------------------------------------------------


def test_graph_with_the_managed_database(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = managed
    assert Counter(r.type for r in plan.resources) == {
        APP: 1,
        LOG_GROUP: 2,
        ROLE: 1,
        ROLE_POLICY: 3,  # its own logs; the VPC and the database secret; the write token
        WRITE_TOKEN: 1,
        SECRET: 1,  # the write token's
        SECRET_VERSION: 1,
        "shipways:database:ManagedPostgres": 1,
        "aws:rds/instance:Instance": 1,
        "aws:rds/subnetGroup:SubnetGroup": 1,
        "aws:ec2/securityGroup:SecurityGroup": 3,  # function, secrets endpoint, database
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 2,
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 2,
        "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
        INVOCATION: 1,
        FUNCTION: 1,
        ALIAS: 1,
        API: 1,
        INTEGRATION: 1,
        ROUTE: 2,
        STAGE: 1,
        PERMISSION: 1,
    }


def test_graph_with_a_database_adds_the_migrate_invocation(
    external: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = external
    assert Counter(r.type for r in plan.resources)[INVOCATION] == 1


def test_exports(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
    external: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, package = managed
    assert plan.exports["url"] == f"https://{mocks.API_ID}.execute-api.{mocks.REGION}.amazonaws.com"
    assert plan.exports["function_name"] == "shipways-demo"
    assert plan.exports["log_group"] == "/aws/lambda/shipways-demo"
    assert plan.exports["zip_sha256"] == package.sha256
    assert plan.exports["storage"] == "postgresql (Amazon RDS, created by this stack)"
    assert external[0].exports["storage"] == "postgresql (DATABASE_URL, in Secrets Manager)"
    assert DATABASE_URL not in json.dumps(external[0].exports)


# --- IAM: basic execution rights, nothing more --------------------------------------------


def test_only_lambda_may_assume_the_role(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    trust = _policy(managed[0].one(ROLE), "assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_role_may_only_write_its_own_log_group(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = managed
    role = plan.one(ROLE)
    assert "managedPolicyArns" not in role.inputs  # not AWSLambdaBasicExecutionRole ("*")
    (policy,) = [p for p in plan.of_type(ROLE_POLICY) if p.name == "write-own-logs"]
    assert policy.inputs["role"] == f"{role.name}-id"
    (statement,) = _policy(policy, "policy")["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    group_arn = f"arn:aws:logs:{mocks.REGION}:{mocks.ACCOUNT}:log-group:/aws/lambda/shipways-demo"
    assert statement["Resource"] == f"{group_arn}:*"
    assert "*" not in "".join(statement["Action"])


def test_log_groups_have_the_configured_retention(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
    zips: dict[tuple[str, str], LambdaZip],
) -> None:
    groups = {g.inputs["name"]: g for g in managed[0].of_type(LOG_GROUP)}
    assert set(groups) == {"/aws/lambda/shipways-demo", "/aws/apigateway/shipways-demo"}
    assert {g.inputs["retentionInDays"] for g in groups.values()} == {14}
    plan, _, _ = _plan(zips, logRetentionDays="90")
    assert {g.inputs["retentionInDays"] for g in plan.of_type(LOG_GROUP)} == {90}


def test_write_token_is_in_secrets_manager_and_only_the_function_may_read_it(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = managed
    secret = next(s for s in plan.of_type(SECRET) if s.name == "write-token")
    assert secret.inputs["namePrefix"] == "shipways-demo/write-token-"
    assert secret.inputs["recoveryWindowInDays"] == 7
    arn = f"arn:aws:secretsmanager:{mocks.REGION}:{mocks.ACCOUNT}:secret:shipways-demo/write-token-"
    version = next(v for v in plan.of_type(SECRET_VERSION) if v.name == "write-token")
    assert version.inputs["secretId"] == f"{secret.name}-id"
    assert _unsecret(version.inputs["secretString"]) == "offline-plan-token-not-a-real-one"
    policy = next(p for p in plan.of_type(ROLE_POLICY) if p.name == "read-write-token")
    assert policy.inputs["role"] == f"{plan.one(ROLE).name}-id"
    (statement,) = _policy(policy, "policy")["Statement"]
    assert statement == {
        "Sid": "ReadWriteToken",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": f"{arn}AbCdEf",
    }
    variables = plan.one(FUNCTION).inputs["environment"]["variables"]
    assert variables["WRITE_TOKEN_SECRET_ARN"] == f"{arn}AbCdEf"
    assert "offline-plan-token" not in json.dumps(variables), "the ARN, never the value"
    # The function reads the token at init: the value and the right to read it come first.
    assert {"write-token", "read-write-token"} <= seen.depends["function"]


def test_write_token_is_exported_as_a_secret(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    assert _unsecret(managed[0].exports["write_token"]) == "offline-plan-token-not-a-real-one"


# --- the function ----------------------------------------------------------------------------


def test_function_settings_come_from_the_config(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = managed
    function = plan.one(FUNCTION)
    assert function.inputs["name"] == "shipways-demo"
    assert function.inputs["runtime"] == "python3.12"
    assert function.inputs["handler"] == "shipways_app.lambda_handler.handler"
    assert function.inputs["architectures"] == ["x86_64"]
    assert function.inputs["memorySize"] == 512
    assert function.inputs["timeout"] == 10
    # Twenty instances at most, one connection each: a spike cannot exhaust the database.
    assert function.inputs["reservedConcurrentExecutions"] == 20
    assert function.inputs["publish"] is True
    assert function.inputs["role"] == f"arn:aws:iam::{mocks.ACCOUNT}:role/shipways-demo-lambda"
    assert function.inputs["loggingConfig"] == {
        "logFormat": "Text",
        "logGroup": "/aws/lambda/shipways-demo",
    }
    assert function.inputs["tags"] == {"project": "shipways", "environment": "demo"}
    # The log group and its write permission exist before the function first runs.
    assert {"function-logs", "write-own-logs", "reach-database"} <= seen.depends["function"]


def test_code_is_the_zip_with_its_hash(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, package = managed
    function = plan.one(FUNCTION)
    code = function.inputs["code"]
    assert isinstance(code, pulumi.FileArchive)
    assert Path(code.path) == package.path
    assert function.inputs["sourceCodeHash"] == package.source_code_hash


def test_the_function_names_the_managed_database_not_its_password(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan = managed[0]
    variables = plan.one(FUNCTION).inputs["environment"]["variables"]
    instance = plan.one("aws:rds/instance:Instance").outputs
    assert variables["SHIPWAYS_TARGET"] == "serverless"
    assert {k: v for k, v in variables.items() if k.startswith("DATABASE_")} == {
        "DATABASE_HOST": instance["address"],
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": "shipways",
        "DATABASE_USER": "shipways",
        "DATABASE_AUTH": "secret",
        "DATABASE_SECRET_ARN": instance["masterUserSecrets"][0]["secretArn"],
    }
    assert "SHIPWAYS_SQLITE_PATH" not in variables
    assert "SHIPWAYS_MIGRATE_ON_INIT" not in variables


def test_the_stacks_env_is_the_functions_and_a_change_publishes_a_version(
    zips: dict[tuple[str, str], LambdaZip],
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = _plan(zips, env={"GREETING": "hello", "SHIPWAYS_LOG_LEVEL": "DEBUG"})
    function = plan.one(FUNCTION)
    variables = function.inputs["environment"]["variables"]
    assert (variables["GREETING"], variables["SHIPWAYS_LOG_LEVEL"]) == ("hello", "DEBUG")
    assert variables["SHIPWAYS_TARGET"] == "serverless"  # the recipe's, kept
    before = managed[0].one(FUNCTION).inputs["environment"]["variables"]
    assert {k: v for k, v in variables.items() if k not in ("GREETING", "SHIPWAYS_LOG_LEVEL")} == {
        k: v for k, v in before.items() if k != "SHIPWAYS_LOG_LEVEL"
    }
    # A configuration change is a new published version, which the `live` alias moves to.
    assert function.inputs["publish"] is True
    assert plan.one(ALIAS).inputs["functionVersion"] == function.outputs["version"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_REGION": "eu-west-1"}, "env: AWS_REGION is set by Lambda itself"),
        ({"DATABASE_URL_SECRET_ARN": "arn"}, "env: DATABASE_URL_SECRET_ARN is set by the recipe"),
        ({"SHIPWAYS_MIGRATE_ON_INIT": "1"}, "env: SHIPWAYS_MIGRATE_ON_INIT is set by the recipe"),
        ({"GITHUB_TOKEN": "x"}, "env.GITHUB_TOKEN.[key]: GITHUB_TOKEN looks like a secret"),
    ],
)
def test_env_names_lambda_or_the_recipe_sets_or_secrets_are_refused(
    zips: dict[tuple[str, str], LambdaZip], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _plan(zips, env=env)


def test_database_url_lives_in_secrets_manager_and_replaces_sqlite(
    external: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = external
    function = plan.one(FUNCTION)
    variables = function.inputs["environment"]["variables"]
    secret = next(s for s in plan.of_type(SECRET) if s.name == "database-url")
    # The function is told where the URL is, never the URL itself.
    assert "DATABASE_URL" not in variables
    assert "s3cret" not in str(function.inputs)
    assert variables["DATABASE_URL_SECRET_ARN"] == secret.outputs["arn"]
    assert secret.inputs["namePrefix"] == "shipways-demo/database-url-"
    # The value: a Pulumi secret from config to the secret's version (encrypted in state).
    version = next(v for v in plan.of_type(SECRET_VERSION) if v.name == "database-url-value")
    assert _unsecret(version.inputs["secretString"]) == DATABASE_URL
    assert "SHIPWAYS_SQLITE_PATH" not in variables
    assert "SHIPWAYS_MIGRATE_ON_INIT" not in variables
    assert function.inputs["reservedConcurrentExecutions"] == 25
    # The value exists before the function's first (migrate) invocation reads it.
    assert "database-url-value" in seen.depends["function"]
    # Only this function's role may read only this secret.
    policy = next(p for p in plan.of_type(ROLE_POLICY) if p.name == "write-own-logs")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    (read,) = [s for s in statements if s["Sid"] == "ReadTheDatabaseUrl"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == secret.outputs["arn"]


def test_plain_text_database_url_in_the_stack_file_is_refused(
    zips: dict[tuple[str, str], LambdaZip],
) -> None:
    with pytest.raises(ConfigError, match=r"databaseUrl: stored in plain text"):
        _plan(zips, databaseUrl=DATABASE_URL)


def test_arm64_and_python311(zips: dict[tuple[str, str], LambdaZip]) -> None:
    plan, _, package = _plan(zips, runtime="python3.11", architecture="arm64")
    function = plan.one(FUNCTION)
    assert function.inputs["runtime"] == "python3.11"
    assert function.inputs["architectures"] == ["arm64"]
    assert function.inputs["sourceCodeHash"] == package.source_code_hash


def test_a_zip_built_for_another_architecture_is_refused(
    zips: dict[tuple[str, str], LambdaZip],
) -> None:
    with pytest.raises(Exception, match=r"built for python3\.12/x86_64 but the stack deploys"):
        _plan(zips, architecture="arm64", zip_for=("python3.12", "x86_64"))


# --- release step and ordering ---------------------------------------------------------------


def test_migration_runs_on_the_new_version_before_the_alias_moves(
    external: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, package = external
    migrate = plan.one(INVOCATION)
    assert json.loads(migrate.inputs["input"]) == {"shipways": "migrate"}
    assert migrate.inputs["functionName"] == "shipways-demo"
    assert migrate.inputs["qualifier"] == mocks.VERSION  # the new version, not $LATEST
    assert migrate.inputs["triggers"] == {
        "version": mocks.VERSION,
        "code": package.source_code_hash,
    }
    alias = plan.one(ALIAS)
    assert alias.inputs["name"] == "live"
    assert alias.inputs["functionVersion"] == mocks.VERSION
    assert "migrate" in seen.depends["live"]  # the alias moves only after the migration
    assert "function" in seen.depends["migrate"]


def test_the_managed_database_is_migrated_before_the_alias_moves(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = managed
    assert plan.one(ALIAS).inputs["functionVersion"] == mocks.VERSION
    assert seen.depends["live"] == {"function", "migrate"}


# --- the HTTP API -------------------------------------------------------------------------


def test_every_path_goes_to_the_live_alias_with_payload_2(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = managed
    api = plan.one(API)
    assert api.inputs["protocolType"] == "HTTP"
    integration = plan.one(INTEGRATION)
    assert integration.inputs["apiId"] == f"{api.name}-id"
    assert integration.inputs["integrationType"] == "AWS_PROXY"
    assert integration.inputs["payloadFormatVersion"] == "2.0"
    assert integration.inputs["integrationMethod"] == "POST"
    assert integration.inputs["integrationUri"] == (
        f"arn:aws:apigateway:{mocks.REGION}:lambda:path/2015-03-31/functions/"
        f"{FUNCTION_ARN}:live/invocations"
    )
    assert integration.inputs["timeoutMilliseconds"] == 30_000
    routes = {r.inputs["routeKey"]: r for r in plan.of_type(ROUTE)}
    assert set(routes) == {"$default", "POST /products"}  # $default: every path, `/` included
    for route in routes.values():
        assert route.inputs["target"] == f"integrations/{integration.name}-id"


def test_stage_auto_deploys_throttles_and_logs_access(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
    zips: dict[tuple[str, str], LambdaZip],
) -> None:
    stage = managed[0].one(STAGE)
    assert stage.inputs["name"] == "$default"
    assert stage.inputs["autoDeploy"] is True
    assert stage.inputs["defaultRouteSettings"] == {
        "throttlingRateLimit": 50,
        "throttlingBurstLimit": 100,
    }
    # The write route is throttled tighter than the reads, and exists before its settings.
    assert stage.inputs["routeSettings"] == [
        {"routeKey": "POST /products", "throttlingRateLimit": 5, "throttlingBurstLimit": 10}
    ]
    assert "write-route" in managed[1].depends["default-stage"]
    access = stage.inputs["accessLogSettings"]
    assert access["destinationArn"].endswith("log-group:/aws/apigateway/shipways-demo")
    assert json.loads(access["format"])["status"] == "$context.status"
    plan, _, _ = _plan(
        zips, throttleRate="5", throttleBurst="10", writeThrottleRate="1", writeThrottleBurst="2"
    )
    assert plan.one(STAGE).inputs["defaultRouteSettings"] == {
        "throttlingRateLimit": 5,
        "throttlingBurstLimit": 10,
    }
    assert plan.one(STAGE).inputs["routeSettings"][0]["throttlingBurstLimit"] == 2


def test_only_this_api_may_invoke_only_the_alias(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    permission = managed[0].one(PERMISSION)
    assert permission.inputs == {
        "action": "lambda:InvokeFunction",
        "function": "shipways-demo",
        "qualifier": "live",
        "principal": "apigateway.amazonaws.com",
        "sourceArn": f"arn:aws:execute-api:{mocks.REGION}:{mocks.ACCOUNT}:{mocks.API_ID}/*",
    }


# --- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("runtime", "python3.9", r"shipways:runtime: Input should be 'python3\.12' or"),
        ("architecture", "arm", r"shipways:architecture: Input should be 'x86_64' or 'arm64'"),
        ("memoryMb", "64", r"shipways:memoryMb: Input should be greater than or equal to 128"),
        ("timeoutS", "30", r"shipways:timeoutS: Input should be less than or equal to 29"),
        ("logRetentionDays", "13", r"CloudWatch keeps logs for one of 1, 3, 5, .* not 13"),
        ("throttleBurst", "0", r"shipways:throttleBurst: Input should be greater than or equal"),
        ("writeThrottleRate", "60", r"writeThrottleRate: 60 is above throttleRate 50"),
        ("writeThrottleBurst", "101", r"writeThrottleBurst: 101 is above throttleBurst 100"),
        ("reservedConcurrency", "0", r"shipways:reservedConcurrency: Input should be greater"),
        ("memmoryMb", "512", r"shipways:memmoryMb: unknown key; known keys are .*memoryMb"),
        (
            "trafficShifting",
            "Canary10Percent1Minute",
            r"shipways:trafficShifting: Input should be 'AllAtOnce', 'Canary10Percent5Minutes'",
        ),
    ],
)
def test_bad_config_names_the_key(
    zips: dict[tuple[str, str], LambdaZip], key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _plan(zips, zip_for=("python3.12", "x86_64"), **{key: value})


# --- gradual traffic shifting (CodeDeploy) -------------------------------------------------

APPLICATION = "aws:codedeploy/application:Application"
DEPLOYMENT_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SHIFTING = "shipways:serverless:TrafficShifting"


@pytest.fixture(scope="module")
def canary(zips: dict[tuple[str, str], LambdaZip]) -> tuple[OfflinePlan, Registrations, LambdaZip]:
    return _plan(zips, trafficShifting="Canary10Percent5Minutes")


def test_all_at_once_is_the_default_and_pulumi_moves_the_alias(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = managed
    assert plan.config.traffic_shifting == "AllAtOnce"  # type: ignore[attr-defined]
    for kind in (APPLICATION, DEPLOYMENT_GROUP, ALARM, SHIFTING):
        assert not plan.of_type(kind)
    assert seen.ignore["live"] == []
    assert "codedeploy_application" not in plan.exports


def test_a_gradual_shift_adds_codedeploy_and_only_that(
    managed: tuple[OfflinePlan, Registrations, LambdaZip],
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    before = Counter(r.type for r in managed[0].resources)
    after = Counter(r.type for r in canary[0].resources)
    assert after - before == {
        SHIFTING: 1,
        APPLICATION: 1,
        DEPLOYMENT_GROUP: 1,
        ALARM: 1,
        ROLE: 1,  # CodeDeploy's service role
        ROLE_POLICY: 1,
    }
    assert before - after == Counter()


def test_the_alias_is_left_to_codedeploy_after_it_is_created(
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, seen, _ = canary
    alias = plan.one(ALIAS)
    assert alias.inputs["functionVersion"] == mocks.VERSION  # created on the first version
    assert sorted(seen.ignore["live"]) == ["functionVersion", "routingConfig"]
    assert "migrate" in seen.depends["live"]  # the release step still runs first


def test_the_deployment_group_shifts_with_the_declared_config_and_rolls_back(
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = canary
    application = plan.one(APPLICATION)
    assert application.inputs["computePlatform"] == "Lambda"
    assert application.inputs["name"] == "shipways-demo"
    group = plan.one(DEPLOYMENT_GROUP).inputs
    assert group["appName"] == "shipways-demo"
    assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["deploymentStyle"] == {
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
        "deploymentType": "BLUE_GREEN",
    }
    assert group["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    alarm = plan.one(ALARM).inputs
    assert group["alarmConfiguration"] == {"enabled": True, "alarms": [alarm["name"]]}
    role = plan.one(DEPLOYMENT_GROUP).inputs["serviceRoleArn"]
    assert role == f"arn:aws:iam::{mocks.ACCOUNT}:role/shipways-demo-codedeploy"


def test_the_alarm_counts_the_apis_5xx_in_one_minute(
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = canary
    alarm = plan.one(ALARM).inputs
    assert alarm["name"] == "shipways-demo-api-5xx"
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/ApiGateway", "5xx")
    assert alarm["dimensions"] == {"ApiId": "api-id"}  # the HTTP API's id (mocked)
    assert (alarm["statistic"], alarm["period"], alarm["evaluationPeriods"]) == ("Sum", 60, 1)
    assert alarm["threshold"] == 5
    assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["treatMissingData"] == "notBreaching"
    assert alarm["tags"]["project"] == "shipways"


def test_only_codedeploy_may_assume_its_role_and_it_may_touch_this_function_only(
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    plan, _, _ = canary
    role = next(r for r in plan.of_type(ROLE) if r.name == "codedeploy-role")
    trust = _policy(role, "assumeRolePolicy")
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "codedeploy.amazonaws.com"}]
    shift_policy = next(r for r in plan.of_type(ROLE_POLICY) if r.name == "shift-the-alias")
    policy = _policy(shift_policy, "policy")
    alarm_arn = f"arn:aws:cloudwatch:{mocks.REGION}:{mocks.ACCOUNT}:alarm:shipways-demo-api-5xx"
    assert policy["Statement"] == [
        {
            "Sid": "ShiftTheAlias",
            "Effect": "Allow",
            "Action": [
                "lambda:GetAlias",
                "lambda:UpdateAlias",
                "lambda:GetProvisionedConcurrencyConfig",
            ],
            "Resource": [FUNCTION_ARN, f"{FUNCTION_ARN}:*"],
        },
        {
            "Sid": "ReadTheAlarm",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": alarm_arn,
        },
    ]
    assert "*" not in json.dumps([s["Resource"] for s in policy["Statement"]]).replace(":*", "")


def test_the_stack_exports_what_create_deployment_needs(
    canary: tuple[OfflinePlan, Registrations, LambdaZip],
) -> None:
    exports = canary[0].exports
    assert exports["traffic_shifting"] == "Canary10Percent5Minutes"
    assert exports["codedeploy_application"] == "shipways-demo"
    assert exports["codedeploy_deployment_group"] == "live"
    assert exports["shift_alarm"] == "shipways-demo-api-5xx"
    assert exports["alias_version"] == exports["function_version"] == mocks.VERSION


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("Canary10Percent30Minutes", "CodeDeployDefault.LambdaCanary10Percent30Minutes"),
        ("Linear10PercentEvery1Minute", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"),
        ("Linear10PercentEvery10Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes"),
    ],
)
def test_each_name_is_codedeploys_predefined_config(
    zips: dict[tuple[str, str], LambdaZip], name: str, config: str
) -> None:
    plan, _, _ = _plan(zips, trafficShifting=name)
    assert plan.one(DEPLOYMENT_GROUP).inputs["deploymentConfigName"] == config
