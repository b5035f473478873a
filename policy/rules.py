"""The security rules of the policy pack, written once as plain functions.

Each rule looks at one declared resource, `(type token, inputs)`, or at the whole stack (a few
properties span resources: a bucket and its public access block, a function and its log
group). The same functions serve two callers:

- `policy/__main__.py` wraps them in pulumi-policy validation policies, for
  `pulumi preview --policy-pack policy/` against a real engine;
- `evaluate()` runs them over the offline harness's resource graph
  (`infra.harness.plan_stack(...).resources`), which is how they are checked on machines
  without the Pulumi CLI.

Inputs are what the engine sees: camelCase property names, numbers possibly as floats, secret
values wrapped (`unwrap` removes the wrapping), and values unknown during a preview missing.
A rule never guesses about a missing value it needs to judge: it reports the rule as broken
only when the inputs say so, or when a required setting is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - marks a secret value
REQUIRED_TAGS = ("project", "environment")
WORLD = {"0.0.0.0/0", "::/0"}
SSH_PORT = 22


class ResourceLike(Protocol):
    """What a rule needs of a resource: the harness's `Declared` and pulumi-policy's both fit."""

    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    resource_type: str
    resource_name: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource_type} {self.resource_name}: {self.message}"


ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[Sequence[ResourceLike]], list[tuple[ResourceLike, str]]]


@dataclass(frozen=True)
class Rule:
    """One policy: a name, what it demands, and its check (per resource or per stack)."""

    name: str
    description: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None


def unwrap(value: Any) -> Any:
    """The plain value inside secret wrappers, recursively (the engine's and pulumi-policy's)."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270" and "value" in value:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [unwrap(v) for v in value]
    inner = getattr(value, "value", None)
    if type(value).__name__ == "Secret" and inner is not None:
        return unwrap(inner)
    return value


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


# -- no SSH open to the world ---------------------------------------------------------------


def _opens_ssh(protocol: Any, from_port: Any, to_port: Any) -> bool:
    proto = str(protocol if protocol is not None else "tcp").lower()
    if proto in {"-1", "all"}:
        return True
    if proto not in {"tcp", "6"}:
        return False
    low, high = _int(from_port), _int(to_port)
    if low is None or high is None:
        return False
    return low <= SSH_PORT <= high


def _world(*cidrs: Any) -> list[str]:
    found: list[str] = []
    for item in cidrs:
        values = item if isinstance(item, list) else [item]
        found += [str(v) for v in values if str(v) in WORLD]
    return found


