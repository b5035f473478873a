"""The cost model: a stack's offline resource graph + a usage profile + the price data -> a
monthly estimate, resource by resource.

First the sizing (`infra.cost.sizing`): how many servers, pods or nodes the profile's peak
traffic needs, from measured throughput. Then each declared resource is priced by its rule
(`infra.cost.rules`), and what the stack does not declare but still costs (the database, the
cluster and its load balancer, logs, an existing server, data transfer out) is added as an
assumption line (`infra.cost.assumed`, `infra.cost.database`), so the reader sees where every
dollar comes from. The estimate names the region its prices are for, and warns when the
stack deploys elsewhere.
"""

from __future__ import annotations

from infra.config import K8sConfig, VpsConfig
from infra.cost.assumed import (
    cluster_lines,
    egress_line,
    existing_host_line,
    logs_line,
    vps_balancer_line,
)
from infra.cost.context import Context
from infra.cost.database import database_line
from infra.cost.lines import ASSUMPTION, Charge, Estimate, ResourceCost, Status
from infra.cost.prices import PriceBook
from infra.cost.region import region_warning, stack_region
from infra.cost.rules import price_resource
from infra.cost.sizing import size
from infra.cost.usage import UsageProfile
from infra.harness import OfflinePlan

__all__ = ["ASSUMPTION", "Charge", "Estimate", "ResourceCost", "Status", "estimate"]

UNSET = "(read the stack file)"


def estimate(
    plan: OfflinePlan,
    usage: UsageProfile,
    prices: PriceBook,
    deployed_region: str | None = UNSET,
) -> Estimate:
    """The monthly cost of what `plan` declares, used as `usage` says, at `prices`.
    `deployed_region` is the stack's `aws:region` (default: read from its stack file)."""
    ctx = Context(plan=plan, usage=usage, prices=prices, sizing=size(plan, usage, prices))
    lines = [price_resource(r, ctx) for r in plan.resources]
    on_aws = any(r.type.startswith("aws:") for r in plan.resources)
    in_cluster = isinstance(plan.config, K8sConfig)
    if in_cluster:
        lines.extend(cluster_lines(ctx))
        on_aws = on_aws or (usage.cluster is not None)
    existing = plan.config.host if isinstance(plan.config, VpsConfig) else None
    if existing is not None:
        lines.append(existing_host_line(ctx, existing))
    extra = [vps_balancer_line(ctx), database_line(ctx), logs_line(ctx)]
    lines.extend(line for line in extra if line is not None)
    lines.append(egress_line(ctx, on_aws))
    region = stack_region(plan.stack) if deployed_region == UNSET else deployed_region
    warning = region_warning(plan.stack, region, prices.region) if on_aws else None
    assumptions = usage.assumptions(cluster=in_cluster, host=existing is not None)
    assumptions["price region"] = prices.region + (
        f" (the stack's aws:region is {region})" if warning else ""
    )
    target = plan.target.value
    assumptions.update({f"{target} sizing: {k}": v for k, v in ctx.sizing.facts.items()})
    return Estimate(
        stack=plan.stack,
        target=target,
        usage=usage.name,
        requests_per_month=usage.requests_per_month,
        assumptions=assumptions,
        lines=lines,
        price_region=prices.region,
        stack_region=region,
        sizing=ctx.sizing.facts,
        warnings=[warning] if warning else [],
    )
