"""The `paas` stack: the source bundle on AWS Elastic Beanstalk.

What gets declared, and why each piece is shaped the way it is:

- A private S3 bucket for bundles: every public-access block on, ACLs disabled (bucket owner
  enforced), SSE-S3 encryption by default, versioning, and a policy refusing plain HTTP. The
  bundle object's key carries its content hash, so a new bundle is a new object and a new
  Beanstalk application version, and the previous one stays available to roll back to.
- The Beanstalk application, which keeps the newest `versionsToKeep` application versions
  (older ones pruned by Beanstalk, their bundles kept in S3) so a rollback has somewhere to
  go, and the application version made from that object.
- The environment waits for everything it needs at launch but does not reference: the
  service role's policies, the instance role's policy and the secret's value. Without those
  edges the first instances can boot before they may read their bundle or secret.
- The bundle bucket is stateful: with `protectStateful` (default outside demo/dev) it is
  protected and retained by `pulumi destroy`; without, `force_destroy` empties it (every
  object version) so the destroy succeeds.
- An environment on the newest platform matching `platformPattern` (looked up at deploy time,
  so managed platform updates and new stacks need no code change): single instance or load
  balanced, enhanced health on `healthCheckPath`, immutable deployments (a failed version
  never replaces a healthy one), weekly managed platform updates, IMDSv2 only, SSH closed,
  logs streamed to CloudWatch.
- Two IAM roles. The instance role's inline policy names every action and scopes every
  resource (this bundle prefix, this environment's log groups and health, the database
  secret). The service role uses the two AWS-managed policies Beanstalk documents for it:
  it drives CloudFormation, Auto Scaling, EC2 and ELB on your behalf, and AWS updates those
  policies as the platform changes; a hand-copied list would rot. Its trust is pinned to
  Beanstalk, with the external id Beanstalk sends and this account as the source.
- The database, by default, is the shared managed PostgreSQL (`infra/database`): the
  instances run in its VPC with an app security group, the only one the database admits.
  They get where it is (DATABASE_HOST, DATABASE_PORT, DATABASE_NAME: plain properties) and
  its RDS-managed secret as an environment secret (`environmentsecrets`,
  DATABASE_CREDENTIALS = the secret's ARN): Beanstalk reads the secret with the instance role
  when an instance starts and hands the app its JSON (user and password), so the app needs no
  AWS SDK and the configuration shows only the ARN. Only the instance role may read it.
- With `database: external`, the `databaseUrl` secret goes to Secrets Manager; the
  environment references the secret's ARN (`environmentsecrets`), so the URL never appears
  in Beanstalk's configuration or console, and only the instance role may read it.
- The write token (`writeToken`, else generated once) goes to Secrets Manager the same way
  (`WRITE_TOKEN`, an environment secret); the instance role may read that secret too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from shipways_app import auth

from infra.config import NAMESPACE, ConfigError, PaasConfig, StackConfig, narrow
from infra.database.component import ManagedPostgres, Network, network, read_secret_statement
from infra.paths import state_dir
from infra.stack import Exports, StackSecrets
from infra.targets.paas import bundle as bundles
from infra.targets.paas import edge, spec
from infra.write_token import CONFIG_KEY, deployment_token

SERVICE_ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSElasticBeanstalkEnhancedHealth",
    "arn:aws:iam::aws:policy/AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy",
)
APP_PORT = "8000"  # where Beanstalk's nginx forwards; the Procfile binds $PORT
SQLITE_PATH = "/var/app/data/shipways.db"  # outside /var/app/current, which deploys replace
LOG_RETENTION_DAYS = "14"
ROOT_VOLUME_GB = "10"  # the app, its virtualenv, logs and the SQLite fallback fit easily
UPDATE_WINDOW = "Sun:03:00"  # UTC; managed platform updates (minor and patch)
SECRETS_NS = "aws:elasticbeanstalk:application:environmentsecrets"
CREDENTIALS_VAR = "DATABASE_CREDENTIALS"  # the RDS-managed secret's JSON (user and password)


@dataclass(frozen=True)
class Database:
    """The managed database and where the instances must run to reach it."""

    postgres: ManagedPostgres
    network: Network
    security_group_id: pulumi.Output[str]


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _setting(
    namespace: str, name: str, value: pulumi.Input[str]
) -> aws.elasticbeanstalk.EnvironmentSettingArgs:
    return aws.elasticbeanstalk.EnvironmentSettingArgs(namespace=namespace, name=name, value=value)


class BeanstalkApp(pulumi.ComponentResource):
    """The bundle, its bucket, the Beanstalk application, version and environment."""

    def __init__(
        self,
        name: str,
        config: PaasConfig,
        secrets: StackSecrets,
        built: bundles.Bundle,
        database: Database | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("shipways:paas:BeanstalkApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = config.resource_tags()
        prefix = f"{config.app_name}-{config.environment}"
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))

        bucket, bundle_object = self._bundle_store(name, prefix, config, built, tags, child)
        service_role, attachments = self._service_role(
            name, prefix, account.account_id, tags, child
        )
        database_secret, secret_value = self._database_secret(name, prefix, secrets, tags, child)
        readable: pulumi.Output[str] | None = None
        if database_secret is not None:
            readable = database_secret.arn
        elif database is not None:
            readable = database.postgres.secret_arn
        self.write_token = deployment_token(secrets.get(CONFIG_KEY), child)
        token_secret, token_value = self._token_secret(name, prefix, tags, child)
        profile, instance_policy = self._instance_profile(
            name,
            prefix,
            config,
            bucket,
            account.account_id,
            region.region,
            readable,
            token_secret,
            tags,
            child,
        )

        application = aws.elasticbeanstalk.Application(
            f"{name}-app",
            name=prefix,
            description=f"{config.app_name} ({config.environment}): the shipways sample API",
            appversion_lifecycle={
                "service_role": service_role.arn,
                "max_count": config.versions_to_keep,
                "delete_source_from_s3": False,
            },
            tags=tags,
            opts=child,
        )
        version = aws.elasticbeanstalk.ApplicationVersion(
            f"{name}-version",
            name=f"{prefix}-{built.label}",
            application=application.name,
            bucket=bucket.bucket,
            key=bundle_object.key,
            description=f"bundle sha256 {built.sha256} ({built.size_bytes} bytes)",
            tags=tags,
            opts=child,
        )
        platform = _platform(config.platform_pattern, self)
        environment = aws.elasticbeanstalk.Environment(
            f"{name}-env",
            name=prefix,
            application=application.name,
            tier="WebServer",
            solution_stack_name=platform,
            version=version.name,
            settings=_environment_settings(
                config, service_role.arn, profile.name, database_secret, database, token_secret
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*attachments, instance_policy, *secret_value, token_value],
            ),
        )

        if edge.serves_https(config):
            edge.redirect_http_to_https(name, environment, self)
        scheme = "https://" if edge.serves_https(config) else "http://"
        self.url: pulumi.Output[str] = pulumi.Output.concat(scheme, environment.cname)
        self.environment_name = environment.name
        self.version_label = version.name
        self.bucket_name = bucket.bucket
        self.platform = platform
        self.register_outputs(
            {"url": self.url, "environment": environment.name, "version": version.name}
        )

    def _bundle_store(
        self,
        name: str,
        prefix: str,
        config: PaasConfig,
        built: bundles.Bundle,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketObject]:
        bucket = aws.s3.Bucket(
            f"{name}-bundles",
            bucket_prefix=f"{prefix}-bundles-",
            # Unprotected, `pulumi destroy` empties it; protected, it stays with its bundles.
            force_destroy=not config.protects_stateful,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, **config.stateful_options()),
        )
        private = aws.s3.BucketPublicAccessBlock(
            f"{name}-bundles-private",
            bucket=bucket.bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-bundles-ownership",
            bucket=bucket.bucket,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bundles-encryption",
            bucket=bucket.bucket,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-bundles-versioning",
            bucket=bucket.bucket,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-bundles-tls-only",
            bucket=bucket.bucket,
            policy=bucket.arn.apply(
                lambda arn: _policy(
                    {
                        "Sid": "DenyPlainHttp",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[private]),
        )
        bundle_object = aws.s3.BucketObject(
            f"{name}-bundle",
            bucket=bucket.bucket,
            key=f"bundles/{built.path.name}",
            source=pulumi.FileAsset(str(built.path)),
            content_type="application/zip",
            server_side_encryption="AES256",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[private, encryption]),
        )
        return bucket, bundle_object

    def _service_role(
        self,
        name: str,
        prefix: str,
        account_id: pulumi.Output[str],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        role = aws.iam.Role(
            f"{name}-service-role",
            name=f"{prefix}-eb-service",
            description="Elastic Beanstalk manages this environment's resources with it",
            assume_role_policy=account_id.apply(
                lambda account: _policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "elasticbeanstalk.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {
                                "sts:ExternalId": "elasticbeanstalk",
                                "aws:SourceAccount": account,
                            }
                        },
                    }
                )
            ),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-service-{arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=arn,
                opts=child,
            )
            for arn in SERVICE_ROLE_POLICIES
        ]
        return role, attachments

    def _database_secret(
        self,
        name: str,
        prefix: str,
        secrets: StackSecrets,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.secretsmanager.Secret | None, list[aws.secretsmanager.SecretVersion]]:
        """The secret and its value (none without `databaseUrl`)."""
        url = secrets.get("databaseUrl")
        if url is None:
            return None, []
        secret = aws.secretsmanager.Secret(
            f"{name}-database-url",
            name_prefix=f"{prefix}/database-url-",
            description="DATABASE_URL of the shipways paas environment",
            recovery_window_in_days=7,
            tags=tags,
            opts=child,
        )
        value = aws.secretsmanager.SecretVersion(
            f"{name}-database-url-value",
            secret_id=secret.id,
            secret_string=url,  # a Pulumi secret from config to state
            opts=child,
        )
        return secret, [value]

    def _token_secret(
        self, name: str, prefix: str, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> tuple[aws.secretsmanager.Secret, aws.secretsmanager.SecretVersion]:
        """The write token's secret and its value; the environment references its ARN."""
        secret = aws.secretsmanager.Secret(
            f"{name}-write-token",
            name_prefix=f"{prefix}/write-token-",
            description="Bearer token for writes to the shipways paas environment",
            recovery_window_in_days=7,
            tags=tags,
            opts=child,
        )
        value = aws.secretsmanager.SecretVersion(
            f"{name}-write-token-value",
            secret_id=secret.id,
            secret_string=self.write_token,  # a Pulumi secret to state
            opts=child,
        )
        return secret, value

    def _instance_profile(
        self,
        name: str,
        prefix: str,
        config: PaasConfig,
        bucket: aws.s3.Bucket,
        account_id: pulumi.Output[str],
        region: pulumi.Output[str],
        secret_arn: pulumi.Output[str] | None,
        token_secret: aws.secretsmanager.Secret,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.iam.InstanceProfile, aws.iam.RolePolicy]:
        role = aws.iam.Role(
            f"{name}-instance-role",
            name=f"{prefix}-eb-instance",
            description="The Beanstalk instances' identity: logs, health, bundle and secret",
            assume_role_policy=_policy(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ),
            tags=tags,
            opts=child,
        )
        policy = pulumi.Output.all(
            bucket=bucket.arn,
            account=account_id,
            region=region,
            secret=secret_arn,
            token=token_secret.arn,
        ).apply(lambda v: _instance_policy(prefix, **v))
        role_policy = aws.iam.RolePolicy(
            f"{name}-instance-policy", role=role.name, policy=policy, opts=child
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-instance-profile", name=f"{prefix}-eb-instance", role=role.name, opts=child
        )
        return profile, role_policy


