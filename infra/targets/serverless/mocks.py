"""What AWS would compute for the `serverless` stack, for the offline harness.

ARNs and URLs have AWS's real shapes (account 123456789012, the documentation account), so
tests can check that policies and permissions point at exactly this stack's resources.
"""

from __future__ import annotations

from typing import Any

from infra.database import mocks as database

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "a1b2c3d4e5"
VERSION = "7"


def _function(inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{inputs['name']}"
    return {
        "arn": arn,
        "qualifiedArn": f"{arn}:{VERSION}",
        "invokeArn": _invoke_arn(arn),
        "version": VERSION,
    }


def _alias(inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{inputs['functionName']}:{inputs['name']}"
    return {"arn": arn, "invokeArn": _invoke_arn(arn)}


def _invoke_arn(function_arn: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


OUTPUTS = {
    **database.OUTPUTS,
    "aws:cloudwatch/logGroup:LogGroup": lambda inputs: {
        "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{inputs['name']}"
    },
    "aws:iam/role:Role": lambda inputs: {"arn": f"arn:aws:iam::{ACCOUNT}:role/{inputs['name']}"},
    "aws:lambda/function:Function": _function,
    "aws:secretsmanager/secret:Secret": lambda inputs: {
        "arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{inputs['namePrefix']}AbCdEf"
    },
    "aws:lambda/alias:Alias": _alias,
    "aws:apigatewayv2/api:Api": lambda _inputs: {
        "apiEndpoint": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com",
        "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}",
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda inputs: {
        "arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{inputs['name']}"
    },
    "aws:codedeploy/application:Application": lambda inputs: {
        "arn": f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:application:{inputs['name']}"
    },
    "aws:apigatewayv2/stage:Stage": lambda _inputs: {
        "invokeUrl": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/"
    },
}

CALLS: dict[str, Any] = {
    **database.CALLS,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args: {
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
        "id": ACCOUNT,
        "userId": "AIDAMOCKUSER",
    },
    "aws:index/getRegion:getRegion": lambda _args: {
        "region": REGION,
        "name": REGION,
        "id": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
        "description": "US East (N. Virginia)",
    },
}
