"""What AWS would answer for the `paas` stack, for the offline harness.

The platform lookup filters a realistic list of Beanstalk solution stacks with the program's
regular expression and answers the newest match, as the provider does; it fails the same way
when nothing matches. Every lookup is kept in `STACK_LOOKUPS` so tests can see the pattern
the program asked for.
"""

from __future__ import annotations

import re
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LOAD_BALANCER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:loadbalancer/app"

SOLUTION_STACKS = (
    "64bit Amazon Linux 2023 v4.9.1 running Python 3.13",
    "64bit Amazon Linux 2023 v4.9.1 running Python 3.12",
    "64bit Amazon Linux 2023 v4.9.1 running Python 3.11",
    "64bit Amazon Linux 2023 v4.8.0 running Python 3.11",
    "64bit Amazon Linux 2023 v4.3.2 running Python 3.11",
    "64bit Amazon Linux 2 v3.9.4 running Python 3.8",
    "64bit Amazon Linux 2023 v6.7.0 running Node.js 22",
    "64bit Amazon Linux 2023 v4.7.0 running Docker",
)

STACK_LOOKUPS: list[dict[str, Any]] = []


def _version(name: str) -> tuple[int, ...]:
    found = re.search(r" v(\d+)\.(\d+)\.(\d+) ", name)
    return tuple(int(part) for part in found.groups()) if found else (0,)


def _solution_stack(args: dict[str, Any]) -> dict[str, Any]:
    STACK_LOOKUPS.append(args)
    pattern = re.compile(args["nameRegex"])
    matches = [name for name in SOLUTION_STACKS if pattern.search(name)]
    if not matches:
        raise ValueError(
            "Your query returned no results. Please change your search criteria and try again."
        )
    if len(matches) > 1 and not args.get("mostRecent"):
        raise ValueError("Your query returned more than one result; set most_recent")
    newest = max(matches, key=_version)
    return {"id": newest, "name": newest, "nameRegex": args["nameRegex"]}


def _bucket(inputs: dict[str, Any]) -> dict[str, Any]:
    name = inputs.get("bucket") or f"{inputs.get('bucketPrefix', 'bucket-')}20261124000000"
    return {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": REGION}


def _role(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs['name']}"}


def _secret(inputs: dict[str, Any]) -> dict[str, Any]:
    name = f"{inputs.get('namePrefix', 'secret-')}AbCdEf"
    return {"arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}", "name": name}


def _environment(inputs: dict[str, Any]) -> dict[str, Any]:
    cname = f"{inputs['name']}.eba-mock1234.{REGION}.elasticbeanstalk.com"
    settings = {(s["namespace"], s["name"]): s["value"] for s in inputs.get("settings", [])}
    kind = settings.get(("aws:elasticbeanstalk:environment", "EnvironmentType"))
    balancers = [f"{LOAD_BALANCER_ARN}/{inputs['name']}"] if kind == "LoadBalanced" else []
    return {"cname": cname, "endpointUrl": cname, "loadBalancers": balancers}


def _listener(args: dict[str, Any]) -> dict[str, Any]:
    """The listener Beanstalk created on its balancer; unknown balancers fail like AWS."""
    balancer = args.get("loadBalancerArn", "")
    if not balancer.startswith(LOAD_BALANCER_ARN):
        raise ValueError(f"LoadBalancerNotFound: {balancer!r}")
    port = int(args["port"])
    arn = f"{balancer.replace(':loadbalancer/', ':listener/')}/listener{port}"
    return {"arn": arn, "loadBalancerArn": balancer, "port": port, "protocol": "HTTP"}


CALLS = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
        "id": ACCOUNT_ID,
        "userId": "AIDAMOCKUSER",
    },
    "aws:index/getRegion:getRegion": lambda _args: {
        "region": REGION,
        "name": REGION,
        "id": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
        "description": "US East (N. Virginia)",
    },
    "aws:elasticbeanstalk/getSolutionStack:getSolutionStack": _solution_stack,
    "aws:lb/getListener:getListener": _listener,
}

OUTPUTS = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:iam/role:Role": _role,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:elasticbeanstalk/environment:Environment": _environment,
}
