"""The `paas` stack under mocks: the Beanstalk graph and every security property around it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from infra.config import ConfigError, PaasConfig, load_stack, namespaced, read_stack_file
from infra.harness import OFFLINE_WRITE_TOKEN, Declared, OfflinePlan, plan_stack
from infra.paths import APP_DIR
from infra.targets.paas import component, spec
from infra.targets.paas import mocks as paas_mocks

pytestmark = pytest.mark.stack

APP = "shipways:paas:BeanstalkApp"
BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OBJECT = "aws:s3/bucketObject:BucketObject"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = "aws:iam/rolePolicy:RolePolicy"
PROFILE = "aws:iam/instanceProfile:InstanceProfile"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
WRITE_TOKEN = "pulumi-python:dynamic/shipways:WriteToken"
APPLICATION = "aws:elasticbeanstalk/application:Application"
VERSION = "aws:elasticbeanstalk/applicationVersion:ApplicationVersion"
ENVIRONMENT = "aws:elasticbeanstalk/environment:Environment"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

DATABASE_URL = "postgresql://shipways:s3cr3t-pw@db.internal:5432/shipways"
STACK = load_stack("paas")


def _plan(
    drop: tuple[str, ...] = (), secrets: dict[str, str] | None = None, **overrides: Any
) -> tuple[OfflinePlan, dict[str, set[str]]]:
    """Plan the committed stack file with keys replaced or removed; also return each
    resource's explicit dependencies (by name), which the recorder does not keep."""
    values, _ = namespaced(read_stack_file("paas"))
    values = {k: v for k, v in values.items() if k not in drop} | overrides
    depends: dict[str, set[str]] = {}
    register = pulumi_mocks.MockMonitor.RegisterResource

    def recording(monitor: Any, request: Any) -> Any:
        depends[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        return register(monitor, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", recording)
        paas_mocks.STACK_LOOKUPS.clear()
        plan = plan_stack("paas", overrides=values, secrets=secrets, use_stack_file=False)
    return plan, depends


@pytest.fixture(scope="module")
def planned() -> tuple[OfflinePlan, dict[str, set[str]], list[dict[str, Any]]]:
    plan, depends = _plan()
    return plan, depends, list(paas_mocks.STACK_LOOKUPS)


@pytest.fixture(scope="module")
def plan(planned: tuple[OfflinePlan, Any, Any]) -> OfflinePlan:
    return planned[0]


@pytest.fixture(scope="module")
def with_database() -> OfflinePlan:
    """`database: external`: the stack uses the `databaseUrl` secret and creates no database."""
    plan, _ = _plan(secrets={"databaseUrl": DATABASE_URL}, database="external")
    return plan


def _settings(environment: Declared) -> dict[tuple[str, str], str]:
    return {(s["namespace"], s["name"]): s["value"] for s in environment.inputs["settings"]}


def _env_vars(environment: Declared) -> dict[str, str]:
    namespace = "aws:elasticbeanstalk:application:environment"
    return {name: value for (ns, name), value in _settings(environment).items() if ns == namespace}


def _role(plan: OfflinePlan, suffix: str) -> Declared:
    return next(r for r in plan.of_type(ROLE) if r.inputs["name"].endswith(suffix))


def _statements(document: str) -> Iterator[dict[str, Any]]:
    yield from json.loads(document)["Statement"]


def test_graph(plan: OfflinePlan, with_database: OfflinePlan) -> None:
    expected = {
        APP: 1,
        BUCKET: 1,
        BLOCK: 1,
        OWNERSHIP: 1,
        ENCRYPTION: 1,
        VERSIONING: 1,
        BUCKET_POLICY: 1,
        OBJECT: 1,
        ROLE: 2,
        ATTACHMENT: 2,
        INLINE: 1,
        PROFILE: 1,
        APPLICATION: 1,
        VERSION: 1,
        ENVIRONMENT: 1,
        WRITE_TOKEN: 1,
        SECRET: 1,  # the write token's
        SECRET_VERSION: 1,
    }
    assert Counter(r.type for r in plan.resources) == {
        **expected,
        "shipways:database:ManagedPostgres": 1,
        "aws:ec2/securityGroup:SecurityGroup": 2,  # the instances' and the database's
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 1,
        "aws:rds/subnetGroup:SubnetGroup": 1,
        "aws:rds/instance:Instance": 1,
    }
    assert Counter(r.type for r in with_database.resources) == {
        **expected,
        SECRET: 2,
        SECRET_VERSION: 2,
    }


def test_bucket_is_private_encrypted_versioned_and_tls_only(plan: OfflinePlan) -> None:
    bucket = plan.one(BUCKET).outputs["bucket"]
    block = plan.one(BLOCK).inputs
    assert block["bucket"] == bucket
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True, flag
    assert plan.one(OWNERSHIP).inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (rule,) = plan.one(ENCRYPTION).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert plan.one(VERSIONING).inputs["versioningConfiguration"] == {"status": "Enabled"}
    (deny,) = _statements(plan.one(BUCKET_POLICY).inputs["policy"])
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert not [r for r in plan.resources if "Acl" in r.type or "Website" in r.type]


def test_bundle_object_is_the_built_zip_uploaded_after_the_bucket_is_locked(
    planned: tuple[OfflinePlan, dict[str, set[str]], Any],
) -> None:
    plan, depends, _ = planned
    upload = plan.one(OBJECT)
    source = Path(upload.inputs["source"].path)
    sha = plan.exports["bundleSha256"]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == sha
    assert plan.exports["bundleBytes"] == source.stat().st_size
    assert upload.inputs["key"] == f"bundles/{source.name}" and sha[:12] in source.name
    assert upload.inputs["serverSideEncryption"] == "AES256"
    assert upload.inputs["bucket"] == plan.one(BUCKET).outputs["bucket"]
    assert {"shipways-bundles-private", "shipways-bundles-encryption"} <= depends[upload.name]
    assert "shipways-bundles-private" in depends[plan.one(BUCKET_POLICY).name]


def test_application_version_points_at_the_bundle(plan: OfflinePlan) -> None:
    version = plan.one(VERSION).inputs
    assert version["bucket"] == plan.one(BUCKET).outputs["bucket"]
    assert version["key"] == plan.one(OBJECT).inputs["key"]
    assert version["name"] == f"shipways-demo-{plan.exports['bundleSha256'][:12]}"
    assert version["application"] == plan.one(APPLICATION).inputs["name"] == "shipways-demo"
    assert plan.one(ENVIRONMENT).inputs["version"] == version["name"]
    lifecycle = plan.one(APPLICATION).inputs["appversionLifecycle"]
    assert lifecycle["serviceRole"] == _role(plan, "-eb-service").outputs["arn"]
    assert lifecycle["deleteSourceFromS3"] is False


def test_platform_is_looked_up_by_pattern_newest_first(
    planned: tuple[OfflinePlan, Any, list[dict[str, Any]]],
) -> None:
    plan, _, lookups = planned
    (lookup,) = lookups
    assert lookup["nameRegex"] == STACK.platform_pattern  # type: ignore[attr-defined]
    assert lookup["mostRecent"] is True
    newest = "64bit Amazon Linux 2023 v4.9.1 running Python 3.11"
    assert plan.one(ENVIRONMENT).inputs["solutionStackName"] == newest
    assert plan.exports["platform"] == newest


def test_platform_python_is_the_bundles_python() -> None:
    wanted = (APP_DIR / ".python-version").read_text().strip()
    for pattern in (STACK.platform_pattern, PaasConfig().platform_pattern):  # type: ignore[attr-defined]
        found = re.search(r"Python (\d+)\\\.(\d+)", pattern)
        assert found is not None, pattern
        assert f"{found[1]}.{found[2]}" == wanted


def test_no_matching_platform_fails_the_plan() -> None:
    with pytest.raises(Exception, match="Your query returned no results"):
        plan_stack("paas", overrides={"platformPattern": r"running Python 2\.7$"})


def test_single_instance_environment(plan: OfflinePlan) -> None:
    settings = _settings(plan.one(ENVIRONMENT))
    assert settings[("aws:elasticbeanstalk:environment", "EnvironmentType")] == "SingleInstance"
    assert settings[("aws:autoscaling:asg", "MinSize")] == "1"
    assert settings[("aws:autoscaling:asg", "MaxSize")] == "1"
    assert ("aws:elasticbeanstalk:environment", "LoadBalancerType") not in settings


def test_load_balanced_environment() -> None:
    plan, _ = _plan(
        environmentType="LoadBalanced", minInstances=2, maxInstances=4, certificateArn=CERTIFICATE
    )
    settings = _settings(plan.one(ENVIRONMENT))
    assert settings[("aws:elasticbeanstalk:environment", "EnvironmentType")] == "LoadBalanced"
    assert settings[("aws:elasticbeanstalk:environment", "LoadBalancerType")] == "application"
    assert settings[("aws:autoscaling:asg", "MinSize")] == "2"
    assert settings[("aws:autoscaling:asg", "MaxSize")] == "4"
    process = "aws:elasticbeanstalk:environment:process:default"
    assert settings[(process, "HealthCheckPath")] == "/readyz"
    assert settings[(process, "MatcherHTTPCode")] == "200"


def test_rolling_with_an_additional_batch_is_declared_one_instance_at_a_time() -> None:
    plan, _ = _plan(
        environmentType="LoadBalanced",
        minInstances=2,
        certificateArn=CERTIFICATE,
        deploymentPolicy="RollingWithAdditionalBatch",
    )
    settings = _settings(plan.one(ENVIRONMENT))
    command = "aws:elasticbeanstalk:command"
    assert settings[(command, "DeploymentPolicy")] == "RollingWithAdditionalBatch"
    assert settings[(command, "BatchSizeType")] == "Fixed"
    assert settings[(command, "BatchSize")] == "1"
    # What the local stand-in reads is what Beanstalk gets.
    declared = PaasConfig(
        environmentType="LoadBalanced",
        certificateArn=CERTIFICATE,
        deploymentPolicy="RollingWithAdditionalBatch",
    )
    assert spec.deployment_option(declared, "DeploymentPolicy") == "RollingWithAdditionalBatch"


def test_load_balanced_serves_https_with_the_certificate_and_redirects_http() -> None:
    plan, _ = _plan(environmentType="LoadBalanced", certificateArn=CERTIFICATE)
    settings = _settings(plan.one(ENVIRONMENT))
    listener = "aws:elbv2:listener:443"
    assert settings[(listener, "ListenerEnabled")] == "true"
    assert settings[(listener, "Protocol")] == "HTTPS"
    assert settings[(listener, "SSLCertificateArns")] == CERTIFICATE
    assert settings[(listener, "SSLPolicy")] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    rule = plan.one(LISTENER_RULE)
    balancer = plan.one(ENVIRONMENT).outputs["loadBalancers"][0]
    # The rule sits on the port-80 listener of the balancer Beanstalk created for this env.
    assert rule.inputs["listenerArn"].startswith(balancer.replace(":loadbalancer/", ":listener/"))
    assert rule.inputs["listenerArn"].endswith("/listener80")
    assert rule.inputs["priority"] == 1
    (action,) = rule.inputs["actions"]
    assert action["type"] == "redirect"
    assert action["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    assert rule.inputs["conditions"] == [{"pathPattern": {"values": ["/*"]}}]
    assert plan.exports["url"].startswith("https://")
    assert "HTTP redirected" in plan.exports["https"]


def test_load_balanced_without_a_certificate_is_refused_unless_http_is_allowed() -> None:
    with pytest.raises(ConfigError, match="certificateArn: required when environmentType"):
        _plan(environmentType="LoadBalanced")
    plan, _ = _plan(environmentType="LoadBalanced", allowHttp=True)
    assert not [k for k in _settings(plan.one(ENVIRONMENT)) if k[0] == "aws:elbv2:listener:443"]
    assert not plan.of_type(LISTENER_RULE)
    assert plan.exports["url"].startswith("http://")
    assert "plain HTTP only" in plan.exports["https"]


def test_single_instance_says_it_is_http_only_and_why(plan: OfflinePlan) -> None:
    assert not plan.of_type(LISTENER_RULE)
    assert plan.exports["https"].startswith("SingleInstance serves plain HTTP only")
    # the warning `pulumi up` prints, kept by the offline plan (`shipways plan` shows it)
    assert [w for w in plan.warnings if w.startswith("SingleInstance serves plain HTTP")]
    assert "no load balancer" in plan.exports["https"]
    assert "cannot be installed on an instance" in plan.exports["https"]
    with pytest.raises(ConfigError, match="certificateArn: only used when environmentType"):
        _plan(certificateArn=CERTIFICATE)


def test_instances_health_updates_and_deployments(plan: OfflinePlan) -> None:
    settings = _settings(plan.one(ENVIRONMENT))
    launch = "aws:autoscaling:launchconfiguration"
    assert settings[("aws:ec2:instances", "InstanceTypes")] == "t3.small"
    assert settings[(launch, "DisableIMDSv1")] == "true"
    assert settings[(launch, "RootVolumeType")] == "gp3"
    assert settings[(launch, "RootVolumeSize")] == "10"
    assert settings[(launch, "SSHSourceRestriction")].endswith("127.0.0.1/32")
    assert (launch, "EC2KeyName") not in settings
    assert settings[("aws:elasticbeanstalk:application", "Application Healthcheck URL")] == (
        "/readyz"
    )
    assert settings[("aws:elasticbeanstalk:healthreporting:system", "SystemType")] == "enhanced"
    assert settings[("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled")] == "true"
    assert settings[("aws:elasticbeanstalk:managedactions", "PreferredStartTime")] == "Sun:03:00"
    update = "aws:elasticbeanstalk:managedactions:platformupdate"
    assert settings[(update, "UpdateLevel")] == "minor"
    assert settings[("aws:elasticbeanstalk:command", "DeploymentPolicy")] == "Immutable"
    assert settings[("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")] == "true"


def test_config_values_reach_the_environment() -> None:
    plan, _ = _plan(
        instanceType="m7g.large",
        healthCheckPath="/healthz",
        webConcurrency=4,
        env={"SHIPWAYS_LOG_LEVEL": "DEBUG"},
    )
    environment = plan.one(ENVIRONMENT)
    settings = _settings(environment)
    assert settings[("aws:ec2:instances", "InstanceTypes")] == "m7g.large"
    assert settings[("aws:elasticbeanstalk:application", "Application Healthcheck URL")] == (
        "/healthz"
    )
    env = _env_vars(environment)
    assert env["SHIPWAYS_LOG_LEVEL"] == "DEBUG"
    assert env["WEB_CONCURRENCY"] == "4"


def test_app_environment_names_the_managed_database_not_its_password(plan: OfflinePlan) -> None:
    env = _env_vars(plan.one(ENVIRONMENT))
    instance = plan.one("aws:rds/instance:Instance")
    assert env == {
        "PORT": "8000",
        "WEB_BIND_HOST": "127.0.0.1",
        "SHIPWAYS_TARGET": "paas",
        "WEB_CONCURRENCY": "2",
        "DATABASE_HOST": instance.outputs["address"],
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": "shipways",
    }


def test_the_managed_secret_reaches_the_instances_as_an_environment_secret(
    plan: OfflinePlan,
) -> None:
    """Beanstalk reads the RDS-managed secret with the instance role when an instance starts
    and sets DATABASE_CREDENTIALS to its JSON: the app needs no AWS SDK, the configuration
    holds only the ARN, and the instance role may read that one secret (and the write
    token's) and no other."""
    managed_secret = plan.one("aws:rds/instance:Instance").outputs["masterUserSecrets"][0]
    token_arn = _named(plan, SECRET, "write-token").outputs["arn"]
    secrets = {
        name: value
        for (namespace, name), value in _settings(plan.one(ENVIRONMENT)).items()
        if namespace == "aws:elasticbeanstalk:application:environmentsecrets"
    }
    assert secrets == {
        "DATABASE_CREDENTIALS": managed_secret["secretArn"],
        "WRITE_TOKEN": token_arn,
    }
    reads = [
        s
        for s in _statements(plan.one(INLINE).inputs["policy"])
        if any(action.startswith("secretsmanager:") for action in s["Action"])
    ]
    assert sorted(reads, key=lambda s: s["Sid"]) == [
        {
            "Sid": "ReadTheDatabaseSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": managed_secret["secretArn"],
        },
        {
            "Sid": "ReadTheWriteToken",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": token_arn,
        },
    ]


def test_the_app_composes_its_url_from_what_the_stack_delivers(plan: OfflinePlan) -> None:
    """The environment the stack declares, with the secret as Beanstalk fills it in, is one
    the app's own Settings accept: host, port and name from the properties, user and password
    from the secret's JSON, TLS required."""
    from shipways_app.settings import Settings

    env = _env_vars(plan.one(ENVIRONMENT))
    delivered = json.dumps({"username": "shipways", "password": "from-rds", "engine": "postgres"})
    url = Settings(**env, DATABASE_CREDENTIALS=delivered).sqlalchemy_url()
    instance = plan.one("aws:rds/instance:Instance")
    assert (url.host, url.port, url.database) == (instance.outputs["address"], 5432, "shipways")
    assert (url.username, url.password) == ("shipways", "from-rds")
    assert url.query == {"sslmode": "require"}


def _named(plan: OfflinePlan, type_token: str, part: str) -> Declared:
    (found,) = [r for r in plan.of_type(type_token) if part in r.name]
    return found


def test_database_url_lives_only_in_secrets_manager(with_database: OfflinePlan) -> None:
    secret = _named(with_database, SECRET, "database-url")
    version = _named(with_database, SECRET_VERSION, "database-url")
    # Still marked secret when it reaches the resource: Pulumi encrypts it in the state.
    assert version.inputs["secretString"] == {
        rpc._special_sig_key: rpc._special_secret_sig,
        "value": DATABASE_URL,
    }
    assert secret.inputs["recoveryWindowInDays"] == 7
    settings = _settings(with_database.one(ENVIRONMENT))
    assert (
        settings[("aws:elasticbeanstalk:application:environmentsecrets", "DATABASE_URL")]
        == (secret.outputs["arn"])
    )
    env = _env_vars(with_database.one(ENVIRONMENT))
    assert "DATABASE_URL" not in env and "SHIPWAYS_SQLITE_PATH" not in env
    leaks = [
        r.name
        for r in with_database.resources
        if r is not version and "s3cr3t-pw" in json.dumps(r.inputs, default=str)
    ]
    assert leaks == []
    assert "s3cr3t-pw" not in json.dumps(with_database.exports, default=str)


def test_service_role_trusts_beanstalk_only_with_the_documented_managed_policies(
    plan: OfflinePlan,
) -> None:
    role = _role(plan, "-eb-service")
    (trust,) = _statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "elasticbeanstalk.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {
        "sts:ExternalId": "elasticbeanstalk",
        "aws:SourceAccount": paas_mocks.ACCOUNT_ID,
    }
    attached = {a.inputs["policyArn"] for a in plan.of_type(ATTACHMENT)}
    assert attached == set(component.SERVICE_ROLE_POLICIES)
    assert {a.inputs["role"] for a in plan.of_type(ATTACHMENT)} == {role.inputs["name"]}
    settings = _settings(plan.one(ENVIRONMENT))
    assert settings[("aws:elasticbeanstalk:environment", "ServiceRole")] == role.outputs["arn"]


def test_instance_role_is_least_privilege(plan: OfflinePlan, with_database: OfflinePlan) -> None:
    for each in (plan, with_database):
        role = _role(each, "-eb-instance")
        (trust,) = _statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
        profile = each.one(PROFILE)
        assert profile.inputs["role"] == role.inputs["name"]
        settings = _settings(each.one(ENVIRONMENT))
        launch = "aws:autoscaling:launchconfiguration"
        assert settings[(launch, "IamInstanceProfile")] == profile.inputs["name"]
        inline = each.one(INLINE)
        assert inline.inputs["role"] == role.inputs["name"]
        for statement in _statements(inline.inputs["policy"]):
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            assert all("*" not in action for action in actions), statement
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                assert resource != "*" and resource.startswith("arn:aws:"), statement
                assert paas_mocks.ACCOUNT_ID in resource or "shipways-demo-bundles" in resource


def test_instance_policy_scopes(plan: OfflinePlan, with_database: OfflinePlan) -> None:
    bucket = plan.one(BUCKET).outputs["bucket"]
    by_sid = {s["Sid"]: s for s in _statements(plan.one(INLINE).inputs["policy"])}
    assert by_sid["ReadThisAppsBundles"]["Resource"] == f"arn:aws:s3:::{bucket}/bundles/*"
    assert by_sid["StreamThisEnvironmentsLogs"]["Resource"].endswith(
        "log-group:/aws/elasticbeanstalk/shipways-demo/*"
    )
    managed_secret = plan.one("aws:rds/instance:Instance").outputs["masterUserSecrets"][0]
    assert by_sid["ReadTheDatabaseSecret"]["Resource"] == managed_secret["secretArn"]
    secret_arn = _named(with_database, SECRET, "database-url").outputs["arn"]
    by_sid = {s["Sid"]: s for s in _statements(with_database.one(INLINE).inputs["policy"])}
    assert by_sid["ReadTheDatabaseSecret"] == {
        "Sid": "ReadTheDatabaseSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": secret_arn,
    }


def test_every_taggable_resource_is_tagged(plan: OfflinePlan) -> None:
    tagged = [
        r
        for r in plan.resources
        if r.type in {BUCKET, OBJECT, ROLE, APPLICATION, VERSION, ENVIRONMENT}
    ]
    assert len(tagged) == 7
    for resource in tagged:
        assert resource.inputs["tags"]["project"] == "shipways", resource.name
        assert resource.inputs["tags"]["environment"] == "demo", resource.name


def test_exports(plan: OfflinePlan) -> None:
    assert plan.exports["url"] == "http://shipways-demo.eba-mock1234.us-east-1.elasticbeanstalk.com"
    assert plan.exports["environment"] == "shipways-demo"
    assert plan.exports["applicationVersion"] == plan.one(VERSION).inputs["name"]
    assert plan.exports["bucket"] == plan.one(BUCKET).outputs["bucket"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": {"DATABASE_URL": "postgresql://x"}}, "env: DATABASE_URL is set by the recipe"),
        ({"env": {"DATABASE_HOST": "db.internal"}}, "env: DATABASE_HOST is set by the recipe"),
        ({"env": {"STRIPE_API_KEY": "sk"}}, "looks like a secret"),
        ({"env": {"DB_PASSWORD": "pw"}}, "looks like a secret"),
        ({"env": {"PORT": "9000"}}, "set by the recipe"),
        ({"env": {"lower": "x"}}, "env.lower"),
        ({"minInstances": 3, "maxInstances": 2}, "maxInstances"),
        ({"platformPattern": "running Python (3.11"}, "platformPattern"),
        ({"environmentType": "Serverless"}, "environmentType"),
        ({"healthCheckPath": "readyz"}, "healthCheckPath"),
        ({"instanceTypo": "t3.small"}, "unknown key"),
        ({"certificateArn": "my-cert"}, "certificateArn"),
        ({"deploymentPolicy": "AllAtOnce"}, "deploymentPolicy"),
        ({"deploymentPolicy": "RollingWithAdditionalBatch"}, "needs environmentType"),
    ],
)
def test_bad_config_is_refused_naming_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _plan(**overrides)


def test_secret_value_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        _plan(env={"DB_PASSWORD": "hunter2-value"})
    assert "hunter2-value" not in str(caught.value)


def test_database_url_in_plain_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="pulumi config set --secret databaseUrl"):
        _plan(databaseUrl=DATABASE_URL)


def _dependencies(plan: OfflinePlan, type_token: str) -> frozenset[str]:
    options = plan.one(type_token).options
    assert options is not None
    return options.dependencies


def test_environment_waits_for_the_roles_policies_and_the_secrets_value(
    plan: OfflinePlan, with_database: OfflinePlan
) -> None:
    """Nothing in the environment's inputs references these, yet its first instances need
    them: without the edges Beanstalk may launch before the roles may act or the secret has
    a value to read."""
    needed = {r.name for r in plan.of_type(ATTACHMENT)} | {plan.one(INLINE).name}
    assert len(needed) == 3
    assert needed <= _dependencies(plan, ENVIRONMENT)
    token = _named(plan, SECRET_VERSION, "write-token").name
    assert needed | {token} <= _dependencies(plan, ENVIRONMENT)
    value = _named(with_database, SECRET_VERSION, "database-url").name
    assert needed | {value, token} <= _dependencies(with_database, ENVIRONMENT)


def test_application_keeps_the_configured_number_of_versions() -> None:
    """The lifecycle keeps the newest N versions (a rollback target), bundles stay in S3."""
    assert STACK.versions_to_keep == 20
    plan, _ = _plan(versionsToKeep=7)
    lifecycle = plan.one(APPLICATION).inputs["appversionLifecycle"]
    assert lifecycle["maxCount"] == 7
    assert lifecycle["deleteSourceFromS3"] is False
    assert lifecycle["serviceRole"] == _role(plan, "-eb-service").outputs["arn"]


@pytest.mark.parametrize("count", [1, 1001])
def test_versions_to_keep_is_bounded(count: int) -> None:
    with pytest.raises(ConfigError, match="versionsToKeep"):
        _plan(versionsToKeep=count)


def test_demo_bucket_is_emptied_by_destroy(plan: OfflinePlan) -> None:
    bucket = plan.one(BUCKET)
    assert STACK.environment == "demo"
    assert bucket.inputs["forceDestroy"] is True
    assert bucket.options is not None
    assert (bucket.options.protect, bucket.options.retain_on_delete) == (False, False)


@pytest.mark.parametrize(
    ("overrides", "protected"),
    [
        ({"environment": "prod"}, True),
        ({"environment": "staging"}, True),
        ({"environment": "prod", "protectStateful": False}, False),
        ({"environment": "dev"}, False),
        ({"environment": "demo", "protectStateful": True}, True),
    ],
)
def test_bucket_is_protected_and_retained_outside_demo(
    overrides: dict[str, Any], protected: bool
) -> None:
    plan, _ = _plan(**overrides)
    bucket = plan.one(BUCKET)
    assert bucket.options is not None
    assert bucket.options.protect is protected
    assert bucket.options.retain_on_delete is protected
    assert bucket.inputs["forceDestroy"] is not protected


def test_write_token_is_a_beanstalk_environment_secret_only_the_instances_may_read(
    plan: OfflinePlan,
) -> None:
    """The environment holds the secret's ARN (Beanstalk fetches the value at instance
    start into WRITE_TOKEN), the instance role may read that one secret, the value reaches
    only its SecretVersion, and the stack exports it as a secret."""
    secret = _named(plan, SECRET, "write-token")
    version = _named(plan, SECRET_VERSION, "write-token")
    wrapped = {rpc._special_sig_key: rpc._special_secret_sig, "value": OFFLINE_WRITE_TOKEN}
    assert version.inputs["secretString"] == wrapped
    assert secret.inputs["namePrefix"] == "shipways-demo/write-token-"
    settings = _settings(plan.one(ENVIRONMENT))
    secrets_ns = "aws:elasticbeanstalk:application:environmentsecrets"
    assert settings[(secrets_ns, "WRITE_TOKEN")] == secret.outputs["arn"]
    assert "WRITE_TOKEN" not in _env_vars(plan.one(ENVIRONMENT))
    by_sid = {s["Sid"]: s for s in _statements(plan.one(INLINE).inputs["policy"])}
    assert by_sid["ReadTheWriteToken"] == {
        "Sid": "ReadTheWriteToken",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": secret.outputs["arn"],
    }
    leaks = [
        r.name
        for r in plan.resources
        if r is not version
        and r.type != WRITE_TOKEN
        and OFFLINE_WRITE_TOKEN in json.dumps(r.inputs, default=str)
    ]
    assert leaks == []
    assert plan.exports["write_token"] == wrapped
