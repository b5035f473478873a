"""The SDK's own plugin servers, started the way the Pulumi CLI starts them, driven over gRPC.

`provider_server` is `python -m pulumi.dynamic` (what `pulumi-resource-pulumi-python` runs)
and `policy_pack` is `python -m pulumi.policy` (what `pulumi-analyzer-policy-python` runs):
each a fresh process in the directory the CLI would give it, with the interpreter its
launcher would pick and only the environment the engine passes. Both print their port on
their first line of output, as every Pulumi plugin does.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import (
    analyzer_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
)

from infra.paths import ROOT
from infra.testing.launcher import (
    engine_env,
    plugin_env,
    policy_interpreter,
    policy_runtime,
    project_runtime,
    provider_interpreter,
)

START_TIMEOUT_S = 60.0
RPC_TIMEOUT_S = 30.0
DEPLOY_TIMEOUT_S = 1200.0


class PluginFailed(RuntimeError):
    """The plugin process did not start, or a call failed; carries what it printed."""


@contextmanager
def _plugin(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[int]:
    """Run a plugin process; yield the port it printed; stop it on the way out."""
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline().strip()
            if not first.isdigit():
                process.wait(timeout=START_TIMEOUT_S)
                log.seek(0)
                raise PluginFailed(f"`{' '.join(command)}` in {cwd} did not start: {log.read()}")
            # Keep reading what it prints, as the engine does: a full pipe would block it.
            printed: list[str] = []
            threading.Thread(target=printed.extend, args=(process.stdout,), daemon=True).start()
            yield int(first)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def as_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


@dataclass
class ProviderServer:
    """A running dynamic-provider server: the engine's side of each call."""

    stub: provider_pb2_grpc.ResourceProviderStub

    def _call(self, method: str, request: Any, timeout: float = RPC_TIMEOUT_S) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            # The server aborts with the provider's traceback as the details.
            raise PluginFailed(f"{method}: {exc.details()}") from exc

    def configure(self) -> provider_pb2.ConfigureResponse:
        request = provider_pb2.ConfigureRequest(
            args=struct_pb2.Struct(), acceptSecrets=True, acceptResources=True
        )
        return self._call("Configure", request)

    def check(
        self, urn: str, news: struct_pb2.Struct, olds: struct_pb2.Struct | None = None
    ) -> provider_pb2.CheckResponse:
        request = provider_pb2.CheckRequest(
            urn=urn, olds=olds or struct_pb2.Struct(), news=news, randomSeed=b"\0" * 32
        )
        return self._call("Check", request)

    def diff(
        self, urn: str, id_: str, olds: struct_pb2.Struct, news: struct_pb2.Struct
    ) -> provider_pb2.DiffResponse:
        request = provider_pb2.DiffRequest(urn=urn, id=id_, olds=olds, news=news)
        return self._call("Diff", request)

    def create(self, urn: str, properties: struct_pb2.Struct) -> provider_pb2.CreateResponse:
        request = provider_pb2.CreateRequest(
            urn=urn, properties=properties, timeout=DEPLOY_TIMEOUT_S
        )
        return self._call("Create", request, timeout=DEPLOY_TIMEOUT_S)

    def update(
        self, urn: str, id_: str, olds: struct_pb2.Struct, news: struct_pb2.Struct
    ) -> provider_pb2.UpdateResponse:
        request = provider_pb2.UpdateRequest(
            urn=urn, id=id_, olds=olds, news=news, timeout=DEPLOY_TIMEOUT_S
        )
        return self._call("Update", request, timeout=DEPLOY_TIMEOUT_S)

    def delete(self, urn: str, id_: str, properties: struct_pb2.Struct) -> None:
        request = provider_pb2.DeleteRequest(urn=urn, id=id_, properties=properties)
        self._call("Delete", request)


@contextmanager
def provider_server(
    project_file: Path = ROOT / "Pulumi.yaml",
    *,
    home: Path | None = None,
    path: str | None = None,
) -> Iterator[ProviderServer]:
    """`pulumi-resource-pulumi-python` for this project: raises `LauncherError` where the
    launcher would exit 1, `PluginFailed` where the server would not come up. `home` and
    `path` stand for the operator's HOME and PATH, which the CLI passes on."""
    runtime = project_runtime(project_file)
    env = engine_env(runtime, home) | ({"PATH": path} if path is not None else {})
    python = provider_interpreter(runtime, env)
    command = [str(python), "-u", "-m", "pulumi.dynamic"]
    with (
        _plugin(command, runtime.directory, plugin_env(python, env)) as port,
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield ProviderServer(provider_pb2_grpc.ResourceProviderStub(channel))


@contextmanager
def policy_pack(pack_dir: Path = ROOT / "policy") -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The policy pack as `pulumi preview --policy-pack policy/` starts it: in the pack's
    directory, `-m pulumi.policy <engine> .`, with its virtualenv's interpreter."""
    runtime = policy_runtime(pack_dir)
    python = policy_interpreter(runtime)
    # Its runtime options reach it as arguments, not as variables.
    env = plugin_env(python, engine_env(replace(runtime, options={})))
    # The engine address is where the pack would send log messages; nothing listens there
    # in these tests, and the pack only uses it to log.
    command = [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."]
    with (
        _plugin(command, runtime.directory, env) as port,
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
