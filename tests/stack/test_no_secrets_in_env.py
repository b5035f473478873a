"""No secret value in any environment a stack hands to the app.

Environment variables are shown by consoles (`aws lambda get-function-configuration`, the
Beanstalk console, `kubectl describe`), inherited by every child process and dumped in crash
reports. Each stack is planned with a canary database URL; every environment it declares
(Lambda variables, Beanstalk environment properties, Kubernetes ConfigMaps and container
env) must hold neither the canary's password nor anything shaped like a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from infra.harness import OfflinePlan, plan_stack
from infra.targets.k8s import export

pytestmark = pytest.mark.stack

PASSWORD = "Zq9-canary-pw"
CANARY = f"postgresql://app:{PASSWORD}@db.internal:5432/shipways"
CREDENTIAL = re.compile(r"://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}")
REFERENCES = ("_SECRET_ARN", "_FILE")  # DATABASE_URL_SECRET_ARN, DATABASE_URL_FILE
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|^DATABASE_URL$")


def _lambda_env(plan: OfflinePlan) -> Iterator[tuple[str, Any]]:
    for function in plan.of_type("aws:lambda/function:Function"):
        yield from (function.inputs.get("environment") or {}).get("variables", {}).items()


def _beanstalk_env(plan: OfflinePlan) -> Iterator[tuple[str, Any]]:
    for environment in plan.of_type("aws:elasticbeanstalk/environment:Environment"):
        for setting in environment.inputs["settings"]:
            if setting["namespace"] == "aws:elasticbeanstalk:application:environment":
                yield setting["name"], setting["value"]


def _k8s_env(plan: OfflinePlan) -> Iterator[tuple[str, Any]]:
    objects = export.from_plan(list(plan.resources))
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            yield from obj.get("data", {}).items()
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for item in container.get("env", []):
                yield item["name"], item.get("value", item.get("valueFrom"))
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, f"{obj['kind']}: a Secret as environment"


def _assert_clean(env: list[tuple[str, Any]]) -> None:
    assert env, "no environment found: the scan would prove nothing"
    for name, value in env:
        text = str(value)
        assert PASSWORD not in text, name
        assert not CREDENTIAL.search(text), f"{name} looks like a credential"
        if name.endswith(REFERENCES):
            continue  # where a secret is (its value is checked above), not the secret
        assert not SECRET_NAME.search(name), f"{name} is a secret's name"


def test_beanstalk_environment_properties_hold_no_secret() -> None:
    plan = plan_stack("paas", secrets={"databaseUrl": CANARY})
    _assert_clean(list(_beanstalk_env(plan)))


def test_kubernetes_pods_get_no_secret_as_environment() -> None:
    plan = plan_stack(
        "k8s", overrides={"databaseCidr": "10.20.0.0/24"}, secrets={"databaseUrl": CANARY}
    )
    _assert_clean(list(_k8s_env(plan)))


def test_lambda_environment_holds_no_secret() -> None:
    plan = plan_stack("serverless", secrets={"databaseUrl": CANARY})
    _assert_clean(list(_lambda_env(plan)))