def check_ssh(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []

    def judge(rule: Mapping[str, Any], *cidrs: Any) -> None:
        if _opens_ssh(rule.get("ipProtocol", rule.get("protocol")), *_ports(rule)):
            for cidr in _world(*cidrs):
                problems.append(f"port 22 open to {cidr}; allow SSH from your own /32 only")

    if type_ == "aws:ec2/securityGroup:SecurityGroup":
        for rule in inputs.get("ingress") or []:
            judge(rule, rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks"))
    elif type_ == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        judge(inputs, inputs.get("cidrIpv4"), inputs.get("cidrIpv6"))
    elif type_ == "aws:ec2/securityGroupRule:SecurityGroupRule" and inputs.get("type") == "ingress":
        judge(inputs, inputs.get("cidrBlocks"), inputs.get("ipv6CidrBlocks"))
    elif type_ == "aws:elasticbeanstalk/environment:Environment":
        value = _eb_setting(inputs, "aws:autoscaling:launchconfiguration", "SSHSourceRestriction")
        if value is not None:
            protocol, low, high, source = [*value.split(","), "", "", ""][:4]
            if _opens_ssh(protocol, low, high) and source.strip() in WORLD:
                problems.append(f"SSHSourceRestriction {value!r} opens SSH to the world")
    return problems


def _ports(rule: Mapping[str, Any]) -> tuple[Any, Any]:
    return rule.get("fromPort"), rule.get("toPort")


def _eb_setting(inputs: Mapping[str, Any], namespace: str, name: str) -> str | None:
    for setting in inputs.get("settings") or []:
        if setting.get("namespace") == namespace and setting.get("name") == name:
            return str(setting.get("value"))
    return None


# -- IMDSv2 -----------------------------------------------------------------------------------


def check_imdsv2(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ in {"aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"}:
        tokens = (inputs.get("metadataOptions") or {}).get("httpTokens")
        if tokens != "required":
            return [
                f"metadataOptions.httpTokens is {tokens!r}; set 'required' (IMDSv2 only: "
                "a server-side request forgery can't read the instance's credentials)"
            ]
    if type_ == "aws:elasticbeanstalk/environment:Environment":
        value = _eb_setting(inputs, "aws:autoscaling:launchconfiguration", "DisableIMDSv1")
        if not _true(value):
            return ["aws:autoscaling:launchconfiguration DisableIMDSv1 must be 'true'"]
    return []


# -- encryption at rest -----------------------------------------------------------------------


def check_encryption(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if type_ == "aws:ec2/instance:Instance":
        if not _true((inputs.get("rootBlockDevice") or {}).get("encrypted")):
            problems.append("rootBlockDevice.encrypted must be true")
        for device in inputs.get("ebsBlockDevices") or []:
            if not _true(device.get("encrypted")):
                problems.append(f"ebsBlockDevices {device.get('deviceName')!r} is not encrypted")
    elif type_ == "aws:ebs/volume:Volume" and not _true(inputs.get("encrypted")):
        problems.append("encrypted must be true")
    elif type_ in {"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"}:
        if not _true(inputs.get("storageEncrypted")):
            problems.append("storageEncrypted must be true")
    elif type_ == "aws:s3/bucketObject:BucketObject" and not (
        inputs.get("serverSideEncryption") or inputs.get("kmsKeyId")
    ):
        problems.append("serverSideEncryption must be set (AES256 or aws:kms)")
    elif type_ == (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        rules = inputs.get("rules") or []
        if not any(
            (r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules
        ):
            problems.append("no default sseAlgorithm in rules")
    return problems


def check_buckets_encrypted(resources: Sequence[ResourceLike]) -> list[tuple[ResourceLike, str]]:
    """Each bucket without inline encryption needs its own encryption configuration resource."""
    buckets = [r for r in resources if r.type == BUCKET and not _inline_sse(r.inputs)]
    configs = [r for r in resources if r.type == BUCKET_SSE]
    if len(configs) >= len(buckets):
        return []
    return [
        (b, "no BucketServerSideEncryptionConfiguration declared for this bucket")
        for b in buckets[len(configs) :]
    ]


def _inline_sse(inputs: Mapping[str, Any]) -> bool:
    return bool(inputs.get("serverSideEncryptionConfiguration"))


# -- IAM: no wildcard actions -----------------------------------------------------------------

IAM_DOCUMENT_TYPES = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ADMIN_POLICIES = (
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
)


def _documents(type_: str, inputs: Mapping[str, Any]) -> Iterable[Any]:
    key = IAM_DOCUMENT_TYPES.get(type_)
    if key is not None:
        yield inputs.get(key)
    if type_ == "aws:iam/role:Role":
        for inline in inputs.get("inlinePolicies") or []:
            yield inline.get("policy")


def check_iam(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for document in _documents(type_, inputs):
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError:
                problems.append("policy is not valid JSON")
                continue
        if not isinstance(document, Mapping):
            continue
        statements = document.get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                problems.append(f"statement {statement.get('Sid', '?')!r} allows NotAction")
            actions = statement.get("Action") or []
            for action in actions if isinstance(actions, list) else [actions]:
                if "*" in str(action):
                    problems.append(
                        f"statement {statement.get('Sid', '?')!r} allows {action!r}; "
                        "name the actions the role needs"
                    )
    if (
        type_
        in {
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/policyAttachment:PolicyAttachment",
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        }
        and str(inputs.get("policyArn")) in ADMIN_POLICIES
    ):
        problems.append(f"attaches {inputs.get('policyArn')}, which allows every action")
    return problems


# -- Lambda log retention ---------------------------------------------------------------------

FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def check_log_group(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ == LOG_GROUP and not _int(inputs.get("retentionInDays")):
        return ["retentionInDays must be set (CloudWatch keeps logs forever, and bills them)"]
    return []


def check_lambda_logs(resources: Sequence[ResourceLike]) -> list[tuple[ResourceLike, str]]:
    """Every function writes to a log group this stack declares, with a retention."""
    groups = {str(r.inputs.get("name")): r for r in resources if r.type == LOG_GROUP}
    found: list[tuple[ResourceLike, str]] = []
    for fn in (r for r in resources if r.type == FUNCTION):
        name = (fn.inputs.get("loggingConfig") or {}).get("logGroup") or (
            f"/aws/lambda/{fn.inputs.get('name') or fn.name}"
        )
        group = groups.get(str(name))
        if group is None:
            found.append(
                (
                    fn,
                    f"writes to log group {name!r}, which the stack does not declare: Lambda "
                    "would create it with no retention (logs kept forever)",
                )
            )
        elif not _int(group.inputs.get("retentionInDays")):
            found.append((fn, f"its log group {name!r} has no retentionInDays"))
    return found


# -- S3 public access blocked -----------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}


def check_s3_public(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ == PUBLIC_ACCESS_BLOCK:
        off = [flag for flag in PAB_FLAGS if not _true(inputs.get(flag))]
        if off:
            return [f"{', '.join(off)} must be true"]
    if type_ in {
        BUCKET,
        BUCKET_V2,
        "aws:s3/bucketAclV2:BucketAclV2",
        "aws:s3/bucketObject:BucketObject",
    }:
        acl = inputs.get("acl")
        if acl in PUBLIC_ACLS:
            return [f"acl {acl!r} makes it public"]
    return []


def check_buckets_blocked(resources: Sequence[ResourceLike]) -> list[tuple[ResourceLike, str]]:
    """Each bucket needs its own public access block (names are unknown before creation, so
    the pairing is by count; the per-resource rule checks each block has all four flags)."""
    buckets = [r for r in resources if r.type in {BUCKET, BUCKET_V2}]
    blocks = [r for r in resources if r.type == PUBLIC_ACCESS_BLOCK]
    if len(blocks) >= len(buckets):
        return []
    return [
        (b, "no BucketPublicAccessBlock declared for this bucket") for b in buckets[len(blocks) :]
    ]


# -- Kubernetes pods: non-root, read-only root filesystem, limits -----------------------------

WORKLOADS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _dig(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def check_pods(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    path = WORKLOADS.get(type_)
    if path is None:
        return []
    pod = _dig(inputs, path) or {}
    pod_ctx = pod.get("securityContext") or {}
    problems: list[str] = []
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    for container in containers:
        name = container.get("name", "?")
        ctx = container.get("securityContext") or {}
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = _int(ctx.get("runAsUser", pod_ctx.get("runAsUser")))
        if not _true(non_root) or user == 0:
            problems.append(
                f"container {name!r}: set runAsNonRoot: true (and a non-zero runAsUser)"
            )
        if not _true(ctx.get("readOnlyRootFilesystem")):
            problems.append(f"container {name!r}: set readOnlyRootFilesystem: true")
        if _true(ctx.get("privileged")) or ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name!r}: not privileged, allowPrivilegeEscalation: false")
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [k for k in ("cpu", "memory") if not limits.get(k)]
        if missing:
            problems.append(f"container {name!r}: no {' or '.join(missing)} limit")
    return problems


# -- databases: private, backed up ----------------------------------------------------------

RDS_TYPES = frozenset({"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"})


def check_database_private(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ == "aws:rds/instance:Instance" and _true(inputs.get("publiclyAccessible")):
        return [
            "publiclyAccessible is true: the database gets a public address; keep it false "
            "and admit only the app's security group"
        ]
    return []


def check_database_backups(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ not in RDS_TYPES:
        return []
    days = _int(inputs.get("backupRetentionPeriod"))
    if days is not None and days < 1:
        return [
            f"backupRetentionPeriod is {days}: automated backups are off; keep them for at "
            "least 1 day (point-in-time recovery needs them)"
        ]
    return []


# -- required tags ----------------------------------------------------------------------------

TAGGABLE = frozenset(
    {
        "aws:ec2/instance:Instance",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/keyPair:KeyPair",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ebs/volume:Volume",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        BUCKET,
        BUCKET_V2,
        "aws:s3/bucketObject:BucketObject",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        FUNCTION,
        LOG_GROUP,
        "aws:apigatewayv2/api:Api",
        "aws:apigatewayv2/stage:Stage",
        "aws:elasticbeanstalk/application:Application",
        "aws:elasticbeanstalk/applicationVersion:ApplicationVersion",
        "aws:elasticbeanstalk/environment:Environment",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/proxy:Proxy",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
    }
)


def check_tags(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ not in TAGGABLE:
        return []
    tags = inputs.get("tags") or {}
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    if missing:
        return [f"missing tag(s) {', '.join(missing)} (cost and ownership must be traceable)"]
    return []


RULES: tuple[Rule, ...] = (
    Rule("no-ssh-from-anywhere", "No SSH (port 22) open to 0.0.0.0/0 or ::/0.", check_ssh),
    Rule("imdsv2-required", "EC2 instances require IMDSv2 session tokens.", check_imdsv2),
    Rule(
        "encryption-at-rest",
        "Disks, databases and stored objects are encrypted at rest.",
        check_encryption,
        check_buckets_encrypted,
    ),
    Rule("no-wildcard-iam-actions", "IAM policies name their actions: no '*'.", check_iam),
    Rule(
        "lambda-log-retention",
        "Every Lambda function's log group is declared with a retention period.",
        check_log_group,
        check_lambda_logs,
    ),
    Rule(
        "s3-public-access-blocked",
        "Every S3 bucket has all four public access block settings on; no public ACLs.",
        check_s3_public,
        check_buckets_blocked,
    ),
    Rule(
        "pods-hardened",
        "Pods run as non-root with a read-only root filesystem, no privilege escalation, "
        "and CPU and memory limits.",
        check_pods,
    ),
    Rule(
        "database-not-public",
        "RDS instances are not publicly accessible.",
        check_database_private,
    ),
    Rule(
        "database-backups-on",
        "RDS databases keep automated backups (backupRetentionPeriod >= 1).",
        check_database_backups,
    ),
    Rule("required-tags", f"AWS resources carry the tags {', '.join(REQUIRED_TAGS)}.", check_tags),
)


def evaluate(resources: Iterable[ResourceLike], rules: Sequence[Rule] = RULES) -> list[Violation]:
    """Every violation of `rules` in a stack's declared resources (the offline evaluator)."""
    plain = [Resource(r.type, r.name, unwrap(dict(r.inputs))) for r in resources]
    found: list[Violation] = []
    for rule in rules:
        if rule.resource_check is not None:
            for res in plain:
                found += [
                    Violation(rule.name, res.type, res.name, message)
                    for message in rule.resource_check(res.type, res.inputs)
                ]
        if rule.stack_check is not None:
            found += [
                Violation(rule.name, res.type, res.name, message)
                for res, message in rule.stack_check(plain)
            ]
    return found
