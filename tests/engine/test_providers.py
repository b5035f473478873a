"""Every dynamic resource of every stack, served by the SDK's provider server as the CLI runs it.

The program runs under mocks and its dynamic registrations are captured as sent; then a fresh
`python -m pulumi.dynamic` (the launcher's interpreter, `main` as working directory, the
engine's environment only) gets them over gRPC. A provider that cannot be unpickled in a fresh
process, a Check that fails on committed inputs, a Diff that always (or never) reports a
change, or outputs carrying a secret in plain text fail here, though every mock accepts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pulumi.runtime.proto import provider_pb2

from infra.testing.dynamic import CapturedStack, capture
from infra.testing.plugins import PluginFailed, ProviderServer, as_dict, provider_server

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pulumi_aws, on import
]

HOST_KEY = "pulumi-python:dynamic/vps:HostKey"
RELEASE = "pulumi-python:dynamic/vps:FabricRelease"
LOADED = "pulumi-python:dynamic:Resource"
WRITE_TOKEN = "pulumi-python:dynamic/shipways:WriteToken"
KIND = {"clusterMode": "kind", "registry": None, "kubeContext": None, "localCluster": "dev"}
# Each stack's dynamic resources (k8s has one only in a local-cluster mode).
EXPECTED = {
    "vps": [HOST_KEY, WRITE_TOKEN, RELEASE],
    "vps-local": [WRITE_TOKEN, RELEASE],
    "paas": [WRITE_TOKEN],
    "k8s": [WRITE_TOKEN],
    "serverless": [WRITE_TOKEN],
}
_CAPTURED: dict[str, CapturedStack] = {}


def captured(stack: str) -> CapturedStack:
    """Each stack's program is run once per session (serverless builds its zip)."""
    if stack not in _CAPTURED:
        local = stack == "k8s-kind"
        _CAPTURED[stack] = capture("k8s" if local else stack, overrides=KIND if local else None)
    return _CAPTURED[stack]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's home as the provider sees it: the committed `vps` stack's key is there."""
    home = tmp_path_factory.mktemp("home")
    (home / ".ssh").mkdir(mode=0o700)
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    (home / ".ssh" / "id_ed25519").write_bytes(key)
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ProviderServer]:
    with provider_server(home=home) as running:
        configured = running.configure()
        # The engine strips secrets from what it sends a provider that does not accept them.
        assert configured.acceptSecrets is False
        yield running


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_each_stack_declares_the_dynamic_resources_we_know(stack: str) -> None:
    assert sorted(d.type for d in captured(stack).dynamic) == sorted(EXPECTED[stack])


def test_k8s_local_cluster_mode_declares_the_image_load() -> None:
    assert sorted(d.type for d in captured("k8s-kind").dynamic) == sorted([LOADED, WRITE_TOKEN])


def _every_registration() -> list[tuple[str, str]]:
    """Every (stack, dynamic type) but vps-local's, whose key only exists once the local VPS
    has been created (test_vps_release.py runs that one against it)."""
    found = {stack: types for stack, types in EXPECTED.items() if stack != "vps-local"}
    found["k8s-kind"] = [LOADED]
    return [(stack, type_) for stack, types in found.items() for type_ in types]


@pytest.mark.parametrize(("stack", "type_"), _every_registration())
def test_provider_unpickles_in_a_fresh_process_and_checks_the_committed_inputs(
    server: ProviderServer, stack: str, type_: str
) -> None:
    resource = captured(stack).one(type_)
    assert resource.provider, "no serialized provider: the engine would have nothing to start"
    checked = server.check(resource.urn, resource.engine_inputs())
    assert [(f.property, f.reason) for f in checked.failures] == []
    sent = as_dict(resource.engine_inputs())
    assert as_dict(checked.inputs) == sent


def test_release_check_names_a_missing_key(server: ProviderServer, tmp_path: Path) -> None:
    resource = captured("vps").one(RELEASE)
    missing = tmp_path / "no-such-key"
    checked = server.check(resource.urn, resource.engine_inputs(keyPath=str(missing)))
    assert [f.property for f in checked.failures] == ["keyPath"]
    assert str(missing) in checked.failures[0].reason
    assert "sshPrivateKeyPath" in checked.failures[0].reason


def test_release_diff_follows_the_release_the_settings_and_the_server(
    server: ProviderServer,
) -> None:
    resource = captured("vps").one(RELEASE)
    olds = resource.engine_inputs(deployed="20250101T000000Z-abc")  # as the state holds it
    same = server.diff(resource.urn, "id", olds, resource.engine_inputs())
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    for change in ({"release": "0" * 16}, {"host": "198.51.100.11"}, {"port": 2200}):
        diff = server.diff(resource.urn, "id", olds, resource.engine_inputs(**change))
        assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME, change
        assert list(diff.replaces) == [], "a new release is an update in place, never a replace"


def test_host_key_is_created_once_and_only_its_public_half_is_plain(
    server: ProviderServer,
) -> None:
    resource = captured("vps").one(HOST_KEY)
    checked = server.check(resource.urn, resource.engine_inputs())
    created = server.create(resource.urn, checked.inputs)
    outputs = as_dict(created.properties)
    assert outputs["public"].startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" in outputs["private"]
    # The provider cannot mark a secret itself (it accepts none); the registration does, so
    # the engine encrypts `private` in the state. Nothing else may hold key material.
    assert resource.secret_outputs == ("private",)
    plain = {k: v for k, v in outputs.items() if k not in resource.secret_outputs}
    assert "PRIVATE KEY" not in json.dumps(plain)
    again = server.diff(resource.urn, created.id, created.properties, checked.inputs)
    assert again.changes == provider_pb2.DiffResponse.DIFF_NONE, "a new key would lock us out"
    server.delete(resource.urn, created.id, created.properties)


def test_write_token_is_generated_once_and_only_as_a_secret(server: ProviderServer) -> None:
    resource = captured("serverless").one(WRITE_TOKEN)
    checked = server.check(resource.urn, resource.engine_inputs())
    created = server.create(resource.urn, checked.inputs)
    token = as_dict(created.properties)["token"]
    assert len(token) == 43 and token not in created.id, "256 bits; the plain id tells nothing"
    assert resource.secret_outputs == ("token",), "the engine encrypts it in the state"
    other = server.create(resource.urn, checked.inputs)
    assert as_dict(other.properties)["token"] != token, "one token per deployment"
    again = server.diff(resource.urn, created.id, created.properties, checked.inputs)
    assert again.changes == provider_pb2.DiffResponse.DIFF_NONE, "a redeploy keeps the token"
    server.delete(resource.urn, created.id, created.properties)


def test_loaded_image_diff_replaces_on_a_new_image_only(server: ProviderServer) -> None:
    resource = captured("k8s-kind").one(LOADED)
    inputs = as_dict(resource.engine_inputs())
    assert (inputs["tool"], inputs["cluster"]) == ("kind", "dev")
    assert inputs["image"].startswith("shipways:")
    olds = resource.engine_inputs()
    same = server.diff(resource.urn, "dev/image", olds, resource.engine_inputs())
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    newer = server.diff(resource.urn, "dev/image", olds, resource.engine_inputs(image="x:1"))
    assert newer.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(newer.replaces) == ["image"]


def test_loaded_image_create_without_the_cluster_tool_says_what_to_do(tmp_path: Path) -> None:
    """The provider runs `kind load` in its own process, with the engine's PATH: without kind
    there, Create fails with the tool named and the way out, not a bare FileNotFoundError."""
    resource = captured("k8s-kind").one(LOADED)
    with provider_server(path=str(tmp_path)) as bare, pytest.raises(PluginFailed) as failed:
        bare.configure()
        bare.create(resource.urn, resource.engine_inputs())
    message = str(failed.value).strip().splitlines()[-1]
    assert "`kind` is not on the PATH of `pulumi up`" in message
    assert "clusterMode: registry" in message