def _platform(pattern: str, parent: pulumi.Resource) -> str:
    """The newest Beanstalk platform matching `pattern`. Looked up when the program runs, so
    a pattern that matches nothing fails `pulumi preview` before anything is created."""
    found = aws.elasticbeanstalk.get_solution_stack(
        name_regex=pattern, most_recent=True, opts=pulumi.InvokeOptions(parent=parent)
    )
    return str(found.name)


def _instance_policy(
    environment: str, bucket: str, account: str, region: str, secret: str | None, token: str
) -> str:
    """Every action named, every resource scoped: what an instance of this environment needs.

    `environment` names both the Beanstalk application and its environment (`<app>-<env>`).
    """
    beanstalk_bucket = f"arn:aws:s3:::elasticbeanstalk-{region}-{account}"

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadThisAppsBundles",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket}/bundles/*",
        },
        {
            "Sid": "BeanstalkStorageObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{beanstalk_bucket}/resources/environments/*",
        },
        {
            "Sid": "BeanstalkStorageListing",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": beanstalk_bucket,
        },
        {
            "Sid": "StreamThisEnvironmentsLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
                "logs:DescribeLogGroups",
            ],
            "Resource": arn("logs", f"log-group:/aws/elasticbeanstalk/{environment}/*"),
        },
        {
            "Sid": "ReadTheWriteToken",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": token,
        },
        {
            "Sid": "ReportThisEnvironmentsHealth",
            "Effect": "Allow",
            "Action": ["elasticbeanstalk:PutInstanceStatistics"],
            "Resource": [
                arn("elasticbeanstalk", f"application/{environment}"),
                arn("elasticbeanstalk", f"environment/{environment}/{environment}"),
            ],
        },
    ]
    if secret is not None:
        statements.append(read_secret_statement(secret))
    return _policy(*statements)


