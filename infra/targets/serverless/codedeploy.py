"""What CodeDeploy needs to shift the `live` alias gradually, declared by the stack.

With `trafficShifting` other than AllAtOnce the stack declares:

- a CodeDeploy application (compute platform Lambda) and a deployment group with the
  predefined configuration `CodeDeployDefault.Lambda<trafficShifting>`, BLUE_GREEN with
  traffic control (the only style CodeDeploy takes for Lambda), rolling back automatically
  when a deployment fails or is stopped by its alarm;
- the alarm: the HTTP API's `5xx` metric, `traffic.ALARM_5XX` or more in one minute. The
  API's, not Lambda's `Errors`: the app answers a failed request with a 500 response (Mangum
  catches the exception), which Lambda counts as a success;
- a service role CodeDeploy alone may assume, allowed to read and update this function's
  aliases and to read this one alarm: not the managed AWSCodeDeployRoleForLambda, which
  allows `lambda:UpdateAlias` on every function, `sns:Publish` on every topic and reads S3.

What a Pulumi program cannot do is what CloudFormation's `CodeDeployLambdaAliasUpdate`
update policy does for SAM: turn an alias update into a CodeDeploy deployment. So the alias
is created by the stack (pointing at the first version) and then left to CodeDeploy:
`ignore_changes` on its version and routing configuration, or `pulumi up` would move it at
once (and undo a shift in progress). Each `pulumi up` publishes and migrates the new
version; `aws deploy create-deployment` with an AppSpec naming the alias's current and the
new version starts the shift (docs/serverless.md, "Gradual traffic shifting").
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.targets.serverless import traffic

IGNORED_BY_PULUMI = ["functionVersion", "routingConfig"]  # CodeDeploy moves these
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


class TrafficShifting(pulumi.ComponentResource):
    """The CodeDeploy application, deployment group, alarm and service role of one function."""

    def __init__(
        self,
        name: str,
        *,
        shift: traffic.ShiftPlan,
        function: aws.lambda_.Function,
        api: aws.apigatewayv2.Api,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("shipways:serverless:TrafficShifting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        alarm = aws.cloudwatch.MetricAlarm(
            "api-5xx",
            name=function.name.apply(lambda n: f"{n}-api-5xx"),
            alarm_description=(
                f"{traffic.ALARM_5XX} or more 5xx answers from the HTTP API in a minute: "
                "stops a CodeDeploy traffic shift and sends the alias back"
            ),
            namespace="AWS/ApiGateway",
            metric_name="5xx",
            dimensions={"ApiId": api.id},
            statistic="Sum",
            period=traffic.ALARM_PERIOD_S,
            evaluation_periods=1,
            threshold=traffic.ALARM_5XX,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",  # no requests: no 5xx data point, no alarm
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            "codedeploy-role",
            name=function.name.apply(lambda n: f"{n}-codedeploy"),
            description="CodeDeploy shifting the live alias of one function",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codedeploy.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            "shift-the-alias",
            role=role.id,
            policy=pulumi.Output.all(function.arn, alarm.arn).apply(lambda v: service_policy(*v)),
            opts=child,
        )
        application = aws.codedeploy.Application(
            "codedeploy",
            name=function.name,
            compute_platform="Lambda",
            tags=tags,
            opts=child,
        )
        group = aws.codedeploy.DeploymentGroup(
            "live-alias",
            app_name=application.name,
            deployment_group_name="live",
            service_role_arn=role.arn,
            deployment_config_name=shift.deployment_config,
            deployment_style={
                "deployment_option": "WITH_TRAFFIC_CONTROL",
                "deployment_type": "BLUE_GREEN",
            },
            auto_rollback_configuration={"enabled": True, "events": ROLLBACK_EVENTS},
            alarm_configuration={"enabled": True, "alarms": [alarm.name]},
            tags=tags,
            # A deployment started right after `pulumi up` must find the role's policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.application = application.name
        self.deployment_group = group.deployment_group_name
        self.alarm = alarm.name
        self.register_outputs(
            {"application": self.application, "deployment_group": self.deployment_group}
        )


def service_policy(function_arn: str, alarm_arn: str) -> str:
    """CodeDeploy's inline policy: this function's aliases and this alarm, nothing else.

    Lambda authorizes alias actions on the function's ARN; the qualified form (`:live`,
    `:7`) is listed too so either spelling CodeDeploy sends is allowed.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ShiftTheAlias",
                    "Effect": "Allow",
                    "Action": [
                        "lambda:GetAlias",
                        "lambda:UpdateAlias",
                        "lambda:GetProvisionedConcurrencyConfig",
                    ],
                    "Resource": [function_arn, f"{function_arn}:*"],
                },
                {
                    "Sid": "ReadTheAlarm",
                    "Effect": "Allow",
                    "Action": "cloudwatch:DescribeAlarms",
                    "Resource": alarm_arn,
                },
            ],
        }
    )
