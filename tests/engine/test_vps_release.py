"""`pulumi up --stack vps-local`, provider side: the FabricRelease provider, served by a fresh
`python -m pulumi.dynamic` as the CLI starts it, provisions and deploys the local VPS for real.

One local VPS (a Debian 12 systemd container, `shipways-test-engine-vps`, its own free
127.0.0.1 ports) is created bare, as a cloud hands a server over: sshd and a sudo user with
the sandbox's key. The inputs are those the committed `vps-local` stack's program sends,
with this VPS's SSH port and key; its host key is pinned the way existing-host mode
documents it, in the operator's ~/.ssh/known_hosts (here: the provider's HOME). Then, as the
engine would: Check + Create (provision + deploy), Diff with the same inputs (no change),
Update with a new release fingerprint (a new release goes live), Delete (the host keeps
serving its last release). The tests run in order on the same VPS, removed at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2
from rich.console import Console

from infra.config import VpsConfig, narrow, read_stack
from infra.paths import ROOT
from infra.targets.vps.sandbox import Access, VpsSandbox
from infra.testing.dynamic import DynamicRegistration, capture
from infra.testing.plugins import ProviderServer, as_dict, provider_server

pytestmark = [
    pytest.mark.engine,
    pytest.mark.timeout(1800),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

INSTANCE = "shipways-test-engine-vps"
RELEASE = "pulumi-python:dynamic/vps:FabricRelease"
console = Console(stderr=True)


@pytest.fixture(scope="module")
def box() -> Iterator[VpsSandbox]:
    sandbox = VpsSandbox(INSTANCE)
    sandbox.down(console)  # a leftover from a crashed run: start from a fresh server
    sandbox.create(console)
    # The release below deploys the committed `vps-local` stack: status reads its settings.
    sandbox.keep_config(narrow(read_stack("vps-local").config, VpsConfig))
    yield sandbox
    sandbox.down(console)


@pytest.fixture(scope="module")
def access(box: VpsSandbox) -> Access:
    found = box.access()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def release(access: Access) -> DynamicRegistration:
    """The committed stack's FabricRelease, aimed at this VPS. The key path stays relative:
    the CLI runs the program and the provider from the project directory."""
    overrides = {"sshPort": access.ssh_port, "sshPrivateKeyPath": os.path.relpath(access.key, ROOT)}
    return capture("vps-local", overrides=overrides).one(RELEASE)


@pytest.fixture(scope="module")
def server(access: Access, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    home = tmp_path_factory.mktemp("operator")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(access.known_hosts.read_text())
    with provider_server(home=home) as running:
        running.configure()
        yield running


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the engine would keep between the steps: the id and the outputs."""
    return {}


def _get(access: Access, path: str) -> httpx.Response:
    url = f"http://127.0.0.1:{access.http_port}{path}"
    return httpx.get(url, timeout=10, trust_env=False)


def _current(box: VpsSandbox) -> str:
    return str(box.status(console)["current"])


def _no_secret_in(outputs: dict[str, Any], access: Access) -> None:
    text = json.dumps(outputs)
    key = access.key.read_text().strip()
    assert "PRIVATE KEY" not in text
    assert key not in text and key.splitlines()[1] not in text
    assert "password" not in text.lower()


def test_create_provisions_and_deploys_the_release(
    box: VpsSandbox,
    access: Access,
    release: DynamicRegistration,
    server: ProviderServer,
    state: dict[str, Any],
) -> None:
    assert release.engine_inputs()["port"] == access.ssh_port
    checked = server.check(release.urn, release.engine_inputs())
    assert [(f.property, f.reason) for f in checked.failures] == []
    created = server.create(release.urn, checked.inputs)
    outputs = as_dict(created.properties)
    state.update(id=created.id, inputs=checked.inputs, outputs=created.properties)
    assert created.id.startswith("127.0.0.1/")
    assert outputs["deployed"] == _current(box)
    assert _get(access, "/healthz").json() == {"status": "ok"}
    version = _get(access, "/version").json()
    assert version["git_sha"] and version["git_sha"] in outputs["deployed"]
    _no_secret_in(outputs, access)
    # The write token: a secret input and output (encrypted in the state), installed as
    # the service's credential; writes with it go through, writes without it do not.
    assert "writeToken" in release.secret_outputs
    token = as_dict(checked.inputs)["writeToken"]
    assert outputs["writeToken"] == token
    product = {"name": f"engine-{time.time_ns()}", "price": 1}
    url = f"http://127.0.0.1:{access.http_port}/products"
    anonymous = httpx.post(url, json=product, timeout=10, trust_env=False)
    assert anonymous.status_code == 401
    with_token = httpx.post(url, json=product, timeout=10, trust_env=False,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert with_token.status_code == 201, with_token.text


def test_diff_with_the_same_release_reports_no_change(
    release: DynamicRegistration, server: ProviderServer, state: dict[str, Any]
) -> None:
    diff = server.diff(release.urn, state["id"], state["outputs"], state["inputs"])
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE


def test_update_with_a_new_release_deploys_it(
    box: VpsSandbox,
    access: Access,
    release: DynamicRegistration,
    server: ProviderServer,
    state: dict[str, Any],
) -> None:
    before = as_dict(state["outputs"])["deployed"]
    news: struct_pb2.Struct = release.engine_inputs(release="f" * 16)
    checked = server.check(release.urn, news, state["inputs"])
    assert list(checked.failures) == []
    diff = server.diff(release.urn, state["id"], state["outputs"], checked.inputs)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    updated = server.update(release.urn, state["id"], state["outputs"], checked.inputs)
    outputs = as_dict(updated.properties)
    assert outputs["release"] == "f" * 16
    assert outputs["deployed"] != before
    assert _current(box) == outputs["deployed"]
    assert _get(access, "/healthz").status_code == 200
    _no_secret_in(outputs, access)
    state.update(outputs=updated.properties)


def test_delete_leaves_the_host_serving_its_last_release(
    box: VpsSandbox,
    access: Access,
    release: DynamicRegistration,
    server: ProviderServer,
    state: dict[str, Any],
) -> None:
    """Documented: `pulumi destroy` does not wipe an existing host (component.py)."""
    last = as_dict(state["outputs"])["deployed"]
    server.delete(release.urn, state["id"], state["outputs"])
    assert _get(access, "/healthz").status_code == 200
    assert _current(box) == last


def test_the_key_stays_on_disk_and_out_of_the_state(release: DynamicRegistration) -> None:
    inputs = as_dict(release.engine_inputs())
    assert not Path(inputs["keyPath"]).is_absolute()
    assert "PRIVATE KEY" not in json.dumps(inputs)
