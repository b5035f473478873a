"""Run a stack's Pulumi program offline and see what it would declare.

No Pulumi CLI, no engine, no credentials: the program runs under `pulumi.runtime.set_mocks`,
and every resource it registers is recorded with its inputs. Tests assert on that graph,
`shipways plan` prints it and prices it, and the policy pack checks it.

The config reaches the program the way the Pulumi CLI's launcher passes it (`PULUMI_CONFIG`
and `PULUMI_CONFIG_SECRET_KEYS`, loaded into the runtime), and the stack entry reads and
validates it exactly as under `pulumi up`: once, through `pulumi.Config`.

Mock outputs echo the inputs plus a fake id and ARN. A target whose program needs a provider
lookup (an AMI, a platform name) or an output the cloud computes (an endpoint URL) supplies
them in its slice's mocks (`OUTPUTS` and `CALLS`, type token -> function; see the registry),
with `SECRETS` and `CONFIG`: stand-ins for values a committed stack file needs but cannot hold.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks, rpc, settings, stack

from infra.config import (
    NAMESPACE,
    STACKS_DIR,
    StackConfig,
    TargetName,
    namespaced,
    read_stack_file,
    select_target,
)
from infra.targets.registry import Mocks, slice_of

PLACEHOLDER_SECRET = "offline-placeholder-secret"  # noqa: S105 - stands in for ciphertext


@dataclass(frozen=True)
class RegisteredOptions:
    """The resource options the program sent with a registration (what `up` would honour)."""

    protect: bool
    retain_on_delete: bool
    dependencies: frozenset[str]  # names it waits for: `depends_on` and those of its inputs


@dataclass(frozen=True)
class Declared:
    """One resource the program declared: what `pulumi up` would create."""

    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    provider: str | None = None
    options: RegisteredOptions | None = None

    @property
    def short_type(self) -> str:
        """`aws:ec2/instance:Instance` -> `aws:ec2:Instance`, for people."""
        package, _, rest = self.type.partition(":")
        module, _, kind = rest.rpartition(":")
        return f"{package}:{module.split('/')[0]}:{kind}"


@dataclass
class OfflinePlan:
    stack: str
    target: TargetName
    config: StackConfig
    resources: list[Declared] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what `pulumi up` would warn about

    def of_type(self, type_token: str) -> list[Declared]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> Declared:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {len(found)}")
        return found[0]


# What the toolkit's own resources would answer on every target (the real token generator
# runs in `tests/engine`).
OFFLINE_WRITE_TOKEN = "offline-plan-token-not-a-real-one"  # noqa: S105 - a placeholder
SHARED_OUTPUTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "pulumi-python:dynamic/shipways:WriteToken": lambda _inputs: {"token": OFFLINE_WRITE_TOKEN},
}


class _Recorder(mocks.Mocks):
    def __init__(self, answers: Mocks) -> None:
        self.declared: list[Declared] = []
        self.options: dict[str, RegisteredOptions] = {}
        self._outputs = {**SHARED_OUTPUTS, **answers.outputs}
        self._calls = answers.calls

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        fake_id = f"{args.name}-id"
        state = {"arn": f"arn:aws:mock:us-east-1:123456789012:{args.name}", **args.inputs}
        extra = self._outputs.get(args.typ)
        if extra is not None:
            state.update(extra(dict(args.inputs)))
        if not args.typ.startswith("pulumi:providers:"):
            options = self.options.get(args.name)
            self.declared.append(
                Declared(args.typ, args.name, dict(args.inputs), state, args.provider, options)
            )
        return fake_id, state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        fn = self._calls.get(args.token)
        if fn is None:
            raise NotImplementedError(
                f"offline harness: no mock for provider call {args.token}; "
                "add it to the target's mocks.py CALLS"
            )
        return fn(dict(args.args)), []


class _OptionsMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, noting the options `Mocks.new_resource` is not given."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(recorder)
        self._recorder = recorder

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        self._recorder.options[request.name] = RegisteredOptions(
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            dependencies=frozenset(urn.rsplit("::", 1)[-1] for urn in request.dependencies),
        )
        return super().RegisterResource(request)


@contextmanager
def engine_config(values: Mapping[str, str], secret_keys: list[str]) -> Iterator[None]:
    """Hand `values` (full keys, text) to a program as the CLI's launcher does: in the
    environment, then loaded into the runtime; the environment is restored afterwards."""
    passed = {"PULUMI_CONFIG": json.dumps(dict(values))}
    passed["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(secret_keys)
    before = {name: os.environ.get(name) for name in passed}
    os.environ.update(passed)
    try:
        pulumi.runtime.set_all_config(
            pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
        )
        yield
    finally:
        pulumi.runtime.set_all_config({}, [])
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _resolve(value: Any) -> Any:
    """Exports as plain values; a secret one keeps the engine's secret wrapper (as a secret
    input does), so what a stack exports as a secret stays visibly one."""
    if isinstance(value, pulumi.Output):
        resolved = await _resolve(await value.future())
        if await value.is_secret():
            return {rpc._special_sig_key: rpc._special_secret_sig, "value": resolved}
        return resolved
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _resolve(v) for v in value]
    return value


def plan_stack(
    stack_name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    stacks_dir: Path = STACKS_DIR,
    use_stack_file: bool = True,
) -> OfflinePlan:
    """Run `stack_name`'s program under mocks and return what it declared.

    Values come from `stacks/Pulumi.<stack>.yaml` (unless `use_stack_file` is false), then
    `overrides` (our keys, no namespace). Encrypted values in the file, which only the
    Pulumi CLI can decrypt, become a placeholder secret; `secrets` sets real ones. A stack
    file's plan also gets the target's stand-in `SECRETS` and `CONFIG` it does not set itself.
    """
    from infra import stack as entry

    bag: dict[str, Any] = read_stack_file(stack_name, stacks_dir) if use_stack_file else {}
    values, secret_keys = namespaced(bag)
    values = {k: (PLACEHOLDER_SECRET if k in secret_keys else v) for k, v in values.items()}
    values.update(overrides or {})
    for key, value in (secrets or {}).items():
        values[key] = value
        secret_keys.add(key)
    # The target picks the mocks; the stack entry validates the config, as under `pulumi up`.
    target_mocks = slice_of(select_target(stack_name, values.get("target"))).mocks()
    if use_stack_file:
        stand_ins = [(target_mocks.config, False), (target_mocks.secrets, True)]
        for given, secret in stand_ins:
            for key, value in given.items():
                if key not in values:
                    values[key] = value
                    if secret:
                        secret_keys.add(key)
    recorder = _Recorder(target_mocks)
    full = {f"{NAMESPACE}:{k}": _as_config_text(v) for k, v in values.items()}
    full.update({k: _as_config_text(v) for k, v in bag.items() if not k.startswith(NAMESPACE)})
    holder: dict[str, Any] = {}
    warnings = _Warnings(stack_name)

    async def run() -> None:
        declared = entry.program()
        holder["declared"] = declared
        holder["exports"] = await _resolve(declared.exports)

    # The runtime binds its futures to the current loop, so the loop must exist before the
    # mocks create the root stack resource; a fresh root per run keeps runs independent.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with engine_config(full, [f"{NAMESPACE}:{k}" for k in secret_keys]):
            settings.ROOT.set(None)
            mocks.set_mocks(
                recorder,
                project="shipways",
                stack=stack_name,
                preview=False,
                logger=warnings.logger,
                monitor=_OptionsMonitor(recorder),
            )
            settings.SETTINGS.rpc_manager.clear()
            settings.SETTINGS.outputs.clear()
            loop.run_until_complete(stack.run_pulumi_func(run))
    finally:
        _drain(loop)
    declared: entry.Declared = holder["declared"]
    return OfflinePlan(
        stack_name,
        declared.target,
        declared.config,
        recorder.declared,
        holder["exports"],
        warnings.messages,
    )


class _Warnings(logging.Handler):
    """The program's `pulumi.log` messages, kept for the plan instead of printed: under the
    mocks they go to a logger, and an unconfigured one prints them wherever the plan runs
    (the middle of `shipways demo`'s comparison, say)."""

    def __init__(self, stack_name: str) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"shipways.plan.{stack_name}")
        self.logger.propagate = False
        self.logger.handlers = [self]

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed program left pending, so the next run starts from a clean slate."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    asyncio.set_event_loop(None)
    loop.close()


def _as_config_text(value: Any) -> str:
    """Pulumi config values are strings; structured ones travel as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