def _environment_settings(
    config: PaasConfig,
    service_role_arn: pulumi.Output[str],
    instance_profile: pulumi.Output[str],
    database_secret: aws.secretsmanager.Secret | None,
    database: Database | None,
    token_secret: aws.secretsmanager.Secret,
) -> list[aws.elasticbeanstalk.EnvironmentSettingArgs]:
    env_ns = "aws:elasticbeanstalk:application:environment"
    load_balanced = config.environment_type == "LoadBalanced"
    settings = [
        _setting("aws:elasticbeanstalk:environment", "EnvironmentType", config.environment_type),
        _setting("aws:elasticbeanstalk:environment", "ServiceRole", service_role_arn),
        _setting("aws:autoscaling:launchconfiguration", "IamInstanceProfile", instance_profile),
        _setting("aws:autoscaling:launchconfiguration", "DisableIMDSv1", "true"),
        _setting("aws:autoscaling:launchconfiguration", "RootVolumeType", "gp3"),
        _setting("aws:autoscaling:launchconfiguration", "RootVolumeSize", ROOT_VOLUME_GB),
        # No key pair is configured; this also closes port 22 in Beanstalk's security group.
        _setting(
            "aws:autoscaling:launchconfiguration",
            "SSHSourceRestriction",
            "tcp, 22, 22, 127.0.0.1/32",
        ),
        _setting("aws:ec2:instances", "InstanceTypes", config.instance_type),
        _setting("aws:autoscaling:asg", "MinSize", str(spec.instance_count(config))),
        _setting(
            "aws:autoscaling:asg", "MaxSize", str(config.max_instances if load_balanced else 1)
        ),
        _setting("aws:elasticbeanstalk:healthreporting:system", "SystemType", "enhanced"),
        _setting(
            "aws:elasticbeanstalk:application",
            "Application Healthcheck URL",
            config.health_check_path,
        ),
        *(_setting(*option) for option in spec.deployment_settings(config)),
        _setting("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled", "true"),
        _setting("aws:elasticbeanstalk:managedactions", "PreferredStartTime", UPDATE_WINDOW),
        _setting("aws:elasticbeanstalk:managedactions:platformupdate", "UpdateLevel", "minor"),
        _setting(
            "aws:elasticbeanstalk:managedactions:platformupdate", "InstanceRefreshEnabled", "true"
        ),
        _setting("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs", "true"),
        _setting("aws:elasticbeanstalk:cloudwatch:logs", "RetentionInDays", LOG_RETENTION_DAYS),
        _setting("aws:elasticbeanstalk:cloudwatch:logs", "DeleteOnTerminate", "false"),
        _setting("aws:elasticbeanstalk:environment:proxy", "ProxyServer", "nginx"),
    ]
    if load_balanced:
        settings += [
            _setting("aws:elasticbeanstalk:environment", "LoadBalancerType", "application"),
            _setting(
                "aws:elasticbeanstalk:environment:process:default",
                "HealthCheckPath",
                config.health_check_path,
            ),
            _setting("aws:elasticbeanstalk:environment:process:default", "MatcherHTTPCode", "200"),
            *(_setting(*option) for option in edge.listener_settings(config)),
        ]
    sqlite_path = SQLITE_PATH if database_secret is None and database is None else None
    app_env: dict[str, pulumi.Input[str]] = {
        **spec.app_environment(config, sqlite_path=sqlite_path),
        "PORT": APP_PORT,
    }
    secret_env: dict[str, pulumi.Input[str]] = {auth.BEANSTALK_VARIABLE: token_secret.arn}
    if database is not None:
        settings += _vpc_settings(database, load_balanced)
        app_env.update(database.postgres.location())
        secret_env[CREDENTIALS_VAR] = database.postgres.secret_arn
    if database_secret is not None:
        secret_env["DATABASE_URL"] = database_secret.arn
    settings += [_setting(env_ns, key, app_env[key]) for key in sorted(app_env)]
    # Environment secrets: the option's value is the secret's ARN; Beanstalk puts the secret's
    # value (its whole SecretString) in the variable when an instance starts.
    settings += [_setting(SECRETS_NS, key, secret_env[key]) for key in sorted(secret_env)]
    return settings


