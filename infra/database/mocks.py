"""What AWS would answer for the managed database, for the offline harness.

Each target that creates the database merges `OUTPUTS` and `CALLS` into its own mocks. The
shapes are AWS's (account 123456789012, the documentation account), so tests can check that
policies point at exactly this database's secret and proxy.
"""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_VPC = "vpc-0a1b2c3d4e5f60718"
DEFAULT_SUBNETS = (
    "subnet-0aaaaaaaaaaaaaaa1",
    "subnet-0bbbbbbbbbbbbbbb2",
    "subnet-0ccccccccccccccc3",
)
RESOURCE_ID = "db-ABCDEFGHIJKLMNOPQRSTUVWXY0"
PROXY_ID = "prx-0123456789abcdef0"


def _instance(inputs: dict[str, Any]) -> dict[str, Any]:
    identifier = f"{inputs.get('identifierPrefix', 'db-')}20261124000000"
    host = f"{identifier}.c0mockabcdef.{REGION}.rds.amazonaws.com"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!{RESOURCE_ID.lower()}-AbCdEf"
    return {
        "identifier": identifier,
        "address": host,
        "endpoint": f"{host}:5432",
        "port": 5432,
        "resourceId": RESOURCE_ID,
        "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{identifier}",
        "masterUserSecrets": [{"secretArn": secret, "secretStatus": "active", "kmsKeyId": ""}],
    }


def _proxy(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:{PROXY_ID}",
        "endpoint": f"{inputs['name']}.proxy-c0mockabcdef.{REGION}.rds.amazonaws.com",
    }


def _group(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-mock"}


OUTPUTS = {
    "aws:rds/instance:Instance": _instance,
    "aws:rds/proxy:Proxy": _proxy,
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": lambda inputs: {"name": "default"},
    "aws:ec2/securityGroup:SecurityGroup": _group,
}

CALLS = {
    "aws:ec2/getVpc:getVpc": lambda _args: {
        "id": DEFAULT_VPC,
        "default": True,
        "cidrBlock": "172.31.0.0/16",
    },
    "aws:ec2/getSubnets:getSubnets": lambda _args: {"id": REGION, "ids": list(DEFAULT_SUBNETS)},
    "aws:ec2/getSubnet:getSubnet": lambda args: {"id": args["id"], "vpcId": "vpc-0given0000000001"},
}
