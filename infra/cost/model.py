"""The cost model: a stack's offline resource graph + a usage profile + the price data -> a
monthly estimate, resource by resource.

Each resource type token maps to a rule that reads the resource's declared inputs (instance
type, volume size, memory, protocol...) and turns them into charges, each naming the price it
used. A type whose resources cost nothing themselves (IAM, security groups, Kubernetes objects)
is listed as "no charge of its own" with the reason; a type without a rule, or a figure the
price data lacks, is "not priced" and counted, never dropped: a total with unpriced parts is
shown as a lower bound.

What a stack does not declare but still costs (the cluster a k8s stack deploys into, the
server an existing-host VPS uses, data transfer out) comes from the usage profile and is shown
as an assumption line, so the reader sees where every dollar comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from infra.config import K8sConfig, VpsConfig
from infra.cost.prices import Price, PriceBook
from infra.cost.usage import UsageProfile
from infra.harness import Declared, OfflinePlan

ASSUMPTION = "(usage profile)"


class Status(StrEnum):
    PRICED = "priced"
    PARTLY_PRICED = "partly priced"
    NO_CHARGE = "no charge of its own"
    NOT_PRICED = "not priced"


class Charge(BaseModel):
    """One billed quantity: `quantity` `unit` at the price `price_key`."""

    what: str
    quantity: float
    unit: str
    price_key: str
    monthly: float
    per_request: bool = False  # grows with traffic (otherwise fixed for the month)


class ResourceCost(BaseModel):
    type: str
    name: str
    detail: str = ""  # the key properties the charges were computed from
    charges: list[Charge] = Field(default_factory=list)
    unpriced: list[str] = Field(default_factory=list)  # parts with no price, and why
    no_charge_reason: str | None = None

    @property
    def status(self) -> Status:
        if self.unpriced:
            return Status.PARTLY_PRICED if self.charges else Status.NOT_PRICED
        if not self.charges and self.no_charge_reason is not None:
            return Status.NO_CHARGE
        return Status.PRICED

    @property
    def monthly(self) -> float:
        return sum(c.monthly for c in self.charges)

    def note(self) -> str:
        parts = [self.no_charge_reason] if self.no_charge_reason else []
        return "; ".join(parts + [f"not priced: {u}" for u in self.unpriced])


class Estimate(BaseModel):
    stack: str
    target: str
    usage: str
    requests_per_month: int
    assumptions: dict[str, str]
    lines: list[ResourceCost]

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def fixed(self) -> float:
        return sum(c.monthly for line in self.lines for c in line.charges if not c.per_request)

    @property
    def per_request(self) -> float:
        return sum(c.monthly for line in self.lines for c in line.charges if c.per_request)

    @property
    def unpriced(self) -> list[str]:
        return [f"{line.name}: {u}" for line in self.lines for u in line.unpriced]

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def price_keys(self) -> set[str]:
        return {c.price_key for line in self.lines for c in line.charges}

    def summary(self) -> dict[str, Any]:
        return {
            "monthly_usd": round(self.monthly, 4),
            "fixed_usd": round(self.fixed, 4),
            "per_request_usd": round(self.per_request, 4),
            "complete": self.complete,
            "not_priced": self.unpriced,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "usage": self.usage,
            "assumptions": self.assumptions,
            **self.summary(),
            "resources": [
                {
                    "type": line.type,
                    "name": line.name,
                    "status": line.status.value,
                    "detail": line.detail,
                    "monthly_usd": round(line.monthly, 4),
                    "charges": [c.model_dump() for c in line.charges],
                    "note": line.note(),
                }
                for line in self.lines
            ],
        }


@dataclass
class _Context:
    plan: OfflinePlan
    usage: UsageProfile
    prices: PriceBook
    # Free-tier allowances are per account: every resource draws from the same remainder.
    allowance_left: dict[str, float] = field(default_factory=dict)

    def draw(self, key: str, quantity: float) -> float:
        """How much of `quantity` is billable after the free allowance `key` (if applied)."""
        if not self.usage.free_tier:
            return quantity
        left = self.allowance_left.setdefault(key, self.prices.allowance(key).amount)
        free = min(left, quantity)
        self.allowance_left[key] = left - free
        return quantity - free

    def charge(self, what: str, key: str, quantity: float, *, per_request: bool = False) -> Charge:
        price: Price = self.prices.price(key)
        return Charge(
            what=what,
            quantity=quantity,
            unit=price.unit,
            price_key=key,
            monthly=price.cost(quantity),
            per_request=per_request,
        )


Rule = Callable[[Declared, _Context], ResourceCost]

# Types whose resources are not billed themselves; the reason is shown beside them.
NO_CHARGE: dict[str, str] = {
    "aws:ec2/keyPair:KeyPair": "key pairs are free",
    "aws:ec2/securityGroup:SecurityGroup": "security groups are free",
    "aws:ec2/eipAssociation:EipAssociation": "the address is charged on the Eip itself",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security group rules are free",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security group rules are free",
    "aws:ec2/securityGroupRule:SecurityGroupRule": "security group rules are free",
    "aws:elasticbeanstalk/application:Application": "Elastic Beanstalk has no charge of its own",
    "aws:elasticbeanstalk/applicationVersion:ApplicationVersion": (
        "a pointer to the bundle in S3 (the object is listed separately)"
    ),
    "aws:lambda/permission:Permission": "permissions are free",
    "aws:lambda/alias:Alias": "aliases are free",
    "aws:lambda/invocation:Invocation": (
        "one invocation per deploy (the migration), billed with the function's requests"
    ),
    "aws:apigatewayv2/stage:Stage": "requests are charged on the Api",
    "aws:apigatewayv2/integration:Integration": "requests are charged on the Api",
    "aws:apigatewayv2/route:Route": "requests are charged on the Api",
    "aws:apigatewayv2/deployment:Deployment": "requests are charged on the Api",
    "aws:cloudwatch/logGroup:LogGroup": (
        "the group is free; log ingestion and storage per GB are not in the price data"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": "first alarms are free; not in the price data",
    "aws:s3/bucketV2:BucketV2": "the bucket is free; its objects are listed separately",
    "aws:s3/bucket:Bucket": "the bucket is free; its objects are listed separately",
}
NO_CHARGE_PREFIXES: dict[str, str] = {
    "aws:iam/": "IAM is free",
    "aws:s3/bucketPublicAccessBlock": "bucket settings are free",
    "aws:s3/bucketServerSideEncryption": "bucket settings are free",
    "aws:s3/bucketVersioning": "bucket settings are free",
    "aws:s3/bucketOwnershipControls": "bucket settings are free",
    "aws:s3/bucketLifecycleConfiguration": "bucket settings are free",
    "aws:s3/bucketPolicy": "bucket settings are free",
    "kubernetes:": "a Kubernetes object: runs on the cluster's nodes (the cluster line)",
    "shipways:": "a component: groups the resources listed after it",
    "pulumi-python:dynamic": "runs on the machine that runs `pulumi up`",
    "docker:": "built on the machine that runs `pulumi up`",
    "docker-build:": "built on the machine that runs `pulumi up`",
    "random:": "generated by Pulumi",
    "tls:": "generated by Pulumi",
}


def _instance_hours(ctx: _Context, instance_type: str, count: int, line: ResourceCost) -> None:
    key = f"aws.ec2.{instance_type}"
    hours = ctx.usage.hours_running * count
    if ctx.prices.find(key) is None:
        line.unpriced.append(f"EC2 {instance_type} (no sourced price for this instance type)")
        return
    label = f"{count} x {instance_type}" if count != 1 else instance_type
    line.charges.append(ctx.charge(f"{label} on-demand", key, hours))


def _volume(ctx: _Context, size: Any, volume_type: Any, count: int, line: ResourceCost) -> None:
    if size is None:
        line.unpriced.append("root volume (size not declared: the image's default)")
        return
    if volume_type != "gp3":
        line.unpriced.append(f"{volume_type or 'default-type'} root volume (only gp3 is priced)")
        return
    gb = float(size) * count
    line.charges.append(ctx.charge(f"{count} x {float(size):g} GB gp3", "aws.ebs.gp3", gb))


def _ec2_instance(resource: Declared, ctx: _Context) -> ResourceCost:
    inputs = resource.inputs
    instance_type = str(inputs.get("instanceType", ""))
    root = inputs.get("rootBlockDevice") or {}
    line = ResourceCost(type=resource.type, name=resource.name)
    _instance_hours(ctx, instance_type, 1, line)
    _volume(ctx, root.get("volumeSize"), root.get("volumeType"), 1, line)
    credits = (inputs.get("creditSpecification") or {}).get("cpuCredits")
    if credits == "unlimited":
        line.unpriced.append("unlimited CPU credits beyond the baseline")
    size = root.get("volumeSize")
    volume = f"{float(size):g} GB {root.get('volumeType', '')}" if size is not None else "?"
    line.detail = f"{instance_type}, root volume {volume}"
    return line


def _eip(resource: Declared, ctx: _Context) -> ResourceCost:
    line = ResourceCost(type=resource.type, name=resource.name, detail="public IPv4")
    hours = ctx.usage.hours_running
    line.charges.append(ctx.charge("public IPv4 address", "aws.vpc.public_ipv4", hours))
    return line


def _beanstalk_settings(inputs: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (str(s.get("namespace")), str(s.get("name"))): str(s.get("value"))
        for s in inputs.get("settings") or []
        if isinstance(s, dict)
    }


def _beanstalk_environment(resource: Declared, ctx: _Context) -> ResourceCost:
    """An EB environment bills what it creates: its EC2 instances and, when LoadBalanced,
    a load balancer; a SingleInstance environment holds an Elastic IP instead."""
    settings = _beanstalk_settings(resource.inputs)
    env_type = settings.get(("aws:elasticbeanstalk:environment", "EnvironmentType"), "LoadBalanced")
    instance_type = settings.get(("aws:autoscaling:launchconfiguration", "InstanceType")) or (
        settings.get(("aws:ec2:instances", "InstanceTypes"), "").split(",")[0].strip()
    )
    count = (
        1
        if env_type == "SingleInstance"
        else int(settings.get(("aws:autoscaling:asg", "MinSize"), "1"))
    )
    line = ResourceCost(
        type=resource.type,
        name=resource.name,
        detail=f"{env_type}, {count} x {instance_type or '?'}",
        no_charge_reason="Elastic Beanstalk itself is free; these are the resources it creates",
    )
    if instance_type:
        _instance_hours(ctx, instance_type, count, line)
    else:
        line.unpriced.append("EC2 instances (instance type not declared)")
    launch = "aws:autoscaling:launchconfiguration"
    _volume(
        ctx,
        settings.get((launch, "RootVolumeSize")),
        settings.get((launch, "RootVolumeType")),
        count,
        line,
    )
    hours = ctx.usage.hours_running
    if env_type == "SingleInstance":
        line.charges.append(ctx.charge("Elastic IP (public IPv4)", "aws.vpc.public_ipv4", hours))
        return line
    lb_type = settings.get(("aws:elasticbeanstalk:environment", "LoadBalancerType"), "classic")
    if lb_type == "application":
        line.charges.append(ctx.charge("Application Load Balancer", "aws.alb.hours", hours))
        line.unpriced.append("load balancer LCU charges and its public IPv4 addresses (one per AZ)")
    else:
        line.unpriced.append(f"{lb_type} load balancer (no sourced price)")
    return line


def _lambda_function(resource: Declared, ctx: _Context) -> ResourceCost:
    inputs = resource.inputs
    usage = ctx.usage
    declared_memory = inputs.get("memorySize")
    memory_mb = float(usage.memory_mb or declared_memory or 128)
    arch = str((inputs.get("architectures") or ["x86_64"])[0])
    requests = float(usage.requests_per_month)
    gb_seconds = requests * usage.avg_duration_ms / 1000 * memory_mb / 1024
    line = ResourceCost(
        type=resource.type,
        name=resource.name,
        detail=f"{memory_mb:g} MB {arch}, {usage.avg_duration_ms:g} ms per request",
    )
    if declared_memory is None and usage.memory_mb is None:
        line.detail += " (memorySize not declared: Lambda's default 128 MB)"
    billable_requests = ctx.draw("aws.lambda.free.requests", requests)
    billable_gbs = ctx.draw("aws.lambda.free.compute", gb_seconds)
    free = " beyond the free tier" if usage.free_tier else ""
    line.charges.append(
        ctx.charge(f"requests{free}", "aws.lambda.requests", billable_requests, per_request=True)
    )
    key = f"aws.lambda.compute.{arch}"
    if ctx.prices.find(key) is None:
        line.unpriced.append(f"compute on {arch} (no sourced price)")
    else:
        line.charges.append(
            ctx.charge(f"compute (GB-seconds){free}", key, billable_gbs, per_request=True)
        )
    return line


def _http_api(resource: Declared, ctx: _Context) -> ResourceCost:
    protocol = str(resource.inputs.get("protocolType", "HTTP"))
    line = ResourceCost(type=resource.type, name=resource.name, detail=f"{protocol} API")
    if protocol != "HTTP":
        line.unpriced.append(f"{protocol} API messages and minutes (no sourced price)")
        return line
    requests = float(ctx.usage.requests_per_month)
    line.charges.append(
        ctx.charge(
            "HTTP API requests", "aws.apigatewayv2.http.requests", requests, per_request=True
        )
    )
    return line


def _rest_api(resource: Declared, ctx: _Context) -> ResourceCost:
    line = ResourceCost(type=resource.type, name=resource.name, detail="REST API")
    requests = float(ctx.usage.requests_per_month)
    line.charges.append(
        ctx.charge("REST API requests", "aws.apigateway.rest.requests", requests, per_request=True)
    )
    return line


def _k8s_service(resource: Declared, ctx: _Context) -> ResourceCost:
    spec = resource.inputs.get("spec") or {}
    kind = str(spec.get("type", "ClusterIP"))
    line = ResourceCost(type=resource.type, name=resource.name, detail=kind)
    if kind == "LoadBalancer":
        line.unpriced.append("the cloud load balancer a LoadBalancer Service creates")
    else:
        line.no_charge_reason = f"a {kind} Service: no cloud resource of its own"
    return line


def _s3_object(resource: Declared, ctx: _Context) -> ResourceCost:
    line = ResourceCost(type=resource.type, name=resource.name, detail="S3 object")
    line.unpriced.append("S3 storage and requests (no sourced price; a bundle is a few MB)")
    return line


RULES: dict[str, Rule] = {
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:ec2/eip:Eip": _eip,
    "aws:elasticbeanstalk/environment:Environment": _beanstalk_environment,
    "aws:lambda/function:Function": _lambda_function,
    "aws:apigatewayv2/api:Api": _http_api,
    "aws:apigateway/restApi:RestApi": _rest_api,
    "kubernetes:core/v1:Service": _k8s_service,
    "aws:s3/bucketObjectv2:BucketObjectv2": _s3_object,
    "aws:s3/bucketObject:BucketObject": _s3_object,
}


def no_charge_reason(type_token: str) -> str | None:
    if type_token in NO_CHARGE:
        return NO_CHARGE[type_token]
    for prefix, reason in NO_CHARGE_PREFIXES.items():
        if type_token.startswith(prefix):
            return reason
    return None


def price_resource(resource: Declared, ctx: _Context) -> ResourceCost:
    rule = RULES.get(resource.type)
    if rule is not None:
        return rule(resource, ctx)
    reason = no_charge_reason(resource.type)
    line = ResourceCost(type=resource.type, name=resource.name, no_charge_reason=reason)
    if reason is None:
        line.unpriced.append("no price mapping for this resource type")
    return line


def _cluster_line(ctx: _Context) -> ResourceCost:
    cluster = ctx.usage.cluster
    line = ResourceCost(type=ASSUMPTION, name="cluster")
    if cluster is None:
        line.unpriced.append(
            "the cluster the stack deploys into: state it as `cluster:` in the usage profile"
        )
        return line
    line.detail = cluster.describe()
    hours = ctx.usage.hours_running
    if cluster.control_plane == "eks":
        line.charges.append(ctx.charge("EKS control plane", "aws.eks.control_plane", hours))
    if cluster.nodes:
        _instance_hours(ctx, cluster.node_instance_type, cluster.nodes, line)
        if cluster.node_volume_gb:
            _volume(ctx, cluster.node_volume_gb, "gp3", cluster.nodes, line)
    return line


def _existing_host_line(ctx: _Context, host: str) -> ResourceCost:
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


def _egress_line(ctx: _Context, on_aws: bool) -> ResourceCost:
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


def estimate(plan: OfflinePlan, usage: UsageProfile, prices: PriceBook) -> Estimate:
    """The monthly cost of what `plan` declares, used as `usage` says, at `prices`."""
    ctx = _Context(plan=plan, usage=usage, prices=prices)
    lines = [price_resource(r, ctx) for r in plan.resources]
    on_aws = any(r.type.startswith("aws:") for r in plan.resources)
    in_cluster = isinstance(plan.config, K8sConfig)
    if in_cluster:
        lines.append(_cluster_line(ctx))
        on_aws = on_aws or (usage.cluster is not None)
    existing = plan.config.host if isinstance(plan.config, VpsConfig) else None
    if existing is not None:
        lines.append(_existing_host_line(ctx, existing))
    lines.append(_egress_line(ctx, on_aws))
    return Estimate(
        stack=plan.stack,
        target=plan.target.value,
        usage=usage.name,
        requests_per_month=usage.requests_per_month,
        assumptions=usage.assumptions(cluster=in_cluster, host=existing is not None),
        lines=lines,
    )
