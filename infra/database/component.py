"""One PostgreSQL on Amazon RDS, declared the same way by every stack that creates one.

What is declared, and why:

- a security group admitting 5432 only from the security groups of its clients (the app's,
  or the proxy's when there is one), and no egress: the database calls nobody;
- a DB subnet group over the configured subnets (default: the default VPC's), so the
  instance lives in the app's network and never gets a public address;
- the instance: PostgreSQL 16 (minor versions upgraded in the maintenance window, and RDS
  refuses unencrypted connections: `rds.force_ssl` is on by default from 15), the configured
  class (default db.t4g.micro, the smallest current Graviton), gp3 storage encrypted at rest,
  automated backups for `databaseBackupDays`, `manage_master_user_password`: RDS creates the
  master password and keeps it in Secrets Manager (rotated there), so it is never in config,
  state or the app's environment. IAM database authentication is on for the proxy's clients;
- with `protectStateful` (default outside demo/dev): `protect`, `retain_on_delete`, deletion
  protection, a final snapshot and the automated backups kept after a delete. Without it,
  `pulumi destroy` removes the database and its backups: a demo leaves nothing billed behind;
- optionally RDS Proxy in front: clients sign an IAM token (no password anywhere near them),
  the proxy logs in with the managed secret and multiplexes many client connections onto
  few database connections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from infra.config import ManagedDatabaseConfig

ENGINE_VERSION = "16"
PORT = 5432
DATABASE_NAME = "shipways"
MASTER_USER = "shipways"
BACKUP_WINDOW = "02:00-02:30"  # UTC; before the maintenance window, never overlapping it
MAINTENANCE_WINDOW = "sun:04:00-sun:04:30"
Auth = Literal["secret", "iam"]


@dataclass(frozen=True)
class Network:
    """Where the database and its clients live: a VPC and at least two of its subnets."""

    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]


def network(config: ManagedDatabaseConfig, parent: pulumi.Resource | None = None) -> Network:
    """The configured subnets (and their VPC), or every subnet of the account's default VPC."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    if config.database_subnet_ids:
        first = aws.ec2.get_subnet_output(id=config.database_subnet_ids[0], opts=opts)
        return Network(first.vpc_id, pulumi.Output.from_input(list(config.database_subnet_ids)))
    vpc = aws.ec2.get_vpc_output(default=True, opts=opts)
    subnets = aws.ec2.get_subnets_output(
        filters=vpc.id.apply(
            lambda id_: [aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[id_])]
        ),
        opts=opts,
    )
    return Network(vpc.id, subnets.ids)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class ManagedPostgres(pulumi.ComponentResource):
    """The instance, its network fences, and optionally RDS Proxy in front of it."""

    def __init__(
        self,
        name: str,
        config: ManagedDatabaseConfig,
        net: Network,
        clients: Sequence[pulumi.Input[str]],
        *,
        proxy: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("shipways:database:ManagedPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = config.resource_tags()
        prefix = f"{config.app_name}-{config.environment}"
        keep = config.protects_stateful

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            name_prefix=f"{prefix}-db-",
            description="PostgreSQL: 5432 from the app (or its proxy) only",
            vpc_id=net.vpc_id,
            tags=tags,
            opts=child,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name_prefix=f"{prefix}-",
            description=f"Subnets of the {prefix} database",
            subnet_ids=net.subnet_ids,
            tags=tags,
            opts=child,
        )
        self.instance = aws.rds.Instance(
            f"{name}-postgres",
            identifier_prefix=f"{prefix}-",
            engine="postgres",
            engine_version=ENGINE_VERSION,
            auto_minor_version_upgrade=True,
            instance_class=config.database_instance_class,
            allocated_storage=config.database_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            db_name=DATABASE_NAME,
            username=MASTER_USER,
            manage_master_user_password=True,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            multi_az=False,
            backup_retention_period=config.database_backup_days,
            backup_window=BACKUP_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            copy_tags_to_snapshot=True,
            deletion_protection=keep,
            skip_final_snapshot=not keep,
            final_snapshot_identifier=f"{prefix}-final" if keep else None,
            delete_automated_backups=not keep,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, **config.stateful_options()),
        )
        self.secret_arn: pulumi.Output[str] = self.instance.master_user_secrets.apply(
            lambda secrets: str(secrets[0].secret_arn)
        )
        self.host: pulumi.Output[str] = self.instance.address
        self.auth: Auth = "secret"
        self.proxy_arn: pulumi.Output[str] | None = None
        self.proxy_group: aws.ec2.SecurityGroup | None = None
        admitted: Sequence[pulumi.Input[str]] = clients
        if proxy:
            self.proxy_group = self._proxy(name, prefix, net, clients, tags, child)
            admitted = [self.proxy_group.id]
        for index, source in enumerate(admitted):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-db-in-{index}",
                security_group_id=self.security_group.id,
                referenced_security_group_id=source,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description="PostgreSQL from the app",
                tags=tags,
                opts=child,
            )
        self.register_outputs({"host": self.host, "secret_arn": self.secret_arn})

    def _proxy(
        self,
        name: str,
        prefix: str,
        net: Network,
        clients: Sequence[pulumi.Input[str]],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.ec2.SecurityGroup:
        """RDS Proxy: IAM tokens from clients, the managed secret towards the database."""
        group = aws.ec2.SecurityGroup(
            f"{name}-proxy",
            name_prefix=f"{prefix}-db-proxy-",
            description="RDS Proxy: 5432 from the app, 5432 to the database",
            vpc_id=net.vpc_id,
            tags=tags,
            opts=child,
        )
        for index, source in enumerate(clients):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-proxy-in-{index}",
                security_group_id=group.id,
                referenced_security_group_id=source,
                ip_protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                description="PostgreSQL from the app",
                tags=tags,
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-proxy-out",
            security_group_id=group.id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            description="PostgreSQL to the database",
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-proxy-role",
            name=f"{prefix}-db-proxy",
            description="RDS Proxy reads the database's managed secret with it",
            assume_role_policy=_policy(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "rds.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ),
            tags=tags,
            opts=child,
        )
        read_secret = aws.iam.RolePolicy(
            f"{name}-proxy-read-secret",
            role=role.name,
            policy=self.secret_arn.apply(lambda arn: _policy(read_secret_statement(arn))),
            opts=child,
        )
        db_proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=f"{prefix}-db",
            engine_family="POSTGRESQL",
            auths=[
                {
                    "auth_scheme": "SECRETS",
                    "iam_auth": "REQUIRED",
                    "secret_arn": self.secret_arn,
                    "description": "the RDS-managed master credentials",
                }
            ],
            require_tls=True,
            idle_client_timeout=1800,
            role_arn=role.arn,
            vpc_subnet_ids=net.subnet_ids,
            vpc_security_group_ids=[group.id],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[read_secret]),
        )
        target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-proxy-targets",
            db_proxy_name=db_proxy.name,
            connection_pool_config={
                "max_connections_percent": 90,  # leaves room for an operator's session
                "connection_borrow_timeout": 30,
            },
            opts=child,
        )
        aws.rds.ProxyTarget(
            f"{name}-proxy-target",
            db_proxy_name=db_proxy.name,
            target_group_name=target_group.name,
            db_instance_identifier=self.instance.identifier,
            opts=child,
        )
        self.host = db_proxy.endpoint
        self.auth = "iam"
        self.proxy_arn = db_proxy.arn
        return group

    def location(self) -> dict[str, pulumi.Input[str]]:
        """Where the database is, as the app reads it: plain configuration, no credentials."""
        return {
            "DATABASE_HOST": self.host,
            "DATABASE_PORT": str(PORT),
            "DATABASE_NAME": DATABASE_NAME,
        }

    def app_environment(self) -> dict[str, pulumi.Input[str]]:
        """For an app that fetches its password itself (boto3, e.g. on Lambda): where the
        database is and where to get the password (or to sign a token), never the password."""
        env: dict[str, pulumi.Input[str]] = {
            **self.location(),
            "DATABASE_USER": MASTER_USER,
            "DATABASE_AUTH": self.auth,
        }
        if self.auth == "secret":
            env["DATABASE_SECRET_ARN"] = self.secret_arn
        return env

    def access_statement(self, account: pulumi.Input[str], region: pulumi.Input[str]) -> Any:
        """The IAM statement the app's role needs: read the secret, or connect with a token."""
        if self.proxy_arn is None:
            return self.secret_arn.apply(read_secret_statement)
        return pulumi.Output.all(self.proxy_arn, account, region).apply(
            lambda v: connect_statement(
                f"arn:aws:rds-db:{v[2]}:{v[1]}:dbuser:{v[0].rsplit(':', 1)[-1]}/{MASTER_USER}"
            )
        )


def read_secret_statement(secret_arn: str) -> dict[str, Any]:
    return {
        "Sid": "ReadTheDatabaseSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": secret_arn,
    }


def connect_statement(db_user_arn: str) -> dict[str, Any]:
    return {
        "Sid": "ConnectToTheDatabaseWithIam",
        "Effect": "Allow",
        "Action": ["rds-db:connect"],
        "Resource": db_user_arn,
    }
