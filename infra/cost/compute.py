"""Pieces several lines share: EC2 instance hours, gp3 volumes, T3 credit exposure, and the
load balancers (ALB/NLB) that the k8s ingress, a LoadBalanced Beanstalk environment and a
multi-server VPS put in front of their instances."""

from __future__ import annotations

from typing import Any, Literal

from infra.cost.context import Context
from infra.cost.lines import ResourceCost
from infra.cost.usage import UsageProfile

BURSTABLE_UNLIMITED = ("t3.", "t3a.", "t4g.")  # launch in unlimited credit mode by default
# One capacity unit per hour covers (the largest of) these; see aws.alb.lcu in prices.yaml.
ALB_NEW_CONNECTIONS_PER_S = 25
NLB_NEW_FLOWS_PER_S = 800  # TCP (awsnegotiations.com, the aws.nlb.nlcu page)
GB_PER_UNIT_HOUR = 1.0


def instance_hours(ctx: Context, instance_type: str, count: int, line: ResourceCost) -> None:
    key = f"aws.ec2.{instance_type}"
    if ctx.prices.find(key) is None:
        line.unpriced.append(f"EC2 {instance_type} (no sourced price for this instance type)")
        return
    label = f"{count} x {instance_type}" if count != 1 else instance_type
    line.charges.append(ctx.charge(f"{label} on-demand", key, ctx.hours * count))


def unlimited_credit_note(
    ctx: Context, instance_type: str, count: int, credits: Any, line: ResourceCost
) -> None:
    """T3/T3a/T4g launch in unlimited mode unless told `standard`: flag the exposure (as
    Infracost does) rather than guess a utilisation the benchmarks cannot know."""
    if credits == "standard" or not instance_type.startswith(BURSTABLE_UNLIMITED):
        return
    surplus = ctx.prices.find("aws.ec2.t3.unlimited_surplus")
    price = ctx.prices.find(f"aws.ec2.{instance_type}")
    if surplus is None or price is None or price.vcpus is None:
        return
    ceiling = surplus.cost(price.vcpus * ctx.hours * count)
    how = "declared" if credits == "unlimited" else "the default"
    line.notes.append(
        f"unlimited CPU credits ({how}): sustained CPU above the baseline bills surplus credits "
        f"at {surplus.label()}, up to ${ceiling:,.2f} a month for {count} x {instance_type} at "
        "100% CPU (standard credit mode caps it)"
    )


def volume(ctx: Context, size: Any, volume_type: Any, count: int, line: ResourceCost) -> None:
    if size is None:
        line.unpriced.append("root volume (size not declared: the image's default)")
        return
    if volume_type != "gp3":
        line.unpriced.append(f"{volume_type or 'default-type'} root volume (only gp3 is priced)")
        return
    gb = float(size) * count
    line.charges.append(ctx.charge(f"{count} x {float(size):g} GB gp3", "aws.ebs.gp3", gb))


def capacity_units(usage: UsageProfile, kind: Literal["alb", "nlb"]) -> float:
    """Average capacity units an hour: one new connection per request (clients that keep
    connections alive use fewer: an upper bound), or the bytes processed, whichever is larger."""
    per_s = ALB_NEW_CONNECTIONS_PER_S if kind == "alb" else NLB_NEW_FLOWS_PER_S
    gb_per_hour = usage.egress_gb() / usage.hours_running if usage.hours_running else 0.0
    return max(usage.average_rps() / per_s, gb_per_hour / GB_PER_UNIT_HOUR)


def load_balancer(
    ctx: Context,
    line: ResourceCost,
    kind: Literal["alb", "nlb"],
    units: float | None = None,
    public_ipv4: int = 2,
) -> None:
    """An ALB or NLB for the month: hours, capacity units (stated, or derived from traffic),
    and its public IPv4 addresses (one per Availability Zone)."""
    name, unit = (
        ("Application Load Balancer", "LCU") if kind == "alb" else ("Network Load Balancer", "NLCU")
    )
    per_request = units is None
    average = capacity_units(ctx.usage, kind) if units is None else units
    ctx.add(line, name, f"aws.{kind}.hours", ctx.hours)
    ctx.add(
        line,
        f"{average:,.3g} {unit} on average",
        f"aws.{kind}.{unit.lower()}",
        average * ctx.hours,
        per_request=per_request,
    )
    if public_ipv4:
        ctx.add(
            line,
            f"{public_ipv4} public IPv4 (one per AZ)",
            "aws.vpc.public_ipv4",
            public_ipv4 * ctx.hours,
        )
