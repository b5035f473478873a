"""The stack entry: pick the target from the stack, validate its config, declare only that target.

`pulumi up --stack vps` runs `__main__.py` (beside Pulumi.yaml), which calls `main()`. The config
is read through `pulumi.Config` and validated here, once; the registry then hands over the
target's component (and so its cloud SDKs) only after that, so a typo fails in a second with
the key named, before any resource is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.runtime

from infra.config import (
    NAMESPACE,
    ConfigError,
    StackConfig,
    require_real_values,
    select_target,
    validate,
)
from infra.targets.registry import TargetName, slice_of

StackSecrets = dict[str, pulumi.Output[str]]
Exports = dict[str, Any]


@dataclass(frozen=True)
class Declared:
    """What one run of the program declared: the config it validated and the stack outputs."""

    target: TargetName
    config: StackConfig
    exports: Exports


def _keys(model: type[StackConfig]) -> list[str]:
    """The keys to read: every key the model knows, and every key of ours the engine passed.

    `pulumi.Config` reads one key at a time and cannot list them; the CLI's launcher hands the
    whole stack config to the program as `PULUMI_CONFIG`, which `pulumi.runtime.get_config_env`
    reads. Knowing every key passed is what lets a typo (`instanceSize`) be refused by name.
    """
    prefix = f"{NAMESPACE}:"
    passed = [
        k.removeprefix(prefix) for k in pulumi.runtime.get_config_env() if k.startswith(prefix)
    ]
    known = [field.alias or name for name, field in model.model_fields.items()]
    return list(dict.fromkeys([*known, *passed]))


def read_config() -> tuple[TargetName, StackConfig, StackSecrets]:
    """The stack's target, its validated config and its secrets as Pulumi secrets.

    Refuses a secret key stored in plain text: it would sit unencrypted in the stack file.
    """
    cfg = pulumi.Config(NAMESPACE)
    target = select_target(pulumi.get_stack(), cfg.get("target"))
    model = slice_of(target).config_model()
    text = {k: cfg.get(k) for k in _keys(model) if k not in model.secret_keys}
    config = validate(target, {k: v for k, v in text.items() if v is not None})
    is_secret = pulumi.runtime.is_config_secret
    set_keys = [k for k in model.secret_keys if cfg.get(k) is not None]
    plain = [k for k in set_keys if not is_secret(cfg.full_key(k))]
    if plain:
        raise ConfigError(
            f"{NAMESPACE}:{plain[0]}: stored in plain text in the stack file; set it with "
            f"`pulumi config set --secret {plain[0]} ...` so it is encrypted in config and state"
        )
    found = {k: cfg.get_secret(k) for k in set_keys}
    return target, config, {k: v for k, v in found.items() if v is not None}


def program(*, real: bool = False) -> Declared:
    """Declare the selected target's resources; the config validated and the stack outputs.

    `real` is a deploy by the Pulumi engine (`preview`/`up`): the stack files' example values
    (SSH key, CIDR, registry) are refused there, while the offline plan accepts them.
    """
    target, config, secrets = read_config()
    if real:
        require_real_values(config)
    return Declared(target, config, slice_of(target).deploy()(config, secrets))


def main() -> None:
    try:
        declared = program(real=True)
    except ConfigError as exc:
        # A RunError prints the message alone: no traceback for a configuration mistake.
        raise pulumi.RunError(str(exc)) from None
    for name, value in declared.exports.items():
        pulumi.export(name, value)
