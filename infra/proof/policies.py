"""The policy pack's rules evaluated offline, over what each stack would declare.

`check_stack` plans a stack with the offline harness and runs `policy.rules.evaluate` over
its resources: a committed stack must have no violation. A rule that never fires proves
nothing, so `BAD_CASES` breaks each stack on purpose, through its config where the config
model allows it, or by editing the declared resources where it (rightly) does not, and
`check_bad_case` demands the expected rule catches each one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from infra.harness import Declared, OfflinePlan, plan_stack
from policy.rules import Violation, evaluate

Edit = Callable[[list[Declared]], list[Declared]]


@dataclass(frozen=True)
class BadCase:
    """A deliberately unsafe stack that rule `expect` must flag."""

    stack: str
    what: str
    expect: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    edit: Edit | None = None


@dataclass(frozen=True)
class CaseResult:
    case: BadCase
    violations: list[Violation]

    @property
    def caught(self) -> bool:
        return any(v.policy == self.case.expect for v in self.violations)


def check_stack(stack: str) -> tuple[OfflinePlan, list[Violation]]:
    """A committed stack's plan and its violations (there should be none)."""
    plan = plan_stack(stack)
    return plan, evaluate(plan.resources)


def bad_resources(case: BadCase, plan: OfflinePlan | None = None) -> list[Declared]:
    """The resources of a bad case; `plan` (the stack's committed plan) is reused for edits."""
    if case.overrides or plan is None:
        plan = plan_stack(case.stack, overrides=case.overrides)
    resources = [copy.deepcopy(r) for r in plan.resources]
    return case.edit(resources) if case.edit is not None else resources


def check_bad_case(case: BadCase, plan: OfflinePlan | None = None) -> CaseResult:
    return CaseResult(case, evaluate(bad_resources(case, plan)))


