"""The stack entry: pick the target from the stack, validate its config, declare only that target.

`pulumi up --stack vps` runs `__main__.py` (beside Pulumi.yaml), which calls `main()`. The
target's module (and so its cloud SDKs) is imported only after the config has been validated,
so a typo fails in a second with the key named, before any resource is declared.
"""

from __future__ import annotations

import importlib
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from infra.config import NAMESPACE, ConfigError, StackConfig, namespaced, select_target, validate

StackSecrets = dict[str, pulumi.Output[str]]
Exports = dict[str, Any]


def _runtime_config() -> tuple[dict[str, Any], set[str]]:
    """Every config value the Pulumi engine handed to this program, and which are secret."""
    bag = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values, _ = namespaced(bag)
    marked = set(runtime_config.get_config_secret_keys_env())
    secret = {k for k in values if f"{NAMESPACE}:{k}" in marked}
    secret |= {k for k in values if runtime_config.is_config_secret(f"{NAMESPACE}:{k}")}
    return values, secret


def read_secrets(config: StackConfig, values: dict[str, Any], secret: set[str]) -> StackSecrets:
    """The target's secret keys as Pulumi secrets; refuses any stored in plain text."""
    plain = [k for k in config.secret_keys if k in values and k not in secret]
    if plain:
        raise ConfigError(
            f"{NAMESPACE}:{plain[0]}: stored in plain text in the stack file; set it with "
            f"`pulumi config set --secret {plain[0]} ...` so it is encrypted in config and state"
        )
    cfg = pulumi.Config(NAMESPACE)
    found = {k: cfg.get_secret(k) for k in config.secret_keys}
    return {k: v for k, v in found.items() if v is not None}


def program() -> Exports:
    """Declare the selected target's resources and return its stack outputs."""
    values, secret = _runtime_config()
    target = select_target(pulumi.get_stack(), values.get("target"))
    config = validate(target, values)
    secrets = read_secrets(config, values, secret)
    component = importlib.import_module(f"infra.targets.{target.value}.component")
    exports: Exports = component.deploy(config, secrets)
    return exports


def main() -> None:
    try:
        exports = program()
    except ConfigError as exc:
        # A RunError prints the message alone: no traceback for a configuration mistake.
        raise pulumi.RunError(str(exc)) from None
    for name, value in exports.items():
        pulumi.export(name, value)
