"""The engine's side of the Analyzer gRPC interface: declared resources in, diagnostics out.

Shared by the tests that drive the policy pack as the CLI starts it: each resource goes to
`Analyze` on its own, then all of them to `AnalyzeStack`, as `pulumi preview` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from infra.harness import Declared

RPC_TIMEOUT_S = 30.0


def _struct(inputs: dict[str, Any]) -> struct_pb2.Struct:
    props = struct_pb2.Struct()
    props.update(json.loads(json.dumps(inputs, default=str)))  # assets travel as their names
    return props


def diagnostics(stub: Any, resources: Sequence[Declared]) -> list[tuple[str, str]]:
    """(policy, message) of every diagnostic the running pack reports, sorted; a stack
    policy's name loses its `-stack` suffix, a message its leading description line."""
    urns = {r.name: f"urn:pulumi:test::shipways::{r.type}::{r.name}" for r in resources}
    found = []
    for r in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=r.type, properties=_struct(r.inputs), urn=urns[r.name], name=r.name
        )
        found += list(stub.Analyze(request, timeout=RPC_TIMEOUT_S).diagnostics)
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(r.inputs), urn=urns[r.name], name=r.name
            )
            for r in resources
        ]
    )
    found += list(stub.AnalyzeStack(stack, timeout=RPC_TIMEOUT_S).diagnostics)
    return sorted((d.policyName.removesuffix("-stack"), d.message.split("\n", 1)[1]) for d in found)
