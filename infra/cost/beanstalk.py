"""An Elastic Beanstalk environment bills what it creates: its EC2 instances, their volumes and
addresses, and (LoadBalanced) a load balancer. The count comes from the sizing, so a
SingleInstance environment that traffic outgrows is priced as the LoadBalanced one a user
would switch to."""

from __future__ import annotations

from typing import Any

from infra.cost.compute import instance_hours, load_balancer, unlimited_credit_note, volume
from infra.cost.context import Context
from infra.cost.lines import ResourceCost
from infra.harness import Declared

ENVIRONMENT = "aws:elasticbeanstalk:environment"
LAUNCH = "aws:autoscaling:launchconfiguration"


def settings_of(inputs: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (str(s.get("namespace")), str(s.get("name"))): str(s.get("value"))
        for s in inputs.get("settings") or []
        if isinstance(s, dict)
    }


def environment_line(resource: Declared, ctx: Context) -> ResourceCost:
    settings = settings_of(resource.inputs)
    declared = settings.get((ENVIRONMENT, "EnvironmentType"), "LoadBalanced")
    instance_type = settings.get((LAUNCH, "InstanceType")) or (
        settings.get(("aws:ec2:instances", "InstanceTypes"), "").split(",")[0].strip()
    )
    balanced = ctx.sizing.load_balanced or declared == "LoadBalanced"
    minimum = int(settings.get(("aws:autoscaling:asg", "MinSize"), "1")) if balanced else 1
    count = max(ctx.sizing.servers, minimum)
    kind = "LoadBalanced" if balanced else "SingleInstance"
    line = ResourceCost(
        type=resource.type,
        name=resource.name,
        detail=f"{kind}, {count} x {instance_type or '?'}",
        no_charge_reason="Elastic Beanstalk itself is free; these are the resources it creates",
        notes=list(ctx.sizing.notes),
    )
    if instance_type:
        instance_hours(ctx, instance_type, count, line)
        unlimited_credit_note(ctx, instance_type, count, None, line)
    else:
        line.unpriced.append("EC2 instances (instance type not declared)")
    size, kind_of_disk = (
        settings.get((LAUNCH, "RootVolumeSize")),
        settings.get((LAUNCH, "RootVolumeType")),
    )
    volume(ctx, size, kind_of_disk, count, line)
    if not balanced:
        ctx.add(line, "Elastic IP (public IPv4)", "aws.vpc.public_ipv4", ctx.hours)
        return line
    # A stack that declares LoadBalanced names its balancer; one promoted by the sizing gets
    # the Application Load Balancer a user would pick for HTTP.
    default = "application" if declared == "SingleInstance" else "classic"
    lb_type = settings.get((ENVIRONMENT, "LoadBalancerType"), default)
    if lb_type in ("application", "network"):
        load_balancer(ctx, line, "alb" if lb_type == "application" else "nlb")
    else:
        line.unpriced.append(f"{lb_type} load balancer (no sourced price)")
    ctx.add(
        line,
        f"{count} instance public IPv4 (default VPC subnets)",
        "aws.vpc.public_ipv4",
        count * ctx.hours,
    )
    return line
