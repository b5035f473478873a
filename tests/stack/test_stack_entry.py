"""The shared stack entry, run as `pulumi up` runs it: config mistakes stop it before any resource.

Each test runs `infra.stack.main()` under Pulumi's mocks with a given stack name and config
(handed over as the CLI's launcher does), records what it registers and which target module
the registry imports, and checks the error Pulumi would print.
"""

from __future__ import annotations

import ast
import asyncio
import json
import types
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, settings
from pulumi.runtime import stack as runtime_stack

from infra.harness import engine_config
from infra.paths import ROOT
from infra.targets import registry

pytestmark = pytest.mark.stack

# A deploy's own values: the engine path refuses the stack files' documentation examples.
NEW_SERVER = {"sshPublicKey": "ssh-ed25519 AAAAC3Nz test", "sshAllowedCidr": "198.18.0.7/32"}


@dataclass
class Run:
    """What one run of the entry did."""

    declared: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    deployed: list[tuple[Any, dict[str, pulumi.Output[str]]]] = field(default_factory=list)
    exported: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, tuple[bool, str]] = field(default_factory=dict)


class _Mocks(mocks.Mocks):
    def __init__(self, run: Run) -> None:
        self.run = run

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.run.declared.append(args.typ)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        raise AssertionError(f"no provider call expected, got {args.token}")


def _run_main(
    monkeypatch: pytest.MonkeyPatch,
    stack: str,
    values: dict[str, Any],
    secret: tuple[str, ...] = (),
    run: Run | None = None,
    in_process: bool = False,
) -> Run:
    """Run the entry; the target module is a stand-in that declares one resource."""
    run = run or Run()

    def deploy(config: Any, secrets: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
        run.deployed.append((config, secrets))
        pulumi.CustomResource("shipways:test:Probe", "probe", {})
        return {"url": "http://192.0.2.1"}

    real_import = registry.importlib.import_module

    def import_module(name: str) -> types.ModuleType:
        if not name.startswith("infra.targets."):
            return real_import(name)  # the config models
        run.imported.append(name)
        module = types.ModuleType(name)
        module.deploy = deploy  # type: ignore[attr-defined]
        return module

    monkeypatch.setattr(registry, "importlib", types.SimpleNamespace(import_module=import_module))
    monkeypatch.setattr(pulumi, "export", lambda k, v: run.exported.__setitem__(k, v))

    async def program() -> None:
        from infra import stack as entry

        entry.main()
        for _, found in run.deployed:
            for key, output in found.items():
                run.secrets[key] = (await output.is_secret(), await output.future() or "")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    bag = {f"shipways:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    secret_keys = [f"shipways:{k}" for k in secret]
    try:
        # As the CLI's launcher does (environment, then runtime), or in-process only, as an
        # Automation API inline program gets it.
        with engine_config({} if in_process else bag, [] if in_process else secret_keys):
            if in_process:
                pulumi.runtime.set_all_config(bag, secret_keys)
            settings.ROOT.set(None)
            mocks.set_mocks(_Mocks(run), project="shipways", stack=stack, preview=False)
            loop.run_until_complete(runtime_stack.run_pulumi_func(program))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return run


def _refused(monkeypatch: pytest.MonkeyPatch, stack: str, values: dict[str, Any], **kw: Any) -> str:
    """The message of a refused run, after checking nothing was imported or declared."""
    run = Run()
    with pytest.raises(pulumi.RunError) as caught:
        _run_main(monkeypatch, stack, values, run=run, **kw)
    # A RunError prints without a traceback: the message alone has to say what to do.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert run.declared == []
    assert run.imported == []
    return str(caught.value)


def test_a_valid_stack_imports_only_its_target_and_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_main(monkeypatch, "vps-prod", NEW_SERVER)
    assert run.imported == ["infra.targets.vps.component"]
    assert run.declared == ["shipways:test:Probe"]
    ((config, secrets),) = run.deployed
    assert config.ssh_allowed_cidr == "198.18.0.7/32"
    assert secrets == {}
    assert run.exported == {"url": "http://192.0.2.1"}


def test_config_set_in_process_reaches_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://u:pw@db/app"
    values = {"databaseUrl": url, "minInstances": 2, "maxInstances": 3}
    run = _run_main(monkeypatch, "paas", values, secret=("databaseUrl",), in_process=True)
    ((config, _),) = run.deployed
    assert (config.min_instances, config.max_instances) == (2, 3)
    assert run.secrets == {"databaseUrl": (True, url)}
    message = _refused(monkeypatch, "paas", {"databaseUrl": url}, in_process=True)
    assert "shipways:databaseUrl: stored in plain text" in message


def test_example_values_are_refused_by_the_engine_path_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = NEW_SERVER | {"sshAllowedCidr": "203.0.113.7/32"}
    message = _refused(monkeypatch, "vps-prod", example)
    assert "shipways:sshAllowedCidr: still the stack file's example value" in message
    assert "documentation address" in message


def test_unknown_stack_name_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, "heroku", NEW_SERVER)
    assert "stack name 'heroku': unknown target 'heroku'" in message
    assert "vps, paas, k8s, serverless" in message


def test_unknown_target_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, "mine", {"target": "lambda"})
    assert "shipways:target: unknown target 'lambda'" in message


def test_missing_required_key_is_named_before_anything_is_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _refused(monkeypatch, "vps", {"sshAllowedCidr": "203.0.113.7/32"})
    assert "shipways:sshPublicKey: required to create a server" in message


def test_unknown_key_is_refused_listing_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, "vps", NEW_SERVER | {"instanceSize": "large"})
    assert "shipways:instanceSize: unknown key" in message
    assert "instanceType" in message


def test_secret_in_plain_text_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, "paas", {"databaseUrl": "postgresql://u:pw@db/app"})
    assert "shipways:databaseUrl: stored in plain text" in message
    assert "pulumi config set --secret databaseUrl" in message
    assert "pw@db" not in message


def test_encrypted_secret_reaches_the_target_as_a_pulumi_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql://u:pw@db/app"
    run = _run_main(monkeypatch, "paas", {"databaseUrl": url}, secret=("databaseUrl",))
    assert run.imported == ["infra.targets.paas.component"]
    assert run.secrets == {"databaseUrl": (True, url)}
    ((config, _),) = run.deployed
    assert "databaseUrl" not in config.model_dump_json(by_alias=True)


def _imports_runtime_config(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.startswith("pulumi.runtime.config") for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (
            (node.module or "").startswith("pulumi.runtime.config")
            or (node.module == "pulumi.runtime" and any(a.name == "config" for a in node.names))
        ):
            return True
    return False


def test_config_is_read_through_pulumi_config_not_the_runtime_internals() -> None:
    """`pulumi.runtime.config` is the SDK's internal module ("use pulumi.Config instead")."""
    sources = [*(ROOT / "infra").rglob("*.py"), *(ROOT / "stacks").glob("*.py")]
    offenders = [
        str(p.relative_to(ROOT))
        for p in sources
        if _imports_runtime_config(ast.parse(p.read_text()))
    ]
    assert offenders == []
    assert _imports_runtime_config(ast.parse("from pulumi.runtime import config as c"))
