"""The serverless function's way to the managed database: in its VPC, without a NAT gateway.

The function runs in two of the database's subnets with a security group whose only ways out
are 5432 to the database (or its proxy) and 443 to a Secrets Manager interface endpoint.
Its role may place it in the VPC and read the database's secret (or, with RDS Proxy, connect
with an IAM token), nothing more. See docs/serverless.md for the choice and its price.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.config import ServerlessConfig
from infra.database.component import ManagedPostgres, Network, network
from infra.targets.serverless import spec

# What Lambda does with the execution role to place the function in a VPC (the actions of
# AWSLambdaVPCAccessExecutionRole, named; EC2 does not scope them to resources).
VPC_ACCESS_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
HTTPS = 443


class DatabaseAccess:
    """The managed database, and the function's way to it: its subnets, its security group,
    the Secrets Manager endpoint (the database's secret, the write token) and its role's
    permissions."""

    def __init__(
        self,
        config: ServerlessConfig,
        role: aws.iam.Role,
        tags: dict[str, str],
        parent: pulumi.Resource,
    ) -> None:
        child = pulumi.ResourceOptions(parent=parent)
        prefix = spec.function_name(config)
        net = network(config, parent)
        # Two subnets (two availability zones) keep the function up if a zone fails.
        self.subnets = net.subnet_ids.apply(lambda ids: sorted(ids)[:2])
        self.function_group = aws.ec2.SecurityGroup(
            "function",
            name_prefix=f"{prefix}-fn-",
            description="The function: out to the database (and the secrets endpoint) only",
            vpc_id=net.vpc_id,
            tags=tags,
            opts=child,
        )
        self.database = ManagedPostgres(
            config.app_name,
            config,
            net,
            [self.function_group.id],
            proxy=config.rds_proxy,
            opts=child,
        )
        database_group = self.database.proxy_group or self.database.security_group
        _egress(
            "function-to-database",
            self.function_group,
            database_group.id,
            5432,
            tags,
            child,
        )
        # Even with the proxy (IAM tokens, no secret): the write token is read at init.
        self._secrets_endpoint(prefix, net, tags, child)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=parent))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=parent))
        access = self.database.access_statement(account.account_id, region.region)
        self.policy = aws.iam.RolePolicy(
            "reach-database",
            role=role.id,
            policy=pulumi.Output.from_input(access).apply(
                lambda statement: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "PlaceTheFunctionInTheVpc",
                                "Effect": "Allow",
                                "Action": VPC_ACCESS_ACTIONS,
                                "Resource": "*",
                            },
                            statement,
                        ],
                    }
                )
            ),
            opts=child,
        )

    def _secrets_endpoint(
        self, prefix: str, net: Network, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> None:
        """Secrets Manager inside the VPC: the function reads the secret without a NAT."""
        group = aws.ec2.SecurityGroup(
            "secrets-endpoint",
            name_prefix=f"{prefix}-secrets-",
            description="Secrets Manager endpoint: 443 from the function only",
            vpc_id=net.vpc_id,
            tags=tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            "secrets-endpoint-in",
            security_group_id=group.id,
            referenced_security_group_id=self.function_group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="HTTPS from the function",
            tags=tags,
            opts=child,
        )
        _egress("function-to-secrets", self.function_group, group.id, HTTPS, tags, child)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=child.parent))
        aws.ec2.VpcEndpoint(
            "secrets-endpoint",
            vpc_id=net.vpc_id,
            service_name=region.region.apply(lambda r: f"com.amazonaws.{r}.secretsmanager"),
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            # One zone: billed per zone, and the single-AZ database is the weaker link anyway.
            subnet_ids=self.subnets.apply(lambda ids: ids[:1]),
            security_group_ids=[group.id],
            tags=tags,
            opts=child,
        )


def _egress(
    name: str,
    group: aws.ec2.SecurityGroup,
    to: pulumi.Input[str],
    port: int,
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
) -> None:
    aws.vpc.SecurityGroupEgressRule(
        name,
        security_group_id=group.id,
        referenced_security_group_id=to,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        tags=tags,
        opts=child,
    )
