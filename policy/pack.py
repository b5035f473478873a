"""pulumi-policy wrappers around the plain rules in `rules.py`.

Each rule with a per-resource check becomes a `ResourceValidationPolicy`, each with a
whole-stack check a `StackValidationPolicy` (`<name>-stack`). The wrappers only translate
arguments; what is allowed is decided in `rules.py`, which the offline evaluator runs too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy.rules import RULES, Resource, Rule, unwrap

PACK_NAME = "shipways-security"


def known(value: Any) -> Any:
    """Properties as plain data, with values unknown during a preview left out.

    pulumi-policy raises on reading an unknown value, which would turn every resource with
    one computed input (a security group id) into "can't run during preview". A rule sees an
    unknown value as not set, so a security setting must be a literal to pass: fail closed.
    """
    if isinstance(value, Mapping):
        plain = {}
        for key in value:
            try:
                plain[key] = known(value[key])
            except UnknownValueError:
                continue
        return plain
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(known(value[index]))
            except UnknownValueError:
                continue
        return items
    return value


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    check = rule.resource_check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, unwrap(known(args.props))):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    check = rule.stack_check
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Resource(item.resource_type, item.name, unwrap(known(item.props)))
            for item in args.resources
        ]
        urns = {id(res): item.urn for res, item in zip(resources, args.resources, strict=True)}
        for resource, message in check(resources):
            report_violation(message, urns.get(id(resource)))

    return StackValidationPolicy(
        name=f"{rule.name}-stack",
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies() -> list[Policy]:
    """Every rule as pulumi-policy policies, in the order of `RULES`."""
    found: list[Policy] = []
    for rule in RULES:
        if rule.resource_check is not None:
            found.append(_resource_policy(rule))
        if rule.stack_check is not None:
            found.append(_stack_policy(rule))
    return found
