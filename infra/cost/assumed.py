"""Lines for what a stack does not declare but still costs, stated in the usage profile or
implied by the sizing: the cluster a k8s stack deploys into (its nodes, their addresses or NAT
gateway, its ingress load balancer), the load balancer in front of several VPS servers, the
logs CloudWatch ingests, the existing server a VPS may use, and data transfer out."""

from __future__ import annotations

from infra.config import VpsConfig
from infra.cost.beanstalk import settings_of
from infra.cost.compute import instance_hours, load_balancer, unlimited_credit_note, volume
from infra.cost.context import Context
from infra.cost.lines import ASSUMPTION, ResourceCost

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
BEANSTALK = "aws:elasticbeanstalk/environment:Environment"


def cluster_lines(ctx: Context) -> list[ResourceCost]:
    """The cluster (control plane + nodes), how its nodes reach the internet, its ingress."""
    cluster = ctx.usage.cluster
    line = ResourceCost(type=ASSUMPTION, name="cluster", notes=list(ctx.sizing.notes))
    if cluster is None:
        line.unpriced.append(
            "the cluster the stack deploys into: state it as `cluster:` in the usage profile"
        )
        return [line]
    nodes = ctx.sizing.nodes
    line.detail = f"{cluster.describe()}; {nodes} needed"
    if cluster.control_plane == "eks":
        line.charges.append(ctx.charge("EKS control plane", "aws.eks.control_plane", ctx.hours))
    if nodes:
        instance_hours(ctx, cluster.node_instance_type, nodes, line)
        unlimited_credit_note(ctx, cluster.node_instance_type, nodes, None, line)
        if cluster.node_volume_gb:
            volume(ctx, cluster.node_volume_gb, "gp3", nodes, line)
    network = ResourceCost(type=ASSUMPTION, name="node networking")
    if cluster.node_networking == "public_ipv4":
        network.detail = f"{nodes} nodes with a public IPv4 each"
        ctx.add(network, f"{nodes} public IPv4", "aws.vpc.public_ipv4", nodes * ctx.hours)
    else:
        gb = ctx.usage.egress_gb()
        network.detail = f"private nodes, one NAT gateway processing {gb:,.1f} GB"
        ctx.add(network, "NAT gateway", "aws.vpc.nat_gateway.hours", ctx.hours)
        ctx.add(network, "data processed", "aws.vpc.nat_gateway.data", gb, per_request=True)
    lines = [line, network]
    ingress = cluster.ingress
    if ingress.kind != "none":
        balancer = ResourceCost(
            type=ASSUMPTION,
            name="ingress load balancer",
            detail=f"{ingress.kind.upper()} in front of the ingress controller",
        )
        load_balancer(ctx, balancer, ingress.kind, ingress.capacity_units, ingress.public_ipv4)
        lines.append(balancer)
    return lines


def vps_balancer_line(ctx: Context) -> ResourceCost | None:
    """Several VPS servers need a load balancer in front (the stack declares one server)."""
    if not isinstance(ctx.plan.config, VpsConfig) or ctx.sizing.servers < 2:
        return None
    line = ResourceCost(
        type=ASSUMPTION,
        name="load balancer",
        detail=f"ALB in front of {ctx.sizing.servers} servers (not in the stack)",
    )
    load_balancer(ctx, line, "alb")
    return line


def _ships_logs(ctx: Context) -> str | None:
    """Where the stack sends its logs to CloudWatch, if it does."""
    groups = ctx.plan.of_type(LOG_GROUP)
    if groups:
        return f"{len(groups)} log group(s) declared"
    for env in ctx.plan.of_type(BEANSTALK):
        settings = settings_of(env.inputs)
        if settings.get(("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")) == "true":
            return "Beanstalk streams instance logs (StreamLogs)"
    return None


def logs_line(ctx: Context) -> ResourceCost | None:
    where = _ships_logs(ctx)
    if where is None:
        return None
    gb = ctx.usage.log_gb()
    line = ResourceCost(
        type=ASSUMPTION,
        name="CloudWatch Logs",
        detail=f"{gb:,.2f} GB ingested ({ctx.usage.log_kb_per_request:g} KiB per request; {where})",
    )
    ctx.add(line, "log ingestion", "aws.cloudwatch.logs.ingestion", gb, per_request=True)
    return line


def existing_host_line(ctx: Context, host: str) -> ResourceCost:
    line = ResourceCost(type=ASSUMPTION, name="existing server", detail=host)
    key = ctx.usage.existing_host
    if key is None:
        line.unpriced.append(
            f"the server at {host}: name its price as `existing_host:` in the usage profile"
        )
    elif ctx.prices.find(key) is None:
        line.unpriced.append(f"the server at {host}: no price {key!r} in the price data")
    else:
        line.charges.append(ctx.charge(ctx.prices.price(key).description, key, 1))
    return line


def egress_line(ctx: Context, on_aws: bool) -> ResourceCost:
    gb = ctx.usage.egress_gb()
    line = ResourceCost(type=ASSUMPTION, name="data transfer out", detail=f"{gb:,.1f} GB")
    if not on_aws:
        line.unpriced.append("data transfer out (billed by the server's provider, if at all)")
        return line
    price = ctx.prices.price("aws.data_transfer.out")
    billable = ctx.draw("aws.data_transfer.free", gb)
    if price.valid_up_to is not None and billable > price.valid_up_to:
        line.unpriced.append(f"egress beyond {price.valid_up_to:,.0f} GB (lower tiers not sourced)")
        billable = price.valid_up_to
    free = " beyond the free 100 GB" if ctx.usage.free_tier else ""
    line.charges.append(
        ctx.charge(f"to the internet{free}", "aws.data_transfer.out", billable, per_request=True)
    )
    return line
