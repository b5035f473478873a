"""The `serverless` stack: the app's Lambda zip behind an API Gateway HTTP API.

Resources, and why each looks the way it does:

- two CloudWatch log groups (function, API access log) created by the stack, with the
  configured retention: Lambda would otherwise create the function's group itself, with
  logs kept forever, and would need `logs:CreateLogGroup` to do so.
- an IAM role Lambda alone may assume, with one inline policy: `logs:CreateLogStream` and
  `logs:PutLogEvents` on this function's log group only. Not the managed
  AWSLambdaBasicExecutionRole, whose statement allows those actions (and CreateLogGroup)
  on `*`: every log group in the account.
- the function: python3.12 (or 3.11), the configured architecture, memory, timeout and
  reserved concurrency, the zip as a `FileArchive` with its SHA-256 as `source_code_hash`
  (an unchanged zip uploads nothing). `publish` makes every change a numbered version.
- the database, by default the shared managed PostgreSQL (`infra/database`). The function
  runs in its VPC (its first two subnets, with a security group the database admits) and
  has no route to the internet and needs none: no NAT gateway. It never holds the password
  in its environment: it reads the RDS-managed secret when it opens its connection, through
  a Secrets Manager interface endpoint (private DNS, 443 from the function only) in one
  zone: billed per zone, and a second would buy nothing while the database itself is
  single-AZ. With `rdsProxy` it signs an IAM token for the proxy locally; the endpoint stays,
  for the write token. `reservedConcurrency` (default 20) caps instances, each holding one
  connection.
- with `database: external`, the `databaseUrl` secret's value in a Secrets Manager secret:
  the function's environment holds only the secret's ARN (`DATABASE_URL_SECRET_ARN`), the
  app reads the value once per instance at init, and the role may read only that secret.
  Environment variables are shown by `aws lambda get-function-configuration` and the
  console to anyone allowed to read the function's configuration.
- the write token (`WriteToken`: generated once at deploy time, a secret output) in a Secrets
  Manager secret of its own: the environment holds its ARN (`WRITE_TOKEN_SECRET_ARN`), the app
  reads it at init (in the VPC through the same endpoint), and a second inline policy lets the
  role read that one secret only.
- the release step: an `Invocation` of the *new version* with
  `{"shipways": "migrate"}`; the `live` alias moves to that version only after it succeeded
  (see the ordering note on `ServerlessApp`).
- an HTTP API whose `$default` route sends every path, `/` included, to the `live` alias
  (AWS_PROXY, payload 2.0), and a `POST /products` route to the same integration; its
  `$default` stage auto-deploys, throttles reads to `throttleRate`/`throttleBurst` and the
  write route tighter (`writeThrottleRate`/`writeThrottleBurst`; API Gateway answers 429 past
  them) and writes an access log. These throttles are shared by every client: API Gateway has
  no per-client limit, and AWS WAF (rate-based rules per client address) cannot be attached
  to an HTTP API: only to a REST API, an ALB or a CloudFront distribution (docs/serverless.md).
- a Lambda permission letting only this API (its execution ARN) invoke only the alias.
- with `trafficShifting` other than AllAtOnce, CodeDeploy's application, deployment group,
  alarm and service role (`codedeploy.py`); the alias is then moved by CodeDeploy, not by
  `pulumi up`, which publishes and migrates the new version and stops there.

Stack file: `stacks/Pulumi.serverless.yaml`. The zip is built by `artifact.cached_zip`, or
taken from SHIPWAYS_LAMBDA_ZIP when CI built it once already (checked against the config).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import NAMESPACE, ConfigError, ServerlessConfig, StackConfig, narrow
from infra.database.component import ManagedPostgres
from infra.paths import state_dir
from infra.targets.serverless import spec, traffic
from infra.targets.serverless.artifact import (
    ArtifactError,
    LambdaZip,
    ZipTarget,
    cached_zip,
    load_zip,
)
from infra.targets.serverless.codedeploy import IGNORED_BY_PULUMI, TrafficShifting
from infra.targets.serverless.database import DatabaseAccess
from infra.write_token import CONFIG_KEY, deployment_token

PREBUILT_ZIP_ENV = "SHIPWAYS_LAMBDA_ZIP"
ALIAS = "live"
WRITE_ROUTE = "POST /products"
DATABASE_URL_ARN_ENV = "DATABASE_URL_SECRET_ARN"
MIGRATE_EVENT = {"shipways": "migrate"}
INTEGRATION_TIMEOUT_MS = 30_000  # HTTP API maximum; the function's own timeout is shorter
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class ServerlessApp(pulumi.ComponentResource):
    """The function, its release step, and the HTTP API in front of it.

    Ordering of a `pulumi up` that changes the code, and what serves meanwhile:
    1. the function's code and configuration are updated and version N is published;
       `$LATEST` changes, but nothing routes to it: the API invokes the `live` alias,
       which still points at version N-1, so N-1 keeps serving;
    2. with a DATABASE_URL, version N is invoked once with `{"shipways": "migrate"}`; if it
       fails, `pulumi up` stops here and N-1 keeps serving (against the migrated schema if
       the migration got partway: migrations must stay backward compatible, expand then
       contract);
    3. the alias moves to N: new requests run N, requests in flight finish on N-1. With
       `trafficShifting` other than AllAtOnce the stack stops before this step: CodeDeploy
       moves the alias when the user starts a deployment (`codedeploy.py`).
    """

    def __init__(
        self,
        name: str,
        config: ServerlessConfig,
        package: LambdaZip,
        database_url: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        given_token: pulumi.Output[str] | None = None,
    ) -> None:
        """`database_url` with `database: external`; otherwise the stack creates the database."""
        super().__init__("shipways:serverless:ServerlessApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = config.resource_tags()
        function_name = spec.function_name(config)

        logs = aws.cloudwatch.LogGroup(
            "function-logs",
            name=spec.log_group_name(config),
            retention_in_days=config.log_retention_days,
            tags=tags,
            opts=child,
        )
        access_logs = aws.cloudwatch.LogGroup(
            "api-access-logs",
            name=f"/aws/apigateway/{function_name}",
            retention_in_days=config.log_retention_days,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            "role",
            name=f"{function_name}-lambda",
            description=f"Execution role of the {function_name} function: writes its own logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        database_secret = _database_secret(function_name, database_url, tags, child)
        secret_arn = database_secret[0].arn if database_secret else None
        log_policy = aws.iam.RolePolicy(
            "write-own-logs",
            role=role.id,
            policy=pulumi.Output.all(logs.arn, secret_arn).apply(lambda v: _log_policy(*v)),
            opts=child,
        )

        # The write token: generated once, stored in Secrets Manager, read by the function
        # at init through its ARN (boto3 comes with the managed runtime); the function's role
        # may read that one secret only.
        write_token = deployment_token(given_token, child)
        token_secret = aws.secretsmanager.Secret(
            "write-token",
            name_prefix=f"{function_name}/write-token-",
            description=f"Bearer token for writes to {function_name}, read at init",
            recovery_window_in_days=7,
            tags=tags,
            opts=child,
        )
        token_version = aws.secretsmanager.SecretVersion(
            "write-token",
            secret_id=token_secret.id,
            secret_string=write_token,
            opts=child,
        )
        token_policy = aws.iam.RolePolicy(
            "read-write-token",
            role=role.id,
            policy=token_secret.arn.apply(_read_secret_policy),
            opts=child,
        )

        managed = config.database == "managed"
        environment: dict[str, Any] = dict(
            spec.app_environment(
                config, has_database=managed or database_url is not None, git_sha=spec.git_sha()
            )
        )
        environment["WRITE_TOKEN_SECRET_ARN"] = token_secret.arn
        if secret_arn is not None:
            # The secret's address, not its value: the app reads the URL at init.
            environment[DATABASE_URL_ARN_ENV] = secret_arn
        # The role must be able to write logs and read the token (and, in a VPC, create its
        # network interfaces and reach the database) before the first (migrate) invocation.
        ready = [logs, log_policy, token_version, token_policy]
        function_opts = pulumi.ResourceOptions(
            parent=self, depends_on=[*ready, *database_secret[1:]]
        )
        vpc_config: aws.lambda_.FunctionVpcConfigArgs | None = None
        self.database: ManagedPostgres | None = None
        if managed:
            reach = DatabaseAccess(config, role, tags, self)
            self.database = reach.database
            environment.update(reach.database.app_environment())
            vpc_config = aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=reach.subnets, security_group_ids=[reach.function_group.id]
            )
            function_opts = pulumi.ResourceOptions(parent=self, depends_on=[*ready, reach.policy])
        function = aws.lambda_.Function(
            "function",
            name=function_name,
            description=f"{config.app_name} ({config.environment}) behind an HTTP API",
            role=role.arn,
            runtime=config.runtime,
            handler=config.app.lambda_handler,
            architectures=[config.architecture],
            memory_size=config.memory_mb,
            timeout=config.timeout_s,
            reserved_concurrent_executions=(
                config.reserved_concurrency if config.reserved_concurrency is not None else -1
            ),
            code=pulumi.FileArchive(str(package.path)),
            source_code_hash=package.source_code_hash,
            environment={"variables": environment},
            vpc_config=vpc_config,
            logging_config={"log_format": "Text", "log_group": logs.name},
            publish=True,
            tags=tags,
            opts=function_opts,
        )

        release_steps: list[pulumi.Resource] = []
        if managed or database_url is not None:
            migrate = aws.lambda_.Invocation(
                "migrate",
                function_name=function.name,
                qualifier=function.version,
                input=json.dumps(MIGRATE_EVENT),
                triggers={"version": function.version, "code": package.source_code_hash},
                opts=child,
            )
            release_steps.append(migrate)
        shift = traffic.plan(config.traffic_shifting)
        alias = aws.lambda_.Alias(
            "live",
            name=ALIAS,
            description=(
                "The version the HTTP API serves; moved by CodeDeploy after the release step"
                if shift.gradual
                else "The version the HTTP API serves; moved after the release step"
            ),
            function_name=function.name,
            function_version=function.version,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=release_steps,
                # Gradual: created here, then moved by CodeDeploy only (codedeploy.py).
                ignore_changes=IGNORED_BY_PULUMI if shift.gradual else None,
            ),
        )

        api = aws.apigatewayv2.Api(
            "api",
            name=function_name,
            protocol_type="HTTP",
            description=f"{config.app_name} ({config.environment}): every path to the function",
            tags=tags,
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            "to-live-alias",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=alias.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
        target = integration.id.apply(lambda id_: f"integrations/{id_}")
        aws.apigatewayv2.Route(
            "default-route", api_id=api.id, route_key="$default", target=target, opts=child
        )
        # The write gets a route of its own, only so the stage can throttle it tighter.
        write_route = aws.apigatewayv2.Route(
            "write-route", api_id=api.id, route_key=WRITE_ROUTE, target=target, opts=child
        )
        stage = aws.apigatewayv2.Stage(
            "default-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings={
                "throttling_rate_limit": config.throttle_rate,
                "throttling_burst_limit": config.throttle_burst,
            },
            route_settings=[
                {
                    "route_key": WRITE_ROUTE,
                    "throttling_rate_limit": config.write_throttle_rate,
                    "throttling_burst_limit": config.write_throttle_burst,
                }
            ],
            access_log_settings={
                "destination_arn": access_logs.arn,
                "format": json.dumps(ACCESS_LOG_FORMAT, sort_keys=True),
            },
            tags=tags,
            # Route settings name a route key, which must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[write_route]),
        )
        aws.lambda_.Permission(
            "invoke-from-api",
            action="lambda:InvokeFunction",
            function=function.name,
            qualifier=alias.name,
            principal="apigateway.amazonaws.com",
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*"),
            opts=child,
        )

        self.shifting: TrafficShifting | None = None
        if shift.gradual:
            self.shifting = TrafficShifting(
                "traffic-shifting", shift=shift, function=function, api=api, tags=tags, opts=child
            )
        self.alias_version = alias.function_version
        self.url = api.api_endpoint
        self.function_name = function.name
        self.version = function.version
        self.log_group = logs.name
        self.stage = stage.name
        self.write_token = write_token
        self.register_outputs({"url": self.url, "function_name": self.function_name})


def _database_secret(
    function_name: str,
    database_url: pulumi.Output[str] | None,
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
) -> list[Any]:
    """[secret, its version] holding the database URL; [] without one."""
    if database_url is None:
        return []
    secret = aws.secretsmanager.Secret(
        "database-url",
        name_prefix=f"{function_name}/database-url-",
        description=f"DATABASE_URL of the {function_name} function, read at init",
        recovery_window_in_days=7,
        tags=tags,
        opts=child,
    )
    value = aws.secretsmanager.SecretVersion(
        "database-url-value",
        secret_id=secret.id,
        secret_string=database_url,  # a Pulumi secret from config to state
        opts=child,
    )
    return [secret, value]


def _log_policy(log_group_arn: str, database_secret_arn: str | None = None) -> str:
    """The role's one inline policy: its own logs and, with a database, its URL's secret."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        }
    ]
    if database_secret_arn is not None:
        statements.append(
            {
                "Sid": "ReadTheDatabaseUrl",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": database_secret_arn,
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _read_secret_policy(secret_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadWriteToken",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": secret_arn,
                }
            ],
        }
    )