def _vpc_settings(
    database: Database, load_balanced: bool
) -> list[aws.elasticbeanstalk.EnvironmentSettingArgs]:
    """Instances (and the load balancer) in the database's VPC, in the app's security group.

    The instances keep public addresses (the default VPC has no NAT gateway): they reach
    S3, Secrets Manager and CloudWatch directly, and Beanstalk's own security group still
    admits nothing but its load balancer (or the Elastic IP's HTTP port)."""
    subnets = database.network.subnet_ids.apply(",".join)
    settings = [
        _setting("aws:ec2:vpc", "VPCId", database.network.vpc_id),
        _setting("aws:ec2:vpc", "Subnets", subnets),
        _setting("aws:ec2:vpc", "AssociatePublicIpAddress", "true"),
        _setting(
            "aws:autoscaling:launchconfiguration", "SecurityGroups", database.security_group_id
        ),
    ]
    if load_balanced:
        settings.append(_setting("aws:ec2:vpc", "ELBSubnets", subnets))
    return settings


def managed_database(config: PaasConfig, secrets: StackSecrets) -> Database | None:
    """The managed database (`database: managed`), or None for the `databaseUrl` secret."""
    has_url = "databaseUrl" in secrets
    if config.database == "external":
        if not has_url:
            raise ConfigError(
                f"{NAMESPACE}:databaseUrl: required with database: external; set it with "
                "`pulumi config set --secret databaseUrl postgresql://...`, or set "
                "database: managed to create the database"
            )
        return None
    if has_url:
        raise ConfigError(
            f"{NAMESPACE}:databaseUrl: set, but {NAMESPACE}:database is 'managed' (the stack "
            "creates the database); set database: external to use the URL, or remove it"
        )
    prefix = f"{config.app_name}-{config.environment}"
    net = network(config)
    app_group = aws.ec2.SecurityGroup(
        "app",
        name_prefix=f"{prefix}-app-",
        description="The Beanstalk instances: the one group the database admits",
        vpc_id=net.vpc_id,
        tags=config.resource_tags(),
    )
    postgres = ManagedPostgres(config.app_name, config, net, [app_group.id])
    return Database(postgres, net, app_group.id)


def deploy(stack_config: StackConfig, secrets: StackSecrets) -> Exports:
    """The stack's program: build the bundle (reproducible, so the same source gives the same
    version label), then declare everything around it."""
    config = narrow(stack_config, PaasConfig)
    database = managed_database(config, secrets)
    built = bundles.build(state_dir("paas", "bundles"), config.app.directory, config.app_name)
    app = BeanstalkApp(config.app_name, config, secrets, built, database)
    edge.warn_if_plain_http(config)
    return {
        "url": app.url,
        "https": edge.https_summary(config),
        "environment": app.environment_name,
        "applicationVersion": app.version_label,
        "platform": app.platform,
        "bucket": app.bucket_name,
        "bundleSha256": built.sha256,
        "bundleBytes": built.size_bytes,
        "database": (
            database.postgres.host
            if database is not None
            else "postgresql (the databaseUrl secret)"
        ),
        "write_token": app.write_token,  # a secret: `pulumi stack output --show-secrets`
    }
