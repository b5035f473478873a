"""How many servers, instances, pods and nodes each target needs at the profile's traffic.

The busiest hour's rate (`peak_to_average` x the month's average) over one instance's
throughput (`infra.cost.capacity`), rounded up and never below what the stack declares, sizes:
  vps         servers; beyond one, the database moves off the server and a load balancer
              goes in front (both priced by the model)
  paas        Elastic Beanstalk instances; a SingleInstance environment that needs more than
              one is priced as the LoadBalanced environment a user would switch to
  k8s         pods (each as the stand-in measured it, under the stack's CPU limit), and the
              nodes whose vCPUs hold those pods at their CPU limit
  serverless  concurrent executions (peak rate x duration) against the concurrency limit
What was assumed is kept in `facts` and printed with every estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from infra.config import K8sConfig, PaasConfig, ServerlessConfig, VpsConfig, cpu_cores
from infra.cost.capacity import needed, throughput
from infra.cost.prices import PriceBook
from infra.cost.usage import UsageProfile
from infra.harness import OfflinePlan

INSTANCE = "aws:ec2/instance:Instance"
ACCOUNT_CONCURRENCY = 1000  # Lambda's default concurrent executions per account and region


@dataclass
class Sizing:
    servers: int = 1  # VPS servers, Beanstalk instances or Kubernetes pods
    nodes: int = 0  # Kubernetes nodes (0 elsewhere)
    load_balanced: bool = False  # paas: priced as LoadBalanced
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _vcpus(prices: PriceBook, instance_type: str) -> int | None:
    price = prices.find(f"aws.ec2.{instance_type}")
    return price.vcpus if price is not None else None


def _instances(
    target: str, instance_type: str, minimum: int, usage: UsageProfile, prices: PriceBook
) -> tuple[int, dict[str, str]]:
    vcpus = _vcpus(prices, instance_type)
    peak = usage.peak_rps()
    if vcpus is None:
        return minimum, {"capacity": f"not sized: no vCPU count for {instance_type} in prices"}
    rate = throughput(target, usage.capacity)
    count = needed(peak, rate.per_instance(vcpus), minimum)
    return count, {"capacity": rate.describe(vcpus, instance_type)}


def _vps(plan: OfflinePlan, config: VpsConfig, usage: UsageProfile, prices: PriceBook) -> Sizing:
    if config.host is not None:
        return Sizing(facts={"servers": "1 existing server (not sized: its capacity is yours)"})
    declared = [str(r.inputs.get("instanceType")) for r in plan.of_type(INSTANCE)]
    instance_type = declared[0] if declared else config.instance_type
    count, facts = _instances("vps", instance_type, 1, usage, prices)
    sizing = Sizing(servers=count, facts=facts)
    sizing.facts["servers"] = f"{count} x {instance_type} at {usage.peak_rps():,.1f} requests/s"
    if count > 1:
        sizing.notes.append(
            f"{count} servers: behind a load balancer, with the database off the servers "
            "(the stack declares one server: add the others, or a bigger instance type)"
        )
    return sizing


def _paas(config: PaasConfig, usage: UsageProfile, prices: PriceBook) -> Sizing:
    balanced = config.environment_type == "LoadBalanced"
    minimum = config.min_instances if balanced else 1
    count, facts = _instances("paas", config.instance_type, minimum, usage, prices)
    sizing = Sizing(servers=count, load_balanced=balanced or count > 1, facts=facts)
    kind = "LoadBalanced" if sizing.load_balanced else "SingleInstance"
    sizing.facts["instances"] = f"{count} x {config.instance_type} ({kind})"
    if count > 1 and not balanced:
        sizing.notes.append(
            f"needs {count} instances: priced as LoadBalanced (set environmentType: "
            "LoadBalanced and maxInstances); SingleInstance cannot scale out"
        )
    if count > config.max_instances:
        sizing.notes.append(f"needs {count} instances, above maxInstances {config.max_instances}")
    return sizing


def _k8s(config: K8sConfig, usage: UsageProfile, prices: PriceBook) -> Sizing:
    rate = throughput("k8s", usage.capacity)
    pods = needed(usage.peak_rps(), rate.rps, config.replicas)
    limit = cpu_cores(config.cpu_limit)
    sizing = Sizing(servers=pods)
    sizing.facts["capacity"] = (
        f"{rate.rps:,.0f} requests/s per pod ({rate.origin}; the stand-in runs the stack's pod "
        f"spec, CPU limit {config.cpu_limit})"
    )
    sizing.facts["pods"] = f"{pods} (replicas {config.replicas}, at most {config.hpa_max_replicas})"
    if pods > config.hpa_max_replicas:
        sizing.notes.append(f"needs {pods} pods, above hpaMaxReplicas {config.hpa_max_replicas}")
    cluster = usage.cluster
    if cluster is None:
        return sizing
    vcpus = _vcpus(prices, cluster.node_instance_type)
    by_cpu = math.ceil(pods * limit / vcpus) if vcpus else 0
    sizing.nodes = max(cluster.nodes, by_cpu)
    sizing.facts["nodes"] = (
        f"{sizing.nodes} x {cluster.node_instance_type} (at least {cluster.nodes}; "
        f"{pods} pods x {limit:g} CPU limit over {vcpus or '?'} vCPUs each)"
    )
    return sizing


def _serverless(config: ServerlessConfig, usage: UsageProfile) -> Sizing:
    concurrency = usage.peak_rps() * usage.avg_duration_ms / 1000
    limit = config.reserved_concurrency or ACCOUNT_CONCURRENCY
    which = "reservedConcurrency" if config.reserved_concurrency else "the account default"
    sizing = Sizing(servers=0)
    sizing.facts["concurrency"] = (
        f"{concurrency:,.1f} concurrent executions at peak (peak rate x "
        f"{usage.avg_duration_ms:g} ms); limit {limit:,} ({which})"
    )
    if concurrency > limit:
        sizing.notes.append(
            f"peak concurrency {concurrency:,.0f} exceeds {which} ({limit:,}): requests beyond it "
            "are throttled (raise the limit with AWS, or lower the duration)"
        )
    return sizing


def size(plan: OfflinePlan, usage: UsageProfile, prices: PriceBook) -> Sizing:
    """What `plan` needs at `usage`'s traffic (targets in the order of `infra.targets`)."""
    config = plan.config
    if isinstance(config, VpsConfig):
        return _vps(plan, config, usage, prices)
    if isinstance(config, PaasConfig):
        return _paas(config, usage, prices)
    if isinstance(config, K8sConfig):
        return _k8s(config, usage, prices)
    if isinstance(config, ServerlessConfig):
        return _serverless(config, usage)
    return Sizing()