def function_zip(config: ServerlessConfig) -> LambdaZip:
    """The zip to deploy: SHIPWAYS_LAMBDA_ZIP if CI built it already, else built now."""
    target = ZipTarget.for_lambda(config.runtime, config.architecture)
    prebuilt = os.environ.get(PREBUILT_ZIP_ENV)
    handler = config.app.lambda_handler
    if prebuilt:
        return load_zip(Path(prebuilt), target, handler)
    return cached_zip(state_dir("serverless", "build"), target, pulumi.log.info, handler)


def deploy(stack_config: StackConfig, secrets: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
    config = narrow(stack_config, ServerlessConfig)
    try:
        package = function_zip(config)
    except ArtifactError as exc:
        raise pulumi.RunError(str(exc)) from None  # the reason, without a traceback
    database_url = secrets.get("databaseUrl")
    if config.database == "external" and database_url is None:
        raise ConfigError(
            f"{NAMESPACE}:databaseUrl: required with database: external; set it with "
            "`pulumi config set --secret databaseUrl postgresql://...`, or set "
            "database: managed to create the database"
        )
    if config.database == "managed" and database_url is not None:
        raise ConfigError(
            f"{NAMESPACE}:databaseUrl: set, but {NAMESPACE}:database is 'managed' (the stack "
            "creates the database); set database: external to use the URL, or remove it"
        )
    app = ServerlessApp(
        "shipways", config, package, database_url, given_token=secrets.get(CONFIG_KEY)
    )
    shifting: dict[str, Any] = {}
    if app.shifting is not None:
        # What `aws deploy create-deployment` needs (docs/serverless.md).
        shifting = {
            "traffic_shifting": config.traffic_shifting,
            "codedeploy_application": app.shifting.application,
            "codedeploy_deployment_group": app.shifting.deployment_group,
            "shift_alarm": app.shifting.alarm,
        }
    return {
        "url": app.url,
        "function_name": app.function_name,
        "function_version": app.version,
        "alias_version": app.alias_version,
        **shifting,
        "log_group": app.log_group,
        "write_token": app.write_token,
        "zip_sha256": package.sha256,
        "zip_mib": round(package.zipped_bytes / 2**20, 2),
        "storage": (
            "postgresql (DATABASE_URL, in Secrets Manager)"
            if database_url is not None
            else "postgresql (Amazon RDS, created by this stack)"
        ),
    }
