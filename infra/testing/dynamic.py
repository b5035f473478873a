"""A stack's dynamic resources, captured exactly as the SDK registers them with the engine.

A dynamic resource carries its provider as a pickled string (`__provider`) among its inputs;
the engine stores those inputs and later hands them to a fresh provider process, which must
be able to unpickle the provider and act on them. The offline harness runs the program under
mocks; here its RegisterResource calls are also recorded as the wire sees them (a protobuf
Struct, secrets still wrapped), so the provider server can be driven with the very bytes a
real `pulumi up` would send.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks, rpc

from infra.config import namespaced, read_stack_file, select_target
from infra.harness import OfflinePlan, plan_stack
from infra.targets.registry import slice_of

PROVIDER_KEY = "__provider"
_SIG_KEY = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig


@dataclass(frozen=True)
class DynamicRegistration:
    """One dynamic resource as the program registered it."""

    type: str
    name: str
    urn: str
    inputs: struct_pb2.Struct  # as sent: secrets wrapped, `__provider` included
    secret_outputs: tuple[str, ...]

    @property
    def provider(self) -> str:
        """The serialized provider: base64 of the dill pickle."""
        return str(unwrap_secrets(json_format.MessageToDict(self.inputs))[PROVIDER_KEY])

    def engine_inputs(self, **changes: Any) -> struct_pb2.Struct:
        """The inputs as the engine passes them to a provider that does not accept secrets
        (the dynamic provider's Configure says so): secrets unwrapped; `changes` applied."""
        plain = unwrap_secrets(json_format.MessageToDict(self.inputs))
        return to_struct({**plain, **changes})


def unwrap_secrets(value: Any) -> Any:
    """A property value with every `{sig: secret, value: v}` wrapper replaced by `v`."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


@dataclass(frozen=True)
class CapturedStack:
    plan: OfflinePlan
    dynamic: list[DynamicRegistration]

    def one(self, type_token: str) -> DynamicRegistration:
        found = [d for d in self.dynamic if d.type == type_token]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {[d.type for d in found]}")
        return found[0]


@contextmanager
def _recording(into: list[DynamicRegistration]) -> Iterator[None]:
    register = mocks.MockMonitor.RegisterResource

    def recording(monitor: Any, request: Any) -> Any:
        if PROVIDER_KEY in request.object.fields:
            copy = struct_pb2.Struct()
            copy.CopyFrom(request.object)
            urn = monitor.make_urn(request.parent, request.type, request.name)
            secret = tuple(request.additionalSecretOutputs)
            into.append(DynamicRegistration(request.type, request.name, urn, copy, secret))
        return register(monitor, request)

    with mock.patch.object(mocks.MockMonitor, "RegisterResource", recording):
        yield


def capture(
    stack: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> CapturedStack:
    """Run `stack`'s program under mocks; return its graph and its dynamic registrations.

    `overrides` change the stack file's values (our keys, no namespace); None removes one."""
    values, _ = namespaced(read_stack_file(stack))
    values = {k: v for k, v in (values | dict(overrides or {})).items() if v is not None}
    target = select_target(stack, values.get("target"))
    stand_ins = slice_of(target).mocks()
    values = {**stand_ins.config, **values}
    secrets = {**stand_ins.secrets, **(secrets or {})}
    found: list[DynamicRegistration] = []
    with _recording(found):
        plan = plan_stack(stack, overrides=values, secrets=secrets, use_stack_file=False)
    return CapturedStack(plan, found)