def _edit(type_token: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    """Change the inputs of every declared resource of one type (on a copy)."""

    def apply(resources: list[Declared]) -> list[Declared]:
        edited = []
        for res in resources:
            if res.type == type_token:
                inputs = copy.deepcopy(res.inputs)
                change(inputs)
                res = replace(res, inputs=inputs)
            edited.append(res)
        if not any(r.type == type_token for r in resources):
            raise LookupError(f"the stack declares no {type_token}: this bad case is stale")
        return edited

    return apply


def _drop(type_token: str, name: str | None = None) -> Edit:
    """Remove the declared resources of one type (only the one called `name`, if given)."""

    def apply(resources: list[Declared]) -> list[Declared]:
        kept = [r for r in resources if r.type != type_token or name not in (None, r.name)]
        if len(kept) == len(resources):
            raise LookupError(f"the stack declares no {type_token}: this bad case is stale")
        return kept

    return apply


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path (`a.b.0.c`) inside inputs, creating mappings on the way."""

    def change(inputs: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = inputs
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value

    return change


def _eb_setting(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        for setting in inputs["settings"]:
            if setting["name"] == name:
                setting["value"] = value
                return
        raise LookupError(f"Beanstalk setting {name} not declared: this bad case is stale")

    return change


def _wildcard_policy(inputs: dict[str, Any]) -> None:
    document = json.loads(inputs["policy"])
    document["Statement"][0]["Action"] = "*"
    inputs["policy"] = json.dumps(document)


INSTANCE = "aws:ec2/instance:Instance"
RDS_INSTANCE = "aws:rds/instance:Instance"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONTAINER = "spec.template.spec.containers.0"

BAD_CASES: tuple[BadCase, ...] = (
    BadCase(
        "vps",
        "config: SSH allowed from 0.0.0.0/0 (explicitly opted in)",
        "no-ssh-from-anywhere",
        overrides={"sshAllowedCidr": "0.0.0.0/0", "allowSshFromAnywhere": True},
    ),
    BadCase(
        "vps",
        "instance metadata allows IMDSv1",
        "imdsv2-required",
        edit=_edit(INSTANCE, _set("metadataOptions.httpTokens", "optional")),
    ),
    BadCase(
        "vps",
        "unencrypted root volume",
        "encryption-at-rest",
        edit=_edit(INSTANCE, _set("rootBlockDevice.encrypted", False)),
    ),
    BadCase(
        "vps", "server without tags", "required-tags", edit=_edit(INSTANCE, _set("tags", None))
    ),
    BadCase(
        "paas",
        "bundle bucket accepts public policies",
        "s3-public-access-blocked",
        edit=_edit(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            _set("blockPublicPolicy", False),
        ),
    ),
    BadCase(
        "paas",
        "bundle bucket without a public access block",
        "s3-public-access-blocked",
        edit=_drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
    ),
    BadCase(
        "paas",
        "instance role allows every action",
        "no-wildcard-iam-actions",
        edit=_edit("aws:iam/rolePolicy:RolePolicy", _wildcard_policy),
    ),
    BadCase(
        "paas",
        "Beanstalk instances keep IMDSv1",
        "imdsv2-required",
        edit=_edit(
            "aws:elasticbeanstalk/environment:Environment", _eb_setting("DisableIMDSv1", "false")
        ),
    ),
    BadCase(
        "paas",
        "Beanstalk SSH restriction opened to the world",
        "no-ssh-from-anywhere",
        edit=_edit(
            "aws:elasticbeanstalk/environment:Environment",
            _eb_setting("SSHSourceRestriction", "tcp,22,22,0.0.0.0/0"),
        ),
    ),
    BadCase(
        "paas",
        "bucket without default encryption",
        "encryption-at-rest",
        edit=_drop(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ),
    ),
    BadCase(
        "paas",
        "database reachable from the internet",
        "database-not-public",
        edit=_edit(RDS_INSTANCE, _set("publiclyAccessible", True)),
    ),
    BadCase(
        "paas",
        "database storage not encrypted",
        "encryption-at-rest",
        edit=_edit(RDS_INSTANCE, _set("storageEncrypted", False)),
    ),
    BadCase(
        "paas",
        "database without automated backups",
        "database-backups-on",
        edit=_edit(RDS_INSTANCE, _set("backupRetentionPeriod", 0)),
    ),
    BadCase(
        "serverless",
        "function's database made public",
        "database-not-public",
        edit=_edit(RDS_INSTANCE, _set("publiclyAccessible", True)),
    ),
    BadCase(
        "serverless",
        "function's database without backups",
        "database-backups-on",
        edit=_edit(RDS_INSTANCE, _set("backupRetentionPeriod", 0)),
    ),
    BadCase(
        "k8s",
        "writable root filesystem",
        "pods-hardened",
        edit=_edit(DEPLOYMENT, _set(f"{CONTAINER}.securityContext.readOnlyRootFilesystem", False)),
    ),
    BadCase(
        "k8s",
        "container runs as root",
        "pods-hardened",
        edit=_edit(DEPLOYMENT, _set(f"{CONTAINER}.securityContext.runAsUser", 0)),
    ),
    BadCase(
        "k8s",
        "no resource limits",
        "pods-hardened",
        edit=_edit(DEPLOYMENT, _set(f"{CONTAINER}.resources.limits", None)),
    ),
    BadCase(
        "serverless",
        "function log group not declared (Lambda would keep logs forever)",
        "lambda-log-retention",
        edit=_drop("aws:cloudwatch/logGroup:LogGroup", "function-logs"),
    ),
    BadCase(
        "serverless",
        "log group without retention",
        "lambda-log-retention",
        edit=_edit("aws:cloudwatch/logGroup:LogGroup", _set("retentionInDays", None)),
    ),
    BadCase(
        "serverless",
        "execution role allows every action",
        "no-wildcard-iam-actions",
        edit=_edit("aws:iam/rolePolicy:RolePolicy", _wildcard_policy),
    ),
)
